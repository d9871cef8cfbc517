"""MHIST two-stage transfer learning on a tiny synthetic stand-in (6 train / 4 test images)."""

from __future__ import annotations

import threading

import pytest
import torch

from kdcore.config import ConfigError
from kdcore.course import course_student, course_teacher
from kdcore.data import load_dataset
from kdcore.data.mhist import SOURCE_STANDIN
from kdcore.store import ResultStore
from kdcore.train.job import job_key, run_job
from kdcore.train.loop import JobCancelled
from kdcore.train.transfer import Augment, PooledHead, pooled_features

TINY = "mhist-synthetic-6-4"
FAST = (("stage1_epochs", 2), ("stage2_epochs", 1))


pytestmark = pytest.mark.usefixtures("mhist_env")


def _teacher(**kw):
    return course_teacher("mhist_synthetic", data_source=TINY, method_params=FAST, **kw)


def _student(method, teacher=None, params=FAST, **kw):
    return course_student("mhist_synthetic", method, data_source=TINY, teacher=teacher, method_params=params, **kw)


def test_dataset_is_labelled_standin():
    ds = load_dataset("mhist_synthetic", TINY)
    assert ds.x_train.dtype == torch.uint8 and ds.x_train.shape == (6, 3, 224, 224)
    assert ds.classes == ("HP", "SSA") and ds.is_standin and ds.source == SOURCE_STANDIN
    assert ds.source_id == "mhist-synthetic-v2-6-4-s0"
    assert set(ds.y_test.tolist()) == {0, 1}


def test_real_mhist_missing_says_how_to_get_it():
    from kdcore.data import DataError
    from kdcore.data.mhist import MhistError

    with pytest.raises(DataError, match="bmirds.github.io/MHIST") as e:
        load_dataset("mhist")
    assert isinstance(e.value, MhistError)


@pytest.mark.slow
def test_teacher_scratch_kd_end_to_end(tmp_path):
    store = ResultStore(tmp_path / "store")
    events: list[dict] = []
    teacher = _teacher()
    kd = _student("hinton", teacher=teacher)
    r = run_job(kd, progress=events.append, store=store)
    stages = {e["stage"] for e in events}
    assert {"teacher:features", "teacher:stage1", "teacher:stage2", "features", "stage1", "stage2"} <= stages
    t = store.get(r["teacher_key"])
    assert t["config"]["arch"] == "resnetv2_50" and "random init" in t["pretrained_source"]
    assert store.load_tensors(t["key"], "train_logits")["logits"].shape == (6, 2)  # cached for students
    assert r["pretrained_source"].startswith("ImageNet") and r["weights_id"].startswith("imagenet:")
    for res in (t, r):
        m = res["metrics"]
        assert 0.0 <= m["f1"] <= 1.0 and m["auc"] is not None and 0.0 <= m["auc"] <= 1.0
        assert {"accuracy", "balanced_accuracy", "confusion", "roc"} <= set(m)
        assert res["is_standin"] and res["data_source"] == "synthetic stand-in — not MHIST"
        assert [h["stage"] for h in res["history"]] == ["stage1", "stage1", "stage2"]
        assert res["n_train"] == 6 and res["n_test"] == 4 and res["classes"] == ["HP", "SSA"]
    assert 3.5e9 < t["complexity"]["macs"] < 4.5e9  # ResNet-50 class
    assert 2.5e8 < r["complexity"]["macs"] < 3.5e8  # MobileNetV2
    assert r["history"][0]["loss_kd"] > 0 and r["key"] == job_key(kd)
    scratch = run_job(_student("scratch"), store=store)
    # the scratch and KD students share one ImageNet MobileNetV2 backbone pass
    assert scratch["timings"]["features_cached"] == 1.0
    again = run_job(kd, store=store)
    assert again["cached"] and again["metrics"] == r["metrics"]


def test_head_on_cached_features_equals_full_model():
    from kdcore.models.mhist import build_backbone_model, imagenet_normalize

    ds = load_dataset("mhist_synthetic", TINY)
    torch.manual_seed(0)
    model = build_backbone_model("mobilenet_v2", 2).freeze_backbone(True).eval()
    x = ds.x_train[:6].materialize()
    with torch.no_grad():
        full = model(imagenet_normalize(x)).logits
        head = PooledHead(model).eval()(pooled_features(model, x, batch_size=4)).logits
    torch.testing.assert_close(head, full, rtol=1e-4, atol=1e-4)
    assert [n for n, _ in PooledHead(model).named_parameters()] == ["head.1.weight", "head.1.bias"]


def test_augment_only_in_training_and_seeded():
    x = torch.randint(0, 256, (4, 3, 224, 224), dtype=torch.uint8)
    model = torch.nn.Linear(1, 1)
    aug = Augment(model)
    model.eval()
    from kdcore.models.mhist import imagenet_normalize

    torch.testing.assert_close(aug(x), imagenet_normalize(x))
    model.train()
    torch.manual_seed(3)
    a = aug(x)
    torch.manual_seed(3)
    assert torch.equal(a, aug(x)) and not torch.equal(a, imagenet_normalize(x))


class _CancelAfter:
    """Set after epoch ``k`` of ``stage`` (what a user's Cancel or a killed process leaves behind)."""

    def __init__(self, stage: str, k: int) -> None:
        self.stage, self.k, self.event = stage, k, threading.Event()

    def __call__(self, e: dict) -> None:
        if e.get("stage") == self.stage and e.get("epoch") == self.k:
            self.event.set()


@pytest.mark.slow
@pytest.mark.parametrize(("stage", "params"), [
    ("stage1", (("stage1_epochs", 3), ("stage2_epochs", 0))),  # head epochs on cached features
    ("stage2", (("stage1_epochs", 1), ("stage2_epochs", 2))),  # fine-tuning (stage 1 skipped on resume)
])
def test_resume_after_interrupt_equals_uninterrupted(tmp_path, stage, params, monkeypatch):
    monkeypatch.setenv("KD_CHECKPOINT_EVERY_S", "0")  # a checkpoint after every epoch
    cfg = _student("scratch", params=params)
    ref = run_job(cfg, store=ResultStore(tmp_path / "a"))
    store = ResultStore(tmp_path / "b")
    cut = _CancelAfter(stage, 1)
    with pytest.raises(JobCancelled):
        run_job(cfg, progress=cut, store=store, cancel=cut.event)
    assert list((tmp_path / "b" / "checkpoints").glob("*.pt"))
    resumed = run_job(cfg, store=store)
    assert not resumed["cached"] and resumed["metrics"] == ref["metrics"]
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in ref["history"]]
    assert [h["stage"] for h in resumed["history"]].count(stage) == dict(params)[f"{stage}_epochs"]
    wa, wb = ResultStore(tmp_path / "a").load_tensors(ref["key"]), store.load_tensors(resumed["key"])
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not list((tmp_path / "b" / "checkpoints").glob("*.pt"))  # removed once stored


def test_key_depends_on_backbone_weights():
    ds = load_dataset("mhist_synthetic", TINY)
    cfg = _student("scratch")
    assert job_key(cfg, ds) != job_key(cfg.replace(extra=(("pretrained", "none"),)), ds)


def test_bad_settings_fail_early():
    with pytest.raises(ConfigError, match="stage2_epochs"):
        run_job(_student("scratch", params=(("stage2_epochs", -1),)))
    with pytest.raises(ConfigError, match="arch"):
        run_job(_student("scratch", arch="student_mlp"))
