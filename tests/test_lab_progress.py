"""Progress you can see: the Distill lab's status label names the stage and epoch (teacher → KD student →
scratch baseline), the ETA comes from the epochs done, the queue place shows while waiting, and the live
chart keeps loss and accuracy (in %) apart."""

from __future__ import annotations

import re
from pathlib import Path

import apphelpers
import pytest

from kdcore.views import lab


def test_labels_name_stage_epoch_and_eta_from_the_events() -> None:
    now = [100.0]
    p = lab.LabProgress(clock=lambda: now[0])
    p.start("teacher")
    p.update({"stage": "queue", "message": "queued: your job is 2nd in the queue", "position": 2})
    assert p.label == "teacher — queued: your job is 2nd in the queue" and p.position == 2
    p.update({"stage": "data", "message": "loading mnist"})
    assert p.label == "teacher — loading data" and p.position is None
    p.update({"stage": "train", "epoch": 0, "epochs": 4})
    assert p.label == "teacher — epoch 0/4" and p.eta_s is None
    now[0] += 10
    p.update({"stage": "train", "epoch": 1, "epochs": 4, "row": {"epoch": 1, "train_loss": 2.5, "test_acc": 0.5}})
    assert p.eta_s == pytest.approx(30.0) and p.label == "teacher — epoch 1/4 (about 30 s left)"
    assert p.fraction == pytest.approx(0.25)
    p.finish(cached=False)
    p.start("KD student")
    p.update({"stage": "teacher", "message": "teacher mnist/teacher_cnn/scratch s0"})
    assert p.label == "KD student — teacher logits"
    p.update({"stage": "generation 2:train", "epoch": 3, "epochs": 12})  # a nested job says whose epoch it is
    assert p.label == "KD student — generation 2 epoch 3/12"
    p.update({"stage": "train", "epoch": 3, "epochs": 12, "row": {"epoch": 3, "train_loss": 8.0, "test_acc": 0.9}})
    assert p.label.startswith("KD student — epoch 3/12")
    p.finish(cached=True)
    assert [s.describe() for s in p.log] == ["teacher: trained in 10 s", "KD student: from the store"]
    frame = p.chart_frame()
    acc = frame[frame["kind"] == "test accuracy %"]
    assert sorted(acc["value"]) == [50.0, 90.0]  # accuracy in %, apart from the loss (its own chart and axis)
    assert sorted(frame[frame["kind"] == "train loss"]["value"]) == [2.5, 8.0]


def test_lab_stages_run_the_teacher_chain_first_and_the_scratch_twin_last(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KD_APP_TINY", "1")
    config = lab.lab_config("mnist", "early_stopped")
    labels = [label for label, _ in lab.lab_stages(config)]
    # its own (shorter) teacher first; the course teacher, the table's baseline, last
    assert labels[0] == f"teacher {config.teacher.short_name()} ({config.teacher.epochs} epochs)"
    assert labels[1:] == ["KD student", "scratch baseline", "teacher"]
    assert [label for label, _ in lab.lab_stages(lab.lab_config("mnist", "hinton"))] == [
        "teacher", "KD student", "scratch baseline"]
    scratch = lab.lab_stages(config)[2][1]
    assert (scratch.arch, scratch.hidden, scratch.seed, scratch.method, scratch.teacher) == (
        config.arch, config.hidden, config.seed, "scratch", None)
    born = [label for label, _ in lab.lab_stages(lab.lab_config("mnist", "born_again", temperature=1, alpha=1))]
    assert born == ["teacher", "KD student"]  # its student is the teacher's architecture: no scratch twin


@pytest.fixture
def tiny_empty_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_app_caches: None) -> Path:
    monkeypatch.setenv("KD_APP_TINY", "1")
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setattr("kdcore.store.SHIPPED_STORE", tmp_path / "no-shipped-results")
    return tmp_path


@pytest.mark.slow
def test_a_real_lab_run_shows_teacher_then_student_then_baseline(tiny_empty_store: Path) -> None:
    tracker = lab.LabProgress()
    seen: list[str] = []
    config = lab.lab_config("mnist", "hinton", "16")
    lab.run_lab(config, lambda event: seen.append(tracker.label), tracker)
    order = []
    for label in seen:
        stage = label.split(" — ")[0]
        if not order or order[-1] != stage:
            order.append(stage)
    assert order == ["teacher", "KD student", "scratch baseline"], seen
    assert any(re.fullmatch(r"teacher — epoch 1/2.*", s) for s in seen), seen
    assert "KD student — teacher logits" in seen
    assert any(re.fullmatch(r"scratch baseline — epoch 1/1.*", s) for s in seen), seen


@pytest.mark.slow
def test_distill_lab_page_shows_the_run_log_in_stage_order(tiny_empty_store: Path) -> None:
    at = apphelpers.open_page("app_pages/distill_lab.py", 120)
    at.text_input(key="lab_hidden").set_value("16")
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    log = next(c.value for c in at.caption if c.value.startswith("Run log: "))
    assert re.fullmatch(r"Run log: teacher: trained in \d+ s · KD student: trained in \d+ s · "
                        r"scratch baseline: trained in \d+ s", log), log
    specs = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert any('"text"' in sp and '"field": "count"' in sp for sp in specs), "the confusion matrix shows its counts"
    at.button[0].click().run()  # again: every stage answered by the store
    log = next(c.value for c in at.caption if c.value.startswith("Run log: "))
    assert log == "Run log: teacher: from the store · KD student: from the store · scratch baseline: from the store"


def test_lab_on_shipped_fashion_mnist_shows_mean_std_over_seeds_and_a_paired_gain(
        shipped_env: pytest.MonkeyPatch) -> None:
    from kdcore.views.results import load_runs

    assert lab.lead_dataset() == "fashion_mnist"
    outcome = lab.run_lab(lab.lab_config("fashion_mnist", "hinton"))
    assert [s.describe() for s in outcome.stages] == [
        "teacher: from the store", "KD student: from the store", "scratch baseline: from the store"]
    runs = load_runs()
    course = runs[(runs["dataset"] == "fashion_mnist") & (runs["hidden"] == "784x784") & (runs["n_train"] == 60000)]
    kd = course[(course["method"] == "hinton") & (course["T"] == 4.0) & (course["alpha"] == 0.5)].set_index("seed")
    scratch = course[course["method"] == "scratch"].set_index("seed")
    assert len(kd) == len(scratch) == 3
    acc = 100 * kd["accuracy"]
    assert outcome.seeds["this run"] == f"{acc.mean():.2f} ± {acc.std():.2f} % (seeds 0, 1, 2)"
    gain = 100 * (kd["accuracy"] - scratch["accuracy"])
    assert outcome.gain == f"{gain.mean():+.2f} ± {gain.std():.2f} points (seeds 0, 1, 2, paired)"
    assert gain.mean() > 2 * gain.std()  # on full Fashion-MNIST the gain stands clear of the seed noise


@pytest.mark.slow
def test_a_single_run_is_marked_as_such(tiny_empty_store: Path) -> None:
    outcome = lab.run_lab(lab.lab_config("mnist", "hinton", "16"))
    assert outcome.seeds["this run"].endswith("(one run, seed 0)")
    assert "a single run, seed 0: seed noise not measured" in outcome.gain
