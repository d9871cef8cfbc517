"""Per-example test predictions stored with a result: what each test image was called, compactly and safely.

Every training job stores, beside its weights, a ``test_predictions.safetensors`` file (no pickle) with two
uint8 vectors over the job's test images in order: ``predicted`` (the class of the highest class logit, as
the job evaluated it) and ``label`` (the true class). 10,000 test images cost 20 KB. They let the app show
what a distilled student gets right that its scratch twin gets wrong (``kdcore.views.learned``).

Results stored before this existed lack the file: :mod:`kdcore.train.backfill` recomputes it (``python -m
kdcore precompute --only predictions``) and :func:`check_accuracy` refuses predictions that do not score the
stored accuracy.
"""

from __future__ import annotations

import numpy as np
import torch

GROUP = "test_predictions"  # the tensor group (file) name in a store entry


def prediction_tensors(class_logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """``{"predicted", "label"}`` as uint8 vectors (classes < 256; a wider type otherwise)."""
    predicted = class_logits.argmax(1)
    dtype = torch.uint8 if int(class_logits.shape[1]) <= 256 else torch.int32
    return {"predicted": predicted.to(dtype).cpu(), "label": labels.to(dtype).cpu()}


def load_predictions(result: dict, store: object | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """(predicted, label) int arrays of a stored result, or None when it has none."""
    if f"{GROUP}.safetensors" not in result.get("files", {}):
        return None
    from kdcore.store import open_store

    tensors = (store or open_store()).load_tensors(result["key"], GROUP)  # type: ignore[attr-defined]
    if tensors is None:
        return None
    return tensors["predicted"].numpy().astype(np.int64), tensors["label"].numpy().astype(np.int64)


def check_accuracy(result: dict, tensors: dict[str, torch.Tensor]) -> None:
    """Raise ``ValueError`` unless the predictions score exactly the result's stored accuracy."""
    acc = float((tensors["predicted"] == tensors["label"]).float().mean())
    stored = float(result["metrics"]["accuracy"])
    if abs(acc - stored) > 0.5 / len(tensors["label"]):
        raise ValueError(f"{result['name']}: recomputed accuracy {acc:.4%} is not the stored {stored:.4%}; "
                         "these are not the predictions that scored it")


__all__ = ["GROUP", "check_accuracy", "load_predictions", "prediction_tensors"]
