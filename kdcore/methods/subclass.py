"""Subclass distillation (Müller, Kornblith & Hinton 2020): a teacher with invented subclasses, and its student.

Two methods: ``subclass_teacher`` (an intermediate job: the teacher trained with ``s`` subclasses per
class) and ``subclass`` (the student distilling its ``C·s`` subclass probabilities).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from kdcore.config import ConfigError, JobConfig
from kdcore.data.pairs import data_pair
from kdcore.losses.subclass import SubclassKD, SubclassTeacherLoss
from kdcore.methods.base import Method, labels_only, number
from kdcore.methods.checks import output_width

# The auxiliary loss's temperature is set per data set (DataPair.subclass_aux_temperature). The authors' binary
# notebook uses 1 and their code calls it "usually less than 1"; at 1, most classes of the 10-class course sets stay
# in one subclass (their class logits already make examples unlike each other, so the loss pushes little within a
# class). ``python -m kdcore precompute --only subclass-sweep`` trains the course teacher at each temperature of the
# data set's sweep below; the data set uses the one that leaves the most classes split (no subclass above
# SPLIT_SHARE of the class's test images) on the sweep's seeds, whatever it costs the teacher in accuracy — the
# sweep's table (``python -m kdcore report``) shows that cost beside it; tests/test_faithful_methods.py checks the
# choice.


@dataclass(frozen=True)
class AuxTemperatureSweep:
    """The subclass teacher's auxiliary-temperature sweep on one data set. Every temperature is trained on every
    seed, or, with ``finalists``, on the first seed only (a screen), and the ``finalists`` temperatures that split
    the most classes there (a tie goes to the higher temperature) on every seed. The choice: the most classes split,
    mean over every seed (:func:`kdcore.sweeps.best_aux_temperature`)."""

    dataset: str
    temperatures: tuple[float, ...]
    seeds: tuple[int, ...]
    finalists: int | None = None


AUX_TEMPERATURE_SWEEPS: dict[str, AuxTemperatureSweep] = {
    # MNIST-5k: a teacher is ~1.5 CPU minutes, so every temperature on three seeds
    "mnist": AuxTemperatureSweep("mnist", (1.0, 0.5, 0.3, 0.2, 0.1), (0, 1, 2)),
    # full Fashion-MNIST: a teacher is ~15 CPU minutes, so temperatures around MNIST's choice screened on seed 0 and
    # the best two on three seeds (at 1, the seed-0 teacher fashion-methods made before split 2 of 10 classes: its
    # pictures, assets/store/artefacts)
    "fashion_mnist": AuxTemperatureSweep("fashion_mnist", (0.3, 0.2, 0.15), (0, 1, 2), finalists=2),
}
SPLIT_SHARE = 0.9
LOSS_AUX_TEMPERATURE = 1.0  # SubclassTeacherLoss's own default (a job without the setting means this)


def classes_split(shares: Sequence[Sequence[float]]) -> int:
    """How many classes (rows of per-class subclass shares, e.g. a result's ``subclass_shares``) are split: no
    subclass takes more than :data:`SPLIT_SHARE` of the class's test images. A class with no images is not counted."""
    return sum(1 for row in shares if sum(row) > 0 and max(row) <= SPLIT_SHARE)


# Default of the ``subclasses`` setting. 1 (= no subclasses: the method degenerates to plain CE /
# Hinton KD) so the network is sized the same way everywhere; subclass_configs always writes s.
DEFAULT_SUBCLASSES = 1
# Revision 2 (2026-11-28): the auxiliary loss normalises per example and scales by 1/sqrt(T·K), as the authors'
# code does (revision 1 standardised each logit over the batch, which cannot see a class collapsing onto one
# subclass: every shipped revision-1 teacher put 100 % of each class into one subclass); the arrangement's
# subclasses per class come from the data set (DataPair.subclasses).
REVISION = 2


def subclasses(config: JobConfig) -> int:
    """How many outputs per class the network of a subclass job has."""
    return int(config.param("subclasses", DEFAULT_SUBCLASSES))


def subclass_configs(
    teacher: JobConfig, student: JobConfig, subclasses: int | None = None, aux_weight: float = 1.0,
    aux_temperature: float | None = None,
) -> tuple[JobConfig, JobConfig]:
    """(subclass teacher job, subclass student job distilled from it) from two ordinary jobs; ``subclasses``
    per class and ``aux_temperature`` default to the data set's (:class:`kdcore.data.pairs.DataPair`).

    ``aux_temperature`` is written into the teacher's settings when it is given or the data set's differs from the
    loss's own default (1): a default job's key then never depends on a default, and the keys of the jobs made
    before the setting had per-data-set values (the binary demo, MHIST) stay as they were."""
    pair = data_pair(teacher.dataset)
    if subclasses is None:
        subclasses = pair.subclasses
    params: dict[str, object] = {"subclasses": int(subclasses), "aux_weight": float(aux_weight)}
    if aux_temperature is not None or pair.subclass_aux_temperature != LOSS_AUX_TEMPERATURE:
        params["aux_temperature"] = float(pair.subclass_aux_temperature if aux_temperature is None else aux_temperature)
    t = teacher.replace(
        method="subclass_teacher", teacher=None, method_params=tuple({**dict(teacher.method_params), **params}.items())
    )
    s_params = {**dict(student.method_params), "subclasses": int(subclasses)}
    return t, student.replace(method="subclass", teacher=t, method_params=tuple(s_params.items()))


def _arrange(name: str, teacher: JobConfig, student: JobConfig) -> list[JobConfig]:
    return list(subclass_configs(teacher, student))


def _check_width(config: JobConfig, model: nn.Module, side: str) -> int:
    s = int(number(config, "subclasses", DEFAULT_SUBCLASSES, minimum=1, integer=True))
    width = output_width(model, config)
    if width % s:
        raise ConfigError(
            f"{config.method}: the {side} has {width} outputs, not a multiple of subclasses={s}; build the network "
            "with num_classes = classes × subclasses (Method.outputs_per_class)"
        )
    return width


def check_teacher_config(config: JobConfig) -> None:
    number(config, "subclasses", DEFAULT_SUBCLASSES, minimum=1, integer=True)
    number(config, "aux_weight", 1.0)
    if number(config, "aux_temperature", LOSS_AUX_TEMPERATURE) <= 0:
        raise ConfigError("subclass_teacher: aux_temperature must be > 0")


def check_student_config(config: JobConfig) -> None:
    number(config, "subclasses", DEFAULT_SUBCLASSES, minimum=1, integer=True)
    t_cfg, s = config.teacher, config.param("subclasses", DEFAULT_SUBCLASSES)
    if t_cfg is not None and (t_cfg.method != "subclass_teacher" or t_cfg.param("subclasses", DEFAULT_SUBCLASSES) != s):
        raise ConfigError(
            f"subclass: the teacher must be a 'subclass_teacher' job with the same subclasses ({s}); got method "
            f"{t_cfg.method!r} with subclasses={t_cfg.param('subclasses', DEFAULT_SUBCLASSES)} (see subclass_configs)"
        )


def check_teacher_pair(config: JobConfig, student: nn.Module, teacher: nn.Module | None) -> None:
    _check_width(config, student, "network")


def check_student_pair(config: JobConfig, student: nn.Module, teacher: nn.Module | None) -> None:
    w_s = _check_width(config, student, "student")
    w_t = output_width(teacher, config)  # type: ignore[arg-type]
    if w_s != w_t:
        raise ConfigError(f"subclass: student has {w_s} outputs but the teacher {w_t}; both need classes × subclasses")


TEACHER = Method(
    name="subclass_teacher",
    params=("subclasses", "aux_weight", "aux_temperature"),
    title="Subclass teacher (training)",
    summary="Train a teacher with s invented subclasses per class: CE on summed subclass probabilities plus "
    "an auxiliary loss that spreads examples over the subclasses. The network has C·s outputs.",
    loss=lambda config, student, teacher: SubclassTeacherLoss(
        subclasses=subclasses(config),
        aux_weight=float(config.param("aux_weight", 1.0)),
        aux_temperature=float(config.param("aux_temperature", LOSS_AUX_TEMPERATURE)),
    ),
    loss_class=SubclassTeacherLoss,
    needs_teacher=False,
    check_config=check_teacher_config,
    check_pair=check_teacher_pair,
    arrange=labels_only,
    in_picker=False,
    cost_rank=lambda c: 3,
    outputs_per_class=subclasses,
    revision=REVISION,
)

METHOD = Method(
    name="subclass",
    params=("subclasses",),
    title="Subclass distillation",
    summary="The student (C·s outputs) matches the subclass teacher's C·s probabilities (KL · T²) plus "
    "class-level CE; more dark knowledge when there are few classes.",
    loss=lambda config, student, teacher: SubclassKD(subclasses(config), config.temperature, config.alpha),
    loss_class=SubclassKD,
    check_config=check_student_config,
    check_pair=check_student_pair,
    arrange=_arrange,
    own_teacher=True,
    mhist_note="Subclass distillation trains its own ResNetV2-50 subclass teacher first.",
    cost_rank=lambda c: 3,
    outputs_per_class=subclasses,
    revision=REVISION,
)
