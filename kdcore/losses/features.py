"""Small helpers shared by the feature-based losses (FitNets, attention transfer) and their checks.

A feature-based loss has to know the shapes of the features it compares before training starts
(FitNets builds its regressor from them; the checks refuse a flat feature where a spatial map is
needed). The model contract names the features but not their shapes, so we run the model once on
a dummy input and read them off.
"""

from __future__ import annotations

import torch
from torch import nn

from kdcore.models.contract import ModelOutput


@torch.no_grad()
def probe(model: nn.Module, shape: tuple[int, ...]) -> ModelOutput:
    """Run ``model`` once on two zero examples of ``shape`` and return its output.

    Batch of 2 (not 1) so BatchNorm layers in the MHIST backbones accept it; eval mode so the
    probe changes no running statistics. The model's training mode is restored afterwards.
    """
    was_training = model.training
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    model.eval()
    try:
        return model(torch.zeros((2, *shape), device=device))
    finally:
        model.train(was_training)


def parse_layer_pairs(spec: str) -> list[tuple[str, str]]:
    """Parse ``"conv1,conv2"`` or ``"conv1:conv1,conv2:c2"`` into (teacher, student) name pairs.

    A bare name means the same feature name on both sides.
    """
    pairs: list[tuple[str, str]] = []
    for item in str(spec).split(","):
        item = item.strip()
        if not item:
            continue
        t, _, s = item.partition(":")
        pairs.append((t.strip(), (s or t).strip()))
    return pairs
