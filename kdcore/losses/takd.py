"""Mirzadeh, Farajtabar, Li, Levine, Matsukawa & Ghasemzadeh, "Improved Knowledge Distillation via
Teacher Assistant", AAAI 2020 (arXiv:1902.03393)."""

from __future__ import annotations

from collections.abc import Sequence

from kdcore.config import ConfigError, JobConfig
from kdcore.losses.hinton import HintonKD

# The MHIST pair's assistant: torchvision ResNet-18 (11.2M parameters) between the ResNetV2-50 teacher
# (23.5M) and the MobileNetV2 student (2.2M); ImageNet-pretrained like both (kdcore.models.mhist).
MHIST_ASSISTANT = "resnet18"


class TeacherAssistantKD(HintonKD):
    r"""Teacher-assistant KD: Hinton KD in two hops, teacher → assistant → student.

    When the gap between teacher and student is large, the student cannot follow the teacher's
    function; an intermediate-size *assistant* is distilled from the teacher first and then serves
    as the student's teacher. Each hop is ordinary soft-target KD:

    .. math::
        \mathcal{L} = \alpha\,T^2\,\mathrm{KL}\big(\sigma(z_A/T)\,\|\,\sigma(z_S/T)\big)
            + (1-\alpha)\,\mathrm{CE}(y, \sigma(z_S))

    where :math:`z_A` are the assistant's logits. The loss is unchanged; the method is the
    procedure (:func:`teacher_assistant_configs`). Method name ``takd`` = "Hinton KD whose
    teacher is an assistant" (the assistant job itself uses ``hinton``).

    Args:
        temperature: T > 0.
        alpha: weight of the KD term; CE gets ``1 - alpha``.
    """


def teacher_assistant_configs(
    teacher: JobConfig,
    assistant_hidden: Sequence[int] = (392,),
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
    weights, so the assistant is another pretrained family of mid size, :data:`MHIST_ASSISTANT`
    (ResNet-18), trained with the student's two-stage schedule and settings.
    """
    if student.arch == "mobilenet_v2" and student.dataset.startswith("mhist"):
        assistant = student.replace(arch=MHIST_ASSISTANT)
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
