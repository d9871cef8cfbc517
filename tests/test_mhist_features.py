"""FitNets and attention transfer on the MHIST pair (ResNetV2-50 → MobileNetV2): the shared intermediate
maps, the checks that run before training, the two-stage schedule with the teacher run in stage 2, and
the memory estimate. Tiny: random-init backbones, a 6/4-image synthetic stand-in capped at 4/4 images."""

from __future__ import annotations

import copy
import re

import pytest
import torch

from kdcore import course
from kdcore.config import MHIST_STAGE2_EPOCHS, ConfigError, JobConfig
from kdcore.course import course_student, course_teacher
from kdcore.jobs.memory import BACKBONES, check_memory, estimate, live_peak_bytes_per_example
from kdcore.losses.attention import AttentionTransfer
from kdcore.methods import METHODS, check_method_fits
from kdcore.methods.attention import at_layers
from kdcore.methods.fitnet import hint_layers
from kdcore.models.mhist import FEATURE_SHAPES, build_backbone_model
from kdcore.store import ResultStore
from kdcore.train.job import job_key, run_job
from kdcore.train.loop import FitSpec, fit
from kdcore.train.transfer import Augment, CachedTeacherLogits, schedule

TINY = "mhist-synthetic-6-4"
ONE_EACH = (("stage1_epochs", 1), ("stage2_epochs", 1))
NONE = (("pretrained", "none"),)  # random init: no weight files read, the same offline and online


pytestmark = pytest.mark.usefixtures("mhist_env", "one_torch_thread")


@pytest.fixture(scope="module")
def nets() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {arch: build_backbone_model(arch, 2, pretrained="none").eval() for arch in FEATURE_SHAPES}


def _teacher() -> JobConfig:
    return course_teacher("mhist_synthetic", data_source=TINY, method_params=ONE_EACH, train_limit=4, test_limit=4,
                          extra=NONE)


def _student(method: str, params: tuple = ()) -> JobConfig:
    return course_student("mhist_synthetic", method, teacher=_teacher(), data_source=TINY, train_limit=4,
                          test_limit=4, method_params=tuple({**dict(ONE_EACH), **dict(params)}.items()), extra=NONE)


# ---- the maps ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["resnetv2_50", "mobilenet_v2"])
def test_maps_are_the_block_outputs_with_declared_shapes(nets, arch):
    import timm
    import torchvision

    m = nets[arch]
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        out = m(x)
        last = m.backbone(x)
        # the stored maps are the real block outputs, untouched by later in-place ops
        after = m.backbone.model.norm(out.features["map7"]) if arch == "resnetv2_50" else m.backbone[18](out.features["map7"])
    assert {k: tuple(v.shape[1:]) for k, v in out.features.items()} == FEATURE_SHAPES[arch]
    assert tuple(out.features) == m.feature_names
    assert torch.equal(out.features["last_map"], last) and torch.allclose(after, last, atol=1e-5)
    assert set(m.forward_pooled(out.features["pooled"]).features) == {"pooled"}  # stage 1's cached path
    # parameter names unchanged: state dicts of stored models still load
    ref = (timm.create_model(arch, pretrained=False, num_classes=0).state_dict() if arch == "resnetv2_50"
           else torchvision.models.mobilenet_v2(weights=None).features.state_dict())
    prefix = "backbone.model." if arch == "resnetv2_50" else "backbone."
    assert list(m.state_dict()) == [prefix + k for k in ref] + ["head.1.weight", "head.1.bias"]


@pytest.mark.slow
def test_memory_figures_match_a_measurement(nets):
    for arch, net in nets.items():
        measured = live_peak_bytes_per_example(net, (3, 224, 224))
        assert abs(measured - BACKBONES[arch].forward_peak_per_example) < 0.1 * measured, arch
    t = course_teacher("mhist")
    hinton, at = (estimate(course_student("mhist", m, teacher=t), teacher_cached=True).parts for m in ("hinton", "attention"))
    # the feature job adds the teacher's forward at the micro-batch (4) beside the student's step
    assert at["teacher"] - hinton["teacher"] == 4 * BACKBONES["resnetv2_50"].forward_peak_per_example
    big = course_student("mhist", "attention", teacher=t, method_params=(("micro_batch", 32),))
    with pytest.raises(ConfigError) as e:
        check_memory(big, teacher_cached=True)
    assert "micro_batch=" in str(e.value) and "frozen backbone" not in str(e.value)  # feature jobs must fine-tune


