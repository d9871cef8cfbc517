"""Section ``runner`` of ``python -m kdcore bench``: a classroom burst against one job runner, and the runner's
overhead on one job. Everything runs in a fresh temporary store, so nothing is served from earlier results.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time

import psutil

from kdcore.bench import Target
from kdcore.config import JobConfig
from kdcore.course import course_student
from kdcore.jobs.memory import RUNTIME_BYTES, memory_budget
from kdcore.jobs.runner import JobRunner, RunnerError
from kdcore.store import open_store


class _MemorySampler:
    """Peak RSS (and proportional set size, which counts shared library pages once) of this
    process and all its children, sampled every ``every_s`` seconds on a background thread."""

    def __init__(self, every_s: float = 0.05) -> None:
        self.every_s, self.peak_rss, self.peak_pss = every_s, 0, 0
        self.peak_by_process: dict[str, int] = {}  # "pid name" → its own peak RSS
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        n = 0
        while not self._stop.is_set():
            procs = [me, *me.children(recursive=True)]
            rss = pss = 0
            for p in procs:
                try:
                    own = p.memory_info().rss
                    rss += own
                    label = f"{p.pid} {p.name()}"
                    self.peak_by_process[label] = max(self.peak_by_process.get(label, 0), own)
                    if n % 5 == 0:  # /proc/<pid>/smaps_rollup is slower: read it every 5th sample
                        pss += getattr(p.memory_full_info(), "pss", 0)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            self.peak_rss = max(self.peak_rss, rss)
            if n % 5 == 0:
                self.peak_pss = max(self.peak_pss, pss)
            n += 1
            self._stop.wait(self.every_s)

    def __enter__(self) -> _MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def classroom_configs(distinct: int = 10) -> list[JobConfig]:
    """Small MNIST-5k students of the kind a class submits: a few widths × a few seeds."""
    widths = [(32,), (128,), (784, 784)]
    return [course_student("mnist", "scratch", seed=i // len(widths), hidden=widths[i % len(widths)], epochs=2,
                           data_source="mnist-5k") for i in range(distinct)]


def bench_classroom(users: int = 30, distinct: int = 10, mode: str | None = None, timeout_s: float = 900) -> dict:
    """``users`` people press *Train* at once (configs ``i % distinct``; one asks for a job far too
    big for the memory budget). Reports outcomes, latency and peak memory of this process plus its
    worker processes (:func:`classroom_in_fresh_process` runs it in a process loaded like the app's)."""
    app_rss = psutil.Process().memory_info().rss
    configs = classroom_configs(distinct)
    greedy = course_student("mnist", "scratch", hidden=(40_000, 40_000), data_source="mnist-5k")
    wanted = [greedy if u == users // 2 else configs[u % distinct] for u in range(users)]
    runner = JobRunner(mode=mode, store_root=tempfile.mkdtemp(prefix="kd-bench-"))
    outcomes: list[dict] = [{} for _ in range(users)]
    barrier = threading.Barrier(users)

    def user(u: int) -> None:
        barrier.wait()
        t0 = time.perf_counter()
        try:
            h = runner.submit(wanted[u])
            outcomes[u]["position"] = h.position()
            r = h.result(timeout_s)
            outcomes[u].update(kind="result", key=r["key"], accuracy=r["metrics"]["accuracy"])
        except (RunnerError, ValueError) as e:  # ConfigError/MemoryBudgetError are ValueErrors
            outcomes[u].update(kind="refused", message=str(e))
        except Exception as e:  # anything else counts as lost, with what happened
            outcomes[u].update(kind="lost", message=f"{type(e).__name__}: {e}")
        outcomes[u]["latency_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with _MemorySampler() as mem:
        threads = [threading.Thread(target=user, args=(u,)) for u in range(users)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        runner.shutdown()
    wall = time.perf_counter() - t0
    kinds = [o.get("kind", "lost") for o in outcomes]
    latencies = sorted(o["latency_s"] for o in outcomes if o.get("kind") == "result")
    by_key: dict[str, set] = {}
    for o in outcomes:
        if o.get("kind") == "result":
            by_key.setdefault(o["key"], set()).add(o["accuracy"])
    budget = memory_budget()
    return {
        "users": users,
        "distinct_configs": distinct,
        "app_process_rss_before_bytes": app_rss,
        "mode": runner.mode,
        "ran_in": sorted({runner.job_mode(c) for c in configs}),
        "workers": runner.workers,
        "results": kinds.count("result"),
        "refused": kinds.count("refused"),
        "lost": kinds.count("lost"),
        "refusal_example": next((o["message"] for o in outcomes if o.get("kind") == "refused"), None),
        "computations": runner.stats["dispatched"],
        "attached": runner.stats["attached"],
        "same_result_for_same_config": all(len(v) == 1 for v in by_key.values()),
        "max_queue_position": max((o.get("position") or 0) for o in outcomes),
        "latency_median_s": statistics.median(latencies) if latencies else None,
        "latency_max_s": latencies[-1] if latencies else None,
        "wall_s": wall,
        "peak_rss_bytes": mem.peak_rss,
        "peak_pss_bytes": mem.peak_pss,
        "peak_rss_by_process": mem.peak_by_process,
        "budget_bytes": budget,
        "peak_rss_under_budget": mem.peak_rss <= budget,
    }


def bench_overhead(repeats: int = 3, mode: str | None = None) -> dict:
    """Wall time of one short job run directly (``run_job``) vs through a warm runner.

    Both read data already in memory and write to fresh stores; the runner's worker has run one job
    before (its start-up, importing torch, is reported separately as ``cold_start_s``). Minimum of
    ``repeats`` alternating runs each, so the other users of a shared machine disturb it least.
    """
    from kdcore.train import run_job

    job = lambda seed: course_student("mnist", "scratch", seed=seed, epochs=3, data_source="mnist-5k")  # noqa: E731
    runner = JobRunner(workers=1, mode=mode, store_root=tempfile.mkdtemp(prefix="kd-bench-"))
    try:
        t0 = time.perf_counter()
        runner.submit(job(100)).result(600)  # starts the worker and loads the data there
        cold = time.perf_counter() - t0
        direct, through, outside_direct, outside_runner = [], [], [], []
        for r in range(repeats):
            t0 = time.perf_counter()
            res = run_job(job(200 + r), store=open_store(tempfile.mkdtemp(prefix="kd-bench-"), shipped=False))
            direct.append(time.perf_counter() - t0)
            outside_direct.append(direct[-1] - res["wall_s"])
            t0 = time.perf_counter()
            res = runner.submit(job(200 + r)).result(600)
            through.append(time.perf_counter() - t0)
            outside_runner.append(through[-1] - res["wall_s"])
    finally:
        runner.shutdown()
    d, t = min(direct), min(through)
    # On a busy machine the training time itself varies by more than the runner costs, so also
    # report the time spent *outside* the job's own measured wall time (result["wall_s"]: teacher,
    # training, evaluation), i.e. lookups, queueing, process hand-off and the store write.
    extra = statistics.median(outside_runner) - statistics.median(outside_direct)
    return {"mode": runner.mode, "direct_s": d, "runner_s": t, "overhead_pct_raw": 100.0 * (t - d) / d,
            "overhead_outside_job_s": extra, "overhead_pct": 100.0 * extra / d, "cold_start_s": cold,
            "direct_runs_s": direct, "runner_runs_s": through}


def classroom_in_fresh_process(users: int = 30, mode: str | None = None) -> dict:
    """:func:`bench_classroom` in a new Python process loaded like the app's (:data:`kdcore.bench.child.APP_PRELUDE`,
    after the app's heap policy), so the figure is the app's (app + workers) whatever the benchmarking process held
    before (e.g. the engine section's data)."""
    from kdcore.bench.child import APP_PRELUDE, call_in_child

    heap = "from kdcore.jobs.heap import return_freed_memory_to_os\nreturn_freed_memory_to_os()\n"
    return call_in_child("kdcore.bench.runner", "bench_classroom", 1800, "classroom", prelude=heap + APP_PRELUDE,
                         users=users, mode=mode)


def bench_runner(users: int = 30, mode: str | None = None) -> dict:
    """The runner's figures for ``python -m kdcore bench``: a classroom burst (in a fresh app-like process,
    as the app's heap policy sets it) and the overhead."""
    return {"classroom": classroom_in_fresh_process(users=users, mode=mode), "overhead": bench_overhead(mode=mode),
            "worker_runtime_estimate_bytes": RUNTIME_BYTES}


def run(quick: bool) -> dict:
    return bench_runner()


# (label, figure, test), checked in the table (kdcore.bench.markdown_table)
TARGETS: list[Target] = [
    ("30 users: no request lost", "classroom.lost", lambda v: v == 0),
    ("30 users: peak RSS (app + workers) <= 1,536 MB", "classroom.peak_rss_mb", lambda v: v <= 1536),
    ("30 users: median wait <= 5 s", "classroom.latency_median_s", lambda v: v <= 5),
    ("runner overhead on one short job <= 5 %", "overhead.overhead_pct", lambda v: v <= 5),
]
