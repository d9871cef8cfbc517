"""``KD_RAY_ADDRESS``: the job runner's jobs (the app's, not only sweeps) run as Ray tasks and land in the
store under the same keys with the same numbers as a local run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kdcore.course import course_student, course_teacher
from kdcore.jobs.runner import JobRunner
from kdcore.store import ResultStore

TINY = dict(epochs=1, train_limit=256, test_limit=200, data_source="mnist-5k")


@pytest.mark.slow
def test_runner_jobs_on_a_local_ray_give_the_local_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ray = pytest.importorskip("ray")
    teacher = course_teacher("mnist", **TINY)
    student = course_student("mnist", "hinton", teacher=teacher, seed=3, **TINY)
    local = JobRunner(workers=1, mode="thread", store_root=tmp_path / "local")
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a 1-CPU Ray task: same kernels, same sums
    try:
        want = local.submit(student).result(300)
    finally:
        local.shutdown()
        torch.set_num_threads(before)
    monkeypatch.setenv("KD_RAY_ADDRESS", "")  # no address: the runner uses the Ray this process started
    ray.init(num_cpus=1, include_dashboard=False, logging_level="warning",
             runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parents[1]),
                                       "KD_OFFLINE": "1", "KD_STORE_DIR": str(tmp_path / "unused")}})
    runner = JobRunner(workers=1, mode="ray", store_root=tmp_path / "ray")
    try:
        got = runner.submit(student).result(600)  # its teacher becomes a Ray task of its own first, as locally
    finally:
        runner.shutdown()
        ray.shutdown()
    assert got["key"] == want["key"] and not got["cached"]
    assert got["metrics"] == want["metrics"] and got["teacher_key"] == want["teacher_key"]
    stored = ResultStore(tmp_path / "ray")
    assert stored.get(want["key"], need_weights=True) is not None  # in the runner's store, under the same key
    assert stored.get(want["teacher_key"], need_weights=True) is not None
    assert runner.stats["dispatched"] == 2


@pytest.mark.slow
def test_a_ray_sweep_of_two_students_of_one_new_teacher_trains_the_teacher_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m kdcore sweep --executor ray`` (its engine call, ``cli.run_many``) submits to the job runner in
    Ray mode: the new teacher becomes one Ray task of its own, and both students learn from that one."""
    pytest.importorskip("ray")
    from kdcore.cli import run_many
    from kdcore.jobs import ray_executor

    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    teacher = course_teacher("mnist", **TINY)
    students = [course_student("mnist", "hinton", teacher=teacher, seed=s, temperature=t, **TINY)
                for s, t in ((4, 2.0), (4, 8.0))]
    sent: list[str] = []
    real = ray_executor.run_job_on_ray

    def recorded(config, *args, **kwargs):  # noqa: ANN001, ANN202 - the runner's call, passed on unchanged
        sent.append(config.short_name())
        return real(config, *args, **kwargs)

    monkeypatch.setattr(ray_executor, "run_job_on_ray", recorded)
    results = run_many(students, executor="ray")  # starts a local Ray and shuts it down afterwards
    import ray

    assert not ray.is_initialized()
    assert sent.count(teacher.short_name()) == 1 and len(sent) == 3  # the teacher once, then each student
    assert sent[0] == teacher.short_name()
    store = ResultStore(tmp_path / "store")
    [teacher_entry] = [r for r in store.list() if r["config_key"] == teacher.key()]  # stored once
    assert all(r["teacher_key"] == teacher_entry["key"] for r in results)
    assert [r["config_key"] for r in results] == [s.key() for s in students] and not any(r["cached"] for r in results)
