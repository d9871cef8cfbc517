"""Müller, Kornblith & Hinton, "Subclass Distillation", arXiv:2002.03936 (2020).

Model side: a network trained with these losses has ``C·s`` outputs (``s`` = ``subclasses``);
the subclasses of class ``c`` are the contiguous columns ``c·s … c·s+s−1``. Metrics and
predictions use :func:`class_logits_from_subclass`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from kdcore.losses.base import Batch, teacher_logits
from kdcore.losses.hinton import soft_target_kl
from kdcore.models.contract import ModelOutput


def class_logits_from_subclass(logits: torch.Tensor, s: int) -> torch.Tensor:
    r"""``(N, C·s)`` subclass logits → ``(N, C)`` class logits :math:`\log \sum_{k \in c} e^{z_k}`.

    ``softmax`` of the result is the sum of each class's subclass probabilities, so these are
    ordinary class logits for accuracy, confusion matrices and calibration.
    """
    n, width = logits.shape
    if s < 1 or width % s:
        raise ValueError(f"{width} logits cannot be split into groups of s={s} subclasses")
    return logits.view(n, width // s, s).logsumexp(dim=2)


def assigned_subclasses(logits: torch.Tensor, y: torch.Tensor, s: int) -> torch.Tensor:
    r"""``(N,)`` the subclass each example is put in: example ``x`` of class ``c`` goes to
    :math:`\arg\max_{k < s} z_{c s + k}(x)` (its own class's subclasses only)."""
    n, width = logits.shape
    if s < 1 or width % s:
        raise ValueError(f"{width} logits cannot be split into groups of s={s} subclasses")
    return logits.view(n, width // s, s)[torch.arange(n), y].argmax(dim=1)


def subclass_shares(logits: torch.Tensor, y: torch.Tensor, s: int) -> torch.Tensor:
    r"""``(C, s)`` share of each class's examples that its subclass ``k`` wins (:func:`assigned_subclasses`). A row
    with a share near 1 is a class kept in one subclass (collapse); a class with no examples gets a row of zeros."""
    sub = assigned_subclasses(logits, y, s)  # refuses a width that is not classes × s
    counts = torch.zeros(logits.shape[1] // s, s, dtype=torch.float64)
    counts.index_put_((y, sub), torch.ones(len(y), dtype=torch.float64), accumulate=True)
    return counts / counts.sum(dim=1, keepdim=True).clamp(min=1)


def subclass_contrastive_loss(logits: torch.Tensor, temperature: float = 1.0, eps: float = 1e-9) -> torch.Tensor:
    r"""The paper's auxiliary loss that spreads examples over subclasses (the authors' "negative sampling loss").

    Each example's ``K = C·s`` subclass logits are normalised **over that example's own logits** and
    scaled so that every :math:`\|v_i\|^2 = 1/T`:

    .. math::
        v_i = \frac{z_i - \mathrm{mean}(z_i)}{\sqrt{\mathrm{var}(z_i) + \epsilon}\,\sqrt{T K}}, \qquad
        \mathcal{L}_{aux} = \frac{1}{n} \sum_{i=1}^{n} \log \sum_{j=1}^{n} e^{v_i^\top v_j}
            - \frac{1}{T} - \log n

    (a contrastive self-recognition loss: each example should be most similar to itself; the constants make
    a perfect spread score about 0). :math:`v_i^\top v_j` is the correlation of two examples' logit
    profiles over :math:`1/T`, so a shift of one subclass's logit in every example — a class collapsing
    onto that subclass — makes all examples alike and raises the loss. Standardising each logit *over the
    batch* instead (per column) removes exactly that shift and cannot see collapse.

    Follows the authors' code (google-research ``subclass_distillation/mnist_colab.ipynb``,
    ``negative_sampling_loss``): per-example moments, scale :math:`1/\sqrt{T K}`, :math:`\epsilon = 10^{-9}`.
    """
    n, k = logits.shape
    mean = logits.mean(dim=1, keepdim=True)
    var = logits.var(dim=1, unbiased=False, keepdim=True)
    v = (logits - mean) / torch.sqrt(var + eps) / math.sqrt(temperature * k)
    return torch.logsumexp(v @ v.t(), dim=1).mean() - 1.0 / temperature - math.log(n)


class SubclassTeacherLoss(nn.Module):
    r"""Training loss of a subclass teacher: class-level CE on summed subclass probabilities + auxiliary loss.

    .. math::
        \mathcal{L} = -\log \sum_{k \in \mathrm{sub}(y)} \sigma(z)_k + w_{aux}\,\mathcal{L}_{aux}(z)

    (:func:`subclass_contrastive_loss` defines :math:`\mathcal{L}_{aux}`). Needs no teacher.

    Args:
        subclasses: s >= 1 subclasses per class (s = 1 is plain cross-entropy plus the aux term).
        aux_weight: :math:`w_{aux}` >= 0, weight of the auxiliary loss (the authors' β; their notebook: 1).
        aux_temperature: :math:`T_{aux}` > 0 of the auxiliary loss (their notebook: 1).
    """

    def __init__(
        self, subclasses: int = 1, aux_weight: float = 1.0, aux_temperature: float = 1.0
    ) -> None:
        super().__init__()
        if subclasses < 1:
            raise ValueError(f"subclasses must be >= 1, got {subclasses}")
        self.subclasses, self.aux_weight, self.aux_temperature = (
            int(subclasses),
            float(aux_weight),
            float(aux_temperature),
        )

    def forward(
        self, student_out: ModelOutput, teacher_out: ModelOutput | None, batch: Batch
    ) -> dict[str, torch.Tensor]:
        z = student_out.logits  # "student_out" is the network being trained: here the teacher itself
        ce = F.cross_entropy(class_logits_from_subclass(z, self.subclasses), batch.y)
        return {"ce": ce, "aux": self.aux_weight * subclass_contrastive_loss(z, self.aux_temperature)}


class SubclassKD(nn.Module):
    r"""Subclass distillation: the student (also ``C·s`` outputs) matches the teacher's subclass distribution.

    .. math::
        \mathcal{L} = \alpha\,T^2\,\mathrm{KL}\big(\sigma(z_T/T)\,\|\,\sigma(z_S/T)\big)
            + (1-\alpha)\,\Big(-\log \sum_{k \in \mathrm{sub}(y)} \sigma(z_S)_k\Big)

    with the KL over all ``C·s`` subclasses: with few classes (a binary task such as MHIST) the
    class probabilities carry little dark knowledge, the invented subclasses carry more.

    Args:
        subclasses: s, as for the teacher (the student's subclass k imitates the teacher's k).
        temperature: T of the KL term.
        alpha: weight of the KL term; the class-level CE gets ``1 - alpha``.
    """

    def __init__(self, subclasses: int = 1, temperature: float = 4.0, alpha: float = 0.5) -> None:
        super().__init__()
        if subclasses < 1:
            raise ValueError(f"subclasses must be >= 1, got {subclasses}")
        self.subclasses, self.temperature, self.alpha = int(subclasses), float(temperature), float(alpha)

    def forward(
        self, student_out: ModelOutput, teacher_out: ModelOutput | None, batch: Batch
    ) -> dict[str, torch.Tensor]:
        z_s, z_t = student_out.logits, teacher_logits(teacher_out).detach()
        ce = F.cross_entropy(class_logits_from_subclass(z_s, self.subclasses), batch.y)
        kd = soft_target_kl(z_s, z_t, self.temperature)
        return {"ce": (1.0 - self.alpha) * ce, "kd": self.alpha * kd}
