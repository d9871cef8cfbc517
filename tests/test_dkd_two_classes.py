"""With two classes DKD's non-target part is identically zero (the MHIST pair): the DKD Method says so on the MHIST
page (its ``mhist_note``), and the maths agrees."""

from __future__ import annotations

import torch

from kdcore.losses.dkd import nckd, tckd
from kdcore.methods import get_method


def test_two_classes_leave_dkd_nothing_but_its_target_part() -> None:
    g = torch.Generator().manual_seed(0)
    student, teacher = 5 * torch.randn(64, 2, generator=g), 5 * torch.randn(64, 2, generator=g)
    y = torch.randint(0, 2, (64,), generator=g)
    assert float(nckd(student, teacher, y, 4.0).abs()) < 1e-6  # whatever the logits
    assert float(tckd(student, teacher, y, 4.0)) > 0  # the target-class part still teaches
    ten = 5 * torch.randn(64, 10, generator=g), 5 * torch.randn(64, 10, generator=g)
    assert float(nckd(ten[0], ten[1], torch.randint(0, 10, (64,), generator=g), 4.0)) > 0  # unlike ten classes
    note = get_method("dkd").mhist_note or ""
    assert "identically zero" in note and "TCKD" in note
