"""Sparse regularisation: an L1 (lasso) penalty on a network's weights, added to any method's loss.

Tibshirani, "Regression Shrinkage and Selection via the Lasso", J. R. Statist. Soc. B 58(1), 1996; on neural networks
as the regulariser before pruning: Han, Pool, Tran & Dally, "Learning both Weights and Connections for Efficient
Neural Networks", NIPS 2015 (§3.1, L1 vs L2).
"""

from __future__ import annotations

import torch
from torch import nn

from kdcore.losses.base import Batch, EpochHook
from kdcore.models.contract import ModelOutput


class L1Penalty(nn.Module):
    r"""Another loss's terms plus an L1 penalty on the given weights.

    .. math:: \mathcal{L} = \mathcal{L}_\text{method} + \lambda \sum_{l} \sum_{i,j} \lvert W^{(l)}_{ij} \rvert

    over the weight tensors :math:`W^{(l)}` it is given (the student's Linear / Conv weights: biases and
    normalisation parameters are not penalised). The penalty's gradient :math:`\lambda\,\mathrm{sign}(w)` pulls every
    weight towards 0 with the same force, so weights the data do not need end up near zero, where a threshold
    (:func:`kdcore.metrics.weight_sparsity`) can remove them; an L2 penalty's pull fades as a weight shrinks.

    Args:
        loss: the method's loss (its terms are returned unchanged; ``"l1"`` is added). Registered, so parameters
            it has (FitNets' regressor) are optimised and checkpointed as before, and its epoch hook is passed on.
        weights: the tensors to penalise. Kept as a plain list, not registered: they are the network's own
            parameters, which the loop already optimises (registering them would hand them to Adam twice).
        weight: :math:`\lambda \ge 0`, applied to the sum (not the mean): doubling the network doubles the pull.
    """

    def __init__(self, loss: nn.Module, weights: list[torch.Tensor], weight: float) -> None:
        super().__init__()
        self.loss = loss
        self._weights = list(weights)
        self.weight = float(weight)

    def on_epoch_start(self, epoch: int) -> None:
        if isinstance(self.loss, EpochHook):
            self.loss.on_epoch_start(epoch)

    def forward(self, student_out: ModelOutput, teacher_out: ModelOutput | None, batch: Batch) -> dict[str, torch.Tensor]:
        terms = dict(self.loss(student_out, teacher_out, batch))
        terms["l1"] = self.weight * torch.stack([w.abs().sum() for w in self._weights]).sum()
        return terms
