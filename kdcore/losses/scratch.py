"""Plain cross-entropy on the labels: the "student from scratch" (and every teacher) baseline."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kdcore.losses.base import Batch
from kdcore.models.contract import ModelOutput


class CrossEntropy(nn.Module):
    r"""Label-only training objective.

    .. math:: \mathcal{L} = \mathrm{CE}(y, \mathrm{softmax}(z_S))

    Args:
        class_weights: optional per-class weights (for imbalanced data such as MHIST).
    """

    def __init__(self, class_weights: torch.Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("class_weights", class_weights)

    def forward(self, student_out: ModelOutput, teacher_out: ModelOutput | None, batch: Batch) -> dict[str, torch.Tensor]:
        return {"ce": F.cross_entropy(student_out.logits, batch.y, weight=self.class_weights)}
