"""Early-stopped teacher, born-again networks and teacher-assistant KD on the MHIST pair (issue 5: every
method on both pairs). Tiny: random-init backbones, the 6/4-image synthetic stand-in capped at 4/4 images,
one head epoch and one fine-tuning epoch; one store, so the ResNetV2-50 teacher trains once."""

from __future__ import annotations

import re

import pytest
import torch

from kdcore import course
from kdcore.config import (
    MHIST_STAGE1_EPOCHS,
    MHIST_STAGE2_EPOCHS,
    ConfigError,
    JobConfig,
    transfer_stages,
)
from kdcore.course import course_student, course_teacher
from kdcore.jobs.memory import BACKBONES, check_memory, estimate, saved_bytes_per_example
from kdcore.methods.born_again import born_again_configs
from kdcore.methods.early_stopped import default_stop_epochs, early_stopped_teacher
from kdcore.methods.takd import teacher_assistant_configs
from kdcore.store import ResultStore
from kdcore.train.job import job_key, run_job
from kdcore.train.transfer import check_transfer_config, schedule

TINY = "mhist-synthetic-6-4"
ONE_EACH = (("stage1_epochs", 1), ("stage2_epochs", 1))
NONE = (("pretrained", "none"),)  # random init: no weight files read, the same offline and online

pytestmark = pytest.mark.usefixtures("mhist_env", "one_torch_thread")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> ResultStore:
    return ResultStore(tmp_path_factory.mktemp("mhist-methods"))  # one teacher for the three methods


def _teacher() -> JobConfig:
    return course_teacher("mhist_synthetic", data_source=TINY, method_params=ONE_EACH, train_limit=4, test_limit=4,
                          extra=NONE)


def _student(method: str, teacher: JobConfig) -> JobConfig:
    return course_student("mhist_synthetic", method, teacher=teacher, data_source=TINY, train_limit=4, test_limit=4,
                          method_params=ONE_EACH, extra=NONE)


def _stage2(result: dict) -> int:
    return result["schedule"]["stage2_epochs"]


# ---- early-stopped teacher ---------------------------------------------------------------------------
def test_stage_defaults_are_the_transfer_schedule():
    plain = JobConfig(dataset="mhist", arch="resnetv2_50")
    sched = schedule(plain)
    assert (MHIST_STAGE1_EPOCHS, MHIST_STAGE2_EPOCHS) == transfer_stages(plain) == (sched.stage1_epochs,
                                                                                     sched.stage2_epochs)


def test_early_stop_counts_the_two_stage_schedule():
    t = course_teacher("mhist", method_params=(("stage1_epochs", 10), ("stage2_epochs", 4)))
    assert transfer_stages(early_stopped_teacher(t, 12)) == (10, 2)  # whole head stage, shorter fine-tuning
    assert transfer_stages(early_stopped_teacher(t, 3)) == (3, 0)  # stopped inside the head stage
    assert default_stop_epochs(t) == 12 and default_stop_epochs(course_teacher("mhist")) == 10 + 12
    head_only = t.replace(method_params=(("stage1_epochs", 10), ("stage2_epochs", 0)))
    assert transfer_stages(early_stopped_teacher(head_only, default_stop_epochs(head_only))) == (5, 0)
    # MNIST unchanged: epochs shortened, nothing else (the shipped early-stopped results keep their keys)
    mnist = course_teacher("mnist")
    assert early_stopped_teacher(mnist, 3) == mnist.replace(epochs=3) and default_stop_epochs(mnist) == 3
    assert default_stop_epochs(mnist.replace(epochs=2)) == 1  # tiny mode: never the full teacher


@pytest.mark.parametrize(("params", "epochs", "message"), [
    (ONE_EACH, 2, "1 <= epochs < 2 epochs of its schedule (1 head + 1 fine-tuning epochs"),
    (ONE_EACH, 0, "1 <= epochs < 2"),
    ((("stage1_epochs", 10), ("stage2_epochs", 2)), 12, "got 12. E.g. epochs=11"),
    ((("stage1_epochs", 1), ("stage2_epochs", 0)), 1, "give the full teacher at least 2 epochs"),
    ((("stage1_epochs", 1), ("stage2_epochs", "two")), 1, "stage2_epochs must be a whole number >= 0"),
])
def test_bad_early_stop_refused_before_any_training(tmp_path, params, epochs, message):
    teacher = _teacher().replace(method_params=params)
    with pytest.raises(ConfigError, match=re.escape(message)):
        run_job(_student("early_stopped", early_stopped_teacher(teacher, epochs)), store=ResultStore(tmp_path / "s"))
    assert not list(tmp_path.rglob("result.json"))  # refused while the jobs were built: nothing trained


@pytest.mark.slow
def test_early_stopped_teacher_on_the_mhist_pair(store):
    full = _teacher()
    early = early_stopped_teacher(full, default_stop_epochs(full))
    r = run_job(_student("early_stopped", early), store=store)
    t_early, t_full = store.get(r["teacher_key"]), run_job(full, store=store)
    assert r["teacher_key"] == job_key(early) != t_full["key"]
    assert _stage2(t_early) < _stage2(t_full) == 1
    # the early-stopped teacher is the full run's checkpoint: the epoch both trained is the same epoch
    def first_epoch_losses(result: dict) -> dict[str, float]:
        return {k: v for k, v in result["history"][0].items() if k.startswith("loss_")}

    assert first_epoch_losses(t_early) == pytest.approx(first_epoch_losses(t_full))
    assert r["history"][-1]["loss_kd"] > 0 and 0.0 <= r["metrics"]["f1"] <= 1.0


