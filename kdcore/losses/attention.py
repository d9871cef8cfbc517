"""Zagoruyko & Komodakis, "Paying More Attention to Attention: Improving the Performance of
Convolutional Neural Networks via Attention Transfer", ICLR 2017 (arXiv:1612.03928)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kdcore.losses.base import Batch, teacher_logits
from kdcore.losses.hinton import soft_target_kl
from kdcore.models.contract import ModelOutput


def attention_map(features: torch.Tensor, p: float = 2, size: tuple[int, int] | None = None) -> torch.Tensor:
    r"""Activation-based spatial attention :math:`F^p_{sum}(A) = \sum_c |A_c|^p`, shape ``(N, H, W)``.

    Unnormalised, so the app can draw it as an image; the loss normalises it (see :class:`AttentionTransfer`).
    ``size`` resizes the map (bilinear), so maps of different resolutions can be compared.
    """
    if features.dim() != 4:
        raise ValueError(f"attention maps need conv features (N, C, H, W), got shape {tuple(features.shape)}")
    amap = features.abs().pow(p).sum(dim=1)
    if size is not None and tuple(amap.shape[-2:]) != tuple(size):
        amap = F.interpolate(amap.unsqueeze(1), size=size, mode="bilinear", align_corners=False).squeeze(1)
    return amap


def attention_vector(features: torch.Tensor, p: float = 2, size: tuple[int, int] | None = None) -> torch.Tensor:
    r""":math:`Q = \mathrm{vec}(F^p_{sum}(A)) / \|\mathrm{vec}(F^p_{sum}(A))\|_2`, shape ``(N, H·W)``.

    ``size`` resizes the map (bilinear) first, so maps of different resolutions can be compared.
    """
    return F.normalize(attention_map(features, p, size).flatten(1), p=2, dim=1)


class AttentionTransfer(nn.Module):
    r"""Activation-based attention transfer (paper eq. 2), optionally combined with Hinton KD.

    .. math::
        \mathcal{L} = (1-\alpha)\,\mathrm{CE}(y, \sigma(z_S))
            + \frac{\beta}{2} \sum_{j \in \mathcal{I}}
              \Big\| \frac{Q_S^j}{\|Q_S^j\|_2} - \frac{Q_T^j}{\|Q_T^j\|_2} \Big\|_2
            + \alpha\,T^2\,\mathrm{KL}\big(\sigma(z_T/T)\,\|\,\sigma(z_S/T)\big),
        \qquad Q^j = \mathrm{vec}\Big(\sum_c |A^j_c|^p\Big)

    averaged over the batch, where :math:`A^j` is the activation tensor of the j-th pair of layers.
    With ``alpha = 0`` this is the paper's AT; ``alpha > 0`` is its "AT + KD" combination.
    The attention map says *where* a network looks (spatially), independent of its channel count,
    so a thin student can copy a wide teacher's maps without any regressor.

    Note: the authors' code (and RepDistiller, mdistiller) use the *squared* distance averaged over
    the map's elements with β = 1000; we implement the paper's equation (a plain L2 norm), so β here
    is on a different scale: β = 1 gives an AT term of the same order as the CE term on MNIST.

    Args:
        layer_pairs: (teacher feature, student feature) names whose maps are matched; maps with
            different spatial sizes are compared after resizing the student's to the teacher's.
        beta: weight β of the attention term (>= 0).
        p: the exponent p of the attention map (paper: 2).
        temperature: T of the optional KD term.
        alpha: weight of the KD term; CE gets ``1 - alpha``.
    """

    def __init__(
        self,
        layer_pairs: list[tuple[str, str]],
        beta: float = 1.0,
        p: float = 2.0,
        temperature: float = 4.0,
        alpha: float = 0.0,
    ) -> None:
        super().__init__()
        if not layer_pairs:
            raise ValueError("attention transfer needs at least one (teacher, student) layer pair")
        self.layer_pairs = list(layer_pairs)
        self.beta, self.p = float(beta), float(p)
        self.temperature, self.alpha = float(temperature), float(alpha)

    def at_term(
        self, student_features: dict[str, torch.Tensor], teacher_features: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        r""":math:`\sum_j \|Q_S^j - Q_T^j\|_2`, averaged over the batch (unweighted)."""
        dists = []
        for t_name, s_name in self.layer_pairs:
            a_t = teacher_features[t_name].detach()
            q_t = attention_vector(a_t, self.p)
            q_s = attention_vector(student_features[s_name], self.p, size=tuple(a_t.shape[-2:]))
            dists.append((q_s - q_t).norm(p=2, dim=1).mean())
        return torch.stack(dists).sum()

    def forward(
        self, student_out: ModelOutput, teacher_out: ModelOutput | None, batch: Batch
    ) -> dict[str, torch.Tensor]:
        z_t = teacher_logits(teacher_out)
        at = self.at_term(student_out.features, teacher_out.features)
        terms = {"ce": (1.0 - self.alpha) * F.cross_entropy(student_out.logits, batch.y), "at": self.beta / 2 * at}
        if self.alpha > 0:  # skip the KD computation when it has no weight
            terms["kd"] = self.alpha * soft_target_kl(student_out.logits, z_t, self.temperature)
        return terms

    def logit_terms(
        self, student_out: ModelOutput, teacher_out: ModelOutput | None, batch: Batch
    ) -> dict[str, torch.Tensor]:
        """The CE (and KD) terms alone, ``at`` reported as 0 so the logged columns stay the same.

        For a step in which no trainable parameter feeds the compared maps — the head-only stage of
        MHIST transfer learning (:mod:`kdcore.train.transfer`), whose frozen backbone is run once and
        cached: the attention term would be a constant there, and the teacher's maps are not computed.
        """
        terms = {"ce": (1.0 - self.alpha) * F.cross_entropy(student_out.logits, batch.y),
                 "at": student_out.logits.new_zeros(())}
        if self.alpha > 0:
            terms["kd"] = self.alpha * soft_target_kl(student_out.logits, teacher_logits(teacher_out), self.temperature)
        return terms
