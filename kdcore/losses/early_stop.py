"""Cho & Hariharan, "On the Efficacy of Knowledge Distillation", ICCV 2019 (arXiv:1910.01348)."""

from __future__ import annotations

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
    (:func:`kdcore.methods.early_stopped.early_stopped_teacher`; on the MHIST pair E counts the two-stage transfer-learning
    schedule, head epochs then fine-tuning epochs). The paper also proposes ESKD, switching the KD
    term off part-way through the *student's* training; that variant is not implemented here.

    Args:
        temperature: T > 0.
        alpha: weight of the KD term; CE gets ``1 - alpha``.
    """