# ---- born-again ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_born_again_student_is_a_second_resnetv2_50(store):
    teacher = _teacher()
    gen1 = born_again_configs(teacher, 1)[0]
    check_transfer_config(gen1)
    r = run_job(gen1, store=store)
    t = store.get(r["teacher_key"])
    assert r["teacher_key"] == run_job(teacher, store=store)["key"] and r["config"]["arch"] == "resnetv2_50"
    assert r["complexity"]["params"] == t["complexity"]["params"] > 20e6
    # the paper's loss: the teacher's T = 1 probabilities only (alpha = 1: no label term)
    assert all(h["loss_ce"] == 0 and h["loss_kd"] > 0 for h in r["history"])
    assert [h["stage"] for h in r["history"]] == ["stage1", "stage2"]
    assert 0.0 <= r["metrics"]["auc"] <= 1.0


@pytest.mark.slow
def test_ban_ensemble_on_the_mhist_pair(store):
    from kdcore.methods.born_again import ban_ensemble_config

    gen1, gen2 = born_again_configs(_teacher(), 2)
    r = run_job(ban_ensemble_config(gen2), store=store)
    members = [store.get(job_key(g)) for g in (gen1, gen2)]
    assert r["members"] == [m["key"] for m in members]  # both generations trained (or found) by the ensemble job
    assert r["complexity"]["params"] == 2 * members[0]["complexity"]["params"]
    assert set(r["metrics"]) >= {"f1", "auc", "accuracy"} and 0.0 <= r["metrics"]["auc"] <= 1.0  # SSA = positive


# ---- teacher-assistant KD ----------------------------------------------------------------------------
@pytest.mark.slow
def test_teacher_assistant_chain_on_the_mhist_pair(store):
    assistant, student = teacher_assistant_configs(_teacher(), student=_student("takd", _teacher()))
    assert (assistant.arch, assistant.method, student.teacher) == ("resnet18", "hinton", assistant)
    r = run_job(student, store=store)
    a = store.get(r["teacher_key"])
    t = store.get(a["teacher_key"])
    assert (r["config"]["arch"], a["config"]["arch"], t["config"]["arch"]) == ("mobilenet_v2", "resnet18",
                                                                                "resnetv2_50")
    assert t["key"] == job_key(_teacher()) and a["key"] == job_key(assistant)
    params = [x["complexity"]["params"] for x in (t, a, r)]
    assert params[0] > params[1] > params[2]  # the assistant sits between teacher and student
    assert a["history"][-1]["loss_kd"] > 0 and r["history"][-1]["loss_kd"] > 0
    assert a["pretrained_source"].startswith("random init")  # asked for: recorded, never hidden
    assert 0.0 <= r["metrics"]["f1"] <= 1.0


@pytest.mark.slow
def test_memory_estimate_knows_the_assistant():
    from kdcore.models.mhist import build_backbone_model

    torch.manual_seed(0)
    measured = saved_bytes_per_example(build_backbone_model("resnet18", 2, pretrained="none"), (3, 224, 224))
    assert abs(measured - BACKBONES["resnet18"].saved_per_example) < 0.1 * measured
    t = course_teacher("mhist")
    assistant, student = teacher_assistant_configs(t, student=course_student("mhist", "takd", teacher=t))
    parts = estimate(assistant, teacher_cached=True).parts
    assert parts["model"] == (BACKBONES["resnet18"].params + 513 * 2) * 16  # Adam: 16 bytes per parameter
    check_memory(student, teacher_cached=True)  # the default pipeline fits the default budget


# ---- the MHIST page ----------------------------------------------------------------------------------
def test_mhist_page_runs_the_chosen_pipeline(monkeypatch, tmp_path, fresh_app_caches):
    """The page submits the born-again pipeline (teacher, generation 1) and says what it costs; the jobs
    themselves are recorded, not trained (the runs above train them)."""
    from apphelpers import open_page

    from kdcore.views import lab

    monkeypatch.setenv("KD_APP_TINY", "1")
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setattr("kdcore.store.SHIPPED_STORE", tmp_path / "no-shipped-results")
    submitted: list[JobConfig] = []
    monkeypatch.setattr(lab, "train_or_fetch", lambda cfg, progress=None: submitted.append(cfg) or {})
    at = open_page("app_pages/mhist.py", 120)
    titles = dict(lab.mhist_methods())
    assert {"early_stopped", "born_again", "takd"} <= titles.keys()
    at.selectbox(key="mh_dataset").set_value("mhist_synthetic")
    at.selectbox(key="mh_method").set_value("born_again")
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert submitted == course.pipeline_jobs("mhist_synthetic", method="born_again")
    assert [c.arch for c in submitted] == ["resnetv2_50", "resnetv2_50"] and submitted[1].method == "born_again"
    # the cost sentence (shown in the run's status box, gone after the page's rerun) is in the picker's help
    assert lab.MHIST_METHOD_NOTES["born_again"] in at.selectbox(key="mh_method").help
