"""Zhao, Cui, Song, Qiu & Liang, "Decoupled Knowledge Distillation", CVPR 2022 (arXiv:2203.08679)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kdcore.losses.base import Batch, teacher_logits
from kdcore.losses.hinton import soft_target_kl
from kdcore.models.contract import ModelOutput


def _split_target(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(target logit (N,), non-target logits (N, C-1) in class order)."""
    mask = F.one_hot(y, logits.shape[1]).bool()
    return logits[mask], logits[~mask].view(logits.shape[0], -1)


def tckd(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, y: torch.Tensor, temperature: float
) -> torch.Tensor:
    r"""Target-class KD: :math:`T^2\,\mathrm{KL}(b_T \| b_S)` with :math:`b = [p_t, 1 - p_t]` at temperature T."""

    def log_binary(z: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(z / temperature, dim=1)
        log_pt, log_rest = _split_target(log_p, y)
        # log(1 - p_t) as a logsumexp over the other classes: exact, and stable when p_t -> 1.
        return torch.stack([log_pt, log_rest.logsumexp(dim=1)], dim=1)

    log_b_s, log_b_t = log_binary(student_logits), log_binary(teacher_logits)
    return F.kl_div(log_b_s, log_b_t, reduction="batchmean", log_target=True) * temperature**2


def nckd(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, y: torch.Tensor, temperature: float
) -> torch.Tensor:
    r"""Non-target-class KD: :math:`T^2\,\mathrm{KL}(\hat p_T \| \hat p_S)` over the C−1 non-target classes."""
    _, s_rest = _split_target(student_logits, y)
    _, t_rest = _split_target(teacher_logits, y)
    # Dropping the target logit and re-normalising is exactly p_i / (1 - p_t) of the paper.
    return soft_target_kl(s_rest, t_rest, temperature)


class DecoupledKD(nn.Module):
    r"""Decoupled KD: classical KD split into a target-class and a non-target-class part, re-weighted.

    With :math:`b = [p_t, 1-p_t]` (target vs. all others) and :math:`\hat p_i = p_i / (1-p_t)`
    (the distribution among the non-target classes), all at temperature T, the paper shows
    :math:`\mathrm{KD} = \mathrm{TCKD} + (1 - p^T_t)\,\mathrm{NCKD}`: the useful NCKD term is
    suppressed exactly where the teacher is confident. DKD gives each part its own weight:

    .. math::
        \mathcal{L} = \mathrm{CE}(y, \sigma(z_S))
            + w(e)\,\big[\alpha\,T^2\,\mathrm{KL}(b_T \| b_S) + \beta\,T^2\,\mathrm{KL}(\hat p_T \| \hat p_S)\big],
        \qquad w(e) = \min\big(\tfrac{e+1}{E_w}, 1\big)

    Follows the paper (and mdistiller): CE has weight 1; ``JobConfig.alpha`` is **not** used —
    DKD's own α and β (``dkd_alpha``, ``dkd_beta``) weigh the two KD parts.

    Args:
        alpha: weight of TCKD (paper: 1.0).
        beta: weight of NCKD (paper: 8.0 on CIFAR-100; larger β = more dark knowledge).
        temperature: T (paper: 4).
        warmup_epochs: :math:`E_w`; the KD part ramps linearly over the first epochs (0 = off).
            Needs the training loop to call :meth:`on_epoch_start`.
        ce_weight: weight of the label cross-entropy (paper: 1.0).
    """

    def __init__(
        self,
        alpha: float = 1.0,
        beta: float = 8.0,
        temperature: float = 4.0,
        warmup_epochs: int = 0,
        ce_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.alpha, self.beta, self.temperature = float(alpha), float(beta), float(temperature)
        self.warmup_epochs, self.ce_weight = int(warmup_epochs), float(ce_weight)
        self.on_epoch_start(0)

    def on_epoch_start(self, epoch: int) -> None:
        """Training-loop hook (``epoch`` counts from 0): sets the warm-up factor :math:`w(e)`."""
        self.warmup = min((epoch + 1) / self.warmup_epochs, 1.0) if self.warmup_epochs > 0 else 1.0

    def forward(
        self, student_out: ModelOutput, teacher_out: ModelOutput | None, batch: Batch
    ) -> dict[str, torch.Tensor]:
        z_s, z_t = student_out.logits, teacher_logits(teacher_out).detach()
        return {
            "ce": self.ce_weight * F.cross_entropy(z_s, batch.y),
            "tckd": self.warmup * self.alpha * tckd(z_s, z_t, batch.y, self.temperature),
            "nckd": self.warmup * self.beta * nckd(z_s, z_t, batch.y, self.temperature),
        }
