"""Shipped/stored teacher logits: a logits-only KD job reads them instead of training or running its teacher,
and logits that were not computed on these inputs are never used."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from kdcore.course import course_student, course_teacher
from kdcore.data import load_dataset
from kdcore.store import ResultStore, read_entry
from kdcore.train import run_job
from kdcore.train.common import LOGITS_DTYPE, inputs_check, stored_logits
from kdcore.train.job import stored_teacher

TINY = dict(epochs=1, train_limit=256, test_limit=200, data_source="mnist-5k")


def _teacher_without_weights(tmp_path: Path) -> tuple[ResultStore, dict]:
    """A store holding a trained tiny teacher's entry with its train logits but *no weights* (as shipped)."""
    full = ResultStore(tmp_path / "full")
    teacher = course_teacher("mnist", **TINY)
    run_job(course_student("mnist", "hinton", teacher=teacher, **TINY), store=full)  # computes + caches the logits
    meta, groups = read_entry(full, run_job(teacher, store=full)["key"])
    assert groups["train_logits"]["logits"].dtype == LOGITS_DTYPE
    shipped = ResultStore(tmp_path / "shipped")
    key = run_job(teacher, store=full)["key"]
    shipped.put(key, meta, {"train_logits": groups["train_logits"]})
    return shipped, meta


@pytest.fixture(scope="module")
def made_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:func:`_teacher_without_weights`, trained once for the module; each test gets its own copy of the store."""
    root = tmp_path_factory.mktemp("teacher-logits")
    _teacher_without_weights(root)
    return root / "shipped"


def _shipped_copy(made_once: Path, tmp_path: Path) -> ResultStore:
    shutil.copytree(made_once, tmp_path / "shipped")
    return ResultStore(tmp_path / "shipped")


@pytest.mark.slow
def test_kd_job_learns_from_stored_logits_without_the_teachers_weights(made_once: Path, tmp_path: Path) -> None:
    shipped = _shipped_copy(made_once, tmp_path)
    teacher = course_teacher("mnist", **TINY)
    student = course_student("mnist", "hinton", teacher=teacher, seed=1, **TINY)
    assert stored_teacher(student, shipped) is not None  # the runner queues no teacher job for it
    events: list[dict] = []
    r = run_job(student, store=shipped, progress=events.append)
    assert not r["cached"] and r["teacher_key"] == stored_teacher(student, shipped)["key"]
    assert not any(str(e.get("stage", "")).startswith("teacher:") for e in events)  # the teacher was not trained
    assert shipped.get(r["teacher_key"], need_weights=True) is None  # ... nor were weights made for it
    # a method that reads the teacher's features still needs the weights: it does not take the logits-only entry
    fitnet = course_student("mnist", "fitnet", teacher=teacher, **TINY).replace(arch="student_cnn")
    assert stored_teacher(fitnet, shipped) is None


@pytest.mark.slow
def test_logits_of_other_inputs_are_not_used(made_once: Path, tmp_path: Path) -> None:
    shipped = _shipped_copy(made_once, tmp_path)
    key = stored_teacher(course_student("mnist", "hinton", teacher=course_teacher("mnist", **TINY), **TINY),
                         shipped)["key"]
    x = load_dataset("mnist", "mnist-5k").x_train[: TINY["train_limit"]]  # the images the limited student trains on
    assert stored_logits(shipped, key, "train_logits", x) is not None
    assert stored_logits(shipped, key, "train_logits", x.flip(0)) is None  # other rows: refused
    logits = shipped.load_tensors(key, "train_logits")["logits"]
    shipped.add_tensors(key, "train_logits", {"logits": logits, "inputs_check": inputs_check(x) + 1})
    assert stored_logits(shipped, key, "train_logits", x) is None
    student = course_student("mnist", "hinton", teacher=course_teacher("mnist", **TINY), **TINY)
    assert stored_teacher(student, shipped) is None  # so the teacher would be trained, not mis-read
    assert torch.equal(inputs_check(x), inputs_check(x.clone()))
