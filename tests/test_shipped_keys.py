"""Every shipped result keeps its key: today's engine, given a shipped record's config and the data and backbone
weights it records, computes the key it is filed under. A restructuring that changed a config's hash, the key
recipe or a method's revision would otherwise silently re-key the results the app opens on (they would be
retrained, or never found)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from kdcore.config import JobConfig
from kdcore.store import SHIPPED_STORE

RECORDS = sorted((SHIPPED_STORE / "objects").glob("*/result.json"))


def _shipped() -> list[dict]:
    return [json.loads(p.read_text()) for p in RECORDS]


def test_the_shipped_store_holds_results_of_every_course_data_set() -> None:
    datasets = {r["config"]["dataset"] for r in _shipped()}
    assert {"mnist", "fashion_mnist", "mnist_binary", "mhist_synthetic"} <= datasets
    assert len(RECORDS) >= 200  # the listing below walks all of them


@pytest.fixture
def recorded_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """``job_key`` reads the backbone weights each architecture's shipped results started from (the MHIST pair) as
    recorded, not probed, so the check does not depend on which weights this machine has."""
    from kdcore.train import keys as job_module

    weights: dict[str, set[str]] = {}
    for r in _shipped():
        if "weights_id" in r:
            weights.setdefault(r["config"]["arch"], set()).add(r["weights_id"])
    assert weights and all(len(ids) == 1 for ids in weights.values()), weights
    monkeypatch.setattr(job_module, "weights_id", lambda config: (next(iter(weights[config.arch])), None))


def _key(config: JobConfig, record: dict) -> str:
    from kdcore.train.keys import job_key

    return job_key(config, SimpleNamespace(source_id=record["data_source_id"]))  # the data it was made on, as recorded


def test_every_shipped_result_is_found_under_the_key_today_s_engine_computes(recorded_weights: None) -> None:
    records = _shipped()
    wrong = []
    for path, r in zip(RECORDS, records, strict=True):
        config = JobConfig.from_dict(r["config"])
        got = {"folder": path.parent.name, "config_key": config.key(), "key": _key(config, r)}
        want = {"folder": r["key"], "config_key": r["config_key"], "key": r["key"]}
        if got != want:
            wrong.append(f"{r['name']}: {want} became {got}")
    assert not wrong, f"{len(wrong)} of {len(records)} shipped results re-keyed:\n" + "\n".join(wrong[:10])


def test_every_shipped_student_s_teacher_key_is_today_s(recorded_weights: None) -> None:
    """A student records its teacher's key: the teacher chain of its config must key to that same result."""
    records = [r for r in _shipped() if r["config"].get("teacher")]
    assert len(records) > 100
    wrong = [r["name"] for r in records if _key(JobConfig.from_dict(r["config"]).teacher, r) != r["teacher_key"]]
    assert not wrong, wrong[:10]
