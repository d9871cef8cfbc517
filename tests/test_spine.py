"""The spine (issue 11): one home per method, one way into every job, from the app and the CLI alike."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kdcore import course
from kdcore.cli import main as cli_main
from kdcore.config import ConfigError
from kdcore.methods import METHODS, get_method, validate
from kdcore.train import job_key
from kdcore.views import lab

ROOT = Path(__file__).resolve().parents[1]


def _dry_run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, str, str]:
    assert cli_main(["distill", "--dry-run", *argv]) == 0, capsys.readouterr().err
    name, key, teacher = capsys.readouterr().out.strip().splitlines()[-1].split("\t")
    return name, key, teacher.removeprefix("teacher=")


def test_unknown_method_is_refused_with_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["distill", "--method", "bogus"]) == 2
    err = capsys.readouterr().err
    assert "unknown method 'bogus'" in err and "hinton" in err and "early_stopped" in err and "Traceback" not in err


def test_early_stopped_distils_from_a_shorter_teacher_than_hinton(capsys: pytest.CaptureFixture[str]) -> None:
    _, hinton_key, hinton_teacher = _dry_run(capsys, "--method", "hinton")
    _, early_key, early_teacher = _dry_run(capsys, "--method", "early_stopped")
    assert early_teacher != hinton_teacher and early_key != hinton_key
    early = get_method("early_stopped").job(lab.course_teacher("mnist"), lab.course_student("mnist"))
    assert early.teacher is not None and early.teacher.epochs < lab.course_teacher("mnist").epochs
    assert job_key(early.teacher) == early_teacher


@pytest.mark.parametrize("method", [m for m, _ in lab.methods()])
def test_every_lab_method_runs_from_the_cli_with_the_lab_s_jobs(method: str, capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KD_APP_TINY", raising=False)
    f = lab.form_defaults(method)
    config = course.lab_job("mnist", method, hidden_text=str(f["hidden"]), student=str(f["student"]),
                            width=int(f["width"]), temperature=float(f["T"]), alpha=float(f["alpha"]),
                            epochs=int(f["epochs"]))
    argv = ["--method", method, "--arch", str(f["student"]), "-T", str(f["T"]), "--alpha", str(f["alpha"]),
            "--epochs", str(f["epochs"])]
    if f["student"] == "student_mlp":
        argv += ["--hidden", str(f["hidden"])]
    _, key, teacher = _dry_run(capsys, *argv)
    assert key == job_key(config), method
    assert teacher == (job_key(config.teacher) if config.teacher is not None else "None"), method


def test_every_method_is_one_registry_entry_whose_jobs_pass_its_own_checks() -> None:
    """Each entry answers for itself: the job it builds for the course student validates; without the teacher it
    distils from (or, label-only, with one) the same job is refused."""
    teacher, student = lab.course_teacher("mnist"), lab.course_student("mnist")
    for name, method in METHODS.items():
        assert method.name == name and method.title and method.summary
        job = validate(method.job(teacher, student.replace(**method.student_settings)))
        assert job.method == name
        with pytest.raises(ConfigError, match="teacher"):
            validate(job.replace(teacher=None) if method.needs_teacher else job.replace(teacher=teacher))


def test_each_method_the_mhist_page_offers_builds_a_valid_pipeline_there() -> None:
    offered = [m for m, _ in lab.mhist_methods()]
    assert "hinton" in offered  # the page's default
    for name in offered:
        jobs = course.pipeline_jobs("mhist_synthetic", method=name)
        assert [validate(j) for j in jobs] and jobs[-1].method == name, name
        assert all(j.dataset == "mhist_synthetic" for j in jobs), name


@pytest.mark.slow
def test_a_job_that_cannot_fit_is_refused_before_training(tmp_path: Path) -> None:
    """The CLI goes through the runner's memory guard: a clear refusal, non-zero exit, no traceback."""
    env = {**os.environ, "KD_MEMORY_BUDGET": "1GB", "KD_STORE_DIR": str(tmp_path / "store"), "KD_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "kdcore", "distill", "--dataset", "mnist", "--method", "scratch",
                           "--hidden", "60000,60000"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "memory" in proc.stderr and "KD_MEMORY_BUDGET" in proc.stderr and "Traceback" not in proc.stderr
    assert "epoch" not in proc.stderr  # refused before any training
    assert not list((tmp_path / "store").glob("objects/*"))


@pytest.mark.slow
def test_two_students_of_one_new_teacher_train_it_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner sees the teacher chain: the teacher is a job of its own, queued first and shared."""
    from kdcore.course import course_student, course_teacher
    from kdcore.jobs import JobRunner
    from kdcore.store import open_store

    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("KD_OFFLINE", "1")
    small = dict(epochs=1, train_limit=128, test_limit=64, data_source="mnist-5k")
    teacher = course_teacher("mnist", seed=7, **small)
    students = [course_student("mnist", "hinton", teacher=teacher, hidden=(16,), seed=7, temperature=t, **small)
                for t in (2.0, 8.0)]
    runner = JobRunner(workers=1, mode="thread")
    try:
        handles = [runner.submit(s) for s in students]
        teacher_key = job_key(teacher)
        assert all(len(h._job.after) == 1 and h._job.after[0].key == teacher_key for h in handles)
        assert handles[0]._job.after[0]._job is handles[1]._job.after[0]._job  # one teacher job, shared
        results = [h.result(timeout=300) for h in handles]
    finally:
        runner.shutdown()
    assert {r["teacher_key"] for r in results} == {teacher_key}
    assert runner.stats["dispatched"] == 3  # teacher once, then the two students
    assert open_store().get(teacher_key) is not None


def test_a_failed_teacher_fails_its_students_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kdcore.course import course_student, course_teacher
    from kdcore.jobs import JobFailed, JobRunner
    from kdcore.train import job as job_module

    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    small = dict(epochs=1, train_limit=64, test_limit=32, data_source="mnist-5k")
    teacher = course_teacher("mnist", seed=8, **small)
    student = course_student("mnist", "hinton", teacher=teacher, hidden=(16,), seed=8, **small)
    real = job_module._compute

    def broken(config, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        if config.arch == "teacher_cnn":
            raise RuntimeError("teacher exploded")
        return real(config, *args, **kwargs)

    monkeypatch.setattr(job_module, "_compute", broken)
    runner = JobRunner(workers=1, mode="thread")
    try:
        handle = runner.submit(student)
        with pytest.raises(JobFailed, match="its teacher .* did not finish .*teacher exploded"):
            handle.result(timeout=120)
    finally:
        runner.shutdown()
