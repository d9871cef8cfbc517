"""The Distill lab form's settings and which of them apply (Streamlit-free; :mod:`kdcore.views.lab` re-exports them).

Its own module so the naming rule (:mod:`kdcore.views.groups`), which says T and α only where a method reads them,
asks the same rule as the form without importing the lab (which imports the results views, which import groups).
"""

from __future__ import annotations

from kdcore.course import DEFAULT_CNN_WIDTH  # StudentCNN's default width (the job builder leaves it implicit)
from kdcore.methods import get_method

# The form's settings; picking a method applies its ``Method.student_defaults`` and paper settings on top (the
# documented defaults its shipped results were measured with, so its first run is answered from the store at once).
FORM_DEFAULTS: dict[str, object] = {"student": "student_mlp", "hidden": "784,784", "width": DEFAULT_CNN_WIDTH,
                                    "T": 4.0, "alpha": 0.5, "epochs": 12, "l1": 0.0}
# The lab's choices of the L1 penalty λ (sparse regularisation: 0 = none); the compression suite's are its data sets'
# DataPair.l1_weight (3e-5 on Fashion-MNIST, 1e-4 on MNIST-5k).
L1_CHOICES = (0.0, 1e-5, 3e-5, 1e-4, 3e-4)


def form_defaults(method: str) -> dict[str, object]:
    """The Distill lab form's settings for ``method`` (keys: student, hidden, width, T, alpha, epochs, l1)."""
    chosen = get_method(method)
    paper = {{"temperature": "T"}.get(k, k): v for k, v in chosen.student_settings.items()}
    own = chosen.student_defaults
    student: dict[str, object] = {}
    if own.arch is not None:
        student["student"] = own.arch
    if own.hidden is not None:
        student["hidden"] = ",".join(map(str, own.hidden))
    if own.alpha is not None:
        student["alpha"] = own.alpha
    return {**FORM_DEFAULTS, **paper, **student}


# Methods whose loss never reads α (DKD weights its own parts: dkd_alpha, dkd_beta; see its Method's summary).
IGNORES_ALPHA = ("dkd",)


def uses_alpha(method: str) -> bool:
    """Whether α changes a ``method`` job: it weights a soft-target term (not for scratch, nor DKD)."""
    return get_method(method).needs_teacher and method not in IGNORES_ALPHA


def uses_temperature(method: str, alpha: float) -> bool:
    """Whether T changes a ``method`` job: it softens a soft-target term that has weight (attention transfer at
    α = 0 is attention maps plus labels: T weighs nothing)."""
    return get_method(method).needs_teacher and not (method == "attention" and float(alpha) == 0.0)


def form_fields(method: str, student: str, alpha: float) -> tuple[str, ...]:
    """The Distill lab form's fields that change this job (the page shows only these): the MLP's hidden sizes or the
    CNN's width, T and α where the method reads them (:func:`uses_temperature`, :func:`uses_alpha`)."""
    fields = ["hidden" if student == "student_mlp" else "width"]
    if uses_temperature(method, alpha):
        fields.append("T")
    if uses_alpha(method):
        fields.append("alpha")
    return tuple(fields)



__all__ = ["DEFAULT_CNN_WIDTH", "FORM_DEFAULTS", "IGNORES_ALPHA", "L1_CHOICES", "form_defaults", "form_fields", "uses_alpha",
           "uses_temperature"]