# ---- defaults and checks -----------------------------------------------------------------------------
def test_defaults_per_pair():
    assert at_layers(_student("attention")) == "map28,map14,map7"
    assert hint_layers(_student("fitnet")) == ("map14", "map14")
    mnist_at, mnist_fit = course_student("mnist", "attention"), course_student("mnist", "fitnet")
    assert at_layers(mnist_at) == "conv1,conv2" and hint_layers(mnist_fit) == ("conv2", "conv2")
    assert mnist_at.method_params == mnist_fit.method_params == ()  # defaults live in code: MNIST keys unchanged
    assert schedule(JobConfig(dataset="mhist", arch="mobilenet_v2")).stage2_epochs == MHIST_STAGE2_EPOCHS


@pytest.mark.parametrize(("method", "params", "message"), [
    ("attention", (("at_layers", "map28,map56"),), "the teacher (resnetv2_50) has no feature 'map56' (setting 'at_layers')"),
    ("attention", (("at_layers", "map14:conv2"),), "the student (mobilenet_v2) has no feature 'conv2'"),
    ("attention", (("at_layers", "pooled"),), "not a spatial map"),
    ("fitnet", (("hint_layer", "conv2"),), "no feature 'conv2' (setting 'hint_layer')"),
    ("fitnet", (("guided_layer", "pooled"),), "must both be conv maps or both vectors"),
    ("fitnet", (("fitnet_stage1_epochs", 1),), "fitnet_stage1_epochs=1 hint-only epochs leave no epoch for the KD stage"),
    ("fitnet", (("stage2_epochs", 0),), "set stage2_epochs >= 1"),
])
def test_bad_settings_refused_before_any_training(tmp_path, method, params, message):
    store = ResultStore(tmp_path / "store")
    with pytest.raises(ConfigError, match=re.escape(message)) as e:
        run_job(_student(method, params), store=store)
    if "no feature" in message:
        assert "map28, map14, map7" in str(e.value)  # says which names exist
    assert not list((tmp_path / "store").rglob("result.json"))  # the teacher was not trained first


@pytest.mark.slow
def test_probe_check_on_the_built_networks(nets):
    with pytest.raises(ConfigError, match=re.escape("no feature 'map56'")):
        check_method_fits(_student("attention", (("at_layers", "map56"),)), nets["mobilenet_v2"], nets["resnetv2_50"])
    for method in ("attention", "fitnet"):
        check_method_fits(_student(method), nets["mobilenet_v2"], nets["resnetv2_50"])  # the defaults fit


def test_app_builds_valid_mhist_feature_jobs(monkeypatch):
    from kdcore.train.transfer import check_transfer_config
    from kdcore.views import lab

    assert {"fitnet", "attention"} <= dict(lab.methods()).keys()  # the pickers read the registry
    for tiny in ("", "1"):
        monkeypatch.setenv("KD_APP_TINY", tiny)
        for method in ("fitnet", "attention", "hinton"):
            cfg = course.lab_job("mhist_synthetic", method)
            check_transfer_config(cfg)  # no MNIST vector hint, and tiny mode keeps a fine-tuning epoch
            if tiny:
                assert cfg.param("stage2_epochs", None) == (0 if method == "hinton" else 1)


