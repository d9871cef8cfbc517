"""The Learn page's attention-transfer comparison and FitNets hint curve (issue 5), from the shipped store.

The engine tests read ``assets/store`` (teacher + the seed-0 MNIST CNN students trained with attention
transfer and from scratch, whose weights ship for this demo) behind an empty user store; the "missing"
tests hide it. The export test checks that an entry shipped as JSON only gets its weights added later.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from apphelpers import open_page
from streamlit.testing.v1 import AppTest

from kdcore.config import JobConfig
from kdcore.losses.attention import AttentionTransfer
from kdcore.losses.features import parse_layer_pairs
from kdcore.methods.attention import at_layers
from kdcore.precompute import export, method_configs
from kdcore.store import ResultStore
from kdcore.views import learn, playground

MAKE = "precompute --only methods,export"


@pytest.fixture
def empty_env(shipped_env: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No shipped results either: a fresh install before ``precompute``."""
    shipped_env.setattr("kdcore.store.SHIPPED_STORE", tmp_path / "no-shipped-results")
    return shipped_env


# ---- engine ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_attention_comparison_rows_maps_and_distances(shipped_env: pytest.MonkeyPatch) -> None:
    cmp = learn.attention_comparison("mnist", index=0, n_mean=200)
    assert cmp.available, cmp.notice
    assert cmp.notice == ""
    assert list(cmp.maps) == list(learn.AT_ROWS) == list(cmp.models)
    assert cmp.layers == ["conv1", "conv2"]
    assert cmp.image.shape == (28, 28) and cmp.label.isdigit() and "stand-in" in cmp.data
    for layer, size in (("conv1", (25, 25)), ("conv2", (11, 11))):
        for row in learn.AT_ROWS:
            m = cmp.maps[row][layer]
            assert m.shape == size, (row, layer)  # same size as the teacher's: pictures line up
            assert m.min() >= 0.0 and m.max() == pytest.approx(1.0)
    d = cmp.distance
    assert list(d.columns) == ["model", "layer", "distance_image", "distance_mean"] and len(d) == 4
    assert set(d["model"]) == {"AT student", "scratch student"} and cmp.n_mean == 200
    assert ((d[["distance_image", "distance_mean"]] >= 0) & (d[["distance_image", "distance_mean"]] <= math.sqrt(2))).all().all()
    # The shipped data (MNIST-5k, seed 0): AT 0.134 / 0.155, scratch 0.320 / 0.279 (mean over 200 images)
    mean = d.set_index(["model", "layer"])["distance_mean"]
    for layer in cmp.layers:
        assert mean["AT student", layer] < mean["scratch student", layer], layer
    assert "closer" in cmp.summary and "not at" not in cmp.summary


def test_attention_distance_is_the_loss_term_on_that_image(shipped_env: pytest.MonkeyPatch) -> None:
    """The shown number is what attention transfer minimised: the loss's own AT term on the one image."""
    cmp = learn.attention_comparison("mnist", index=3, n_mean=50)
    teacher, at, _ = learn._at_students("mnist", None)
    _, _, x = playground.test_logits(teacher)
    loss = AttentionTransfer(parse_layer_pairs(at_layers(JobConfig.from_dict(at["config"]))))
    with torch.no_grad():
        xi = x[3:4].float()
        term = loss.at_term(playground.stored_model(at)(xi).features, playground.stored_model(teacher)(xi).features)
    shown = cmp.distance[cmp.distance["model"] == "AT student"]["distance_image"].sum()
    assert shown == pytest.approx(float(term), rel=1e-5)
    # an image past the averaged ones is still shown, and the mean does not change with it
    far = learn.attention_comparison("mnist", index=120, n_mean=50)
    assert far.index == 120
    np.testing.assert_allclose(far.distance["distance_mean"], cmp.distance["distance_mean"], rtol=1e-6)


def test_fitnet_hint_history_from_the_stored_result(shipped_env: pytest.MonkeyPatch) -> None:
    hint = learn.fitnet_hint_history()
    assert list(hint.columns) == ["data", "dataset", "epoch", "hint", "logged", "layers"]
    mnist = hint[hint["dataset"] == "mnist"]
    fitnet = next(c for c in method_configs("mnist", (0,)) if c.method == "fitnet" and c.arch == "student_cnn")
    assert list(mnist["epoch"]) == list(range(1, fitnet.epochs + 1))
    np.testing.assert_allclose(mnist["hint"] * 100.0, mnist["logged"])  # β = 100, no hint-only epochs
    assert mnist["hint"].iloc[-1] < mnist["hint"].iloc[0]  # the regression learns the hint
    assert set(mnist["layers"]) == {"teacher conv2 ← student conv2"}
    assert set(hint["dataset"]) <= {"mnist", "fashion_mnist"}


def _entry(key: str, acc: float, method: str, teacher_key: str | None, seed: int = 0, **cfg: object) -> dict:
    config = {"method": method, "seed": seed, "temperature": 1.0, "alpha": 1.0, "train_limit": None, **cfg}
    return {"key": key, "dataset": "mnist", "config": config, "teacher_key": teacher_key, "metrics": {"accuracy": acc}}


