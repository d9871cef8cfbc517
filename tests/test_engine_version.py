"""Issue 16: every result says which engine made it; a change that alters results changes that version."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kdcore.config import JobConfig
from kdcore.course import course_student, course_teacher
from kdcore.engine import CORE_ENGINE, engine_version, is_stale, key_part, record_engine, stale_reason
from kdcore.methods import get_method
from kdcore.precompute import superseded
from kdcore.store import SHIPPED_STORE, store_key


def _record(config: JobConfig, created: str, engine: str | None = None) -> dict:
    r = {"config": config.to_dict(), "created": created, "key": "k"}
    if engine is not None:
        r["engine"] = engine
    return r


def test_unversioned_records_take_the_core_of_their_day() -> None:
    kd = course_student("mnist", "hinton", teacher=course_teacher("mnist"))
    before, after = _record(kd, "2026-11-25T16:52:49+00:00"), _record(kd, "2026-11-25T19:00:00+00:00")
    assert record_engine(before) == "1" and is_stale(before) and "channels-last" in stale_reason(before)
    assert record_engine(after) == "2" and is_stale(after) and "fused" in stale_reason(after)
    assert "channels-last" not in stale_reason(after)  # only what changed since it was made
    today = _record(kd, "2026-11-28T09:00:00+00:00")
    assert record_engine(today) == str(CORE_ENGINE) and not is_stale(today)
    assert not is_stale(_record(kd, "2020-01-01", engine=engine_version(kd)))


def test_a_revised_method_changes_its_jobs_keys_and_only_theirs() -> None:
    t = course_teacher("fashion_mnist")
    mlp = course_student("fashion_mnist", "scratch")
    sub = get_method("subclass").job(t, mlp)
    assert key_part(t) == "" and key_part(course_student("fashion_mnist", "hinton", teacher=t)) == ""
    assert key_part(sub) == "subclass.2,subclass_teacher.2"  # the student's key follows its teacher's revision
    assert engine_version(sub) == f"{CORE_ENGINE}+subclass.2,subclass_teacher.2"
    old = _record(sub, "2026-11-25T19:00:00+00:00")  # made by revision 1: never asked for again
    assert is_stale(old) and superseded(old)
    assert not superseded(_record(t, "2026-11-25T16:00:00+00:00"))  # only core-stale: kept, marked


def test_shipped_keys_of_unrevised_methods_are_unchanged() -> None:
    # The key function gained a revisions part; results of methods at revision 1 must be found as before.
    from kdcore.train import job_key

    checked = 0
    for path in sorted((SHIPPED_STORE / "objects").glob("*/result.json")):
        r = json.loads(path.read_text())
        cfg = JobConfig.from_dict(r["config"])
        if cfg.dataset in ("mnist", "fashion_mnist") and cfg.method in ("scratch", "hinton") and not key_part(cfg):
            assert job_key(cfg) == r["key"] == store_key(cfg, r["data_source_id"]), r["name"]
            checked += 1
        if checked >= 5:
            break
    assert checked >= 5


def test_new_records_carry_the_engine(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path))
    from kdcore.jobs.submit import run_through_runner

    cfg = course_student("mnist", "scratch", hidden=(16,), epochs=1, train_limit=256, test_limit=64,
                         data_source="mnist-5k")
    r = run_through_runner(cfg)
    assert r["engine"] == engine_version(cfg) and not is_stale(r)


def test_subclass_purity_counts_digits_the_teacher_never_saw() -> None:
    from kdcore.subclass_examples import SubclassExamples

    fine = np.zeros((2, 2, 10), np.int64)
    fine[0, 0, 0], fine[0, 0, 1], fine[0, 1, 2] = 30, 10, 40  # class 0: subclass 0 mostly digit 0, 1 pure digit 2
    fine[1, 0, 5], fine[1, 0, 6] = 50, 50  # class 1: everything in one subclass
    counts = fine.sum(axis=2)
    ex = SubclassExamples(("0–4", "5–9"), np.zeros((2, 2, 1, 2, 2), np.uint8), np.zeros((2, 2, 1), np.int64),
                          np.zeros((2, 2, 1), np.float32), np.ones((2, 2, 1), bool), counts,
                          {"fine_labels": [str(i) for i in range(10)]}, fine)
    assert ex.purity() == pytest.approx([70 / 80, 0.5])
    assert ex.one_subclass_purity() == pytest.approx([40 / 80, 0.5])
    assert "digits: 0 (75 %), 1 (25 %)" in ex.label(0, 0)


def test_compare_marks_a_result_of_an_older_engine() -> None:
    from kdcore.views.results import result_row

    kd = course_student("mnist", "hinton", teacher=course_teacher("mnist"))
    old = {**_record(kd, "2026-11-25T16:52:49+00:00"), "metrics": {"accuracy": 0.9}}
    new = {**_record(kd, "2026-11-28T09:00:00+00:00", engine=engine_version(kd)), "metrics": {"accuracy": 0.9}}
    assert result_row(old)["model"].endswith("[older engine]")
    assert "older engine" not in result_row(new)["model"]
