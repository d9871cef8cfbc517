"""Sparse regularisation (issue 25's fifth family): an L1 penalty as a setting of any student job — in its key only when
non-zero, added as a loss term of its own (λ·Σ|w| over the Linear/Conv weights), refused where it cannot apply — and
its deploy figures from an ``onnx`` job that zeroes the weights below a stated threshold, measured against the same
student trained without the penalty."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from kdcore.config import ConfigError, JobConfig
from kdcore.course import compress_job, course_student
from kdcore.losses.base import Batch
from kdcore.losses.scratch import CrossEntropy
from kdcore.losses.sparse import L1Penalty
from kdcore.methods import build_loss
from kdcore.metrics import ZERO_THRESHOLD, weight_sparsity
from kdcore.models.contract import ModelOutput, layer_weights

TINY = {"train_limit": 256, "test_limit": 128, "epochs": 1, "hidden": (16,)}


def kd_student(**over: object) -> JobConfig:
    kd = course_student("mnist", "hinton", seed=0, **TINY, **over)
    return kd.replace(teacher=kd.teacher.replace(train_limit=256, test_limit=128, epochs=1))


# ---- fast: the maths, the keys, the refusals ----------------------------------------------------------------------
def test_penalty_is_lambda_times_the_sum_of_absolute_weights_and_leaves_the_method_terms_alone():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.BatchNorm1d(8), nn.Linear(8, 3))
    loss = L1Penalty(CrossEntropy(), layer_weights(net), 0.5)
    x, y = torch.randn(4, 1, 4, 4), torch.tensor([0, 1, 2, 0])
    out = ModelOutput(net(x), {})
    terms = loss(out, None, Batch(x, y, torch.arange(4)))
    want = 0.5 * (net[0].weight.abs().sum() + net[3].weight.abs().sum())  # no biases, no BatchNorm
    assert set(terms) == {"ce", "l1"} and torch.allclose(terms["l1"], want)
    assert torch.allclose(terms["ce"], CrossEntropy()(out, None, Batch(x, y, torch.arange(4)))["ce"])
    assert list(loss.parameters()) == []  # the network's weights are not handed to the optimiser a second time
    sum(terms.values()).backward()
    assert net[3].weight.grad is not None


def test_build_loss_adds_the_penalty_only_when_asked():
    from kdcore.models import build_model

    cfg = course_student("mnist", "scratch", **TINY)
    model = build_model(cfg, 10)
    assert isinstance(build_loss(cfg, model, None), CrossEntropy)
    penalised = build_loss(cfg.replace(l1=1e-4), model, None)
    assert isinstance(penalised, L1Penalty) and penalised.weight == 1e-4


def test_l1_is_in_the_key_and_dict_only_when_non_zero():
    kd = kd_student()
    sparse = kd.replace(l1=1e-4)
    assert sparse.key() != kd.key() and sparse.to_dict()["l1"] == 1e-4
    assert JobConfig.from_dict(sparse.to_dict()) == sparse and "+L1=0.0001" in sparse.short_name()
    assert sparse.teacher == kd.teacher  # the teacher is not penalised


@pytest.mark.parametrize(("change", "words"), [
    ({"l1": -1e-4}, "L1 weight must be a number in"),
    ({"l1": float("nan")}, "L1 weight must be a number in"),
    ({"l1": 2.0}, "L1 weight must be a number in"),
])
def test_bad_l1_refused(change, words):
    from kdcore.methods import validate

    with pytest.raises(ConfigError, match=words):
        validate(kd_student().replace(**change))


def test_l1_refused_where_the_one_loop_does_not_train_the_student():
    from kdcore.methods import validate

    mhist = course_student("mhist_synthetic", "scratch").replace(l1=1e-4)
    with pytest.raises(ConfigError, match="two-stage transfer schedule"):
        validate(mhist)


def test_zero_below_needs_an_l1_trained_start_and_a_sane_threshold():
    with pytest.raises(ConfigError, match="trained with an L1 penalty"):
        compress_job(kd_student(), "onnx", zero_below=1e-3)
    with pytest.raises(ConfigError, match="zero_below must be within"):
        compress_job(kd_student(l1=1e-4), "onnx", zero_below=2.0)
    plain = compress_job(kd_student(), "onnx")
    assert plain.compress == (("transform", "onnx"),) and plain.l1 == 0.0  # the export jobs keep their keys
    job = compress_job(kd_student(l1=1e-4), "onnx", zero_below=1e-3)
    assert job.l1 == 0.0 and job.start_from.l1 == 1e-4  # no fine-tune: the job itself carries no penalty
    tuned = compress_job(kd_student(l1=1e-4), "prune", sparsity=0.5, finetune_epochs=1)
    assert tuned.l1 == 1e-4  # a fine-tune of an L1-trained start keeps its penalty


def test_weight_sparsity_names_its_threshold():
    net = nn.Linear(4, 2, bias=True)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[0.0, 5e-4, -2e-3, 1.0], [0.0, 0.0, 1e-3, -1.0]]))
        net.bias.fill_(0.0)  # biases are not counted
    got = weight_sparsity(net)
    assert got["threshold"] == ZERO_THRESHOLD == 1e-3 and got["weights"] == 8
    assert got["share_below_threshold"] == pytest.approx(4 / 8) and got["share_exactly_zero"] == pytest.approx(3 / 8)


def test_family_and_labels_of_sparse_results():
    from kdcore.compress.results import chain_label, start_label
    from kdcore.compress.transforms import family

    kd, scratch = kd_student(l1=1e-4), course_student("mnist", "scratch", **TINY, l1=1e-4)
    onnx = [{"transform": "onnx", "zero_below": 1e-3}]
    assert family(onnx, kd) == family(onnx, scratch) == "sparse regularisation"
    assert family([{"transform": "onnx"}], kd.replace(l1=0.0)) == "distillation"
    assert family([{"transform": "int8"}], kd) == "stack"
    record = {"config": compress_job(kd, "onnx", zero_below=1e-3).to_dict(),
              "compression": {"chain": onnx, "l1": 1e-4}}
    assert chain_label(record) == "L1 λ = 0.0001 training → |w| < 0.001 set to 0, ONNX float32"
    assert start_label(record) == "KD student (hinton)"


# ---- slow: the jobs run ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_sparse_student_and_its_export_through_the_runner(tmp_path, monkeypatch):
    from kdcore.compress.results import family_rows
    from kdcore.jobs.runner import reset_runner
    from kdcore.jobs.submit import run_through_runner
    from kdcore.store import open_store
    from kdcore.train import job_key
    from kdcore.views.compress import Settings, compression_job, rows, tradeoff

    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path))
    monkeypatch.setattr("kdcore.store.SHIPPED_STORE", tmp_path / "no-shipped-results")
    reset_runner()
    try:
        sparse = kd_student(l1=1e-3)
        trained = run_through_runner(sparse)
        assert trained["sparsity"]["threshold"] == ZERO_THRESHOLD and trained["sparsity"]["l1"] == 1e-3
        assert trained["history"][-1]["loss_l1"] > 0  # the penalty was a term of the loss the loop summed
        job = compress_job(sparse, "onnx", zero_below=ZERO_THRESHOLD)
        # the Compress page with no transform ticked builds the same job for an L1-trained start
        assert compression_job(Settings(start_key=trained["key"])) == job
        r = run_through_runner(job)
        twin_key = job_key(sparse.replace(l1=0.0))
        assert r["reference"]["key"] == twin_key and r["compression"]["start_key"] == job_key(sparse)
        assert open_store().get(twin_key, need_weights=True) is not None  # the twin was trained to measure against
        assert r["compression"]["family"] == "sparse regularisation" and r["compression"]["l1"] == 1e-3
        sp = r["compression"]["sparsity"]
        assert sp["threshold"] == ZERO_THRESHOLD
        assert r["deploy"]["weight_zero_share"] == pytest.approx(sp["share_below_threshold"])
        assert r["deploy"]["weight_zero_share"] >= trained["sparsity"]["share_below_threshold"] - 1e-9
        assert r["deploy"]["same_predictions"]  # float32 ONNX = the thresholded PyTorch network
        frame = rows([r])
        assert set(frame["family"]) == {"sparse regularisation", "uncompressed"}
        assert "|w| < 0.001 set to 0" in frame[frame["family"] == "sparse regularisation"]["model"].iloc[0]
        assert "|w| < 0.001 set to exactly 0" in tradeoff("mnist").caption  # the page names the threshold
        (row,) = family_rows("mnist", open_store())
        assert row["family"] == "sparse regularisation" and row["chain"].startswith("L1 λ = 0.001 training")
    finally:
        reset_runner()
