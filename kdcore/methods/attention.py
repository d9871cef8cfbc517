"""Attention transfer (Zagoruyko & Komodakis, ICLR 2017): match normalised spatial attention maps."""

from __future__ import annotations

from torch import nn

from kdcore.config import ConfigError, JobConfig
from kdcore.data.pairs import data_pair
from kdcore.losses.attention import AttentionTransfer
from kdcore.losses.features import parse_layer_pairs
from kdcore.methods.base import Method, StudentDefaults, number
from kdcore.methods.checks import FeatureSide, on_probed_networks, require_feature


def at_layers(config: JobConfig) -> str:
    """The job's ``at_layers`` setting, else the default of its data set's pair
    (:attr:`kdcore.data.pairs.DataPair.at_layers`; MHIST: the backbones' three resolutions, as the authors
    match each group output of their WRN pairs)."""
    return str(config.param("at_layers", data_pair(config.dataset).at_layers))


def build_attention(config: JobConfig, student: nn.Module, teacher: nn.Module | None) -> AttentionTransfer:
    """Method params: ``at_layers`` ("conv1,conv2" or "t1:s1,t2:s2"; default per pair, see :func:`at_layers`),
    ``beta``, ``at_p``."""
    return AttentionTransfer(
        layer_pairs=parse_layer_pairs(at_layers(config)),
        beta=float(config.param("beta", 1.0)),
        p=float(config.param("at_p", 2.0)),
        temperature=config.temperature,
        alpha=config.alpha,
    )


def check_config(config: JobConfig) -> None:
    """The numeric settings, from the config alone: refused before the teacher trains."""
    number(config, "beta", 1.0)
    if number(config, "at_p", 2.0) <= 0:
        raise ConfigError("attention: at_p must be > 0 (the paper uses 2)")


def check_features(config: JobConfig, student: FeatureSide, teacher: FeatureSide) -> None:
    check_config(config)
    pairs = parse_layer_pairs(at_layers(config))
    if not pairs:
        default = data_pair(config.dataset).at_layers
        raise ConfigError(f"attention: at_layers names no layers; e.g. {default!r} or "
                          f"'{default.split(',')[-1]}:{default.split(',')[-1]}'")
    for t_name, s_name in pairs:
        try:
            require_feature(config, "teacher", teacher, t_name, "at_layers")
            require_feature(config, "student", student, s_name, "at_layers")
        except ConfigError as e:
            raise ConfigError(f"attention: {e}") from None
        for side, name, shape in (("teacher", t_name, teacher.shapes[t_name]), ("student", s_name, student.shapes[s_name])):
            if len(shape) != 3:
                raise ConfigError(
                    f"attention: the {side}'s feature {name!r} has shape {shape}, not a spatial map (C, H, W); "
                    "attention transfer needs conv features on both sides"
                )


METHOD = Method(
    name="attention",
    params=("at_layers", "beta", "at_p"),
    title="Attention transfer",
    summary="Match the teacher's normalised spatial attention maps Σ_c|A_c|² layer by layer (+ CE, + KD if "
    "alpha > 0). Needs spatial feature maps: CNN students only.",
    loss=build_attention,
    loss_class=AttentionTransfer,
    teacher_features=True,
    fc_student_ok=False,
    check_config=check_config,
    check_pair=on_probed_networks(check_features),
    student_defaults=StudentDefaults(arch="student_cnn", alpha=0.0),  # AT alone, as measured
    mhist_note="Attention transfer runs the teacher on every fine-tuning batch (about twice the time).",
    cost_rank=lambda c: 1 if c.arch == "student_cnn" else 5,
)
