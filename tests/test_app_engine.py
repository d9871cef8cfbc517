"""The app's engine modules (kdcore.views.playground, results, lab, learn) on small hand-made inputs."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from kdcore import course
from kdcore.config import ConfigError
from kdcore.methods import METHODS
from kdcore.views import lab, learn, playground, results


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_prepare_image_inverts_light_background_and_centres_the_ink() -> None:
    img = Image.new("RGB", (120, 90), "white")
    ImageDraw.Draw(img).rectangle([5, 10, 25, 60], fill="black")  # a dark bar near the left edge
    out = playground.prepare_image(_png(img))
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert out.max() == pytest.approx(1.0) and out[0, 0] == 0.0  # white ink on black, like MNIST
    ys, xs = np.nonzero(out > 0.5)
    assert ys.max() - ys.min() + 1 == 20  # the longer side scaled to 20 px
    cy, cx = (np.arange(28) @ out.sum(1)) / out.sum(), (np.arange(28) @ out.sum(0)) / out.sum()
    assert abs(cy - 13.5) <= 1.0 and abs(cx - 13.5) <= 1.0  # centre of mass in the middle


def test_prepare_image_canvas_rgba_and_errors() -> None:
    rgba = np.zeros((200, 200, 4), np.uint8)  # a canvas: transparent, with white strokes
    rgba[40:160, 90:110] = 255
    out = playground.prepare_image(rgba)
    assert out.max() == pytest.approx(1.0) and out[0].sum() == 0.0
    with pytest.raises(playground.ImageError, match="could not be read"):
        playground.prepare_image(b"definitely not a picture")
    with pytest.raises(playground.ImageError, match="blank"):
        playground.prepare_image(_png(Image.new("L", (50, 50), 255)))


def test_softening_entropy_and_dark_knowledge_by_hand() -> None:
    z = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [1.0, 1.0, 1.0]])
    y = torch.tensor([0, 1, 0])
    p = playground.soften(z, 2.0)
    e = math.exp(1.0)
    assert p[0].tolist() == pytest.approx([e / (e + 2), 1 / (e + 2), 1 / (e + 2)], abs=1e-6)
    assert float(playground.entropy_bits(playground.soften(z[2], 5.0))) == pytest.approx(math.log2(3), abs=1e-5)
    dk = playground.dark_knowledge(z, y, 2.0, ["a", "b", "c"])
    row_a = dk[dk["true"] == "a"].set_index("class")["prob"]
    assert row_a["a"] == pytest.approx(float((p[0, 0] + p[2, 0]) / 2), abs=1e-6)
    assert dk.groupby("true")["prob"].sum()[["a", "b"]].tolist() == pytest.approx([1.0, 1.0], abs=1e-5)
    assert dk[dk["true"] == "c"]["prob"].isna().all()  # no test image of class c: undefined, not 0
    assert dk[(dk["true"] == "b") & (dk["class"] == "b")]["prob_offdiag"].isna().all()


def _result(key: str, seed: int, acc: float, method: str = "hinton", standin: bool = True) -> dict:
    teacher = {"dataset": "mnist", "arch": "teacher_cnn", "method": "scratch", "seed": seed, "teacher": None}
    cfg = {"dataset": "mnist", "arch": "student_mlp", "hidden": [32], "method": method, "temperature": 4.0,
           "alpha": 0.5, "seed": seed, "epochs": 1, "teacher": teacher if method != "scratch" else None}
    return {"key": key, "name": key, "config": cfg, "dataset": "mnist", "data_source": "MNIST-5k subset",
            "data_source_id": "mnist-5k", "is_standin": standin, "n_train": 100, "n_test": 50,
            "metrics": {"accuracy": acc, "macro_f1": acc, "f1": acc, "auc": None, "confusion": [[1, 0], [0, 1]]},
            "complexity": {"flops": 2000, "macs": 1000, "params": 10, "latency_ms": 0.1, "weights_bytes": 40}}


def test_results_group_seeds_and_say_stand_in() -> None:
    runs = results.results_frame([_result("a", 0, 0.80), _result("b", 1, 0.90), _result("c", 0, 0.70, "scratch")])
    assert runs["data"].str.contains("stand-in").all()
    assert math.isnan(runs.loc[runs["method"] == "scratch", "T"].iloc[0])  # no T without a teacher
    summary = results.summary_frame(runs)
    kd = summary[summary["method"] == "hinton"].iloc[0]
    assert kd["seeds"] == 2 and kd["accuracy_mean"] == pytest.approx(0.85)
    assert kd["accuracy_std"] == pytest.approx(np.std([0.8, 0.9], ddof=1))
    table = results.display_table(summary)
    assert table.loc[table["role"] == "KD student", "accuracy %"].iloc[0] == "85.00 ± 7.07"
    csv = results.to_csv(runs).decode()
    assert csv.splitlines()[0].split(",")[:3] == ["name", "dataset", "data"] and "mnist-5k" not in csv.splitlines()[0]


def test_parse_hidden_and_tiny_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    assert lab.parse_hidden(" 784, 784 ") == (784, 784)
    for bad in ("", "a,b", "0", "784,-1"):
        with pytest.raises(ConfigError, match="hidden sizes"):
            lab.parse_hidden(bad)
    monkeypatch.setenv("KD_APP_TINY", "100,50,2")
    assert lab.tiny_caps() == lab.TinyCaps(100, 50, 2)
    cfg = course.lab_job("mnist", "hinton", "32", epochs=12)
    assert (cfg.train_limit, cfg.test_limit, cfg.epochs) == (100, 50, 2)
    assert cfg.teacher is not None and cfg.teacher.train_limit == 100
    monkeypatch.setenv("KD_APP_TINY", "0")
    assert lab.tiny_caps() is None


def test_method_catalog_reads_every_registry_entry() -> None:
    catalog = {m.key: m for m in learn.method_catalog()}
    assert set(catalog) == set(METHODS)
    assert "class HintonKD" in catalog["hinton"].code and "1503.02531" in catalog["hinton"].citation
    assert any(r"\alpha" in eq for eq in catalog["hinton"].equations)
    doc = """Intro.

    .. math::
        a = b
            + c

    After."""
    assert learn._math_blocks(doc) == ["a = b + c"]
