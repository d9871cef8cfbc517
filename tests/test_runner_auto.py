"""The runner's ``auto`` mode: the course pair's small jobs in threads (no second torch), anything big or
MHIST in a worker process (crash isolation where memory can run out)."""

from __future__ import annotations

from pathlib import Path

from kdcore.course import course_student, course_teacher
from kdcore.jobs.runner import JobRunner

TINY = dict(epochs=1, train_limit=256, test_limit=200, data_source="mnist-5k")


def test_auto_mode_puts_small_jobs_in_threads_and_big_ones_in_processes(tmp_path: Path) -> None:
    runner = JobRunner(workers=1, mode="auto", store_root=tmp_path / "store")
    try:
        assert runner.job_mode(course_student("fashion_mnist", "hinton", teacher=course_teacher("fashion_mnist"))) == "thread"
        assert runner.job_mode(course_teacher("fashion_mnist")) == "thread"
        assert runner.job_mode(course_student("mnist", "scratch", hidden=(20_000, 20_000), **TINY)) == "process"
        assert runner.job_mode(course_student("mhist_synthetic", "hinton",
                                              teacher=course_teacher("mhist_synthetic"))) == "process"
        h = runner.submit(course_student("mnist", "scratch", **TINY))
        assert h.result(300)["metrics"]["accuracy"] > 0
        assert runner._procs == [None]  # no worker process was started for it
    finally:
        runner.shutdown()
    assert JobRunner(workers=1, mode="process").job_mode(course_student("mnist", "scratch", **TINY)) == "process"
