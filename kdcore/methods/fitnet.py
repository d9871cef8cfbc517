"""FitNets (Romero et al., ICLR 2015): a teacher layer (the hint) guides a student layer through a regressor."""

from __future__ import annotations

from torch import nn

from kdcore.config import MHIST_STAGE2_EPOCHS, ConfigError, JobConfig
from kdcore.data.pairs import data_pair
from kdcore.losses.features import probe
from kdcore.losses.fitnet import FitNetLoss
from kdcore.methods.base import Method, StudentDefaults, number
from kdcore.methods.checks import FeatureSide, on_probed_networks, require_feature

DEFAULT_BETA = 100.0  # weight of the hint term in the KD stage (set for the MNIST pair)
# On the fully connected student there are no feature maps: the teacher's fc layer hints its first layer.
VECTOR_HINT = (("hint_layer", "fc"), ("guided_layer", "fc1"))


def hint_layers(config: JobConfig) -> tuple[str, str]:
    """(hint_layer, guided_layer) of the job: its settings, else the default of its data set's pair
    (:attr:`kdcore.data.pairs.DataPair.hint_layers`: MNIST the second conv block of both CNNs; MHIST the
    paper's middle of each network, the 14×14 maps, whose sizes match: a 1×1 conv regressor)."""
    hint, guided = data_pair(config.dataset).hint_layers
    return str(config.param("hint_layer", hint)), str(config.param("guided_layer", guided))


def build_fitnet(config: JobConfig, student: nn.Module, teacher: nn.Module | None) -> FitNetLoss:
    """Probes both models once to size the regressor. Layers default per pair (:func:`hint_layers`)."""
    if teacher is None:
        raise ConfigError("FitNets needs the teacher model (its hint layer) to build the regressor")
    hint_layer, guided_layer = hint_layers(config)
    shape = data_pair(config.dataset).input_shape
    f_s = probe(student, shape).features
    f_t = probe(teacher, shape).features
    for side, feats, name, param in (
        ("student", f_s, guided_layer, "guided_layer"),
        ("teacher", f_t, hint_layer, "hint_layer"),
    ):
        if name not in feats:
            raise ConfigError(f"FitNets: the {side} has no feature {name!r} ({param}); it has {sorted(feats)}")
    return FitNetLoss(
        student_shape=tuple(f_s[guided_layer].shape[1:]),
        teacher_shape=tuple(f_t[hint_layer].shape[1:]),
        hint_layer=hint_layer,
        guided_layer=guided_layer,
        beta=float(config.param("beta", DEFAULT_BETA)),
        temperature=config.temperature,
        alpha=config.alpha,
        stage1_epochs=int(config.param("fitnet_stage1_epochs", 0)),
    )


def _hint_epochs(config: JobConfig) -> tuple[int, str]:
    """(epochs FitNets' hint-only epochs count in, the setting that sets them). On the MHIST pair that is
    the fine-tuning stage (``stage2_epochs``): the head-only stage has no trainable input to the guided
    layer, so the hint does not run there (:meth:`~kdcore.losses.fitnet.FitNetLoss.logit_terms`)."""
    if data_pair(config.dataset).backbone_pair:
        return int(number(config, "stage2_epochs", MHIST_STAGE2_EPOCHS, integer=True)), "stage2_epochs"
    return config.epochs, "epochs"


def check_config(config: JobConfig) -> None:
    """The numeric settings, from the config alone: refused before the teacher trains."""
    number(config, "beta", DEFAULT_BETA)
    k = number(config, "fitnet_stage1_epochs", 0, integer=True)
    n, setting = _hint_epochs(config)
    if n < 1:
        raise ConfigError(f"fitnet: {setting}={n} leaves no epoch to train in; set {setting} >= 1")
    if k >= n:
        where = ": on MHIST they are the first fine-tuning epochs" if setting != "epochs" else ""
        raise ConfigError(
            f"fitnet: fitnet_stage1_epochs={k:g} hint-only epochs leave no epoch for the KD stage "
            f"({setting}={n}{where}); use fewer than {n}"
        )


def check_features(config: JobConfig, student: FeatureSide, teacher: FeatureSide) -> None:
    """The layer settings against what each network provides (probed, or the MHIST backbones' declared shapes)."""
    check_config(config)
    hint, guided = hint_layers(config)
    if data_pair(config.dataset).backbone_pair:
        hint_fix = " On the MHIST pair match two maps, e.g. hint_layer='map14', guided_layer='map14'."
    else:
        hint_fix = " For the fully connected student use a vector hint: hint_layer='fc', guided_layer='fc1'."
    try:
        require_feature(config, "student", student, guided, "guided_layer")
    except ConfigError as e:
        raise ConfigError(f"fitnet: {e}.{hint_fix if config.arch == 'student_mlp' else ''}") from None
    try:
        require_feature(config, "teacher", teacher, hint, "hint_layer")
    except ConfigError as e:
        raise ConfigError(f"fitnet: {e}") from None
    f_s, f_t = student.shapes[guided], teacher.shapes[hint]
    if len(f_s) != len(f_t) or len(f_s) not in (1, 3):
        raise ConfigError(
            f"fitnet: the guided layer {guided!r} {f_s} and the hint {hint!r} {f_t} must both be "
            "conv maps or both vectors (a 1×1 conv or a linear regressor joins them)." + hint_fix
        )


METHOD = Method(
    name="fitnet",
    params=("hint_layer", "guided_layer", "beta", "fitnet_stage1_epochs"),
    title="FitNets (hints)",
    summary="A regressor maps a student layer onto a teacher layer (the hint); hint loss β·½‖r(f_S)−f_T‖² "
    "plus Hinton KD, optionally after k hint-only epochs. On the fully connected student use a vector "
    "hint: hint_layer=fc, guided_layer=fc1.",
    loss=build_fitnet,
    loss_class=FitNetLoss,
    teacher_features=True,
    fc_student_ok=True,
    check_config=check_config,
    check_pair=on_probed_networks(check_features),
    student_defaults=StudentDefaults(arch="student_cnn"),  # conv-feature hints; the MLP gets a vector hint
    mhist_note="FitNets runs the teacher on every fine-tuning batch (about twice the time).",
    cost_rank=lambda c: 1 if c.arch == "student_cnn" else 5,
    # no feature maps in an MLP: the teacher's fc layer hints the student's first layer
    default_params=lambda student: dict(VECTOR_HINT) if student.arch == "student_mlp" else {},
)
