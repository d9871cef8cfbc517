"""Jobs on Ray: the job runner in mode ``ray`` hands each job to one ``ray.remote`` task that calls ``run_job`` on a
worker (:func:`run_job_on_ray`) — every job of the app's runner when ``KD_RAY_ADDRESS`` is set, and a sweep's jobs
with ``python -m kdcore sweep --executor ray`` (:func:`kdcore.jobs.sweep.run_configs`). The runner keeps its queue,
de-duplication, teacher chains (a teacher becomes a task of its own, once) and memory guard; Ray runs the work.

Ray is optional (``pip install -r requirements-ray.txt``); nothing else in kdcore imports it.

Where results go: the task runs ``run_job`` against ``KD_STORE_DIR`` (passed to the workers
through ``runtime_env``), so on one machine or on a cluster with a shared file system the entry is
written where the app reads it. The task also sends the finished entries back (the job's and its
teacher's: result JSON + safetensors tensors), and the driver adds any its own store lacks, so on a
cluster without a shared disk the results still land in the local store, under the same keys.

Memory: each task asks Ray for ``memory=`` the job's estimated peak (:mod:`kdcore.jobs.memory`),
so Ray's scheduler never starts more jobs on a node than its memory holds (it reserves, it does not
enforce). Before anything is sent, each job gets the runner's check against ``KD_MEMORY_BUDGET`` (the
budget of one job here: Ray does the sharing), and a job bigger than the largest live node is refused
too, since Ray would leave it pending for ever; a refused job fails with the reason, the others run.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from kdcore.config import JobConfig
from kdcore.jobs.memory import MemoryBudgetError, check_memory, fmt_bytes, memory_budget

# Settings a worker needs to compute exactly what a local run computes.
PASS_ENV = ("KD_DATA_DIR", "KD_MHIST_DIR", "KD_OFFLINE", "KD_DEVICE", "KD_MEMORY_BUDGET")
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # kdcore/


def import_ray():  # noqa: ANN201 - the ray module
    try:
        import ray
    except ImportError as e:
        raise ImportError(
            "the Ray executor needs Ray, an optional extra: pip install -r requirements-ray.txt "
            "(or run the sweep with --executor local)"
        ) from e
    return ray


def _entries(store: object, key: str | None) -> list[tuple[str, dict, dict]]:
    """The stored entry of ``key`` and of its teacher chain: (key, result, tensor groups)."""
    from kdcore.store import read_entry

    out = []
    while key:
        entry = read_entry(store, key)
        if entry is None:
            break
        out.append((key, *entry))
        key = entry[0].get("teacher_key")
    return out


def _largest_node_memory(ray: object) -> int | None:
    """The ``memory`` resource of the biggest live Ray node (bytes), or None when Ray does not say."""
    try:
        sizes = [n["Resources"].get("memory", 0) for n in ray.nodes() if n.get("Alive")]
    except Exception:  # an old Ray or a client connection without the call: Ray's own check remains
        return None
    return int(max(sizes)) if sizes else None


def _memory_request(config: JobConfig, store: object, shared_store: bool, node_memory: int | None) -> int:
    """The bytes ``config``'s task asks Ray for: the runner's estimate, after the runner's check.

    The teacher counts as stored (loaded, not trained) only when the workers write to this store
    (a local Ray); on a cluster a worker's own store may lack it and train it inside the task.
    Raises :class:`MemoryBudgetError` when the job fits neither the budget nor the largest node.
    """
    teacher_cached = False
    if shared_store and config.teacher is not None:
        from kdcore.train import job_key

        try:
            teacher_cached = store.get(job_key(config.teacher)) is not None
        except Exception:  # its data is not on this machine: assume the task trains the teacher
            teacher_cached = False
    need = check_memory(config, memory_budget(), teacher_cached=teacher_cached)
    if node_memory is not None and need > node_memory:
        raise MemoryBudgetError(
            f"{config.short_name()} needs about {fmt_bytes(need)} of memory at its peak, more than the largest "
            f"Ray node offers ({fmt_bytes(node_memory)}); Ray would never start it. Add a bigger node, or make "
            "the job smaller (a smaller batch, fewer training images)."
        )
    return need


def _ray_task(config: dict, store_root: str | None = None, entries: list | None = None) -> dict:
    """Runs on a Ray worker: one job, into the store at ``store_root`` (None: the worker's KD_STORE_DIR).
    ``entries`` (the teacher chain's stored entries, sent by the job runner) are put there first, so a
    worker on another machine learns from the very teacher this one stored instead of training its own."""
    from kdcore.jobs.heap import return_freed_memory_to_os, trim_heap
    from kdcore.store import open_store
    from kdcore.train import run_job

    return_freed_memory_to_os()
    store = open_store(store_root)
    for key, result, groups in reversed(entries or []):  # teacher's teacher first
        if store.get(key) is None:
            store.put(key, result, groups)
    try:
        result = run_job(JobConfig.from_dict(config), store=store)
        return {"result": result, "entries": _entries(store, result["key"])}
    finally:
        trim_heap()


_session_lock = threading.Lock()
_own_session = False  # this process called ray.init (so tasks inherit the job-level runtime_env)


def _runtime_env(address: str | None) -> dict:
    """What a worker needs to compute exactly what a local run computes: the settings, and kdcore itself
    (shipped to a cluster; on this machine, found through PYTHONPATH)."""
    from kdcore.store import default_store_dir

    env = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
    env["KD_STORE_DIR"] = str(default_store_dir().resolve())
    runtime_env: dict = {"env_vars": env}
    if address:
        runtime_env["py_modules"] = [str(PACKAGE_DIR)]  # the cluster's Python must have torch & co already
    else:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_DIR.parent), os.environ.get("PYTHONPATH")) if p)
    return runtime_env


def connect(address: str | None) -> object:
    """This process's Ray connection, made once: the cluster at ``address`` (``KD_RAY_ADDRESS``), or — with
    no address — a Ray already initialised here (a test's local one), else a local Ray."""
    global _own_session
    ray = import_ray()
    with _session_lock:
        if not ray.is_initialized():
            init = {"address": address} if address else {"include_dashboard": False}
            ray.init(runtime_env=_runtime_env(address), logging_level="warning", **init)
            _own_session = True
    return ray


def disconnect() -> None:
    """Shut down the Ray session :func:`connect` started in this process (one someone else started is left)."""
    global _own_session
    ray = import_ray()
    with _session_lock:
        if _own_session and ray.is_initialized():
            ray.shutdown()
        _own_session = False


def cluster_slots(ray: object) -> int:
    """How many jobs the connected Ray can run at once: its CPUs (a task asks for one), at least 1."""
    try:
        return max(1, int(ray.cluster_resources().get("CPU", 1)))
    except Exception:  # a client connection without the call: one at a time is always right
        return 1


def run_job_on_ray(config: JobConfig, store_root: str, address: str | None, cancel: object | None = None,
                   progress: Callable[[dict], None] | None = None, poll_s: float = 0.5) -> dict:
    """One job of the job runner as a Ray task (``KD_RAY_ADDRESS``): its memory asked of Ray, its teacher's
    stored entries sent along, the finished entries copied into ``store_root`` under the same keys.
    Stops (``ray.cancel``) when ``cancel`` is set; raises the job's own error when it fails."""
    from kdcore.store import open_store
    from kdcore.train import job_key
    from kdcore.train.loop import JobCancelled

    ray = connect(address)
    store = open_store(store_root)
    need = _memory_request(config, store, shared_store=True, node_memory=_largest_node_memory(ray))
    teacher_entries = _entries(store, job_key(config.teacher)) if config.teacher is not None else []
    opts: dict = {"memory": need}
    if not _own_session:  # someone else's Ray session: give the task the settings itself
        opts["runtime_env"] = _runtime_env(address)
    task = ray.remote(num_cpus=1, max_retries=1)(_ray_task)
    # on this machine the worker writes where the app reads; on a cluster, into its own store (sent back)
    ref = task.options(**opts).remote(config.to_dict(), None if address else store_root, teacher_entries)
    if progress is not None:
        progress({"stage": "ray", "message": f"running on Ray ({address or 'local'})"})
    while not ray.wait([ref], timeout=poll_s)[0]:
        if cancel is not None and cancel.is_set():
            ray.cancel(ref, force=True)
            raise JobCancelled("cancelled")
    try:
        out = ray.get(ref)
    except Exception as e:  # ray.exceptions.RayTaskError wraps the job's own error: raise that
        cause = getattr(e, "cause", None)
        raise (cause if isinstance(cause, BaseException) else e) from None
    for key, result, groups in reversed(out["entries"]):  # teacher first
        if store.get(key) is None:
            store.put(key, result, groups)
    if progress is not None:  # as run_job ends a computed job locally (the task's own events stay on the worker)
        progress({"stage": "done", "message": "done"})
    return {**(store.get(out["result"]["key"]) or out["result"]), "cached": out["result"]["cached"]}
