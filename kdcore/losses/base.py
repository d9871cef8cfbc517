"""What every distillation loss shares: the batch it sees.

A loss is an ``nn.Module`` whose ``forward(student_out, teacher_out, batch)`` returns a dict of
named, already-weighted terms (``{"ce": …, "kd": …}``). The training loop sums the dict and logs
each term; it never asks which method it is running (the mdistiller pattern).
"""

from __future__ import annotations

from typing import NamedTuple

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
