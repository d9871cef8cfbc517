"""Model registry: an explicit dict from ``JobConfig.arch`` to a builder.

MNIST-style datasets (MNIST, Fashion-MNIST) use 1×28×28 inputs and 10 classes. MHIST builders
live in :mod:`kdcore.models.mhist` (ImageNet-pretrained backbones, 224×224 RGB, 2 classes).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from kdcore.config import JobConfig
from kdcore.models.contract import ModelOutput, feature_names
from kdcore.models.mnist import StudentCNN, StudentMLP, TeacherCNN


def _mhist(arch: str) -> Callable[[JobConfig, int], nn.Module]:
    def build(config: JobConfig, num_classes: int) -> nn.Module:
        from kdcore.models import mhist  # torchvision/timm backbones: imported only when needed

        return mhist.build_backbone_model(arch, num_classes=num_classes, config=config)

    return build


MODELS: dict[str, Callable[[JobConfig, int], nn.Module]] = {
    "teacher_cnn": lambda c, n: TeacherCNN(num_classes=n),
    "student_mlp": lambda c, n: StudentMLP(hidden=c.hidden, num_classes=n),
    "student_cnn": lambda c, n: StudentCNN(width=int(c.param("width", 8)), num_classes=n),
    "resnetv2_50": _mhist("resnetv2_50"),
    "mobilenet_v2": _mhist("mobilenet_v2"),
    "resnet18": _mhist("resnet18"),
}


def build_model(config: JobConfig, num_classes: int) -> nn.Module:
    """A freshly initialised network for ``config.arch`` (seed the RNG before calling)."""
    return MODELS[config.arch](config, num_classes)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["MODELS", "ModelOutput", "build_model", "count_params", "feature_names"]
