"""Teacher-assistant KD (Mirzadeh et al., AAAI 2020): teacher → mid-size assistant → student."""

from __future__ import annotations

from collections.abc import Sequence

from kdcore.config import ConfigError, JobConfig
from kdcore.data.pairs import data_pair
from kdcore.losses.takd import TeacherAssistantKD
from kdcore.methods.base import Method, StudentDefaults

ASSISTANT_HIDDEN = (392,)
# An assistant of 392 units only helps a student smaller than itself: the lab's and shipped TAKD student.
SMALL_STUDENT_HIDDEN = (32,)


def teacher_assistant_configs(
    teacher: JobConfig,
    assistant_hidden: Sequence[int] = ASSISTANT_HIDDEN,
    *,
    student: JobConfig,
    assistant_width: int = 16,
) -> tuple[JobConfig, JobConfig]:
    """(assistant job distilled from ``teacher``, ``student`` job distilled from the assistant).

    The assistant has the student's architecture at an intermediate size: ``assistant_hidden``
    for the fully connected student, ``assistant_width`` channels for the small CNN student. It
    should sit between teacher and student in size (the paper's point); choose the student's
    hidden sizes accordingly (the course's 784×784 MLP is *larger* than a 392 assistant).

    On the MHIST pair (MobileNetV2 student of a ResNetV2-50) no width of MobileNetV2 has ImageNet
    weights, so the assistant is another pretrained family of mid size, the data set's
    :attr:`kdcore.data.pairs.DataPair.assistant_arch` (ResNet-18: 11.2M parameters, between the 23.5M
    teacher and the 2.2M student), trained with the student's two-stage schedule and settings.
    """
    pair = data_pair(student.dataset)
    if student.arch == pair.student_arch and pair.assistant_arch is not None:
        assistant = student.replace(arch=pair.assistant_arch)
    elif student.arch == "student_mlp":
        assistant = student.replace(hidden=tuple(assistant_hidden))
    elif student.arch == "student_cnn":
        params = {**dict(student.method_params), "width": int(assistant_width)}
        assistant = student.replace(method_params=tuple(params.items()))
    else:
        raise ConfigError(
            f"teacher-assistant KD has no intermediate architecture for student {student.arch!r}; "
            "use the MNIST student_mlp or student_cnn, or the MHIST student mobilenet_v2"
        )
    assistant = assistant.replace(method="hinton", teacher=teacher)
    return assistant, student.replace(method="takd", teacher=assistant)


def _arrange(name: str, teacher: JobConfig, student: JobConfig) -> list[JobConfig]:
    return list(teacher_assistant_configs(teacher, student=student))


def _check(config: JobConfig) -> None:
    if config.teacher is not None and config.teacher.teacher is None:
        raise ConfigError(
            "takd: the teacher here must be an assistant that was itself distilled from the big teacher; "
            "build both jobs with teacher_assistant_configs (or use method 'hinton' to distil directly)"
        )


METHOD = Method(
    name="takd",
    title="Teacher-assistant KD",
    summary="Hinton KD whose teacher is an intermediate-size assistant, itself distilled from the big "
    "teacher: bridges a large teacher–student gap.",
    loss=lambda config, student, teacher: TeacherAssistantKD(config.temperature, config.alpha),
    loss_class=TeacherAssistantKD,
    check_config=_check,
    arrange=_arrange,
    # an assistant (392 units) only helps a student smaller than itself
    student_defaults=StudentDefaults(hidden=SMALL_STUDENT_HIDDEN),
    mhist_note="Teacher-assistant KD trains an extra network, a ResNet-18 assistant (11.2M parameters) distilled "
    "from the teacher, then distils the MobileNetV2 from the assistant.",
)
