"""The method registry: one :class:`~kdcore.methods.base.Method` per name, written out by hand.

Everything about a method lives in its module here (title, loss builder, checks, teacher arrangement,
form defaults, MHIST note, cost); its loss maths lives in :mod:`kdcore.losses`. Adding a method = one
loss module + one method module + one line in :data:`METHODS`. Callers ask :func:`get_method`;
an unknown name is refused with the list of known ones.

    from kdcore.methods import get_method
    job = get_method("early_stopped").job(course_teacher, student)   # its teacher chain included
"""

from __future__ import annotations

from torch import nn

from kdcore.config import ConfigError, JobConfig, check_ranges
from kdcore.data.pairs import data_pair
from kdcore.methods import attention, born_again, dkd, early_stopped, fitnet, hinton, scratch, subclass, takd
from kdcore.methods.base import COMMON_PARAMS, Method, StudentDefaults
from kdcore.methods.checks import FeatureSide

METHODS: dict[str, Method] = {
    "scratch": scratch.METHOD,
    "hinton": hinton.METHOD,
    "fitnet": fitnet.METHOD,
    "attention": attention.METHOD,
    "dkd": dkd.METHOD,
    "subclass_teacher": subclass.TEACHER,
    "subclass": subclass.METHOD,
    "born_again": born_again.METHOD,
    "ban_ensemble": born_again.ENSEMBLE,
    "takd": takd.METHOD,
    "early_stopped": early_stopped.METHOD,
}
# Feature methods' setting checks against (probed or declared) feature shapes, by method name.
_FEATURE_CHECKS = {"fitnet": fitnet.check_features, "attention": attention.check_features}


def get_method(name: str) -> Method:
    """The registered method ``name``, or a ConfigError listing the known ones."""
    method = METHODS.get(name)
    if method is None:
        raise ConfigError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return method


def method_job(name: str, teacher: JobConfig, student: JobConfig) -> JobConfig:
    """``student`` as a ``name`` job with the method's own teacher arrangement (:meth:`Method.job`)."""
    return get_method(name).job(teacher, student)


def validate(config: JobConfig) -> JobConfig:
    """Refuse a job that cannot run, before any work starts: settings out of range
    (:func:`kdcore.config.check_ranges`), an unknown method, a teacher where none belongs or none where
    one is needed, or a teacher chain the method's arrangement would not build. Raises ConfigError."""
    check_ranges(config)
    method = get_method(config.method)
    if method.needs_teacher and config.teacher is None:
        raise ConfigError(f"method {config.method!r} distils from a teacher: give a teacher config")
    if not method.needs_teacher and config.teacher is not None:
        raise ConfigError(f"method {config.method!r} uses labels only; drop the teacher or pick a KD method")
    method.check_param_names(config)
    if config.l1 and (not method.trains or data_pair(config.dataset).transfer):
        raise ConfigError(f"an L1 penalty (l1={config.l1:g}) is built for the students the one loop trains on the "
                          "MNIST-style data sets; "
                          + (f"{config.method!r} trains no network" if not method.trains else
                             f"{config.dataset} trains with the two-stage transfer schedule")
                          + ": drop l1 (0)")
    if method.check_config is not None:
        method.check_config(config)
    if config.teacher is not None:
        validate(config.teacher)
    if config.start_from is not None or config.compress:
        from kdcore.compress.transforms import check_compress  # the compress room's own checks

        check_compress(config)
        if config.start_from is not None:
            validate(config.start_from)
    return config


def build_loss(config: JobConfig, student: nn.Module, teacher: nn.Module | None) -> nn.Module:
    """The loss ``config``'s student trains with, wherever it trains (the one loop, a compression job's fine-tune):
    its method's (:attr:`Method.loss`), plus the L1 penalty λ·Σ|w| over the student's Linear/Conv weights when
    ``config.l1`` > 0 (:class:`kdcore.losses.sparse.L1Penalty`: sparse regularisation, a term ``l1`` of its own)."""
    loss = get_method(config.method).loss(config, student, teacher)
    if config.l1:
        from kdcore.losses.sparse import L1Penalty
        from kdcore.models.contract import layer_weights

        loss = L1Penalty(loss, layer_weights(student), config.l1)
    return loss


def check_feature_settings(config: JobConfig, student: FeatureSide, teacher: FeatureSide) -> None:
    """A feature method's settings (fitnet, attention: layer names, shapes, weights) against what each
    network provides; a no-op for other methods. The MHIST schedule calls it with the backbones'
    declared shapes, so a bad layer name fails before the teacher trains."""
    check = _FEATURE_CHECKS.get(config.method)
    if check is not None:
        check(config, student, teacher)


def check_method_fits(config: JobConfig, student: nn.Module, teacher: nn.Module | None) -> None:
    """Raise :class:`ConfigError` with the fix when ``config.method`` makes no sense for this pair of built
    networks. Call before training; runs each network once on a dummy batch where shapes matter."""
    method = get_method(config.method)
    if method.needs_teacher and (teacher is None or config.teacher is None):
        raise ConfigError(f"method {config.method!r} distils from a teacher: give a teacher config")
    if not method.fc_student_ok and config.arch == "student_mlp":
        raise ConfigError(
            f"{method.title} needs spatial feature maps, which the fully connected student does not have; "
            "choose the CNN student (arch 'student_cnn')"
        )
    if method.check_config is not None:  # also here: a caller may build networks without validate()
        method.check_config(config)
    if method.check_pair is not None:
        method.check_pair(config, student, teacher)


def scratch_twin(config: JobConfig) -> JobConfig:
    """The from-scratch twin of a student job: same data, architecture, size, schedule and seed, labels only. It
    keeps the settings every method takes (:data:`~kdcore.methods.base.COMMON_PARAMS`: a CNN's width, the MHIST
    schedule), not the method's own (DKD's β means nothing to a scratch job, and ``scratch`` refuses it)."""
    params = tuple((k, v) for k, v in config.method_params if k in COMMON_PARAMS)
    return config.replace(method="scratch", teacher=None, method_params=params)


def outputs_per_class(config: JobConfig) -> int:
    """Network outputs per class of ``config``'s job (subclass methods: its subclasses; else 1)."""
    return get_method(config.method).outputs_per_class(config)


__all__ = ["COMMON_PARAMS", "METHODS", "FeatureSide", "Method", "StudentDefaults", "build_loss",
           "check_feature_settings", "check_method_fits", "get_method",
           "method_job", "outputs_per_class", "scratch_twin", "validate"]
