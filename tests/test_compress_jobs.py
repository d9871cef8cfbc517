"""Compression jobs (kdcore.compress): keyed by transform + start key, refused before any work on bad settings, run
through the one submit path (the start model trained first, as a job of its own), served from the store on
re-submission, and their stored ONNX file scores what the result records in a fresh ONNX Runtime session."""

from __future__ import annotations

import pytest
import torch

from kdcore.config import ConfigError, JobConfig
from kdcore.course import compress_job, compression_chain, compression_suite, course_student
from kdcore.data.pairs import data_pair
from kdcore.metrics import ZERO_THRESHOLD

TINY = {"train_limit": 256, "test_limit": 128, "epochs": 1, "hidden": (16,)}


def kd_student() -> JobConfig:
    kd = course_student("mnist", "hinton", seed=0, **TINY)
    return kd.replace(teacher=kd.teacher.replace(train_limit=256, test_limit=128, epochs=1))


# ---- fast: keys and refusals (no work) --------------------------------------------------------------------------
def test_training_configs_keep_their_keys_and_dicts():
    kd = kd_student()
    assert "start_from" not in kd.to_dict() and "compress" not in kd.to_dict() and "l1" not in kd.to_dict()
    assert kd.replace(l1=0.0).key() == kd.key() and kd.replace(l1=0).to_dict() == kd.to_dict()
    job = compress_job(kd, "prune", sparsity=0.5, finetune_epochs=1)
    assert JobConfig.from_dict(job.to_dict()) == job
    assert JobConfig.from_dict(job.to_dict()).key() == job.key()


def test_keyed_by_transform_and_start():
    kd = kd_student()
    a = compress_job(kd, "prune", sparsity=0.5)
    assert a.key() == compress_job(kd, "prune", sparsity=0.5).key()
    assert a.key() != compress_job(kd, "prune", sparsity=0.9).key()
    assert a.key() != compress_job(kd.replace(seed=1, teacher=kd.teacher.replace(seed=1)), "prune", sparsity=0.5).key()
    assert a.key() != compress_job(kd, "share", bits=4).key()
    assert a.key() != kd.key()
    chain = compression_chain(kd, [{"transform": "prune", "sparsity": 0.5}, {"transform": "int8"}])
    assert chain.start_from == a and "→ prune" in chain.short_name() and chain.short_name().endswith("int8")


