"""The model-output contract every kdcore network follows.

``model(x)`` returns ``ModelOutput(logits, features)``:

- ``logits``: ``(N, num_classes)`` float tensor, before any softmax.
- ``features``: a dict of named intermediate activations (post-activation). Each model class lists
  the names it provides in ``feature_names``; a method that needs a feature (FitNets' hint layer,
  attention transfer's maps) checks it when the job is built, so a mismatch fails before training.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class ModelOutput(NamedTuple):
    logits: torch.Tensor
    features: dict[str, torch.Tensor]


def feature_names(model: torch.nn.Module) -> tuple[str, ...]:
    """The feature names ``model`` promises (empty when it declares none)."""
    return tuple(getattr(model, "feature_names", ()))


# The layers whose weights sparsity is about: the L1 penalty's sum, pruning and weight sharing, the zero shares a
# result reports (their biases and normalisation parameters are left alone).
WEIGHT_LAYERS = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d)


def layer_weights(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The weight tensor of every :data:`WEIGHT_LAYERS` layer of ``model``."""
    return [m.weight for m in model.modules() if isinstance(m, WEIGHT_LAYERS)]
