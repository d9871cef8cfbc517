"""The course's jobs: its teacher and student for each data set (handout + issue 2 defaults)."""

from __future__ import annotations

from typing import Any

from kdcore.config import DEFAULT_ALPHA, DEFAULT_T, JobConfig
from kdcore.data.pairs import data_pair
from kdcore.methods import get_method


def course_teacher(dataset: str = "mnist", seed: int = 0, **overrides: Any) -> JobConfig:
    """The course's teacher job for ``dataset`` (MNIST-style CNN, or ResNetV2-50 for MHIST)."""
    pair = data_pair(dataset)
    base = JobConfig(dataset=dataset, arch=pair.teacher_arch, method="scratch", seed=seed,
                     batch_size=pair.teacher_batch_size, lr=pair.teacher_lr)
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
    pair = data_pair(dataset)
    extra_defaults: dict[str, Any] = {"batch_size": pair.student_batch_size, "lr": pair.student_lr}
    if get_method(method).needs_teacher and teacher is None:
        teacher = course_teacher(dataset, seed=seed)
    if not get_method(method).needs_teacher:
        teacher = None
    cfg = JobConfig(
        dataset=dataset, arch=pair.student_arch, method=method, seed=seed, temperature=temperature, alpha=alpha,
        teacher=teacher, **extra_defaults,
    )
    return cfg.replace(**overrides) if overrides else cfg
