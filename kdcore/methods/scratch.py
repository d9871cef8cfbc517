"""From scratch: cross-entropy on the labels only — the baseline every KD method must beat."""

from __future__ import annotations

from kdcore.losses.scratch import CrossEntropy
from kdcore.methods.base import Method, labels_only

METHOD = Method(
    name="scratch",
    title="From scratch (labels only)",
    summary="Cross-entropy on the true labels; the baseline every KD method must beat.",
    loss=lambda config, student, teacher: CrossEntropy(),
    loss_class=CrossEntropy,
    needs_teacher=False,
    arrange=labels_only,
)
