"""What every distillation loss shares: the batch it sees, and the protocol the training loop talks to it by.

A loss is an ``nn.Module`` whose ``forward(student_out, teacher_out, batch)`` returns a dict of
named, already-weighted terms (``{"ce": …, "kd": …}``): :class:`KDLoss`. The training loop sums the dict and logs
each term; it never asks which method it is running (the mdistiller pattern). Two optional parts, each a
:class:`typing.Protocol` of its own, are all else the loop and the MHIST schedule ever call:

- :class:`EpochHook` — ``on_epoch_start(epoch)``, called by the loop before each epoch (counting from 0): a loss
  whose weights change over training (DKD's warm-up, FitNets' hint-only epochs).
- :class:`LogitTerms` — ``logit_terms(student_out, teacher_out, batch)``: the terms that read logits only, for the
  MHIST schedule's head-only stage, where the compared feature maps are not computed (FitNets, attention).

:func:`check_loss_class` checks a loss class against them where its :class:`~kdcore.methods.Method` is built, so a
misspelt hook or a wrong signature fails at import, not silently at epoch 0.
"""

from __future__ import annotations

import inspect
from typing import NamedTuple, Protocol, runtime_checkable

import torch

from kdcore.models.contract import ModelOutput


class Batch(NamedTuple):
    x: torch.Tensor  # inputs (N, C, H, W)
    y: torch.Tensor  # integer labels (N,)
    index: torch.Tensor  # positions of these examples in the training set (for cached targets)


def teacher_logits(teacher_out: ModelOutput | None) -> torch.Tensor:
    if teacher_out is None:
        raise ValueError("this loss needs the teacher's output, got None")
    return teacher_out.logits


@runtime_checkable
class KDLoss(Protocol):
    """Every loss: ``forward`` returns named, already-weighted terms; the loop sums them."""

    def forward(self, student_out: ModelOutput, teacher_out: ModelOutput | None, batch: Batch) -> dict[str, torch.Tensor]:
        ...


@runtime_checkable
class EpochHook(Protocol):
    """A loss whose weighting depends on the epoch: the loop calls this before each epoch (``epoch`` from 0)."""

    def on_epoch_start(self, epoch: int) -> None:
        ...


@runtime_checkable
class LogitTerms(Protocol):
    """A feature loss's terms that read logits only (the feature terms reported as 0, for stable columns)."""

    def logit_terms(self, student_out: ModelOutput, teacher_out: ModelOutput | None,
                    batch: Batch) -> dict[str, torch.Tensor]:
        ...


# each protocol method: the number of arguments it takes after self
_ARITY = {"forward": 3, "on_epoch_start": 1, "logit_terms": 3}
# names a loss might mean as a hook but that the loop never calls: a near miss is refused, not ignored
_NEAR_MISSES = {"on_epoch_begin": "on_epoch_start", "on_epoch_end": "on_epoch_start", "epoch_start": "on_epoch_start",
                "logits_terms": "logit_terms", "logit_term": "logit_terms"}


def check_loss_class(cls: type, owner: str, *, needs_logit_terms: bool = False) -> None:
    """Raise TypeError naming ``owner`` (the method) when ``cls`` does not keep the loss protocol: not an
    ``nn.Module`` with :class:`KDLoss`'s ``forward``; a hook of :class:`EpochHook` / :class:`LogitTerms` with the
    wrong arguments, or a near-miss name the loop would never call; no ``logit_terms`` though ``needs_logit_terms``
    (a feature method offered on the MHIST pair, whose head-only stage calls it)."""
    from torch import nn

    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"{owner}: loss_class {cls!r} is not an nn.Module subclass (kdcore/losses/base.py: KDLoss)")
    for name, arity in _ARITY.items():
        fn = getattr(cls, name, None)
        if fn is None or (name == "forward" and fn is nn.Module.forward):
            if name == "forward":
                raise TypeError(f"{owner}: {cls.__name__} has no forward(student_out, teacher_out, batch)")
            continue
        params = [q for q in inspect.signature(fn).parameters.values()
                  if q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD)][1:]  # after self
        required = [q for q in params if q.default is q.empty]
        if not len(required) <= arity <= len(params):
            raise TypeError(f"{owner}: {cls.__name__}.{name} must take {arity} argument(s) after self "
                            f"(kdcore/losses/base.py), it takes {len(params)}")
    for wrong, right in _NEAR_MISSES.items():
        if hasattr(cls, wrong):
            raise TypeError(f"{owner}: {cls.__name__}.{wrong} is never called; the loop's hook is {right} "
                            "(kdcore/losses/base.py)")
    if needs_logit_terms and not issubclass(cls, LogitTerms):
        raise TypeError(f"{owner}: {cls.__name__} has no logit_terms(student_out, teacher_out, batch), which the "
                        "MHIST schedule's head-only stage calls for a feature method (kdcore/train/transfer.py)")