@pytest.mark.parametrize(("transform", "settings", "words"), [
    ("prune", {"sparsity": 1.0}, "sparsity must be within [0, 1)"),
    ("prune", {"sparsity": -0.1}, "sparsity must be within [0, 1)"),
    ("share", {"bits": 0}, "bits must be a whole number within 1..8"),
    ("share", {"bits": 9}, "bits must be a whole number within 1..8"),
    ("quantise", {}, "unknown transform 'quantise'"),
    ("prune", {"bits": 4}, "takes the settings"),
    ("share", {"bits": 4, "finetune_epochs": 2}, "finetune_epochs"),
])
def test_bad_settings_refused_by_the_builder(transform, settings, words):
    with pytest.raises(ConfigError, match=words.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        compress_job(kd_student(), transform, **settings)


def test_bad_chains_refused():
    kd = kd_student()
    with pytest.raises(ConfigError, match="put int8 last"):
        compression_chain(kd, [{"transform": "int8"}, {"transform": "prune", "sparsity": 0.5}])
    cnn = course_student("mnist", "scratch", arch="student_cnn", **{k: v for k, v in TINY.items() if k != "hidden"})
    with pytest.raises(ConfigError, match="structured pruning is built for the MLP"):
        compress_job(cnn, "prune_structured", keep=0.5)


def test_bad_settings_refused_by_the_submit_path_before_any_work(monkeypatch):
    from kdcore.jobs import submit

    job = compress_job(kd_student(), "prune", sparsity=0.5).replace(compress=(("transform", "prune"),
                                                                             ("sparsity", 1.0)))
    monkeypatch.setattr(submit, "get_runner", lambda: pytest.fail("nothing may be queued"))
    with pytest.raises(ConfigError, match="sparsity"):
        submit.run_through_runner(job)


def test_suite_covers_issue_25_for_both_students():
    jobs = compression_suite("fashion_mnist", (0,))
    names = [j.short_name() for j in jobs]
    assert len(jobs) == 16 and len({j.key() for j in jobs}) == 16
    for start in ("hinton T=4 a=0.5 s0 →", "scratch s0 →", "hinton T=4 a=0.5 +L1=3e-05 s0 →", "scratch +L1=3e-05 s0 →"):
        mine = [n for n in names if start in n]
        assert len(mine) == (1 if "L1" in start else 7), mine
    sparse = [j for j in jobs if j.start_from.l1]
    assert {j.start_from.l1 for j in sparse} == {data_pair("fashion_mnist").l1_weight}
    assert all(j.param_c("zero_below", 0) == ZERO_THRESHOLD for j in sparse)
    assert {j.start_from.replace(l1=0.0) for j in sparse} == {j.start_from for j in jobs if j.start_from.start_from is None
                                                             and not j.start_from.l1}  # twins of the suite's starts
    kd_prune = next(j for j in jobs if j.start_from.method == "hinton" and j.param_c("transform", "") == "prune")
    assert kd_prune.method == "hinton" and kd_prune.teacher == kd_prune.start_from.teacher  # prune, then distil


# ---- slow: jobs that run ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """A fresh store with no start model: the suite's transforms of a tiny KD student, through the runner."""
    from kdcore.jobs.runner import reset_runner
    from kdcore.jobs.submit import run_through_runner

    root = tmp_path_factory.mktemp("compress-store")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KD_STORE_DIR", str(root))
        mp.setattr("kdcore.store.SHIPPED_STORE", root / "no-shipped-results")
        reset_runner()
        kd = kd_student()
        jobs = {
            "int8": compress_job(kd, "int8"),
            "prune": compress_job(kd, "prune", sparsity=0.9, finetune_epochs=1, finetune="kd"),
            "structured": compress_job(kd, "prune_structured", keep=0.5, finetune_epochs=1),
            "share": compress_job(kd, "share", bits=2),
        }
        jobs["stack"] = compression_chain(kd, [{"transform": "prune", "sparsity": 0.5}, {"transform": "int8"}])
        results = {name: run_through_runner(job) for name, job in jobs.items()}
        again = run_through_runner(jobs["prune"])
        from kdcore.store import open_store

        yield {"jobs": jobs, "results": results, "again": again, "store": open_store(), "kd": kd}
        reset_runner()


@pytest.mark.slow
def test_jobs_run_chain_and_are_cached(ran):
    from kdcore.train import job_key

    res, store, kd = ran["results"], ran["store"], ran["kd"]
    assert store.get(job_key(kd), need_weights=True) is not None  # the absent start model was trained first
    assert not res["int8"]["cached"] and ran["again"]["cached"]
    assert ran["again"]["key"] == res["prune"]["key"]
    for name, r in res.items():
        assert r["compression"]["start_key"] == job_key(kd), name
        assert r["reference"]["key"] == job_key(kd)
        for field in ("onnx_bytes", "onnx_gzip_bytes", "ort_latency_us_b1", "ort_latency_us_b64", "flops", "params"):
            assert r["deploy"][field] > 0, (name, field)
    assert [s["transform"] for s in res["stack"]["compression"]["chain"]] == ["prune", "int8"]
    assert res["stack"]["compression"]["family"] == "stack"
    assert res["int8"]["deploy"]["format"] == "onnx-int8"
    assert res["int8"]["deploy"]["onnx_bytes"] < res["int8"]["reference"]["onnx_bytes"]
    prune = res["prune"]["deploy"]
    assert prune["nonzero_params"] < 0.2 * prune["params"]  # 90 % of weights zero after the fine-tune
    assert prune["onnx_gzip_bytes"] < res["prune"]["reference"]["onnx_gzip_bytes"]
    assert res["prune"]["compression"]["chain"][0]["finetune_method"] == "hinton"
    assert res["structured"]["deploy"]["flops"] < 0.6 * res["structured"]["reference"]["flops"]
    assert res["share"]["compression"]["distinct_weight_values"] <= 4
    for name in ("prune", "structured", "share"):
        assert res[name]["deploy"]["same_predictions"], name  # float32 ONNX = PyTorch


@pytest.mark.slow
def test_stored_onnx_in_a_fresh_session_gives_the_stored_accuracy(ran):
    from kdcore.compress.job import load_compressed, onnx_bytes
    from kdcore.compress.onnx_io import ort_logits, ort_session
    from kdcore.data import load_dataset
    from kdcore.train.common import subset

    store = ran["store"]
    for name in ("int8", "share"):
        r = ran["results"][name]
        config = JobConfig.from_dict(r["config"])
        _, _, xte, yte = subset(load_dataset(config.dataset, config.data_source), config)
        logits = ort_logits(ort_session(onnx_bytes(r, store)), xte)
        accuracy = float((logits.argmax(1) == yte).float().mean())
        assert accuracy == pytest.approx(r["metrics"]["accuracy"], abs=1e-9), name
        if name == "share":  # float32: the same predictions as the stored PyTorch network
            with torch.no_grad():
                want = load_compressed(r, store)(xte).logits.argmax(1)
            assert torch.equal(logits.argmax(1), want)
