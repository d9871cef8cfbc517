"""Jobs: the one runner every training goes through, the memory guard, and sweeps (local or Ray).

    from kdcore.jobs import get_runner
    handle = get_runner().submit(config)      # queued, attached to an identical job, or cached
    handle.status().describe()                # "queued: your job is 3rd in the queue", "running: epoch 4/12"
    result = handle.result(timeout=600)
"""

from kdcore.jobs.memory import (
    MemoryBudgetError,
    check_memory,
    estimate,
    estimate_peak_bytes,
    memory_budget,
    parse_bytes,
)
from kdcore.jobs.runner import (
    JobFailed,
    JobHandle,
    JobRunner,
    JobState,
    JobStatus,
    QueueFullError,
    RunnerError,
    get_runner,
    reset_runner,
)
from kdcore.jobs.sweep import run_configs

__all__ = [
    "JobFailed", "JobHandle", "JobRunner", "JobState", "JobStatus", "MemoryBudgetError", "QueueFullError",
    "RunnerError", "check_memory", "estimate", "estimate_peak_bytes", "get_runner", "memory_budget",
    "parse_bytes", "reset_runner", "run_configs",
]
