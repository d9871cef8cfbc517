"""Cho & Hariharan, "On the Efficacy of Knowledge Distillation", ICCV 2019 (arXiv:1910.01348)."""

from __future__ import annotations

from kdcore.config import ConfigError, JobConfig, transfer_stages
from kdcore.losses.hinton import HintonKD


class EarlyStoppedKD(HintonKD):
    r"""Hinton KD from an **early-stopped** teacher.

    Cho & Hariharan find that a fully trained, more accurate teacher is not always the better
    teacher: late in training it fits the labels ever more sharply (and overfits), and its soft
    targets carry less of the similarity structure a small student can use. Stopping the teacher
    early gives a less overfit, "more teachable" teacher. The loss is ordinary soft-target KD:

    .. math::
        \mathcal{L} = \alpha\,T^2\,\mathrm{KL}\big(\sigma(z_{T,e}/T)\,\|\,\sigma(z_S/T)\big)
            + (1-\alpha)\,\mathrm{CE}(y, \sigma(z_S))

    where :math:`z_{T,e}` are the logits of the teacher after e < E epochs
    (:func:`early_stopped_teacher`; on the MHIST pair E counts the two-stage transfer-learning
    schedule, head epochs then fine-tuning epochs). The paper also proposes ESKD, switching the KD
    term off part-way through the *student's* training; that variant is not implemented here.

    Args:
        temperature: T > 0.
        alpha: weight of the KD term; CE gets ``1 - alpha``.
    """


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
    if teacher.dataset.startswith("mhist"):
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
    if not teacher.dataset.startswith("mhist"):
        return max(1, min(COURSE_STOP_EPOCHS, teacher.epochs // 2))
    head, tune = transfer_stages(teacher)
    return head + tune // 2 if tune >= 1 else max(1, head // 2)
