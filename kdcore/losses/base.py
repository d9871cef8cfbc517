"""What every distillation loss shares: the batch it sees and the registry entry that describes it.

A loss is an ``nn.Module`` whose ``forward(student_out, teacher_out, batch)`` returns a dict of
named, already-weighted terms (``{"ce": …, "kd": …}``). The training loop sums the dict and logs
each term; it never asks which method it is running (the mdistiller pattern).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from kdcore.models.contract import ModelOutput


class Batch(NamedTuple):
    x: torch.Tensor  # inputs (N, C, H, W)
    y: torch.Tensor  # integer labels (N,)
    index: torch.Tensor  # positions of these examples in the training set (for cached targets)


# A builder gets the job config, the student and the teacher (None for label-only methods) and
# returns the loss module. Losses with trainable parts (FitNets' regressor) expose them as
# parameters of that module; the loop adds them to the optimiser.
LossBuilder = Callable[..., nn.Module]


@dataclass(frozen=True)
class LossSpec:
    """A registry entry.

    needs_teacher: the method distils from a trained teacher.
    teacher_features: the teacher must run on every batch (its features are needed); otherwise
        the loop feeds the teacher's cached training-set logits and never runs the teacher.
    title / summary: shown in the CLI and the app.
    fc_student_ok: works with the fully connected MNIST student (no spatial feature maps needed).
    trains: the job trains a network (and stores its weights); False for an evaluation-only
        procedure such as the born-again ensemble, whose result is computed from stored networks.
    """

    build: LossBuilder
    needs_teacher: bool
    title: str
    summary: str
    teacher_features: bool = False
    fc_student_ok: bool = True
    trains: bool = True


def teacher_logits(teacher_out: ModelOutput | None) -> torch.Tensor:
    if teacher_out is None:
        raise ValueError("this loss needs the teacher's output, got None")
    return teacher_out.logits