# ---- the schedule ------------------------------------------------------------------------------------
def test_stage2_teacher_sees_the_same_augmented_images_and_kd_reads_the_cache():
    """A teacher identical to the student, run by the loop on each augmented micro-batch: their maps are equal
    (AT term 0), while the KD term compares with the cached logits (random here, so it is not 0)."""
    torch.manual_seed(0)
    student = build_backbone_model("mobilenet_v2", 2, pretrained="none").freeze_backbone(False, bn_eval=True)
    teacher = copy.deepcopy(student).eval()
    x = torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8)
    y = torch.tensor([0, 1, 0, 1])
    cached = torch.randn(4, 2) * 5
    loss = CachedTeacherLogits(AttentionTransfer([("map28", "map28"), ("map7", "map7")], alpha=0.5), cached)
    rows = fit(student, loss, x, y, x[:2], y[:2], FitSpec(epochs=1, batch_size=4, lr=1e-3, seed=0, teacher=teacher,
               transform=Augment(student), micro_batch=2, eval_batch_size=2, device=torch.device("cpu")))
    assert rows[0]["loss_at"] < 1e-6 and rows[0]["loss_kd"] > 1e-3


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory) -> ResultStore:
    return ResultStore(tmp_path_factory.mktemp("feature-jobs"))  # one teacher for both methods


@pytest.mark.slow
@pytest.mark.parametrize(("method", "term"), [("attention", "at"), ("fitnet", "hint")])
def test_tiny_feature_job_end_to_end(shared_store, method, term):
    cfg = _student(method)
    events: list[dict] = []
    r = run_job(cfg, progress=events.append, store=shared_store)
    assert r["key"] == job_key(cfg) and not r["cached"]
    assert any(e.get("stage") == "teacher_model" for e in events)
    s1, s2 = r["history"]
    assert (s1["stage"], s2["stage"]) == ("stage1", "stage2")
    # stage 1 (head on cached features): label/KD terms only; stage 2: the feature term is live
    assert s1[f"loss_{term}"] == 0 and s1["loss_ce"] > 0
    assert s2[f"loss_{term}"] > 0 and s2["loss_ce"] > 0 and s2["loss_kd"] > 0
    assert METHODS[method].teacher_features and r["n_train"] == 4
    assert 0.0 <= r["metrics"]["f1"] <= 1.0


# ---- the MHIST page's method choice ------------------------------------------------------------------
def test_every_mhist_page_method_builds_a_valid_pipeline(monkeypatch):
    from kdcore.train.transfer import check_transfer_config
    from kdcore.views import lab

    monkeypatch.setenv("KD_APP_TINY", "1")
    for method, _title in lab.mhist_methods():
        jobs = course.pipeline_jobs("mhist_synthetic", method=method)
        for cfg in jobs:
            check_transfer_config(cfg)
        teacher, kd = jobs[0], jobs[-1]
        assert kd.method == method and teacher.teacher is None and len(set(jobs)) == len(jobs)
        if method in ("early_stopped", "takd"):  # teacher, scratch, early-stopped teacher / assistant, student
            assert kd.teacher == jobs[2] and jobs[2] != teacher and jobs[1].method == "scratch"
        elif method == "born_again":  # the label-trained teacher is the scratch baseline
            assert len(jobs) == 2 and kd.teacher == teacher and kd.arch == teacher.arch
        else:
            assert len(jobs) == 3 and kd.teacher == teacher and jobs[1].method == "scratch"
    teacher, _, kd = course.pipeline_jobs("mhist_synthetic", method="subclass")
    assert teacher.method == "subclass_teacher" and teacher.param("subclasses", 1) == kd.param("subclasses", 1) == 2
    # the default pipeline is the one the shipped stand-in results were made with (same keys)
    assert course.pipeline_jobs("mhist_synthetic") == course.pipeline_jobs("mhist_synthetic", method="hinton")


@pytest.mark.slow
def test_subclass_distillation_runs_on_the_mhist_pair(shared_store):
    """The binary task the method was made for: a ResNetV2-50 with 2 subclasses per class, a MobileNetV2
    distilling all 4 subclass logits; metrics are on the 2 classes."""
    from kdcore.methods.subclass import subclass_configs

    sub_t, sub_s = subclass_configs(_teacher(), _student("hinton"), subclasses=2)
    r = run_job(sub_s, store=shared_store)
    assert r["num_outputs"] == 4 and shared_store.get(r["teacher_key"])["num_outputs"] == 4
    assert r["history"][-1]["loss_kd"] > 0 and 0.0 <= r["metrics"]["auc"] <= 1.0
    assert len(r["metrics"]["confusion"]) == 2  # class-level metrics: subclasses are summed