def test_born_again_generations_follow_each_chain_from_its_teacher() -> None:
    results = [
        _entry("ens", 0.93, "ban_ensemble", "g2"), _entry("g2", 0.92, "born_again", "g1"),
        _entry("t", 0.90, "scratch", None, temperature=4.0, alpha=0.5), _entry("g1", 0.91, "born_again", "t"),
        _entry("lab-g1", 0.95, "born_again", "t", temperature=4.0, alpha=0.5),  # not the paper's settings
        _entry("t1", 0.80, "scratch", None, seed=1), _entry("g1s1", 0.79, "born_again", "t1", seed=1),
        _entry("orphan", 0.70, "born_again", "gone", seed=2),  # its teacher is not stored
    ]
    ban = learn.born_again_generations(results)
    s0 = ban[ban["seed"] == 0]
    assert list(s0["step"]) == ["teacher (gen 0)", "gen 1", "gen 2", "BAN ensemble"]
    np.testing.assert_allclose(s0["accuracy"], [90.0, 91.0, 92.0, 93.0])
    np.testing.assert_allclose(s0["vs_teacher"], [0.0, 1.0, 2.0, 3.0])
    assert list(ban[ban["seed"] == 1]["step"]) == ["teacher (gen 0)", "gen 1"] and 2 not in set(ban["seed"])
    summary = learn.born_again_summary(ban)
    assert "gen 1 beats its teacher on 1 of 2 seeds" in summary and "BAN ensemble beats its teacher on 1 of 1" in summary
    assert summary.startswith("**Here 3 of 4 beat their teacher**")  # the paper's claim, as these seeds show it


def test_born_again_generations_of_the_shipped_mnist_chains(shipped_env: pytest.MonkeyPatch) -> None:
    ban = learn.born_again_generations()
    mnist = ban[ban["data"].str.startswith("MNIST")]
    assert sorted(set(mnist["seed"])) == [0, 1, 2]
    assert all(list(g["step"]) == list(learn.BAN_ORDER[:3]) + ["BAN ensemble"] for _, g in mnist.groupby("seed"))


def test_demos_say_how_to_make_missing_results(empty_env: pytest.MonkeyPatch) -> None:
    cmp = learn.attention_comparison("mnist")
    assert not cmp.available and MAKE in cmp.notice
    assert learn.fitnet_hint_history().empty and MAKE in learn.HINT_MISSING
    assert learn.born_again_generations().empty


# ---- export: weights for an entry shipped before it was wanted -------------------------------------------
def test_export_adds_weights_to_an_entry_shipped_without_them(tmp_path: Path) -> None:
    at_cfg = next(c for c in method_configs("mnist", (0,)) if c.method == "attention" and c.arch == "student_cnn")
    meta = {"name": "at", "dataset": "mnist", "config_key": at_cfg.key(), "created": "2026-01-01T00:00:00+00:00"}
    weights = {"conv1.weight": torch.arange(6.0).view(2, 3)}
    src = ResultStore(tmp_path / "work")
    src.put("k1", meta, {"weights": weights, "teacher_train_logits": {"z": torch.zeros(2)}})
    dst_root = tmp_path / "shipped"
    ResultStore(dst_root).put("k1", {**meta, "shipped_weights": False})  # shipped by an older rule
    assert export(src, dst_root) == 1
    dst = ResultStore(dst_root, readonly=True)
    entry = dst.get("k1")  # verifies every file's hash
    assert entry is not None and list(entry["files"]) == ["weights.safetensors"]  # never the cached logits
    assert entry["shipped_weights"] is True
    assert json.loads((dst_root / "objects" / "k1" / "result.json").read_text())["shipped_weights"] is True
    torch.testing.assert_close(dst.load_tensors("k1")["conv1.weight"], weights["conv1.weight"])
    assert export(src, dst_root) == 0  # idempotent
    assert sorted(p.name for p in (dst_root / "objects" / "k1").iterdir()) == ["MANIFEST.json", "result.json",
                                                                         "weights.safetensors"]


# ---- the Learn page ------------------------------------------------------------------------------------
def _learn_page() -> AppTest:
    return open_page("app_pages/learn.py")


def _map_captions(at: AppTest) -> list[str]:
    return [img.caption for el in at.get("image") for img in el.proto.imgs if " · conv" in img.caption]


@pytest.mark.slow
def test_learn_page_shows_three_rows_of_maps_and_the_hint_chart(shipped_env: pytest.MonkeyPatch) -> None:
    at = _learn_page()
    assert not at.error, [e.value for e in at.error]
    assert _map_captions(at) == [f"{row} · {layer}" for row in learn.AT_ROWS for layer in ("conv1", "conv2")]
    assert any(img.caption == "the test image" for el in at.get("image") for img in el.proto.imgs)
    assert any("closer to the teacher's" in m.value for m in at.markdown)
    assert any("here," in m.value and "mean" in m.value for m in at.markdown)  # the distances beside the rows
    assert any('"hint"' in c.proto.spec for c in at.get("vega_lite_chart"))
    assert any(learn.HINT_CAPTION == c.value for c in at.caption)
    assert any('"vs_teacher"' in c.proto.spec for c in at.get("vega_lite_chart"))  # the born-again generations
    assert any("beats its teacher on" in m.value for m in at.markdown)
    at.number_input(key="learn_at_index").set_value(5).run()
    assert not at.exception and not at.error
    assert any("test image 5 " in c.value for c in at.caption)
    assert len(_map_captions(at)) == 6


def test_learn_page_says_how_to_make_the_missing_students(empty_env: pytest.MonkeyPatch) -> None:
    at = _learn_page()
    assert not at.error
    infos = [i.value for i in at.info]
    assert learn.ATTENTION_MISSING in infos and learn.HINT_MISSING in infos and learn.BAN_MISSING in infos
    assert not _map_captions(at)
