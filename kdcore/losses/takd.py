"""Mirzadeh, Farajtabar, Li, Levine, Matsukawa & Ghasemzadeh, "Improved Knowledge Distillation via
Teacher Assistant", AAAI 2020 (arXiv:1902.03393)."""

from __future__ import annotations

from kdcore.losses.hinton import HintonKD


class TeacherAssistantKD(HintonKD):
    r"""Teacher-assistant KD: Hinton KD in two hops, teacher → assistant → student.

    When the gap between teacher and student is large, the student cannot follow the teacher's
    function; an intermediate-size *assistant* is distilled from the teacher first and then serves
    as the student's teacher. Each hop is ordinary soft-target KD:

    .. math::
        \mathcal{L} = \alpha\,T^2\,\mathrm{KL}\big(\sigma(z_A/T)\,\|\,\sigma(z_S/T)\big)
            + (1-\alpha)\,\mathrm{CE}(y, \sigma(z_S))

    where :math:`z_A` are the assistant's logits. The loss is unchanged; the method is the
    procedure (:func:`kdcore.methods.takd.teacher_assistant_configs`). Method name ``takd`` = "Hinton KD whose
    teacher is an assistant" (the assistant job itself uses ``hinton``).

    Args:
        temperature: T > 0.
        alpha: weight of the KD term; CE gets ``1 - alpha``.
    """
