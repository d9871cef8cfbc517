"""Progress you can see: the Distill lab's status label names the stage and epoch (teacher → KD student →
scratch baseline), the ETA comes from the epochs done, the queue place shows while waiting, and the live
chart keeps loss and accuracy (in %) apart."""

from __future__ import annotations

import re
from pathlib import Path

import apphelpers
import pytest

from kdcore import course
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
    config = course.lab_job("mnist", "early_stopped")
    labels = [label for label, _ in lab.lab_stages(config)]
    # its own (shorter) teacher first; the course teacher, the table's baseline, last
    from kdcore.views.groups import run_label

    assert labels[0] == f"teacher: {run_label(config.teacher.to_dict())}"  # in words, no code names
    assert labels[0].startswith("teacher: teacher CNN, 1 epoch") and "/" not in labels[0]  # its epochs said
    assert labels[1:] == ["KD student", "scratch baseline", "teacher"]
    assert [label for label, _ in lab.lab_stages(course.lab_job("mnist", "hinton"))] == [
        "teacher", "KD student", "scratch baseline"]
    scratch = lab.lab_stages(config)[2][1]
    assert (scratch.arch, scratch.hidden, scratch.seed, scratch.method, scratch.teacher) == (
        config.arch, config.hidden, config.seed, "scratch", None)
    born = [label for label, _ in lab.lab_stages(course.lab_job("mnist", "born_again", temperature=1, alpha=1))]
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
    config = course.lab_job("mnist", "hinton", "16")
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
    from kdcore.views.results import load_runs, model_label

    assert lab.lead_dataset() == "fashion_mnist"
    outcome = lab.run_lab(course.lab_job("fashion_mnist", "hinton"))
    assert [s.describe() for s in outcome.stages] == [
        "teacher: from the store", "KD student: from the store", "scratch baseline: from the store"]
    runs = load_runs()
    full = runs[(runs["dataset"] == "fashion_mnist") & (runs["hidden"] == "784x784") & (runs["n_train"] == 60000)]
    plain = full[full["model"].isin([model_label(c.to_dict()) for c in course.pipeline_jobs("fashion_mnist")])]
    kd = plain[plain["role"] == "KD student"].set_index("seed")  # not the L1-trained or compressed twins
    scratch = plain[plain["role"] == "scratch student"].set_index("seed")
    assert len(kd) == len(scratch) == 3
    acc = 100 * kd["accuracy"]
    assert outcome.seeds["this run"] == f"{acc.mean():.2f} ± {acc.std():.2f} % (seeds 0, 1, 2)"
    gain = 100 * (kd["accuracy"] - scratch["accuracy"])
    assert outcome.gain == f"{gain.mean():+.2f} ± {gain.std():.2f} points (seeds 0, 1, 2, paired)"
    assert gain.mean() > 2 * gain.std()  # on full Fashion-MNIST the gain stands clear of the seed noise


@pytest.mark.slow
def test_a_single_run_is_marked_as_such(tiny_empty_store: Path) -> None:
    outcome = lab.run_lab(course.lab_job("mnist", "hinton", "16"))
    assert outcome.seeds["this run"].endswith("(one run, seed 0)")
    assert "a single run, seed 0: seed noise not measured" in outcome.gain


# ---- the whole plan: one bar, one ETA, Cancel (issue 22, deliver 5) ------------------------------
def _plan(monkeypatch: pytest.MonkeyPatch) -> lab.LabPlan:
    monkeypatch.setenv("KD_APP_TINY", "1")
    config = course.lab_job("mnist", "hinton", "16")
    (_, teacher), (_, kd), (_, scratch) = lab.lab_stages(config)
    return lab.LabPlan([lab.PlanStage("teacher", teacher, True, 0.0), lab.PlanStage("KD student", kd, False, 40.0),
                        lab.PlanStage("scratch baseline", scratch, False, 36.0)])


