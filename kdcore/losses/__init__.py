"""The method registry, written out by hand (no import-time decorator magic).

Each entry maps a method name (``JobConfig.method``) to a :class:`LossSpec`: how to build the loss
for a job, whether it needs a teacher, and what it is. Add a method = add a module + one entry.
"""

from __future__ import annotations

from kdcore.losses.base import Batch, LossSpec
from kdcore.losses.hinton import HintonKD, soft_target_kl
from kdcore.losses.scratch import CrossEntropy

LOSSES: dict[str, LossSpec] = {
    "scratch": LossSpec(
        build=lambda config, student, teacher: CrossEntropy(),
        needs_teacher=False,
        title="From scratch (labels only)",
        summary="Cross-entropy on the true labels; the baseline every KD method must beat.",
    ),
    "hinton": LossSpec(
        build=lambda config, student, teacher: HintonKD(config.temperature, config.alpha),
        needs_teacher=True,
        title="Hinton KD (soft targets)",
        summary="Match the teacher's temperature-softened probabilities (KL · T²), mixed with label CE.",
    ),
}

__all__ = ["LOSSES", "Batch", "CrossEntropy", "HintonKD", "LossSpec", "soft_target_kl"]
