"""Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network", NIPS 2014 Deep Learning
Workshop (arXiv:1503.02531, 2015)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kdcore.losses.base import Batch, teacher_logits
from kdcore.models.contract import ModelOutput


def soft_target_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    r"""Batch-mean :math:`T^2 \cdot \mathrm{KL}(\mathrm{softmax}(z_T/T) \,\|\, \mathrm{softmax}(z_S/T))`.

    The :math:`T^2` factor keeps the gradient scale of the soft term independent of T (Hinton et
    al., §2), so changing T does not silently change the effective learning rate.
    """
    t = temperature
    log_p_student = F.log_softmax(student_logits / t, dim=1)
    log_p_teacher = F.log_softmax(teacher_logits / t, dim=1)
    return F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True) * (t * t)


class HintonKD(nn.Module):
    r"""Soft-target knowledge distillation.

    .. math::
        \mathcal{L} = \alpha \, T^2 \, \mathrm{KL}\big(\sigma(z_T / T) \,\|\, \sigma(z_S / T)\big)
                      + (1 - \alpha)\, \mathrm{CE}\big(y, \sigma(z_S)\big)

    where :math:`\sigma` is the softmax, :math:`z_T, z_S` the teacher and student logits.

    Args:
        temperature: T > 0. T = 1 is the ordinary softmax; larger T flattens the teacher's
            distribution and exposes the "dark knowledge" in its small probabilities.
        alpha: weight of the **distillation** term, in [0, 1]; the label cross-entropy gets
            ``1 - alpha``. (Keras' tutorial uses the opposite convention; we name ours here,
            in the CLI help and in the README.)
    """

    def __init__(self, temperature: float = 4.0, alpha: float = 0.5) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.temperature = float(temperature)
        self.alpha = float(alpha)

    def forward(self, student_out: ModelOutput, teacher_out: ModelOutput | None, batch: Batch) -> dict[str, torch.Tensor]:
        kd = soft_target_kl(student_out.logits, teacher_logits(teacher_out), self.temperature)
        ce = F.cross_entropy(student_out.logits, batch.y)
        return {"ce": (1.0 - self.alpha) * ce, "kd": self.alpha * kd}
