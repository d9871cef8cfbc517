"""Hinton KD: match the teacher's temperature-softened probabilities (Hinton et al. 2015)."""

from __future__ import annotations

from kdcore.losses.hinton import HintonKD
from kdcore.methods.base import Method

METHOD = Method(
    name="hinton",
    title="Hinton KD (soft targets)",
    summary="Match the teacher's temperature-softened probabilities (KL · T²), mixed with label CE.",
    loss=lambda config, student, teacher: HintonKD(config.temperature, config.alpha),
    loss_class=HintonKD,
    mhist_note="",
)