def test_the_label_names_the_plan_and_the_eta_counts_the_stages_still_to_come(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = _plan(monkeypatch)
    assert plan.describe() == ("1 teacher: from the store · 2 KD student: trains, about 40 s · "
                               "3 scratch baseline: trains, about 36 s")
    assert plan.total_s == 76.0 and "about 76 s on this machine" in plan.warning()
    assert lab.LabPlan(plan.stages[:2]).warning() is None  # 40 s: no warning
    now = [0.0]
    p = lab.LabProgress(plan, clock=lambda: now[0])
    seen = [p.fraction]
    p.start("teacher")
    p.finish(cached=True)
    assert p.label == "stage 1 of 3: teacher — from the store"
    p.start("KD student")
    p.update({"stage": "teacher", "message": "teacher mnist/teacher_cnn"})
    assert p.label.startswith("stage 2 of 3: KD student — teacher logits (about ")
    for epoch in range(4):  # four epochs of 10 s: the estimate said 40 s for the stage, so the pace is 1
        p.update({"stage": "train", "epoch": epoch, "epochs": 4})
        seen.append(p.fraction)
        now[0] += 10
    p.update({"stage": "train", "epoch": 4, "epochs": 4})
    # the KD student's last epoch: the scratch baseline's 36 s are still to come (the bug said "about 0 s left")
    assert p.label == "stage 2 of 3: KD student — epoch 4/4 (about 36 s left in all)", p.label
    p.finish(cached=False)
    seen.append(p.fraction)
    p.start("scratch baseline")
    seen.append(p.fraction)
    p.update({"stage": "train", "epoch": 0, "epochs": 4})
    now[0] += 20  # this machine got slower: 20 s an epoch
    p.update({"stage": "train", "epoch": 1, "epochs": 4})
    assert p.eta_s == pytest.approx(60.0) and p.label.endswith("epoch 1/4 (about 60 s left in all)")
    seen.append(p.fraction)
    p.update({"stage": "train", "epoch": 4, "epochs": 4})
    p.finish(cached=False)
    seen.append(p.fraction)
    assert seen == sorted(seen) and seen[-1] == 1.0 and 0 < seen[3] < seen[-3] < 1  # one bar, only growing
    assert [s.describe() for s in p.log] == ["teacher: from the store", "KD student: trained in 40 s",
                                             "scratch baseline: trained in 20 s"]


@pytest.mark.slow  # trains a tiny teacher, KD student and baseline: 10.5 s on 2 idle cores
def test_a_real_lab_run_has_one_growing_bar_and_an_eta_for_the_whole_plan(tiny_empty_store: Path) -> None:
    config = course.lab_job("mnist", "hinton", "16")
    plan = lab.lab_plan(config)
    assert [s.label for s in plan.stages] == ["teacher", "KD student", "scratch baseline"]
    assert not any(s.stored for s in plan.stages) and all(s.estimate_s and s.estimate_s > 0 for s in plan.stages)
    tracker = lab.LabProgress(plan)
    seen: list[tuple[float, str, float | None]] = []
    outcome = lab.run_lab(config, lambda e: seen.append((tracker.fraction, tracker.label, tracker.eta_s)), tracker)
    fractions = [f for f, _, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    stages = [re.match(r"stage (\d) of 3: ", label) for _, label, _ in seen]
    assert all(stages), [label for _, label, _ in seen]
    assert [int(m.group(1)) for m in stages] == sorted(int(m.group(1)) for m in stages)  # in plan order
    before_last = [eta for _, label, eta in seen if label.startswith("stage 2 of 3: KD student — epoch")]
    assert before_last and all(eta is not None and eta > 0 for eta in before_last)  # the baseline is still to come
    # the result keeps the KD-vs-scratch curves, accuracy in %, one named series each
    assert set(outcome.history["series"]) == {"KD student", "scratch baseline"}
    assert set(outcome.history["kind"]) == set(lab.CURVE_KINDS.values())
    test_acc = outcome.history[(outcome.history["kind"] == "test accuracy %")
                               & (outcome.history["series"] == "KD student")]["value"]
    assert list(test_acc) == [pytest.approx(100 * outcome.result["metrics"]["accuracy"], abs=0.01)]
    again = lab.lab_plan(config)  # every stage stored now: nothing to estimate
    assert all(s.stored and s.estimate_s == 0 for s in again.stages) and again.warning() is None


class _Stop(BaseException):
    """What Streamlit raises in the script thread when a click (Cancel) reruns the page."""


def test_cancel_through_the_runner_stops_within_seconds_and_stores_nothing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import threading
    import time

    from kdcore.course import course_student
    from kdcore.jobs.runner import JobRunner, JobState
    from kdcore.store import open_store

    monkeypatch.setenv("KD_CHECKPOINT_EVERY_S", "0")  # a checkpoint after every epoch: Cancel must remove it too
    config = course_student("mnist", "scratch").replace(train_limit=2048, test_limit=128, epochs=200)
    runner = JobRunner(workers=1, mode="thread", store_root=tmp_path / "store")
    try:
        handle = runner.submit(config)
        epochs, ended = threading.Event(), threading.Event()
        states: list[str] = []

        def watch(event: dict) -> None:
            if event.get("stage") == "train" and (event.get("epoch") or 0) >= 2:
                epochs.set()
            if event.get("stage") == "state" and event.get("state") in ("done", "failed", "cancelled"):
                states.append(event["state"])
                ended.set()
        handle.subscribe(watch)
        assert epochs.wait(120), handle.status().describe()
        store = open_store(tmp_path / "store")
        assert list((store.root / "checkpoints").glob(f"{handle.key}*.pt"))  # a half-made job has its checkpoint
        t0 = time.monotonic()
        assert handle.cancel()
        assert ended.wait(10) and states == [JobState.CANCELLED.value]
        assert time.monotonic() - t0 < 5  # at its next batch (tens of ms); slack for a machine shared with others
        assert store.get(handle.key) is None  # no result ...
        assert not list((store.root / "checkpoints").glob(f"{handle.key}*"))  # ... and no resume checkpoint
    finally:
        runner.shutdown()


def test_cancel_from_the_lab_stops_the_running_stage_and_stores_nothing_of_it(
        monkeypatch: pytest.MonkeyPatch, tiny_empty_store: Path) -> None:
    import time

    from kdcore.jobs.runner import get_runner
    from kdcore.store import open_store
    from kdcore.train import job_key

    monkeypatch.setenv("KD_APP_TINY", "512,64,200")  # a 200-epoch teacher: long enough to cancel
    config = course.lab_job("mnist", "hinton", "16")
    tracker = lab.LabProgress(lab.lab_plan(config))
    clicked: list[float] = []

    def heartbeat() -> None:  # the page's Cancel: the next element update raises in the script thread
        if tracker.label.startswith("stage 1 of 3: teacher — epoch") and not tracker.label.startswith(
                "stage 1 of 3: teacher — epoch 0/"):
            clicked.append(time.monotonic())
            raise _Stop

    with pytest.raises(_Stop):
        lab.run_lab(config, tracker=tracker, heartbeat=heartbeat)
    runner = get_runner()
    while runner._active and time.monotonic() - clicked[0] < 5:  # the runner's job ends at its next batch
        time.sleep(0.05)
    assert not runner._active, "the teacher job still runs after Cancel"
    teacher = lab.lab_stages(config)[0][1]
    assert open_store().get(job_key(teacher)) is None
    assert [s.label for s in tracker.log] == []  # no stage reached its end


def test_a_long_run_asks_first_and_starts_only_when_told(tiny_empty_store: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab, "LONG_RUN_S", 0.0)  # every run counts as long
    at = apphelpers.open_page("app_pages/distill_lab.py", 120)
    at.text_input(key="lab_hidden").set_value("16")
    at.button[0].click().run()
    assert not at.exception
    assert any("expected to take about" in w.value for w in at.warning), [w.value for w in at.warning]
    assert not any(c.value.startswith("Run log: ") for c in at.caption)  # nothing ran yet
    at.button(key="lab_confirm").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    log = next(c.value for c in at.caption if c.value.startswith("Run log: "))
    assert "KD student: trained in" in log
    curves = at.session_state["lab_outcome"].history  # the result keeps the KD-vs-scratch curves, named, in %
    assert set(curves["series"]) == {"KD student", "scratch baseline"}
    specs = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert sum('"title": "test accuracy %"' in sp and '"field": "series"' in sp for sp in specs) == 1, specs
    assert not any("loss_ce" in sp or "train_loss" in sp for sp in specs)  # named series, not raw columns


def test_a_run_stopped_by_a_rerun_is_reported_on_the_next_one(tiny_empty_store: Path) -> None:
    at = apphelpers.open_page("app_pages/distill_lab.py", 120)
    at.session_state["lab_running"] = "stage 2 of 3: KD student — epoch 3/12"
    at.run()
    assert any("at stage 2 of 3: KD student — epoch 3/12" in w.value and "nothing of it was stored" in w.value
               for w in at.warning), [w.value for w in at.warning]
    at.run()
    assert not any("nothing of it was stored" in w.value for w in at.warning)  # said once
