"""Furlanello, Lipton, Tschannen, Itti & Anandkumar, "Born-Again Neural Networks", ICML 2018
(arXiv:1805.04770)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from kdcore.config import ConfigError, JobConfig
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
    gradients are identical). :func:`born_again_configs` sets those defaults; any T/alpha can be
    explored. The paper's finding: generation 1 often *beats* generation 0 although it has no more
    capacity, and the BAN ensemble (:func:`ban_ensemble_logits`, a job of its own made by
    :func:`ban_ensemble_config`) does better still. Whether it does here is measured, not assumed:
    the Learn page plots every stored chain.

    Args:
        temperature: T (paper: 1).
        alpha: weight of the teacher term (paper: 1, i.e. no label cross-entropy).
    """


def born_again_configs(
    base_teacher: JobConfig, generations: int, alpha: float = 1.0, temperature: float = 1.0
) -> list[JobConfig]:
    """Jobs of generations 1..``generations``; generation k's ``teacher`` is generation k−1.

    Generation 0 is ``base_teacher`` itself (a label-trained job). Each generation keeps the
    teacher's architecture, data and seed — only the loss and the nested teacher differ, so the
    store keys differ and each generation's result is found again.
    """
    if generations < 1:
        raise ConfigError(f"born-again networks need at least 1 generation (got {generations})")
    chain: list[JobConfig] = []
    previous = base_teacher
    for _ in range(generations):
        previous = base_teacher.replace(method="born_again", teacher=previous, alpha=alpha, temperature=temperature)
        chain.append(previous)
    return chain


def no_training_loss(config: JobConfig, student: object, teacher: object) -> None:
    """The registry's builder for ``ban_ensemble``: an evaluation-only job has no loss to build."""
    raise ConfigError("a BAN ensemble trains nothing: run_job evaluates its members (kdcore.train.ensemble)")


def born_again_generation(config: JobConfig) -> int:
    """k of a born-again generation-k job (0 for anything else, e.g. its label-trained teacher)."""
    return 1 + born_again_generation(config.teacher) if config.method == "born_again" and config.teacher else 0


def ban_ensemble_config(last_generation: JobConfig) -> JobConfig:
    """The BAN-ensemble job of generations 1..k, where ``last_generation`` is generation k.

    An evaluation-only job (method ``ban_ensemble``): nothing is trained; its "teacher" is
    generation k, whose teacher chain names the other members. Its store key therefore follows the
    whole chain, and its result is found again like any other.
    """
    if born_again_generation(last_generation) < 1:
        raise ConfigError(f"a BAN ensemble averages born-again generations: give the last generation's job "
                          f"(method 'born_again'), not a {last_generation.method!r} job; see born_again_configs")
    return last_generation.replace(method="ban_ensemble", teacher=last_generation)


def ensemble_members(config: JobConfig) -> list[JobConfig]:
    r"""Generations 1..k averaged by the BAN-ensemble job ``config``, generation 1 first.

    Generation 0 (the label-trained teacher) is not a member: Furlanello et al. average the
    born-again students, :math:`\hat f^k(x) = \frac{1}{k} \sum_{i=1}^k f(x, \theta_i)`.
    """
    if config.method != "ban_ensemble" or config.teacher is None:
        raise ConfigError(f"not a BAN-ensemble job (method {config.method!r}); build one with ban_ensemble_config")
    members: list[JobConfig] = []
    gen = config.teacher
    while gen is not None and gen.method == "born_again":
        members.append(gen)
        gen = gen.teacher
    if not members:
        raise ConfigError("a BAN ensemble's teacher must be a born-again generation (method 'born_again')")
    return members[::-1]


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
