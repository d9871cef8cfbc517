"""What the student learned: per-example predictions stored with every result (uint8 safetensors), the view's
counts equal a recomputation from them, old results get them back from their weights (or are refused), and
the page shows the counts."""

from __future__ import annotations

from pathlib import Path

import apphelpers
import numpy as np
import pytest

from kdcore.predictions import GROUP, load_predictions
from kdcore.store import ResultStore, open_store, read_entry
from kdcore.views import learned


@pytest.fixture(scope="module")
def tiny_pair(tiny_course_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the tiny MNIST course pipeline (teacher, scratch twin, Hinton KD student), seed 0: a copy
    of the session's tiny course."""
    return apphelpers.copy_tiny_course(tiny_course_template, tmp_path_factory.mktemp("learned-store") / "store")


@pytest.fixture
def use_pair(tiny_pair: Path, monkeypatch: pytest.MonkeyPatch, fresh_app_caches: None) -> Path:
    monkeypatch.setenv("KD_STORE_DIR", str(tiny_pair))
    monkeypatch.setenv("KD_APP_TINY", "1")
    monkeypatch.setattr("kdcore.store.SHIPPED_STORE", tiny_pair / "no-shipped-results")
    return tiny_pair


def _recount(kd: dict, scratch: dict, store: object) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """The four outcomes straight from the stored tensors (independently of the view's code)."""
    a = store.load_tensors(kd["key"], GROUP)
    b = store.load_tensors(scratch["key"], GROUP)
    y = a["label"].numpy()
    assert (y == b["label"].numpy()).all()
    k, s = a["predicted"].numpy() == y, b["predicted"].numpy() == y
    masks = {"both right": k & s, learned.ONLY_KD_RIGHT: k & ~s, learned.SCRATCH_ONLY: ~k & s, "both wrong": ~k & ~s}
    return {name: int(m.sum()) for name, m in masks.items()}, {name: np.bincount(y[m], minlength=10)
                                                               for name, m in masks.items()}


@pytest.mark.slow
def test_every_job_stores_compact_predictions_that_score_its_accuracy(use_pair: Path) -> None:
    store = open_store()
    for r in store.list():
        pred, label = load_predictions(r)
        assert pred.shape == label.shape == (r["n_test"],)
        assert store.load_tensors(r["key"], GROUP)["predicted"].dtype.itemsize == 1  # uint8: 1 byte per image
        assert (pred == label).mean() == pytest.approx(r["metrics"]["accuracy"], abs=1e-9)
        assert not any(name.endswith((".pt", ".pkl")) for name in r["files"])  # no pickle


def test_view_counts_match_a_recomputation_from_the_stored_predictions(use_pair: Path) -> None:
    (kd, scratch), = learned.learned_pairs("mnist")
    assert kd["config"]["method"] == "hinton" and scratch["config"]["method"] == "scratch"
    assert (kd["config"]["arch"], kd["config"]["hidden"], kd["config"]["seed"]) == (
        scratch["config"]["arch"], scratch["config"]["hidden"], scratch["config"]["seed"])
    view = learned.student_learned(kd, scratch, n_examples=3)
    expected, per_class = _recount(kd, scratch, open_store())
    assert view.counts == expected and sum(expected.values()) == view.n_test == kd["n_test"]
    for name, counts in per_class.items():
        assert view.per_class[name].tolist() == counts.tolist()
    for ex in view.examples[learned.ONLY_KD_RIGHT]:
        assert ex.kd == ex.true != ex.scratch
        assert ex.teacher is not None and ex.teacher["prob"].sum() == pytest.approx(1.0, abs=1e-4)
    for ex in view.examples[learned.SCRATCH_ONLY]:
        assert ex.scratch == ex.true != ex.kd


@pytest.mark.slow
def test_page_shows_the_counts(use_pair: Path) -> None:
    at = apphelpers.open_page("app_pages/student_learned.py", 120)
    assert not at.error
    (kd, scratch), = learned.learned_pairs("mnist")
    expected, _ = _recount(kd, scratch, open_store())
    assert {m.label: m.value for m in at.metric} == {k: f"{v:,}" for k, v in expected.items()}
    assert at.query_params["dataset"] == "mnist"


def test_backfill_recomputes_from_weights_and_refuses_wrong_weights(use_pair: Path, tmp_path: Path) -> None:
    from kdcore.train.backfill import backfill

    src = open_store()
    (kd, scratch), = learned.learned_pairs("mnist")
    old = ResultStore(tmp_path / "old")
    for r in (kd, scratch):  # as results were stored before predictions existed
        meta, tensors = read_entry(src, r["key"])
        old.put(r["key"], meta, {"weights": tensors["weights"]})
    # the scratch entry gets the KD student's weights: its predictions would not score its accuracy
    meta, _ = read_entry(src, scratch["key"])
    wrong = ResultStore(tmp_path / "wrong")
    wrong.put(scratch["key"], meta, {"weights": src.load_tensors(kd["key"], "weights")})
    report = backfill([old.get(kd["key"])], old, [old])
    assert report == [f"{kd['name']}: predictions added from its stored weights (1 store(s))"]
    again = old.load_tensors(kd["key"], GROUP)
    assert (again["predicted"] == src.load_tensors(kd["key"], GROUP)["predicted"]).all()
    report = backfill([wrong.get(scratch["key"])], wrong, [wrong])
    if kd["metrics"]["accuracy"] != scratch["metrics"]["accuracy"]:
        assert "refused" in report[0] and wrong.load_tensors(scratch["key"], GROUP) is None
    from kdcore.store import LayeredStore

    old2 = ResultStore(tmp_path / "old2")  # a shipped entry without them, a working store with them: copied
    meta, tensors = read_entry(src, kd["key"])
    old2.put(kd["key"], meta, {"weights": tensors["weights"]})
    report = backfill([old2.get(kd["key"])], LayeredStore(ResultStore(use_pair), old2), [old2])
    assert "copied" in report[0] and (old2.load_tensors(kd["key"], GROUP)["predicted"] == again["predicted"]).all()
    meta, _ = read_entry(src, scratch["key"])
    bare = ResultStore(tmp_path / "bare")
    bare.put(scratch["key"], meta, {})
    assert "needs retraining" in backfill([bare.get(scratch["key"])], bare, [bare])[0]


def test_the_shipped_fashion_course_pair(shipped_env: pytest.MonkeyPatch) -> None:
    pairs = [p for p in learned.learned_pairs("fashion_mnist") if p[0]["config"]["method"] == "hinton"]
    if not pairs:
        pytest.skip("the shipped Fashion-MNIST course pair has no per-example predictions yet: "
                    "python -m kdcore precompute --only predictions-retrain")
    kd, scratch = pairs[0]
    view = learned.student_learned(kd, scratch, n_examples=2)
    assert view.counts == _recount(kd, scratch, open_store())[0]
