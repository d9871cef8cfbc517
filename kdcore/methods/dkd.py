"""Decoupled KD (Zhao et al., CVPR 2022): KD split into target-class and non-target-class parts."""

from __future__ import annotations

from kdcore.config import JobConfig
from kdcore.losses.dkd import DecoupledKD
from kdcore.methods.base import Method, number

SETTINGS = (("dkd_alpha", 1.0), ("dkd_beta", 8.0), ("dkd_ce_weight", 1.0))


def build_dkd(config: JobConfig, student: object, teacher: object) -> DecoupledKD:
    """Method params: ``dkd_alpha``, ``dkd_beta``, ``dkd_warmup``, ``dkd_ce_weight``."""
    return DecoupledKD(
        alpha=float(config.param("dkd_alpha", 1.0)),
        beta=float(config.param("dkd_beta", 8.0)),
        temperature=config.temperature,
        warmup_epochs=int(config.param("dkd_warmup", 0)),
        ce_weight=float(config.param("dkd_ce_weight", 1.0)),
    )


def check_config(config: JobConfig) -> None:
    for name, default in SETTINGS:
        number(config, name, default)
    number(config, "dkd_warmup", 0, integer=True)


METHOD = Method(
    name="dkd",
    params=("dkd_alpha", "dkd_beta", "dkd_warmup", "dkd_ce_weight"),
    title="Decoupled KD (DKD)",
    summary="KD split into target-class (TCKD, weight dkd_alpha) and non-target-class (NCKD, weight "
    "dkd_beta) parts, plus CE; alpha is not used.",
    loss=build_dkd,
    loss_class=DecoupledKD,
    check_config=check_config,
    mhist_note="",
)
