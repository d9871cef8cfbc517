"""Born-again networks (Furlanello et al., ICML 2018): generations of the teacher's own architecture, and
their ensemble (BAN-E). The losses are in :mod:`kdcore.losses.born_again`; this module builds the chains."""

from __future__ import annotations

from kdcore.config import ConfigError, JobConfig
from kdcore.losses.born_again import BornAgainKD
from kdcore.methods.base import Method

BAN_GENERATIONS = 2  # the lab's and the shipped results' BAN ensemble: generations 1 and 2
GENERATION_SEED_STRIDE = 1000  # generation k of a teacher with seed s trains with seed s + 1000·k

# Revision 2 (2026-11-28): each generation starts from a fresh random initialisation, dropout stream and batch
# order (its own seed, generation_seed), as Furlanello et al. train them; revision 1 gave every generation
# its teacher's seed, so generation k began from the teacher's exact initial weights.
REVISION = 2


def generation_seed(base_seed: int, generation: int) -> int:
    """The seed of born-again generation ``generation`` (>= 1) of a teacher trained with ``base_seed``: a fresh
    initialisation, dropout stream and batch order per generation, and still a function of the base seed, so a
    3-seed experiment has 3 independent chains."""
    return int(base_seed) + GENERATION_SEED_STRIDE * int(generation)


def born_again_configs(
    base_teacher: JobConfig, generations: int, alpha: float = 1.0, temperature: float = 1.0
) -> list[JobConfig]:
    """Jobs of generations 1..``generations``; generation k's ``teacher`` is generation k−1.

    Generation 0 is ``base_teacher`` itself (a label-trained job). Each generation keeps the
    teacher's architecture and data, and gets a seed of its own (:func:`generation_seed`): a fresh random
    initialisation, as in the paper — the diversity the BAN ensemble averages over.
    """
    if generations < 1:
        raise ConfigError(f"born-again networks need at least 1 generation (got {generations})")
    chain: list[JobConfig] = []
    previous = base_teacher
    for k in range(1, generations + 1):
        previous = base_teacher.replace(method="born_again", teacher=previous, alpha=alpha, temperature=temperature,
                                        seed=generation_seed(base_teacher.seed, k))
        chain.append(previous)
    return chain


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


def _same_architecture(config: JobConfig) -> None:
    t = config.teacher
    if t is None:
        return
    same = t.arch == config.arch and (config.arch != "student_mlp" or t.hidden == config.hidden)
    same = same and t.param("width", 8) == config.param("width", 8)
    if not same:
        raise ConfigError(
            f"born_again: the student must have the teacher's architecture (teacher {t.short_name()}, student "
            f"{config.short_name()}); build the chain with born_again_configs"
        )


def _generations(name: str, teacher: JobConfig, student: JobConfig) -> list[JobConfig]:
    return born_again_configs(teacher, 1, alpha=student.alpha, temperature=student.temperature)


def _ensemble(name: str, teacher: JobConfig, student: JobConfig) -> list[JobConfig]:
    generations = born_again_configs(teacher, BAN_GENERATIONS, alpha=student.alpha, temperature=student.temperature)
    return [*generations, ban_ensemble_config(generations[-1])]


def _no_loss(config: JobConfig, student: object, teacher: object) -> None:
    raise ConfigError("a BAN ensemble trains nothing: run_job evaluates its members (kdcore.train.ensemble)")


def _check_ensemble(config: JobConfig) -> None:
    ensemble_members(config)


PAPER_SETTINGS = {"temperature": 1.0, "alpha": 1.0}  # the paper: the teacher's outputs only

METHOD = Method(
    name="born_again",
    title="Born-again networks",
    summary="Student = teacher's architecture, trained on the previous generation's outputs (paper: "
    "alpha = 1, T = 1); generations 1..k and their ensemble.",
    loss=lambda config, student, teacher: BornAgainKD(config.temperature, config.alpha),
    loss_class=BornAgainKD,
    check_config=_same_architecture,
    arrange=_generations,
    student_settings=PAPER_SETTINGS,
    mhist_note="The born-again student is a second ResNetV2-50 (23.5M parameters, as slow as the teacher on "
    "CPU) distilled from the first at T = 1, α = 1; the teacher itself is its from-scratch baseline.",
    scratch_baseline=False,
    cost_rank=lambda c: 4,
    revision=REVISION,
)

ENSEMBLE = Method(
    name="ban_ensemble",
    title="Born-again ensemble (BAN-E)",
    summary="No training of its own: the average of born-again generations 1..k's class probabilities "
    "(here k = 2), scored like any model; it costs k networks at test time.",
    loss=_no_loss,
    loss_class=None,
    trains=False,
    evaluation_code=("kdcore.losses.born_again:ban_ensemble_logits", "kdcore.train.ensemble:compute_ban_ensemble"),
    check_config=_check_ensemble,
    arrange=_ensemble,
    student_settings=PAPER_SETTINGS,
    scratch_baseline=False,
    cost_rank=lambda c: 4,
    revision=REVISION,
)

__all__ = ["ENSEMBLE", "GENERATION_SEED_STRIDE", "METHOD", "ban_ensemble_config", "born_again_configs",
           "born_again_generation", "ensemble_members", "generation_seed"]
