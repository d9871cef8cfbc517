"""What the student learned: the test images a distilled student gets right and its scratch twin (same
architecture, data, epochs and seed, trained on labels alone) gets wrong, and the reverse, with the
teacher's softened probabilities beside each; counts overall and per class.

Built from the per-example test predictions stored with each result (:mod:`kdcore.predictions`); the
teacher's probabilities are computed live from its stored weights for the images shown only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kdcore.predictions import load_predictions
from kdcore.views.results import data_label, model_label, stored_results

ONLY_KD_RIGHT = "KD right, scratch wrong"
SCRATCH_ONLY = "scratch right, KD wrong"
OUTCOMES = ("both right", ONLY_KD_RIGHT, SCRATCH_ONLY, "both wrong")
MISSING = ("No KD student and scratch twin with stored per-example predictions yet. New runs store them (train a "
           "pair in the Distill lab); for the shipped course pairs run `python -m kdcore precompute --only "
           "predictions` (from stored weights) or `--only predictions-retrain` (retrains what has no weights).")


def outcome_counts(kd_pred: np.ndarray, scratch_pred: np.ndarray, labels: np.ndarray,
                   classes: list[str]) -> tuple[dict[str, int], pd.DataFrame]:
    """Counts of the four outcomes overall, and per true class (``class``, ``images``, one column per outcome,
    ``net`` = KD-only minus scratch-only)."""
    kd_ok, sc_ok = kd_pred == labels, scratch_pred == labels
    masks = {OUTCOMES[0]: kd_ok & sc_ok, ONLY_KD_RIGHT: kd_ok & ~sc_ok, SCRATCH_ONLY: ~kd_ok & sc_ok,
             OUTCOMES[3]: ~kd_ok & ~sc_ok}
    overall = {k: int(m.sum()) for k, m in masks.items()}
    rows = []
    for c, name in enumerate(classes):
        of_c = labels == c
        rows.append({"class": name, "images": int(of_c.sum()), **{k: int((m & of_c).sum()) for k, m in masks.items()}})
    per_class = pd.DataFrame(rows, columns=["class", "images", *OUTCOMES])
    per_class["net"] = per_class[ONLY_KD_RIGHT] - per_class[SCRATCH_ONLY]
    return overall, per_class


@dataclass
class Example:
    index: int  # position in the test set
    image: np.ndarray  # H×W in [0, 1], for display
    true: str
    kd: str  # the KD student's answer
    scratch: str  # the scratch twin's answer
    teacher: pd.DataFrame | None  # ``class``, ``prob``: the teacher's softmax(z / T) on this image


@dataclass
class LearnedView:
    available: bool
    notice: str = ""
    kd: str = ""  # model labels
    scratch: str = ""
    teacher: str = ""
    temperature: float = 1.0
    data: str = ""
    seed: int | None = None
    n_test: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    per_class: pd.DataFrame = field(default_factory=pd.DataFrame)
    examples: dict[str, list[Example]] = field(default_factory=dict)  # ONLY_KD_RIGHT / SCRATCH_ONLY -> first few


def _twin_key(kd: dict) -> str:
    from kdcore.config import JobConfig

    return JobConfig.from_dict(kd["config"]).replace(method="scratch", teacher=None).key()


def learned_pairs(dataset: str | None = None, store: object | None = None) -> list[tuple[dict, dict]]:
    """(KD student, its scratch twin) result pairs that both carry predictions, Hinton KD first, then by seed."""
    results = [r for r in stored_results(store) if dataset is None or r.get("dataset") == dataset]  # type: ignore[arg-type]
    has = [r for r in results if "test_predictions.safetensors" in r.get("files", {})]
    scratch = {(r.get("config_key"), r.get("data_source_id")): r for r in has
               if r["config"].get("method") == "scratch" and r["config"].get("teacher") is None}
    pairs = []
    for r in has:
        if r["config"].get("teacher") is None or r["config"].get("method") in ("born_again", "ban_ensemble"):
            continue
        twin = scratch.get((_twin_key(r), r.get("data_source_id")))
        if twin is not None and twin.get("n_test") == r.get("n_test"):
            pairs.append((r, twin))
    return sorted(pairs, key=lambda p: (p[0]["config"]["method"] != "hinton", p[0].get("dataset") != "fashion_mnist",
                                        p[0]["config"].get("seed", 0), p[0]["name"]))


def pair_label(pair: tuple[dict, dict]) -> str:
    """The picker's words for a (KD student, scratch twin) pair: the KD run's label (kdcore.views.groups) and seed."""
    kd = pair[0]
    return f"{model_label(kd['config'])} · seed {kd['config'].get('seed', kd.get('seed', 0))}"


def _teacher_probs(kd: dict, indices: list[int], store: object | None) -> tuple[dict | None, dict[int, pd.DataFrame]]:
    """The KD student's teacher's softmax(z / T) on the test images ``indices`` (None when its weights are absent)."""
    from kdcore.inference import soft_targets
    from kdcore.store import open_store

    store = store or open_store()
    teacher = store.get(kd.get("teacher_key") or "")  # type: ignore[attr-defined]
    if teacher is None or "weights.safetensors" not in teacher.get("files", {}) or not indices:
        return teacher, {}
    p = soft_targets(teacher, indices, float(kd["config"]["temperature"]), store)  # type: ignore[arg-type]
    classes = list(teacher.get("classes") or [str(i) for i in range(p.shape[1])])
    return teacher, {i: pd.DataFrame({"class": classes, "prob": p[k].numpy()}) for k, i in enumerate(indices)}


def student_learned(kd: dict, scratch: dict, n_examples: int = 8, store: object | None = None) -> LearnedView:
    """The view for one pair (see the module docstring); ``n_examples`` images of each kind are shown."""
    from kdcore.inference import display_image, load_data

    a, b = load_predictions(kd, store), load_predictions(scratch, store)
    if a is None or b is None:
        return LearnedView(available=False, notice=MISSING)
    (kd_pred, labels), (sc_pred, sc_labels) = a, b
    if not np.array_equal(labels, sc_labels):
        return LearnedView(available=False, notice=f"{pair_label((kd, scratch))} and its scratch twin were scored on different "
                                                   "test images; they are not twins.")
    classes = list(kd.get("classes") or [str(i) for i in range(int(labels.max()) + 1)])
    counts, per_class = outcome_counts(kd_pred, sc_pred, labels, classes)
    kd_ok, sc_ok = kd_pred == labels, sc_pred == labels
    picks = {ONLY_KD_RIGHT: np.flatnonzero(kd_ok & ~sc_ok)[:n_examples].tolist(),
             SCRATCH_ONLY: np.flatnonzero(~kd_ok & sc_ok)[:n_examples].tolist()}
    teacher, probs = _teacher_probs(kd, picks[ONLY_KD_RIGHT] + picks[SCRATCH_ONLY], store)
    data = load_data(kd)
    examples = {kind: [Example(i, display_image(data.x_test[i]), classes[labels[i]], classes[kd_pred[i]],
                               classes[sc_pred[i]], probs.get(i)) for i in idx] for kind, idx in picks.items()}
    notice = "" if probs or not (picks[ONLY_KD_RIGHT] or picks[SCRATCH_ONLY]) else (
        "The teacher's weights are not stored, so its probabilities cannot be shown beside the images.")
    return LearnedView(
        available=True, notice=notice, kd=model_label(kd["config"]), scratch=model_label(scratch["config"]),
        teacher=model_label(teacher["config"]) if teacher else "(not stored)",
        temperature=float(kd["config"]["temperature"]), data=f"{data_label(kd)} — {kd.get('data_source', '')}",
        seed=kd["config"].get("seed"), n_test=len(labels), counts=counts, per_class=per_class, examples=examples)


__all__ = ["ONLY_KD_RIGHT", "MISSING", "OUTCOMES", "SCRATCH_ONLY", "Example", "LearnedView", "learned_pairs",
           "outcome_counts", "student_learned"]
