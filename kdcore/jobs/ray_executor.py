"""Sweeps on Ray: each config becomes one ``ray.remote`` task that calls ``run_job`` on a worker.

Ray is optional (``pip install -r requirements-ray.txt``); nothing else in kdcore imports it.

Where results go: the task runs ``run_job`` against ``KD_STORE_DIR`` (passed to the workers
through ``runtime_env``), so on one machine or on a cluster with a shared file system the entry is
written where the app reads it. The task also sends the finished entries back (the job's and its
teacher's: result JSON + safetensors tensors), and the driver adds any its own store lacks, so on a
cluster without a shared disk the results still land in the local store, under the same keys.

Memory: each task asks Ray for ``memory=`` the job's estimated peak (:mod:`kdcore.jobs.memory`),
so Ray's scheduler never starts more jobs on a node than its memory holds (it reserves, it does not
enforce). Before anything is sent, each job gets the local runner's check against
``KD_MEMORY_BUDGET`` (the budget of one job here: Ray does the sharing), and a job bigger than
the largest live node is refused too, since Ray would leave it pending for ever; a refused job fails
with the reason, the others run.
"""

from __future__ import annotations

import os
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


def _ray_task(config: dict) -> dict:
    """Runs on a Ray worker: one job, into the store named by the worker's KD_STORE_DIR."""
    from kdcore.jobs.heap import return_freed_memory_to_os, trim_heap
    from kdcore.store import open_store
    from kdcore.train import run_job

    return_freed_memory_to_os()
    store = open_store()
    try:
        result = run_job(JobConfig.from_dict(config), store=store)
        return {"result": result, "entries": _entries(store, result["key"])}
    finally:
        trim_heap()


def run_on_ray(configs: list[JobConfig], address: str | None = None,
               progress: Callable[[dict], None] | None = None, num_cpus: int = 2) -> list[dict]:
    """Run each config as a Ray task on the cluster at ``address`` (``"auto"``, ``"ray://host:10001"``)
    or on a local Ray started with ``num_cpus`` CPUs; results in the order given."""
    ray = import_ray()
    from kdcore.store import default_store_dir, open_store

    store_dir = default_store_dir().resolve()
    env = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
    env["KD_STORE_DIR"] = str(store_dir)
    runtime_env: dict = {"env_vars": env}
    started_here = not ray.is_initialized()
    if address:
        # ship kdcore itself; the cluster's Python must already have torch & co (requirements.txt)
        runtime_env["py_modules"] = [str(PACKAGE_DIR)]
    else:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_DIR.parent), os.environ.get("PYTHONPATH")) if p)
    if started_here:
        # a job-level runtime_env: the workers Ray starts for this driver already have it (a per-task
        # one would start a second set of workers, each importing torch again)
        init = {"address": address} if address else {"num_cpus": num_cpus, "include_dashboard": False}
        ray.init(runtime_env=runtime_env, logging_level="warning", **init)
    try:
        task = ray.remote(num_cpus=1, max_retries=1)(_ray_task)
        if not started_here:  # someone else's Ray session: give our tasks the settings one by one
            task = task.options(runtime_env=runtime_env)
        outcomes: list[dict | None] = [None] * len(configs)
        store = open_store()
        node_memory = _largest_node_memory(ray)
        index: dict[object, int] = {}  # Ray object ref -> place in configs
        for i, c in enumerate(configs):
            try:
                need = _memory_request(c, store, shared_store=not address, node_memory=node_memory)
            except MemoryBudgetError as e:  # as the local runner: this job is refused, the rest run
                outcomes[i] = {"name": c.short_name(), "config": c.to_dict(), "error": f"{type(e).__name__}: {e}"}
                if progress is not None:
                    progress({"index": i, "name": c.short_name(), "stage": "failed", "error": outcomes[i]["error"]})
                continue
            index[task.options(memory=need).remote(c.to_dict())] = i
        pending = list(index)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            i = index[done[0]]
            try:
                out = ray.get(done[0])
                for key, result, groups in reversed(out["entries"]):  # teacher first
                    if store.get(key) is None:
                        store.put(key, result, groups)
                outcomes[i] = {**(store.get(out["result"]["key"]) or out["result"]), "cached": out["result"]["cached"]}
                event = {"stage": "done"}
            except Exception as e:  # ray.exceptions.RayTaskError wraps the job's own error
                cause = getattr(e, "cause", None) or e
                outcomes[i] = {"name": configs[i].short_name(), "config": configs[i].to_dict(),
                               "error": f"{type(cause).__name__}: {cause}"}
                event = {"stage": "failed", "error": outcomes[i]["error"]}
            if progress is not None:
                progress({"index": i, "name": configs[i].short_name(), **event})
        return [o for o in outcomes if o is not None]
    finally:
        if started_here:
            ray.shutdown()
