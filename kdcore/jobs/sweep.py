"""``run_configs``: run a list of jobs (a sweep) through the job runner, its jobs on this machine or as Ray tasks.

Either way the jobs go through :meth:`JobRunner.submit` — its de-duplication, teacher chains (two students of
one new teacher train it once) and memory guard — and every result lands in the same store under the same key,
so a sweep run on a cluster shows up in the app exactly as if it had been run locally.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kdcore.config import JobConfig
from kdcore.jobs.runner import JobFailed, JobHandle, JobRunner, QueueFullError, get_runner
from kdcore.train.loop import JobCancelled

ProgressFn = Callable[[dict], None]


def run_configs(configs: Sequence[JobConfig], executor: str = "local", address: str | None = None,
                progress: ProgressFn | None = None, runner: JobRunner | None = None,
                on_error: str = "raise") -> list[dict]:
    """Run every config; return their result dicts in the order given.

    executor: ``"local"`` (the process-wide :class:`JobRunner`, or ``runner``) or ``"ray"`` (a runner of
        its own in mode ``ray``, or ``runner`` when it is one: each job a Ray task, see
        :mod:`kdcore.jobs.ray_executor`; ``address`` of an existing cluster, or None for a local Ray,
        started here and shut down afterwards).
    progress: called with ``{"index": i, "name": ..., **event}`` for the jobs' progress events.
    on_error: ``"raise"`` raises :class:`JobFailed` naming every failed job after all have ended;
        ``"record"`` puts ``{"name", "config", "error"}`` in the failed jobs' places instead.
    """
    if on_error not in ("raise", "record"):
        raise ValueError(f"on_error must be 'raise' or 'record', got {on_error!r}")
    if executor == "ray":
        outcomes = _run_on_ray(list(configs), address, progress, runner)
    elif executor == "local":
        outcomes = _run_local(list(configs), runner or get_runner(), progress)
    else:
        raise ValueError(f"unknown executor {executor!r}; choose local or ray")
    failed = [o for o in outcomes if "error" in o]
    if failed and on_error == "raise":
        lines = "; ".join(f"{o['name']}: {o['error']}" for o in failed)
        raise JobFailed(f"{len(failed)} of {len(outcomes)} jobs failed: {lines}")
    return outcomes


def _run_on_ray(configs: list[JobConfig], address: str | None, progress: ProgressFn | None,
                runner: JobRunner | None) -> list[dict]:
    """The jobs through a runner in mode ``ray``, as many at once as the Ray cluster has CPUs."""
    import kdcore.jobs.ray_executor as ray_executor  # the module (not via the package: no circle)

    if runner is not None and runner.mode != "ray":
        raise ValueError(f"executor 'ray' needs a runner in mode 'ray', got one in mode {runner.mode!r}")
    started_here = not ray_executor.import_ray().is_initialized()
    own = runner is None
    try:
        if own:
            ray = ray_executor.connect(address)
            runner = JobRunner(workers=ray_executor.cluster_slots(ray), mode="ray", ray_address=address)
        return _run_local(configs, runner, progress)
    finally:
        if own and runner is not None:
            runner.shutdown()
        if started_here:
            ray_executor.disconnect()


def _run_local(configs: list[JobConfig], runner: JobRunner, progress: ProgressFn | None) -> list[dict]:
    handles: list[JobHandle | None] = [None] * len(configs)
    errors: dict[int, str] = {}
    for i, cfg in enumerate(configs):
        while True:
            try:
                handles[i] = runner.submit(cfg)
                break
            except QueueFullError:  # a sweep larger than the queue waits for room, it is not refused
                pending = [h for h in handles[:i] if h is not None and not h.done()]
                if not pending:
                    raise
                pending[0]._job.finished.wait(5.0)
            except Exception as e:  # ConfigError / MemoryBudgetError: this point fails, the rest run
                errors[i] = f"{type(e).__name__}: {e}"
                break
        if progress is not None and handles[i] is not None:
            name = cfg.short_name()
            handles[i].subscribe(lambda e, i=i, name=name: progress({"index": i, "name": name, **e}))
    out: list[dict] = []
    for i, (cfg, h) in enumerate(zip(configs, handles, strict=True)):
        if h is None:
            out.append({"name": cfg.short_name(), "config": cfg.to_dict(), "error": errors[i]})
            continue
        try:
            out.append(h.result())
        except (JobFailed, JobCancelled) as e:
            out.append({"name": cfg.short_name(), "config": cfg.to_dict(), "error": str(e)})
    return out
