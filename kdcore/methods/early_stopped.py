"""Early-stopped teacher (Cho & Hariharan, ICCV 2019): Hinton KD from a teacher trained for fewer epochs."""

from __future__ import annotations

from kdcore.config import ConfigError, JobConfig, transfer_stages
from kdcore.data.pairs import data_pair
from kdcore.losses.early_stop import EarlyStoppedKD
from kdcore.methods.base import Method


def early_stopped_teacher(teacher: JobConfig, epochs: int) -> JobConfig:
    """The same teacher job trained for ``epochs`` < ``teacher.epochs`` epochs.

    With a constant learning rate and the same seed this is the full run's checkpoint after
    ``epochs`` epochs; with a schedule that depends on the total number of epochs it is a short
    run of its own (still the less-trained teacher the method asks for).

    MHIST teachers (``dataset`` ``mhist*``) do not use ``epochs``: their length is the two-stage
    schedule of :mod:`kdcore.train.transfer` (``stage1_epochs`` head epochs on the frozen backbone,
    then ``stage2_epochs`` fine-tuning epochs). For them ``epochs`` counts that schedule in order, and
    the teacher stops after that many: within stage 1 (fewer head epochs, no fine-tuning), or after
    the whole of stage 1 with a shorter stage 2. Both stages use a constant learning rate and a
    per-epoch shuffle, so this too is the full run's checkpoint at that point.
    """
    if data_pair(teacher.dataset).transfer:
        return _early_stopped_transfer(teacher, int(epochs))
    if not 1 <= epochs < teacher.epochs:
        raise ConfigError(
            f"an early-stopped teacher needs 1 <= epochs < {teacher.epochs} (the full teacher's epochs); got {epochs}"
        )
    return teacher.replace(epochs=int(epochs))


def _early_stopped_transfer(teacher: JobConfig, epochs: int) -> JobConfig:
    head, tune = transfer_stages(teacher)
    total = head + tune
    if total < 2:
        raise ConfigError(
            f"this MHIST teacher trains for {total} epoch ({head} head + {tune} fine-tuning): there is no earlier "
            "point to stop at; give the full teacher at least 2 epochs (stage1_epochs + stage2_epochs >= 2)"
        )
    if not 1 <= epochs < total:
        raise ConfigError(
            f"an early-stopped MHIST teacher stops after 1 <= epochs < {total} epochs of its schedule ({head} head "
            f"+ {tune} fine-tuning epochs, counted in that order); got {epochs}. E.g. epochs={default_stop_epochs(teacher)}"
        )
    stages = (epochs, 0) if epochs <= head else (head, epochs - head)
    params = {**dict(teacher.method_params), "stage1_epochs": stages[0], "stage2_epochs": stages[1]}
    return teacher.replace(method_params=tuple(params.items()))


# The MNIST-style early stop of the shipped results: 3 of the course teacher's 12 epochs (Fashion-MNIST
# test accuracy 88.2 % there vs 91.2 % at 12), early enough to differ clearly from the full teacher.
COURSE_STOP_EPOCHS = 3


def default_stop_epochs(teacher: JobConfig) -> int:
    """Where the app stops a teacher early: after :data:`COURSE_STOP_EPOCHS` of the course teacher's 12
    epochs (at most half its epochs; MNIST-style), or on the MHIST pair half its
    fine-tuning stage (the whole head stage first: fine-tuning is where the network fits the training
    tiles ever more closely, the regime the paper stops early), or half its head epochs when it has no
    fine-tuning. Pass the result to :func:`early_stopped_teacher`."""
    if not data_pair(teacher.dataset).transfer:
        return max(1, min(COURSE_STOP_EPOCHS, teacher.epochs // 2))
    head, tune = transfer_stages(teacher)
    return head + tune // 2 if tune >= 1 else max(1, head // 2)


def _arrange(name: str, teacher: JobConfig, student: JobConfig) -> list[JobConfig]:
    early = early_stopped_teacher(teacher, default_stop_epochs(teacher))
    return [early, student.replace(method=name, teacher=early)]


METHOD = Method(
    name="early_stopped",
    title="Early-stopped teacher",
    summary="Hinton KD from a teacher trained for fewer epochs: less overfit, more teachable.",
    loss=lambda config, student, teacher: EarlyStoppedKD(config.temperature, config.alpha),
    loss_class=EarlyStoppedKD,
    arrange=_arrange,
    mhist_note="The early-stopped teacher is a second ResNetV2-50 run that stops halfway through "
    "fine-tuning (or through the head epochs when there is none).",
    cost_rank=lambda c: 2,
)
