"""The MHIST page's "accuracy vs F1 vs AUC" panel: the majority-class predictor computed from a stored result's
own test class counts beside the model, and a note when stored models predict one class for every tile."""

from __future__ import annotations

from pathlib import Path

import apphelpers
import pytest

from kdcore.course import course_student, course_teacher
from kdcore.store import open_store
from kdcore.views.mhist_scoring import scoring_lesson

SOURCE = "mhist-synthetic-test"


def record(cfg, confusion: list[list[int]], f1: float, auc: float, source: str = SOURCE) -> dict:
    """A stored binary result as the engine writes one (the fields the MHIST views read)."""
    cm = confusion
    n = sum(map(sum, cm))
    return {"name": cfg.short_name(), "config": cfg.to_dict(), "dataset": cfg.dataset, "classes": ["HP", "SSA"],
            "data_source": "synthetic stand-in — not MHIST", "data_source_id": source, "is_standin": True,
            "n_train": 96, "n_test": n, "seed": cfg.seed, "key": cfg.key() + source,
            "metrics": {"accuracy": (cm[0][0] + cm[1][1]) / n, "f1": f1, "auc": auc, "confusion": cm},
            "complexity": {"flops": 1e8}, "created": "2026-01-01T00:00:00+00:00"}


COLLAPSED_TEACHER = record(course_teacher("mhist_synthetic"), [[30, 0], [10, 0]], 0.0, 0.31)
COLLAPSED_STUDENT = record(course_student("mhist_synthetic", "hinton"), [[30, 0], [10, 0]], 0.0, 0.93)
GOOD_STUDENT = record(course_student("mhist_synthetic", "scratch"), [[28, 2], [3, 7]], 14 / 17, 0.9, "other-source")


def test_the_majority_line_comes_from_the_results_own_class_counts() -> None:
    lesson = scoring_lesson(COLLAPSED_STUDENT, [COLLAPSED_TEACHER, COLLAPSED_STUDENT, GOOD_STUDENT])
    base, model = lesson.table.iloc[0], lesson.table.iloc[1]
    assert base["predictor"] == "always HP (majority class)"
    assert base["accuracy %"] == pytest.approx(75.0)  # 30 HP of 40: counts, not a 2:1 constant
    assert base["F1 (SSA) %"] == 0.0 and base["AUC %"] == pytest.approx(50.0) and base["SSA found"] == "0 of 10"
    assert model["accuracy %"] == pytest.approx(75.0) and model["AUC %"] == pytest.approx(93.0)
    assert "30 HP, 10 SSA" in lesson.explanation and "75.0 % accuracy" in lesson.explanation
    # both stored models on this data answer HP for everything; the other source's model is not counted
    assert lesson.one_class is not None and lesson.one_class.startswith("All 2 stored models")
    assert "predict **HP**" in lesson.one_class and "from 31 % to 93 %" in lesson.one_class


def test_a_model_that_finds_ssa_is_read_against_the_majority_line() -> None:
    lesson = scoring_lesson(GOOD_STUDENT, [COLLAPSED_STUDENT, GOOD_STUDENT])
    model = lesson.table.iloc[1]
    assert model["F1 (SSA) %"] == pytest.approx(100 * 14 / 17) and model["SSA found"] == "7 of 10"
    assert "+12.5 points" in lesson.explanation  # 87.5 % against 75 %
    assert lesson.one_class is None  # nothing on its own data predicts one class


def test_a_result_without_a_confusion_matrix_is_refused_with_the_fix() -> None:
    bare = {**GOOD_STUDENT, "metrics": {"accuracy": 0.9, "f1": 0.8, "auc": 0.9}}
    with pytest.raises(ValueError, match="confusion matrix.*--recompute"):
        scoring_lesson(bare, [])


def test_mhist_page_teaches_f1_and_auc_from_the_stored_numbers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                               fresh_app_caches: None) -> None:
    monkeypatch.setattr("kdcore.store.SHIPPED_STORE", tmp_path / "no-shipped")
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    store = open_store()
    for r in (COLLAPSED_TEACHER, COLLAPSED_STUDENT):
        store.put(r["key"], r)
    at = apphelpers.open_page("app_pages/mhist.py")
    assert any("Why accuracy is not enough" in h.value for h in at.subheader)
    panel = next(d.value for d in at.dataframe if "predictor" in d.value.columns)
    assert panel["predictor"].iloc[0] == "always HP (majority class)"
    assert panel["accuracy %"].iloc[0] == pytest.approx(75.0) and panel["F1 (SSA) %"].iloc[0] == 0.0
    assert any(w.value.startswith("All 2 stored models") for w in at.warning)
