"""The spine (issue 11): one home per method, one way into every job, from the app and the CLI alike."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kdcore.cli import main as cli_main
from kdcore.methods import METHODS, get_method
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
    config = lab.lab_config("mnist", method, hidden_text=str(f["hidden"]), student=str(f["student"]),
                            width=int(f["width"]), temperature=float(f["T"]), alpha=float(f["alpha"]),
                            epochs=int(f["epochs"]))
    argv = ["--method", method, "--arch", str(f["student"]), "-T", str(f["T"]), "--alpha", str(f["alpha"]),
            "--epochs", str(f["epochs"])]
    if f["student"] == "student_mlp":
        argv += ["--hidden", str(f["hidden"])]
    _, key, teacher = _dry_run(capsys, *argv)
    assert key == job_key(config), method
    assert teacher == (job_key(config.teacher) if config.teacher is not None else "None"), method


def test_every_method_is_one_registry_entry_with_what_callers_ask() -> None:
    for name, method in METHODS.items():
        assert method.name == name and method.title and method.summary
        assert method.needs_teacher == (name not in ("scratch", "subclass_teacher"))
    assert {m for m, _ in lab.mhist_methods()} == {n for n, m in METHODS.items() if m.mhist_note is not None}
    assert set(lab.MHIST_METHOD_NOTES) <= {m for m, _ in lab.mhist_methods()}


def test_a_job_that_cannot_fit_is_refused_before_training(tmp_path: Path) -> None:
    """The CLI goes through the runner's memory guard: a clear refusal, non-zero exit, no traceback."""
    env = {**os.environ, "KD_MEMORY_BUDGET": "1GB", "KD_STORE_DIR": str(tmp_path / "store"), "KD_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "kdcore", "distill", "--dataset", "mnist", "--method", "scratch",
                           "--hidden", "100000,100000"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "memory" in proc.stderr and "KD_MEMORY_BUDGET" in proc.stderr and "Traceback" not in proc.stderr
    assert "epoch" not in proc.stderr  # refused before any training
    assert not list((tmp_path / "store").glob("objects/*"))
