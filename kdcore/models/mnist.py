"""The course's MNIST pair, exactly as the handout's notebooks build them, plus a small CNN student.

Every model returns a :class:`kdcore.models.ModelOutput` (logits + named features); see
``kdcore/models/__init__.py`` for the contract.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from kdcore.models.contract import ModelOutput


class TeacherCNN(nn.Module):
    """Course teacher: Conv(1,32,3)+ReLU → MaxPool(2, s=1) → Conv(32,64,3)+ReLU → MaxPool(2, s=2)
    → Flatten (7,744) → Dropout 0.5 → Linear 128 + ReLU → Dropout 0.5 → Linear 10.

    1,011,466 parameters. Features: ``conv1`` (N,32,25,25), ``conv2`` (N,64,11,11), ``fc`` (N,128).
    """

    feature_names = ("conv1", "conv2", "fc")

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3)
        self.pool1 = nn.MaxPool2d(2, stride=1)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.pool2 = nn.MaxPool2d(2, stride=2)
        self.drop1 = nn.Dropout(0.5)
        self.fc = nn.Linear(7744, 128)
        self.drop2 = nn.Dropout(0.5)
        self.head = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        c1 = self.pool1(torch.relu(self.conv1(x)))
        c2 = self.pool2(torch.relu(self.conv2(c1)))
        h = torch.relu(self.fc(self.drop1(c2.flatten(1))))
        logits = self.head(self.drop2(h))
        return ModelOutput(logits, {"conv1": c1, "conv2": c2, "fc": h})


class StudentMLP(nn.Module):
    """Course student: Flatten → [Linear h_i + ReLU]* → Linear 10. Default hidden (784, 784):
    1,238,730 parameters. Features: ``fc1`` … ``fcK`` (post-ReLU hidden activations)."""

    def __init__(self, hidden: Sequence[int] = (784, 784), num_classes: int = 10, in_features: int = 784) -> None:
        super().__init__()
        if len(hidden) == 0 or any(int(h) <= 0 for h in hidden):
            raise ValueError(f"hidden sizes must be a non-empty list of positive ints, got {list(hidden)}")
        layers: list[nn.Module] = []
        prev = in_features
        for h in hidden:
            layers.append(nn.Linear(prev, int(h)))
            prev = int(h)
        self.hidden_layers = nn.ModuleList(layers)
        self.head = nn.Linear(prev, num_classes)
        self.feature_names = tuple(f"fc{i + 1}" for i in range(len(hidden)))

    def forward(self, x: torch.Tensor) -> ModelOutput:
        h = x.flatten(1)
        feats: dict[str, torch.Tensor] = {}
        for name, layer in zip(self.feature_names, self.hidden_layers, strict=True):
            h = torch.relu(layer(h))
            feats[name] = h
        return ModelOutput(self.head(h), feats)


class StudentCNN(nn.Module):
    """A small CNN student (for methods that need spatial feature maps: FitNets, attention transfer).

    Conv(1,c,3)+ReLU → MaxPool(2,s=1) → Conv(c,2c,3)+ReLU → MaxPool(2,s=2) → Flatten → Linear 10.
    Its ``conv1``/``conv2`` maps have the teacher's spatial sizes (25×25, 11×11) so maps compare
    one to one. ``width`` c defaults to 8 (about 1/4 of the teacher's channels).
    """

    feature_names = ("conv1", "conv2")

    def __init__(self, width: int = 8, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        self.conv1 = nn.Conv2d(in_channels, width, 3)
        self.pool1 = nn.MaxPool2d(2, stride=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3)
        self.pool2 = nn.MaxPool2d(2, stride=2)
        self.head = nn.Linear(2 * width * 11 * 11, num_classes)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        c1 = self.pool1(torch.relu(self.conv1(x)))
        c2 = self.pool2(torch.relu(self.conv2(c1)))
        return ModelOutput(self.head(c2.flatten(1)), {"conv1": c1, "conv2": c2})
