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


def test_the_lab_says_so_on_any_two_class_data_set_and_only_there(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """A two-class folder of your own images gets DKD's two-class note under the lab's picker; ten classes do not; a
    colour folder gets a method's transfer-pair note (what it costs on ResNetV2-50 → MobileNetV2), as MHIST does."""
    import numpy as np
    from PIL import Image

    from kdcore.data.folder import register_folder
    from kdcore.views import lab

    monkeypatch.setenv("KD_DATA_DIR", str(tmp_path / "data"))
    grey, colour = tmp_path / "grey", tmp_path / "colour"
    rng = np.random.default_rng(0)
    for root, shape in ((grey, (8, 8)), (colour, (40, 50, 3))):
        for cls in ("a", "b"):
            (root / cls).mkdir(parents=True)
            for i in range(3):
                Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(root / cls / f"{i}.png")
    two = register_folder(grey).name
    assert lab.method_note("dkd", two) == get_method("dkd").two_class_note
    assert lab.method_note("hinton", two) is None and lab.method_note("dkd", "mnist") is None
    transfer = register_folder(colour).name
    assert lab.method_note("fitnet", transfer) == get_method("fitnet").mhist_note
    assert lab.method_note("dkd", transfer) == get_method("dkd").two_class_note  # said once, not twice
