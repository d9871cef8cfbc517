"""The course's jobs: its teacher and student for each data set (handout + issue 2 defaults)."""

from __future__ import annotations

from typing import Any

from kdcore.config import DEFAULT_ALPHA, DEFAULT_T, JobConfig
from kdcore.methods import get_method


def course_teacher(dataset: str = "mnist", seed: int = 0, **overrides: Any) -> JobConfig:
    """The course's teacher job for ``dataset`` (MNIST-style CNN, or ResNetV2-50 for MHIST)."""
    if dataset.startswith("mhist"):
        base = JobConfig(dataset=dataset, arch="resnetv2_50", method="scratch", seed=seed, batch_size=32, lr=1e-4)
    else:
        base = JobConfig(dataset=dataset, arch="teacher_cnn", method="scratch", seed=seed)
    return base.replace(**overrides) if overrides else base


def course_student(
    dataset: str = "mnist",
    method: str = "scratch",
    seed: int = 0,
    temperature: float = DEFAULT_T,
    alpha: float = DEFAULT_ALPHA,
    teacher: JobConfig | None = None,
    **overrides: Any,
) -> JobConfig:
    """The course's student job; a KD method gets the matching course teacher unless given one."""
    arch = "mobilenet_v2" if dataset.startswith("mhist") else "student_mlp"
    extra_defaults: dict[str, Any] = {"batch_size": 32} if dataset.startswith("mhist") else {}
    if get_method(method).needs_teacher and teacher is None:
        teacher = course_teacher(dataset, seed=seed)
    if not get_method(method).needs_teacher:
        teacher = None
    cfg = JobConfig(
        dataset=dataset, arch=arch, method=method, seed=seed, temperature=temperature, alpha=alpha,
        teacher=teacher, **extra_defaults,
    )
    return cfg.replace(**overrides) if overrides else cfg
