"""What a KD method *is*, in one place: :class:`Method`.

A method is more than its loss. It has a title and a summary (CLI, pages), a loss builder (its
module in :mod:`kdcore.losses` is pure maths), checks that refuse a job that makes no sense before
anything trains, a **teacher arrangement** (which jobs a student of this method needs: an
early-stopped teacher, born-again generations, an assistant, a subclass teacher, ensemble members),
the Distill lab's form defaults, what it costs on the MHIST pair, and a cost class for precompute.
Callers (CLI, Distill lab, MHIST page, precompute, the job runner) ask a ``Method``; they never
re-derive any of this. Registry: :data:`kdcore.methods.METHODS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from torch import nn

from kdcore.config import ConfigError, JobConfig
from kdcore.losses.base import check_loss_class

# (job config, student network, teacher network or None) -> the loss module the loop sums.
LossBuilder = Callable[[JobConfig, nn.Module, "nn.Module | None"], nn.Module]
# (job config, student network, teacher network or None) -> None, or ConfigError naming the fix.
PairCheck = Callable[[JobConfig, nn.Module, "nn.Module | None"], None]
# (job config) -> None, or ConfigError: what can be refused from the config alone, before any training.
ConfigCheck = Callable[[JobConfig], None]
# (teacher job, student job) -> the jobs this method needs, its own job last.
Arrangement = Callable[[str, JobConfig, JobConfig], list[JobConfig]]


def distil_directly(name: str, teacher: JobConfig, student: JobConfig) -> list[JobConfig]:
    """The common arrangement: the student distils ``teacher`` itself."""
    return [student.replace(method=name, teacher=teacher)]


def labels_only(name: str, teacher: JobConfig, student: JobConfig) -> list[JobConfig]:
    """A label-trained job: no teacher."""
    return [student.replace(method=name, teacher=None)]


def number(config: JobConfig, name: str, default: float, *, minimum: float = 0.0, integer: bool = False) -> float:
    """``config.param(name)`` as a number >= ``minimum``, or a ConfigError naming the setting."""
    raw = config.param(name, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{config.method}: setting {name!r} must be a number, got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(f"{config.method}: setting {name!r} must be a finite number, got {raw!r}")
    if integer and value != int(value):
        raise ConfigError(f"{config.method}: setting {name!r} must be a whole number, got {raw!r}")
    if value < minimum:
        raise ConfigError(f"{config.method}: setting {name!r} must be >= {minimum:g}, got {raw!r}")
    return value


@dataclass(frozen=True)
class StudentDefaults:
    """The student a method's documented (shipped) results were measured with, where it is not the course's own:
    the Distill lab's form opens on it and precompute's method suite trains it. None keeps the course student's.
    (Settings its student uses wherever it is built, the CLI's ``distill`` included, are ``student_settings``.)"""

    arch: str | None = None  # e.g. "student_cnn": attention transfer and FitNets compare conv feature maps
    hidden: tuple[int, ...] | None = None  # the MLP student's hidden sizes (TAKD: smaller than its assistant)
    alpha: float | None = None  # the KD term's weight (attention transfer: 0, AT alone)

    def apply(self, student: JobConfig) -> JobConfig:
        """``student`` with these defaults (its hidden sizes only where it is the MLP)."""
        changes: dict[str, object] = {}
        if self.arch is not None:
            changes["arch"] = self.arch
        if self.hidden is not None and changes.get("arch", student.arch) == "student_mlp":
            changes["hidden"] = tuple(self.hidden)
        if self.alpha is not None:
            changes["alpha"] = float(self.alpha)
        return student.replace(**changes) if changes else student


# Settings (``JobConfig.method_params``) any job may carry, whatever its method: the small CNN's width, the
# MHIST two-stage schedule's lengths, its micro-batch and class weighting (kdcore.train.common).
COMMON_PARAMS: tuple[str, ...] = ("width", "stage1_epochs", "stage2_epochs", "micro_batch", "class_weighted")


@dataclass(frozen=True)
class Method:
    """One KD method (see the module docstring).

    name: ``JobConfig.method``. loss: builds the loss module for a job; loss_class: the class the Learn
    page shows (source, equations). needs_teacher: distils from a trained teacher. teacher_features:
    the teacher must run on every batch (its features are compared); otherwise the loop reads the
    teacher's cached training-set logits. fc_student_ok: works with the fully connected MNIST student.
    trains: the job trains a network (False: the BAN ensemble, evaluated from stored networks).
    evaluation_code: for a method that does not train, (maths, code) as "module:function" names: the function
    whose docstring holds its equations and the one that makes its result (the Learn page shows both).
    check_config / check_pair:
    refusals from the config alone (before anything runs) / from the built networks (before training).
    arrange: the jobs a student of this method needs (:meth:`jobs`). student_settings: ``JobConfig``
    fields its student uses unless asked otherwise, wherever it is built (born-again: the paper's T = 1,
    α = 1). student_defaults: the student its shipped results on the MNIST-style pairs used
    (:class:`StudentDefaults`: architecture, hidden sizes, α), which the Distill lab's form opens on and
    precompute's method suite trains (:func:`kdcore.course.method_student`). mhist_note: None = not offered on the
    MHIST page, else one sentence on what it costs there beyond teacher → scratch → KD student.
    scratch_baseline: its student has a separate from-scratch twin (born-again: the teacher is it).
    own_teacher: its arrangement replaces the course teacher (subclass: a subclass teacher).
    in_picker: offered as a student method (the subclass *teacher* is an intermediate job only).
    cost_rank: precompute's cost class of one of its jobs on full Fashion-MNIST (cheapest first).
    outputs_per_class: network outputs per class (subclass methods: ``subclasses``; else 1).
    params: the names of the ``method_params`` settings this method reads, beyond :data:`COMMON_PARAMS`; any
    other name is refused (:meth:`check_param_names`), so a misspelt setting never silently does nothing.
    default_params: ``method_params`` a student gets unless it sets them (FitNets on the fully connected
    student: the vector hint), applied by :meth:`jobs`.
    revision: bump when a change alters what this method's jobs produce (its loss, arrangement or defaults);
    part of the store key of every job whose teacher chain uses it (:mod:`kdcore.engine`), so results of
    an older revision are never served as today's. Say in the module what each revision changed.
    """

    name: str
    title: str
    summary: str
    loss: LossBuilder
    loss_class: type | None = None
    needs_teacher: bool = True
    teacher_features: bool = False
    fc_student_ok: bool = True
    trains: bool = True
    evaluation_code: tuple[str, str] | None = None
    check_config: ConfigCheck | None = None
    check_pair: PairCheck | None = None
    arrange: Arrangement = distil_directly
    student_settings: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    student_defaults: StudentDefaults = StudentDefaults()
    mhist_note: str | None = None
    two_class_note: str | None = None  # what the method means on any two-class data set (MHIST, a folder of two)
    scratch_baseline: bool = True
    own_teacher: bool = False
    in_picker: bool = True
    cost_rank: Callable[[JobConfig], int] = lambda config: 0
    outputs_per_class: Callable[[JobConfig], int] = lambda config: 1
    default_params: Callable[[JobConfig], Mapping[str, object]] = lambda student: MappingProxyType({})
    revision: int = 1
    params: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # The loss protocol (kdcore/losses/base.py), checked where a method is built: a hook with a wrong
        # signature or name, or a feature method on the MHIST page without the head-only stage's terms, fails here.
        if self.loss_class is not None:
            check_loss_class(self.loss_class, f"method {self.name!r}",
                             needs_logit_terms=self.teacher_features and self.mhist_note is not None)

    def check_param_names(self, config: JobConfig) -> None:
        """Refuse a ``method_params`` name this method does not read, listing the ones it does."""
        unknown = sorted(name for name, _ in config.method_params if name not in (*self.params, *COMMON_PARAMS))
        if unknown:
            own = ", ".join(self.params) if self.params else "none of its own"
            raise ConfigError(f"{self.name}: unknown setting(s) {', '.join(map(repr, unknown))} (--param NAME=VALUE); "
                              f"{self.name} takes {own}, and every method takes {', '.join(COMMON_PARAMS)}")

    def jobs(self, teacher: JobConfig, student: JobConfig) -> list[JobConfig]:
        """The jobs a ``student`` of this method needs beyond ``teacher``, its own job last.

        ``student`` carries the student's data, architecture, size, T, α and settings (any method);
        ``teacher`` is the course teacher it starts from. E.g. early-stopped: [shorter teacher, student];
        TAKD: [assistant, student]; BAN ensemble: [generation 1, generation 2, ensemble]."""
        defaults = self.default_params(student)
        if defaults:
            student = student.replace(method_params=tuple({**defaults, **dict(student.method_params)}.items()))
        return self.arrange(self.name, teacher, student)

    def job(self, teacher: JobConfig, student: JobConfig) -> JobConfig:
        """This method's job for ``student`` (its teacher chain included): :meth:`jobs`' last."""
        return self.jobs(teacher, student)[-1]

    @property
    def offered_on_mhist(self) -> bool:
        return self.mhist_note is not None
