"""Romero, Ballas, Kahou, Chassang, Gatta & Bengio, "FitNets: Hints for Thin Deep Nets", ICLR 2015
(arXiv:1412.6550)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kdcore.losses.base import Batch, teacher_logits
from kdcore.losses.hinton import soft_target_kl
from kdcore.models.contract import ModelOutput


def hint_loss(regressed: torch.Tensor, hint: torch.Tensor) -> torch.Tensor:
    r"""Batch mean of :math:`\tfrac12 \|r(f_S) - f_T\|^2 / D` (``D`` = elements of one hint)."""
    if regressed.shape != hint.shape:
        raise ValueError(f"regressed student feature {tuple(regressed.shape)} != teacher hint {tuple(hint.shape)}")
    return 0.5 * F.mse_loss(regressed, hint, reduction="mean")


class FitNetLoss(nn.Module):
    r"""FitNets: a teacher's intermediate layer (the *hint*) guides a student's layer (the *guided* layer).

    A learned regressor :math:`r` maps the student's guided feature :math:`f_S` into the shape of the
    teacher's hint :math:`f_T` (a 1×1 convolution for conv maps, a linear layer for vectors):

    .. math::
        \mathcal{L}_{HT} = \tfrac{1}{2}\,\big\| r(f_S(x)) - f_T(x) \big\|^2 \,/\, D

    Training has two stages (paper §2.3), switched by :meth:`on_epoch_start`:

    .. math::
        \text{stage 1 } (e < k):\ \mathcal{L} = \mathcal{L}_{HT} \qquad
        \text{stage 2}:\ \mathcal{L} = \beta\,\mathcal{L}_{HT}
            + \alpha\,T^2\,\mathrm{KL}\big(\sigma(z_T/T)\,\|\,\sigma(z_S/T)\big)
            + (1-\alpha)\,\mathrm{CE}(y, \sigma(z_S))

    Stage 1 trains the student up to the guided layer (the hint gives no gradient to later layers)
    plus the regressor; stage 2 is Hinton KD of the whole student. ``beta = 0`` with ``k > 0`` is
    the paper's exact recipe (hints only pre-train); ``k = 0, beta > 0`` is the single-stage
    "hint as a regulariser" variant most code bases (RepDistiller) run.

    Differences from the paper, on purpose:

    - We divide the squared distance by the number ``D`` of elements in one hint (a mean, not a
      sum), so one β means the same for a 64×11×11 map and a 128-vector; it is the paper's loss
      scaled by :math:`1/D`, absorbed into β.
    - The paper picks the regressor's kernel so its output has the hint's spatial size; we use a
      1×1 convolution and resize bilinearly when the sizes differ (they don't for the MNIST pair's
      defaults, nor for the MHIST pair's ``map14`` → ``map14``).
    - The course slide writes the objective as :math:`\sum \|\beta f_T(x) - f_S(x)\|^2`: there β
      rescales the teacher's features and the two layers must have equal shapes. Here the learned
      :math:`r` absorbs any scale and shape change, and β only weighs the hint against KD/CE.

    Args:
        student_shape: shape of one example's guided feature, ``(C, H, W)`` or ``(D,)``.
        teacher_shape: shape of one example's hint feature; same rank as ``student_shape``.
        hint_layer: teacher feature name used as the hint (e.g. ``"conv2"``, or ``"fc"``; ``"map14"`` on MHIST).
        guided_layer: student feature name that is guided (e.g. ``"conv2"``, or ``"fc1"``; ``"map14"`` on MHIST).
        beta: weight of the hint term in stage 2 (>= 0).
        temperature: T of the stage-2 KD term.
        alpha: weight of the stage-2 KD term; CE gets ``1 - alpha``.
        stage1_epochs: k, the number of hint-only epochs at the start (0 = single stage). Needs the
            training loop to call :meth:`on_epoch_start` once per epoch.
    """

    def __init__(
        self,
        student_shape: tuple[int, ...],
        teacher_shape: tuple[int, ...],
        hint_layer: str = "conv2",
        guided_layer: str = "conv2",
        beta: float = 100.0,
        temperature: float = 4.0,
        alpha: float = 0.5,
        stage1_epochs: int = 0,
    ) -> None:
        super().__init__()
        if len(student_shape) != len(teacher_shape) or len(student_shape) not in (1, 3):
            raise ValueError(
                f"guided feature {tuple(student_shape)} and hint {tuple(teacher_shape)} must both be conv maps "
                "(C,H,W) or both vectors (D,)"
            )
        self.hint_layer, self.guided_layer = hint_layer, guided_layer
        self.teacher_shape = tuple(teacher_shape)
        self.beta, self.temperature, self.alpha = float(beta), float(temperature), float(alpha)
        self.stage1_epochs = int(stage1_epochs)
        self.in_stage1 = self.stage1_epochs > 0  # as if epoch 0 had started
        if len(student_shape) == 3:
            self.regressor: nn.Module = nn.Conv2d(student_shape[0], teacher_shape[0], kernel_size=1)
        else:
            self.regressor = nn.Linear(student_shape[0], teacher_shape[0])

    def on_epoch_start(self, epoch: int) -> None:
        """Training-loop hook (``epoch`` counts from 0): hint-only while ``epoch < stage1_epochs``."""
        self.in_stage1 = epoch < self.stage1_epochs

    def regress(self, guided: torch.Tensor) -> torch.Tensor:
        """The student's guided feature mapped into the hint's shape."""
        out = self.regressor(guided)
        if out.dim() == 4 and out.shape[-2:] != self.teacher_shape[-2:]:
            out = F.interpolate(out, size=self.teacher_shape[-2:], mode="bilinear", align_corners=False)
        return out

    def forward(
        self, student_out: ModelOutput, teacher_out: ModelOutput | None, batch: Batch
    ) -> dict[str, torch.Tensor]:
        z_t = teacher_logits(teacher_out)
        hint = hint_loss(
            self.regress(student_out.features[self.guided_layer]), teacher_out.features[self.hint_layer].detach()
        )
        ce = F.cross_entropy(student_out.logits, batch.y)
        kd = soft_target_kl(student_out.logits, z_t, self.temperature)
        # Keep all three keys in both stages so the loop's per-term log has stable columns.
        w_hint, w_kd, w_ce = (1.0, 0.0, 0.0) if self.in_stage1 else (self.beta, self.alpha, 1.0 - self.alpha)
        return {"hint": w_hint * hint, "kd": w_kd * kd, "ce": w_ce * ce}

    def logit_terms(
        self, student_out: ModelOutput, teacher_out: ModelOutput | None, batch: Batch
    ) -> dict[str, torch.Tensor]:
        """The KD stage's KD and CE terms without the hint (``hint`` reported as 0: stable columns).

        For a step in which no trainable parameter feeds the guided layer — the head-only stage of
        MHIST transfer learning (:mod:`kdcore.train.transfer`), whose frozen backbone is run once and
        cached: the hint would be a constant there (the regressor alone could chase it), and the
        teacher's maps are not computed. FitNets' own hint-only epochs (``fitnet_stage1_epochs``) are
        the first fine-tuning epochs there, so this ignores them.
        """
        ce = F.cross_entropy(student_out.logits, batch.y)
        kd = soft_target_kl(student_out.logits, teacher_logits(teacher_out), self.temperature)
        return {"hint": student_out.logits.new_zeros(()), "kd": self.alpha * kd, "ce": (1.0 - self.alpha) * ce}
