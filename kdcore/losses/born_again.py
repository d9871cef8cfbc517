"""Furlanello, Lipton, Tschannen, Itti & Anandkumar, "Born-Again Neural Networks", ICML 2018
(arXiv:1805.04770)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from kdcore.losses.hinton import HintonKD


class BornAgainKD(HintonKD):
    r"""Born-again networks: distil into a student with the **teacher's own architecture**.

    Generation :math:`k` is trained from scratch (fresh initialisation) on the outputs of generation
    :math:`k-1`; generation 0 is an ordinary label-trained network. The paper trains each
    generation with the teacher's output only — cross-entropy with the teacher's probabilities at
    T = 1, no label term — which in our Hinton form is ``alpha = 1, T = 1``:

    .. math::
        \mathcal{L}_k = \alpha\,T^2\,\mathrm{KL}\big(\sigma(z_{k-1}/T)\,\|\,\sigma(z_k/T)\big)
            + (1-\alpha)\,\mathrm{CE}(y, \sigma(z_k))

    (the KL differs from the paper's cross-entropy only by the teacher's entropy, a constant, so
    gradients are identical). :func:`kdcore.methods.born_again.born_again_configs` sets those defaults; any T/alpha can be
    explored. The paper's finding: generation 1 often *beats* generation 0 although it has no more
    capacity, and the BAN ensemble (:func:`ban_ensemble_logits`, a job of its own made by
    :func:`kdcore.methods.born_again.ban_ensemble_config`) does better still. Whether it does here is measured, not assumed:
    the Learn page plots every stored chain.

    Args:
        temperature: T (paper: 1).
        alpha: weight of the teacher term (paper: 1, i.e. no label cross-entropy).
    """


def ban_ensemble_logits(list_of_logits: Sequence[torch.Tensor]) -> torch.Tensor:
    r"""BAN ensemble: the mean of the generations' class probabilities, returned as log-probabilities.

    .. math:: \log \frac{1}{K} \sum_{k=1}^{K} \sigma(z_k)

    The result is a valid logit vector (its softmax is the averaged distribution), so the usual
    metrics apply unchanged.
    """
    if len(list_of_logits) == 0:
        raise ValueError("ban_ensemble_logits needs at least one generation's logits")
    log_p = torch.stack([z.log_softmax(dim=1) for z in list_of_logits])
    return torch.logsumexp(log_p, dim=0) - math.log(len(list_of_logits))
