"""Shared helpers of the methods' checks: what a network provides, as the checks see it.

Each method's own checks live in its module (:mod:`kdcore.methods.fitnet` …) and are named by its
:class:`~kdcore.methods.base.Method`; :func:`kdcore.methods.check_method_fits` runs them. They see
the built networks (or, for the MHIST backbones, their declared feature shapes), so they can say
"the fully connected student has no spatial feature maps" or "the teacher has no feature 'conv3'"
with the fix, instead of a ``KeyError`` deep inside the first batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from kdcore.config import ConfigError, JobConfig
from kdcore.data.pairs import data_pair
from kdcore.losses.features import probe
from kdcore.models.contract import feature_names

MHIST_MAPS_NOTE = " (the MHIST pair's spatial maps are named by their side at 224×224 input: map28, map14, map7)"


def _features(model: nn.Module, config: JobConfig) -> dict[str, tuple[int, ...]]:
    """Feature name -> shape of one example, from one probe run (names as the model declares them)."""
    out = probe(model, data_pair(config.dataset).input_shape)
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


def require_feature(config: JobConfig, side: str, net: FeatureSide, name: str, setting: str) -> None:
    if name not in net.names or name not in net.shapes:
        note = MHIST_MAPS_NOTE if data_pair(config.dataset).backbone_pair else ""
        raise ConfigError(
            f"the {side} ({net.label}) has no feature {name!r} (setting {setting!r}); "
            f"it provides {', '.join(net.names) or 'no features'}{note}"
        )


def output_width(model: nn.Module, config: JobConfig) -> int:
    """How many outputs ``model`` has (one probe run)."""
    return int(probe(model, data_pair(config.dataset).input_shape).logits.shape[1])


FeatureCheck = Callable[[JobConfig, FeatureSide, FeatureSide], None]


def on_probed_networks(check: FeatureCheck) -> Callable[[JobConfig, nn.Module, nn.Module | None], None]:
    """A feature method's settings check (against feature shapes) as a check of two built networks,
    whose shapes one probe run reads off."""
    def check_pair(config: JobConfig, student: nn.Module, teacher: nn.Module | None) -> None:
        check(config, FeatureSide.probed(student, config), FeatureSide.probed(teacher, config))  # type: ignore[arg-type]
    return check_pair
