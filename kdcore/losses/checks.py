"""Does the chosen method make sense for this student/teacher pair? Checked before any training.

:func:`check_method_fits` complements :func:`kdcore.config.validate` (which checks ranges of the
config alone): it sees the built networks, so it can say "the fully connected student has no
spatial feature maps" or "the teacher has no feature 'conv3'" with the fix, instead of a
``KeyError`` deep inside the first batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from kdcore.config import MHIST_STAGE2_EPOCHS, ConfigError, JobConfig
from kdcore.losses.attention import at_layers
from kdcore.losses.features import backbone_pair, input_shape, parse_layer_pairs, probe
from kdcore.losses.fitnet import DEFAULT_BETA, hint_layers
from kdcore.losses.subclass import DEFAULT_SUBCLASSES
from kdcore.models.contract import feature_names

MHIST_MAPS_NOTE = " (the MHIST pair's spatial maps are named by their side at 224×224 input: map28, map14, map7)"


def _number(config: JobConfig, name: str, default: float, *, minimum: float = 0.0, integer: bool = False) -> float:
    """``config.param(name)`` as a number >= ``minimum``, or a ConfigError naming the setting."""
    raw = config.param(name, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{config.method}: setting {name!r} must be a number, got {raw!r}") from None
    if integer and value != int(value):
        raise ConfigError(f"{config.method}: setting {name!r} must be a whole number, got {raw!r}")
    if value < minimum:
        raise ConfigError(f"{config.method}: setting {name!r} must be >= {minimum:g}, got {raw!r}")
    return value


def _features(model: nn.Module, config: JobConfig) -> dict[str, tuple[int, ...]]:
    """Feature name -> shape of one example, from one probe run (names as the model declares them)."""
    out = probe(model, input_shape(config.dataset))
    return {name: tuple(t.shape[1:]) for name, t in out.features.items()}


@dataclass(frozen=True)
class FeatureSide:
    """One network as the feature-method checks see it.

    label: how messages name it; names: the features it declares; shapes: one example's shape per
    feature. From a probe run (:meth:`probed`) or, where building and running the network before the
    job starts would cost seconds, from shapes the model module declares (the MHIST backbones:
    ``kdcore.models.mhist.FEATURE_SHAPES``).
    """

    label: str
    names: tuple[str, ...]
    shapes: dict[str, tuple[int, ...]]

    @classmethod
    def probed(cls, model: nn.Module, config: JobConfig) -> FeatureSide:
        shapes = _features(model, config)
        label = str(getattr(model, "arch", "") or type(model).__name__)
        return cls(label, feature_names(model) or tuple(shapes), shapes)

    @classmethod
    def declared(cls, label: str, shapes: dict[str, tuple[int, ...]]) -> FeatureSide:
        return cls(label, tuple(shapes), dict(shapes))


def _require_feature(config: JobConfig, side: str, net: FeatureSide, name: str, setting: str) -> None:
    if name not in net.names or name not in net.shapes:
        note = MHIST_MAPS_NOTE if backbone_pair(config.dataset) else ""
        raise ConfigError(
            f"the {side} ({net.label}) has no feature {name!r} (setting {setting!r}); "
            f"it provides {', '.join(net.names) or 'no features'}{note}"
        )


def _hint_epochs(config: JobConfig) -> tuple[int, str]:
    """(epochs FitNets' hint-only epochs count in, the setting that sets them). On the MHIST pair that is
    the fine-tuning stage (``stage2_epochs``): the head-only stage has no trainable input to the guided
    layer, so the hint does not run there (:meth:`~kdcore.losses.fitnet.FitNetLoss.logit_terms`)."""
    if backbone_pair(config.dataset):
        return int(_number(config, "stage2_epochs", MHIST_STAGE2_EPOCHS, integer=True)), "stage2_epochs"
    return config.epochs, "epochs"


def _fitnet_settings(config: JobConfig, student: FeatureSide, teacher: FeatureSide) -> None:
    _number(config, "beta", DEFAULT_BETA)
    k = _number(config, "fitnet_stage1_epochs", 0, integer=True)
    n, setting = _hint_epochs(config)
    if k >= n:
        where = ": on MHIST they are the first fine-tuning epochs" if setting != "epochs" else ""
        raise ConfigError(
            f"fitnet: fitnet_stage1_epochs={k:g} hint-only epochs leave no epoch for the KD stage "
            f"({setting}={n}{where}); use fewer than {n}"
        )
    hint, guided = hint_layers(config)
    if backbone_pair(config.dataset):
        hint_fix = " On the MHIST pair match two maps, e.g. hint_layer='map14', guided_layer='map14'."
    else:
        hint_fix = " For the fully connected student use a vector hint: hint_layer='fc', guided_layer='fc1'."
    try:
        _require_feature(config, "student", student, guided, "guided_layer")
    except ConfigError as e:
        raise ConfigError(f"fitnet: {e}.{hint_fix if config.arch == 'student_mlp' else ''}") from None
    try:
        _require_feature(config, "teacher", teacher, hint, "hint_layer")
    except ConfigError as e:
        raise ConfigError(f"fitnet: {e}") from None
    f_s, f_t = student.shapes[guided], teacher.shapes[hint]
    if len(f_s) != len(f_t) or len(f_s) not in (1, 3):
        raise ConfigError(
            f"fitnet: the guided layer {guided!r} {f_s} and the hint {hint!r} {f_t} must both be "
            "conv maps or both vectors (a 1×1 conv or a linear regressor joins them)." + hint_fix
        )


def _attention_settings(config: JobConfig, student: FeatureSide, teacher: FeatureSide) -> None:
    _number(config, "beta", 1.0)
    if _number(config, "at_p", 2.0) <= 0:
        raise ConfigError("attention: at_p must be > 0 (the paper uses 2)")
    pairs = parse_layer_pairs(at_layers(config))
    if not pairs:
        example = "'map28,map14,map7' or 'map14:map14'" if backbone_pair(config.dataset) else "'conv1,conv2' or 'conv2:conv2'"
        raise ConfigError(f"attention: at_layers names no layers; e.g. {example}")
    for t_name, s_name in pairs:
        try:
            _require_feature(config, "teacher", teacher, t_name, "at_layers")
            _require_feature(config, "student", student, s_name, "at_layers")
        except ConfigError as e:
            raise ConfigError(f"attention: {e}") from None
        for side, name, shape in (("teacher", t_name, teacher.shapes[t_name]), ("student", s_name, student.shapes[s_name])):
            if len(shape) != 3:
                raise ConfigError(
                    f"attention: the {side}'s feature {name!r} has shape {shape}, not a spatial map (C, H, W); "
                    "attention transfer needs conv features on both sides"
                )


FEATURE_SETTINGS: dict[str, Callable[[JobConfig, FeatureSide, FeatureSide], None]] = {
    "fitnet": _fitnet_settings,
    "attention": _attention_settings,
}


def check_feature_settings(config: JobConfig, student: FeatureSide, teacher: FeatureSide) -> None:
    """The settings of a feature method (fitnet, attention: layer names, their shapes, weights) against
    what each network provides; a no-op for other methods. :func:`check_method_fits` calls it with
    probed shapes; the MHIST schedule (``kdcore.train.transfer.check_transfer_config``) with the
    backbones' declared shapes, so a bad layer name fails before the teacher trains."""
    check = FEATURE_SETTINGS.get(config.method)
    if check is not None:
        check(config, student, teacher)


def _check_fitnet(config: JobConfig, student: nn.Module, teacher: nn.Module | None) -> None:
    _fitnet_settings(config, FeatureSide.probed(student, config), FeatureSide.probed(teacher, config))  # type: ignore[arg-type]


def _check_attention(config: JobConfig, student: nn.Module, teacher: nn.Module | None) -> None:
    _attention_settings(config, FeatureSide.probed(student, config), FeatureSide.probed(teacher, config))  # type: ignore[arg-type]


def _check_dkd(config: JobConfig, student: nn.Module, teacher: nn.Module | None) -> None:
    for name, default in (("dkd_alpha", 1.0), ("dkd_beta", 8.0), ("dkd_ce_weight", 1.0)):
        _number(config, name, default)
    _number(config, "dkd_warmup", 0, integer=True)


def _check_subclass_width(config: JobConfig, model: nn.Module, side: str) -> int:
    s = int(_number(config, "subclasses", DEFAULT_SUBCLASSES, minimum=1, integer=True))
    width = probe(model, input_shape(config.dataset)).logits.shape[1]
    if width % s:
        raise ConfigError(
            f"{config.method}: the {side} has {width} outputs, not a multiple of subclasses={s}; build the network "
            "with num_classes = classes × subclasses (kdcore.losses.subclass.logits_per_class)"
        )
    return width


def _check_subclass_teacher(config: JobConfig, student: nn.Module, teacher: nn.Module | None) -> None:
    _number(config, "aux_weight", 1.0)
    if _number(config, "aux_temperature", 1.0) <= 0:
        raise ConfigError("subclass_teacher: aux_temperature must be > 0")
    _check_subclass_width(config, student, "network")


def _check_subclass(config: JobConfig, student: nn.Module, teacher: nn.Module | None) -> None:
    t_cfg = config.teacher
    s = config.param("subclasses", DEFAULT_SUBCLASSES)
    if t_cfg is not None and (t_cfg.method != "subclass_teacher" or t_cfg.param("subclasses", DEFAULT_SUBCLASSES) != s):
        raise ConfigError(
            f"subclass: the teacher must be a 'subclass_teacher' job with the same subclasses ({s}); got method "
            f"{t_cfg.method!r} with subclasses={t_cfg.param('subclasses', 2)} (see subclass_configs)"
        )
    w_s = _check_subclass_width(config, student, "student")
    w_t = probe(teacher, input_shape(config.dataset)).logits.shape[1]  # type: ignore[arg-type]
    if w_s != w_t:
        raise ConfigError(f"subclass: student has {w_s} outputs but the teacher {w_t}; both need classes × subclasses")


def _check_born_again(config: JobConfig, student: nn.Module, teacher: nn.Module | None) -> None:
    t = config.teacher
    if t is None:
        return
    same = t.arch == config.arch and (config.arch != "student_mlp" or t.hidden == config.hidden)
    same = same and t.param("width", 8) == config.param("width", 8)
    if not same:
        raise ConfigError(
            f"born_again: the student must have the teacher's architecture (teacher {t.short_name()}, student "
            f"{config.short_name()}); build the chain with born_again_configs"
        )


def _check_takd(config: JobConfig, student: nn.Module, teacher: nn.Module | None) -> None:
    if config.teacher is not None and config.teacher.teacher is None:
        raise ConfigError(
            "takd: the teacher here must be an assistant that was itself distilled from the big teacher; "
            "build both jobs with teacher_assistant_configs (or use method 'hinton' to distil directly)"
        )


# Method name -> its extra checks (methods not listed need only the generic ones).
METHOD_CHECKS: dict[str, Callable[[JobConfig, nn.Module, nn.Module | None], None]] = {
    "fitnet": _check_fitnet,
    "attention": _check_attention,
    "dkd": _check_dkd,
    "subclass_teacher": _check_subclass_teacher,
    "subclass": _check_subclass,
    "born_again": _check_born_again,
    "takd": _check_takd,
}


def check_method_fits(config: JobConfig, student: nn.Module, teacher: nn.Module | None) -> None:
    """Raise :class:`ConfigError` with the fix when ``config.method`` makes no sense for this pair.

    Call after building the networks and before training. Runs each network once on a dummy
    batch of two examples where shapes matter (cheap next to one epoch).
    """
    from kdcore.losses import LOSSES  # late import: the registry imports this package's modules

    spec = LOSSES.get(config.method)
    if spec is None:
        raise ConfigError(f"unknown method {config.method!r}; choose one of {', '.join(sorted(LOSSES))}")
    if spec.needs_teacher and (teacher is None or config.teacher is None):
        raise ConfigError(f"method {config.method!r} distils from a teacher: give a teacher config")
    if not spec.fc_student_ok and config.arch == "student_mlp":
        raise ConfigError(
            f"{spec.title} needs spatial feature maps, which the fully connected student does not have; "
            "choose the CNN student (arch 'student_cnn')"
        )
    check = METHOD_CHECKS.get(config.method)
    if check is not None:
        check(config, student, teacher)
