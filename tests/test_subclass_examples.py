"""Subclass examples (issue 5): test images per (class, subclass) of a subclass teacher, and the Learn page's grid.

The engine tests train a tiny subclass teacher (256 MNIST-5k images, 1 epoch) in a temporary store;
the page tests read the artefact shipped in ``assets/store`` (and hide it for the "missing" state).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from apphelpers import open_page
from streamlit.testing.v1 import AppTest

from kdcore.course import course_student, course_teacher
from kdcore.data import load_dataset
from kdcore.methods.subclass import subclass_configs
from kdcore.store import SHIPPED_STORE, LayeredStore, ResultStore, read_entry
from kdcore.subclass_examples import (
    MAKE_COMMAND,
    artefact_store,
    compute_subclass_examples,
    export_artefacts,
    load_subclass_examples,
    make_subclass_examples,
)
from kdcore.train import load_model, predict_logits, run_job

TINY = dict(epochs=1, train_limit=256, test_limit=200, data_source="mnist-5k")


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory: pytest.TempPathFactory) -> tuple[ResultStore, dict]:
    """A tiny subclass teacher (s = 2) in its own store, and its result."""
    store = ResultStore(tmp_path_factory.mktemp("subclass-store"))
    teacher, _ = subclass_configs(course_teacher("mnist", **TINY), course_student("mnist", **TINY), subclasses=2)
    return store, run_job(teacher, store=store)


def test_examples_are_the_teachers_own_split_of_each_class(tiny_teacher: tuple[ResultStore, dict]) -> None:
    store, result = tiny_teacher
    n = 4
    ex = compute_subclass_examples(result, store, per_subclass=n)
    data = load_dataset("mnist", "mnist-5k")
    x, y = data.x_test[:200], data.y_test[:200]
    n_classes, s = 10, 2
    assert ex.images.shape == (n_classes, s, n, 28, 28) and ex.images.dtype == np.uint8
    assert ex.indices.shape == ex.assigned.shape == ex.confidence.shape == (n_classes, s, n)
    assert ex.subclasses == s and ex.classes == data.classes
    # every test image of class c is in exactly one of c's subclasses: shares sum to 1 per class
    per_class = np.bincount(y.numpy(), minlength=n_classes)
    assert (ex.counts.sum(axis=1) == per_class).all()
    present = per_class > 0
    assert present.sum() >= 8
    np.testing.assert_allclose(ex.shares[present].sum(axis=1), 1.0)
    assert (ex.shares[~present] == 0).all()
    # ... namely the subclass with the largest logit within its true class
    z = predict_logits(load_model(result, store), x).view(len(y), n_classes, s)
    sub = z[torch.arange(len(y)), y].argmax(dim=1)
    for c in range(n_classes):
        assert [int(((y == c) & (sub == k)).sum()) for k in range(s)] == ex.counts[c].tolist()
        for k in range(s):
            shown = ex.indices[c, k] >= 0
            assert shown.sum() == min(n, per_class[c])
            members = min(n, int(ex.counts[c, k]))
            assert ex.assigned[c, k, :members].all() and not ex.assigned[c, k, members:].any()
            conf = ex.confidence[c, k, :members]
            assert (np.diff(conf) <= 1e-6).all(), "members come most confident first"
            for i in np.flatnonzero(shown):
                idx = int(ex.indices[c, k, i])
                assert int(y[idx]) == c, "an example of (c, k) is a test image of class c"
                assert bool(sub[idx] == k) == bool(ex.assigned[c, k, i])
                np.testing.assert_array_equal(ex.images[c, k, i], (x[idx, 0] * 255).round().to(torch.uint8).numpy())
    c = int(np.flatnonzero(present)[0])
    assert ex.tile(c, 0, columns=2).shape == (2 * 28 + 2, 2 * 28 + 2)
    assert ex.label(c, 0).startswith(f"subclass 1 — {100 * ex.shares[c, 0]:.0f} % of class {ex.classes[c]}")
    assert "stand-in data: mnist-5k" in ex.caption() and ex.summary()


def test_precompute_part_saves_loads_and_exports_the_artefact(tiny_teacher: tuple[ResultStore, dict],
                                                               tmp_path: Path) -> None:
    store, result = tiny_teacher
    work = ResultStore(tmp_path / "work")
    work.put(result["key"], *read_entry(store, result["key"]))
    keys = make_subclass_examples(work, per_subclass=3)
    assert len(keys) == 1 and make_subclass_examples(work, per_subclass=3) == keys  # idempotent
    assert [r["key"] for r in work.list()] == [result["key"]], "the artefact is not listed as a trained job"
    saved = load_subclass_examples("mnist", work)
    assert saved is not None and load_subclass_examples("fashion_mnist", work) is None
    meta = artefact_store(work).get(keys[0])
    assert (meta["teacher_key"], meta["made_by"], meta["data_source_id"]) == (result["key"], MAKE_COMMAND, "mnist-5k")
    fresh = compute_subclass_examples(result, store, per_subclass=3)
    for name in ("images", "indices", "assigned", "counts"):
        np.testing.assert_array_equal(getattr(saved, name), getattr(fresh, name))
    np.testing.assert_allclose(saved.confidence, fresh.confidence, rtol=1e-3)
    shipped = tmp_path / "shipped"
    assert export_artefacts(work, shipped) == 1 and export_artefacts(work, shipped) == 0
    layered = LayeredStore(ResultStore(tmp_path / "user"), ResultStore(shipped, readonly=True))
    assert load_subclass_examples("mnist", layered).meta["teacher_key"] == result["key"]


# ---- the Learn page ------------------------------------------------------------------------------
def _learn_page() -> AppTest:
    return open_page("app_pages/learn.py")


def _captions(at: AppTest) -> list[str]:
    return [img.caption for el in at.get("image") for img in el.proto.imgs]


@pytest.mark.slow
def test_learn_page_shows_the_shipped_subclass_examples(shipped_env: pytest.MonkeyPatch) -> None:
    shipped = load_subclass_examples("mnist", LayeredStore(ResultStore(SHIPPED_STORE, readonly=True)))
    assert shipped is not None, f"no subclass examples in {SHIPPED_STORE}: run `{MAKE_COMMAND}`"
    at = _learn_page()
    assert not at.error, [e.value for e in at.error]
    at.radio(key="learn_subclass_demo").set_value("mnist").run()  # the paper's binary demo comes first
    caps = _captions(at)
    for k in range(shipped.subclasses):  # the chosen class (7) in s columns, and every class in the expander
        assert shipped.label(7, k) in caps and shipped.label(0, k) in caps
    assert any("stand-in data: mnist-5k" in c.value for c in at.caption)
    assert any("only ever told the class" in m.value for m in at.markdown)
    at.selectbox(key="learn_subclass_class_mnist").set_value("3").run()
    assert not at.exception
    first = [c for c in _captions(at) if c.startswith("subclass 1 — ")][0]
    assert first == shipped.label(3, 0)


def test_learn_page_says_how_to_make_missing_subclass_examples(shipped_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    shipped_env.setattr("kdcore.store.SHIPPED_STORE", tmp_path / "no-shipped-results")
    at = _learn_page()
    assert not at.error
    assert any("precompute --only methods,subclass-examples" in i.value for i in at.info)
    assert not any(c.startswith("subclass 1 — ") for c in _captions(at))
