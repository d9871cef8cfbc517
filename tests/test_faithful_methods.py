"""Issue 16, checked on the shipped results: what the app teaches about the revised methods is what they do."""

from __future__ import annotations

import numpy as np

from kdcore.methods.dkd import DEFAULT_BETA, DEFAULT_WARMUP, SWEEP_BETAS, SWEEP_WARMUPS
from kdcore.store import SHIPPED_STORE, ResultStore
from kdcore.views.report import best_dkd_cell, dkd_sweep_table
from kdcore.views.subclass_examples import load_subclass_examples


def _shipped() -> list[dict]:
    return ResultStore(SHIPPED_STORE, readonly=True).list()


def test_dkd_defaults_are_the_shipped_sweeps_choice() -> None:
    table = dkd_sweep_table("fashion_mnist", _shipped())
    assert len(table[table["seeds"] >= 3]) == len(SWEEP_BETAS) * len(SWEEP_WARMUPS), table
    assert best_dkd_cell(table) == (DEFAULT_BETA, DEFAULT_WARMUP), table


def test_shipped_subclass_teachers_use_their_subclasses() -> None:
    # Issue 16: every revision-1 teacher put 100 % of every class into one subclass (the loss could not see it).
    # With the authors' loss (revision 2) some classes of the 10-class teachers are split. Not yet most of
    # them: at the authors' aux temperature 1, 7 of 10 MNIST-5k classes and 6 of 10 Fashion-MNIST classes still
    # have a subclass above 90 % (the two-class demo below splits both classes; see the issue notes).
    store = ResultStore(SHIPPED_STORE, readonly=True)
    for dataset in ("mnist", "fashion_mnist"):
        ex = load_subclass_examples(dataset, store)
        assert ex is not None, dataset
        assert ex.meta["teacher_config"]["method"] == "subclass_teacher"
        teacher = store.get(ex.meta["teacher_key"])  # the pictures are of a teacher trained with the authors' loss
        assert teacher is not None and "subclass_teacher.2" in teacher["engine"], ex.meta["teacher_key"]
        split = int((ex.shares.max(axis=1) <= 0.9).sum())
        assert split >= 2, (dataset, ex.shares.round(2).tolist())


def test_binary_mnist_subclasses_recover_digits() -> None:
    ex = load_subclass_examples("mnist_binary", ResultStore(SHIPPED_STORE, readonly=True))
    assert ex is not None and ex.subclasses == 5 and ex.fine_counts is not None
    purity = ex.purity()
    assert purity is not None and np.all(purity >= 0.4), purity  # chance (one subclass per class): ~0.2
    assert np.all(purity > ex.one_subclass_purity() + 0.15)
