"""Why MHIST is scored by F1 and AUC, taught with the stored numbers themselves.

MHIST's test set is about two thirds HP. A "model" that answers HP for every tile is right that often
and finds no SSA at all; F1 of SSA (0) and AUC (0.5, a constant score ranks nothing) say so at once,
accuracy does not. :func:`scoring_lesson` puts that majority-class predictor, computed from a stored
result's own test class counts with the engine's metric function, beside the stored model's figures,
and says when stored models predict a single class for every tile.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kdcore.data.pairs import data_pair
from kdcore.metrics import classification_metrics
from kdcore.store import LayeredStore
from kdcore.views.results import data_label, model_label, stored_results


@dataclass
class ScoringLesson:
    """What the page's "accuracy vs F1 vs AUC" panel shows for one stored result."""

    table: pd.DataFrame  # two rows: the majority-class predictor and the stored model; metrics in %
    explanation: str  # markdown, its numbers from ``table``
    one_class: str | None  # a note when stored models of this data predict one class for every tile


def class_counts(result: dict) -> np.ndarray:
    """Test images per true class, from the stored confusion matrix (its row sums)."""
    cm = np.asarray(result.get("metrics", {}).get("confusion") or [], dtype=np.int64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.sum() == 0:
        raise ValueError(f"result {result.get('name', '?')} stores no confusion matrix, so its test classes are "
                         "unknown; rerun it with `python -m kdcore distill … --recompute`")
    return cm.sum(axis=1)


def predicted_classes(result: dict) -> list[int]:
    """The classes a stored model predicted at least once on its test images (confusion column sums)."""
    cm = np.asarray(result.get("metrics", {}).get("confusion") or [], dtype=np.int64)
    return [int(c) for c in np.flatnonzero(cm.sum(axis=0))] if cm.ndim == 2 else []


def majority_metrics(counts: np.ndarray, positive: int) -> dict:
    """The engine's metrics (:func:`kdcore.metrics.classification_metrics`) of a predictor that gives every
    image the most frequent class, with the same score for all (so it ranks nothing)."""
    y = np.repeat(np.arange(len(counts)), counts)
    probs = np.zeros((len(y), len(counts)))
    probs[:, int(np.argmax(counts))] = 1.0
    return classification_metrics(y, probs, positive=positive)


def scoring_lesson(result: dict, stored: Iterable[dict] | None = None, store: LayeredStore | None = None) -> ScoringLesson:
    """The panel for stored MHIST(-like) ``result``; ``stored``: the results (default: every result in
    ``store``) of which those on the same data (``data_source_id``) are checked for one-class predictions."""
    stored = stored_results(store) if stored is None else stored
    pair = data_pair(str(result.get("dataset", "mhist")))
    if pair.positive_index is None:
        raise ValueError(f"{pair.title} has no positive class: accuracy is its score, there is no F1/AUC lesson")
    pos, classes = pair.positive_index, list(result.get("classes") or pair.classes)
    counts = class_counts(result)
    majority_class = classes[int(np.argmax(counts))]
    base = majority_metrics(counts, pos)
    m = result.get("metrics", {})
    rows = [(f"always {majority_class} (majority class)", base), (model_label(result.get("config", {})), m)]
    table = pd.DataFrame([{
        "predictor": name,
        "accuracy %": 100 * float(x["accuracy"]),
        f"F1 ({classes[pos]}) %": 100 * float(x["f1"]) if x.get("f1") is not None else float("nan"),
        "AUC %": 100 * float(x["auc"]) if x.get("auc") is not None else float("nan"),
        f"{classes[pos]} found": f"{_found(x, pos)} of {int(counts[pos])}",
    } for name, x in rows])
    per_class = ", ".join(f"{int(n)} {c}" for c, n in zip(classes, counts, strict=True))
    explanation = (
        f"The test set holds {int(counts.sum())} images: {per_class}. "
        f"Answering **{majority_class}** for every image scores {100 * base['accuracy']:.1f} % accuracy without "
        f"looking at a single image — yet it finds none of the "
        f"{int(counts[pos])} {classes[pos]} images, the precancerous ones a screening model exists to catch. "
        f"**F1 of {classes[pos]}** ({100 * base['f1']:.0f} % here) counts only how well {classes[pos]} is found "
        f"(precision and recall of {classes[pos]}), so the easy majority cannot inflate it. **AUC** "
        f"({100 * base['auc']:.0f} % here, chance) asks whether the model's {classes[pos]} score ranks a random "
        f"{classes[pos]} image above a random {classes[1 - pos]} image, at every threshold at once: a constant "
        "answer ranks nothing. That is why MHIST (Wei et al. 2021) is scored by F1 and AUC, and why accuracy on "
        "an imbalanced set is read against the majority-class line."
        + _model_sentence(m, base, pos, classes[pos], int(counts[pos]))
    )
    return ScoringLesson(table=table, explanation=explanation, one_class=_one_class_note(result, stored, classes))


def _model_sentence(m: dict, base: dict, pos: int, positive: str, n_positive: int) -> str:
    """The stored model read against the majority line, in the panel's words."""
    gain = 100 * (float(m["accuracy"]) - float(base["accuracy"]))
    if m.get("f1") is None:
        return ""
    auc = f", AUC {100 * float(m['auc']):.1f} %" if m.get("auc") is not None else ""
    return (f" The model chosen above: accuracy {100 * float(m['accuracy']):.1f} % ({gain:+.1f} points against always "
            f"answering the majority), F1 of {positive} {100 * float(m['f1']):.1f} %{auc}; it finds "
            f"{_found(m, pos)} of the {n_positive} {positive} images.")


def _found(metrics: dict, pos: int) -> int:
    cm = np.asarray(metrics.get("confusion") or [[0]], dtype=np.int64)
    return int(cm[pos, pos]) if cm.shape[0] > pos else 0


def _one_class_note(result: dict, stored: Iterable[dict], classes: list[str]) -> str | None:
    same = [r for r in stored if r.get("data_source_id") == result.get("data_source_id")
            and r.get("dataset") == result.get("dataset") and r.get("metrics", {}).get("confusion")]
    if not any(r.get("key") == result.get("key") for r in same):
        same.append(result)
    one = [r for r in same if len(predicted_classes(r)) == 1]
    if not one:
        return None
    answers = sorted({classes[predicted_classes(r)[0]] for r in one})
    aucs = [100 * r["metrics"]["auc"] for r in one if r["metrics"].get("auc") is not None]
    if len(aucs) > 1:
        auc_range = f" Their AUCs still run from {min(aucs):.0f} % to {max(aucs):.0f} %:"
    else:
        auc_range = f" Its AUC is still {aucs[0]:.0f} %:" if aucs else ""
    who = (f"All {len(same)} stored models" if len(one) == len(same) else f"{len(one)} of the {len(same)} stored models")
    return (
        f"{who} on {data_label(result)} predict **{' or '.join(answers)}** for every test image, so each scores "
        f"the majority-class accuracy and F1 0.{auc_range} AUC reads the ranking of their scores, which can be "
        "good while the threshold never lets a single image over to the other class. A model ends up here when "
        "guessing the majority is the cheapest way to lower its loss: few training images, a class imbalance, "
        "a backbone that starts from random numbers (offline, without ImageNet weights) or a teacher that "
        "learned nothing — a student distilled from it inherits the single answer."
    )


__all__ = ["ScoringLesson", "class_counts", "majority_metrics", "predicted_classes", "scoring_lesson"]
