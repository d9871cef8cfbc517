"""The Compress page (issue 25) in AppTest: it renders its trade-off charts on stored compression results,
refuses bad settings with a message before any job runs, and hands out a model file.

Until the compression engine's shipped results exist, the results here are tiny real training results given
the ``compression`` / ``deploy`` / ``reference`` records the engine's contract describes (their figures are
derived from each result's own measured complexity, not invented per test).
"""

from __future__ import annotations

from pathlib import Path

import apphelpers
import pytest

from kdcore.course import course_student
from kdcore.jobs.submit import run_through_runner
from kdcore.store import open_store
from kdcore.views import compress as cv

TIMEOUT = 120


def tiny(seed: int = 0, method: str = "scratch"):  # noqa: ANN201 - JobConfig
    return course_student("mnist", method, seed=seed, epochs=1, train_limit=256, test_limit=128, hidden=(32,))


def deploy_of(r: dict, shrink: float = 1.0) -> dict:
    c = r["complexity"]
    return {"format": "onnx-fp32" if shrink == 1.0 else "onnx-int8", "params": c["params"],
            "nonzero_params": c["params"], "flops": c["flops"], "flops_effective": c["flops"],
            "onnx_bytes": int(c["weights_bytes"] / shrink), "onnx_gzip_bytes": int(c["weights_bytes"] / shrink * 0.9),
            "ort_latency_us_b1": c["latency_ms"] * 1000 / shrink, "ort_latency_us_b64": c["latency_ms"] * 100 / shrink,
            "max_abs_logit_diff": 0.0, "same_predictions": shrink == 1.0, "threads": 1}


@pytest.fixture
def compressed_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_app_caches: None) -> dict:
    monkeypatch.setenv("KD_APP_TINY", "1")
    monkeypatch.setenv("KD_OFFLINE", "1")
    monkeypatch.setattr("kdcore.store.SHIPPED_STORE", tmp_path / "no-shipped-results")
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    start = run_through_runner(tiny())
    store = open_store()
    for seed in (0, 1):  # a pretend int8 twin of the start per seed, in the contract's shape
        record = {k: v for k, v in start.items() if k not in ("cached", "key", "files")}
        record["name"] = start["name"].rsplit(" s", 1)[0] + f" int8 s{seed}"
        record["config"] = {**start["config"], "seed": seed}
        record["compression"] = {"chain": [{"transform": "int8"}], "start_key": start["key"], "start": start["name"],
                                 "family": "quantisation"}
        record["deploy"] = deploy_of(start, 4.0)
        record["reference"] = {**deploy_of(start), "metrics": start["metrics"]}
        store.put(f"c0ffee{seed:014d}", record)
    return start


def test_tradeoff_frames_compare_like_with_like(compressed_store: dict) -> None:
    view = cv.tradeoff()
    assert view.datasets == ["mnist"]
    fam = dict(zip(view.points["family"], view.points["seeds"], strict=True))
    assert fam == {"quantisation": 2, cv.REFERENCE: 1}
    ref = view.points[view.points["reference"]].iloc[0]
    q = view.points[~view.points["reference"]].iloc[0]
    assert q["size_kb"] == pytest.approx(ref["size_kb"] / 4, rel=1e-3)
    assert ref["accuracy"] == pytest.approx(100 * compressed_store["metrics"]["accuracy"])


def test_page_renders_charts_and_refuses_bad_settings(compressed_store: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    submitted: list = []
    monkeypatch.setattr("kdcore.jobs.submit.run_through_runner", lambda *a, **k: submitted.append(a))
    at = apphelpers.open_page("app_pages/compress.py", TIMEOUT)
    assert len(at.get("arrow_vega_lite_chart")) + len(at.get("vega_lite_chart")) >= 2
    assert not at.error
    at.number_input(key="cps_sparsity").set_value(1.0)
    next(iter(at.get("form_submit_button"))).click().run()
    errors = " ".join(e.value for e in at.error).replace("\\", "")  # shown escaped (views.text.plain)
    assert "sparsity 1 is outside [0, 1)" in errors, errors
    at.number_input(key="cps_sparsity").set_value(0.0)
    at.checkbox(key="cps_share").check()
    at.number_input(key="cps_bits").set_value(0)
    next(iter(at.get("form_submit_button"))).click().run()
    assert "weight sharing needs 1–8 bits" in " ".join(e.value for e in at.error).replace("\\", "")
    assert submitted == []  # nothing reached the submit path


def test_unknown_model_is_refused_before_any_work(compressed_store: dict) -> None:
    with pytest.raises(cv.ConfigError, match="unknown model"):
        cv.check_settings(cv.Settings(start_key="0123456789abcdef0123", int8=True))
    with pytest.raises(cv.ConfigError, match="at least one transform"):
        cv.check_settings(cv.Settings(start_key=compressed_store["key"]))


def test_page_download_gives_the_model_file(compressed_store: dict) -> None:
    at = apphelpers.open_page("app_pages/compress.py", TIMEOUT)
    at.selectbox(key="cps_download_key").set_value(compressed_store["key"])
    at.radio(key="cps_format").set_value("safetensors")
    at.button(key="cps_prepare").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    got = at.session_state["cps_file"]
    from safetensors.torch import load

    assert load(got.data).keys() == open_store().load_tensors(compressed_store["key"], "weights").keys()
    assert got.card.startswith(b"# Model card")


@pytest.mark.slow  # a dynamo export
def test_download_onnx_opens_in_onnxruntime(compressed_store: dict) -> None:
    pytest.importorskip("kdcore.compress.onnx_io")
    import onnxruntime as ort

    got = cv.download(compressed_store["key"], "onnx")
    ort.InferenceSession(got.data, providers=["CPUExecutionProvider"])


def test_learn_links_each_family_to_its_live_result(compressed_store: dict) -> None:
    words = dict(cv.family_results())
    assert list(words) == list(cv.FAMILIES[:5])
    assert words["quantisation"].startswith("4.0× smaller")
    assert words["pruning"].startswith("no stored result yet")
    at = apphelpers.open_page("app_pages/learn.py", TIMEOUT)
    links = at.get("page_link")
    assert sum("compress" in str(getattr(link, "proto", link)) for link in links) >= 5
    assert cv.linked_family({"family": "weight-sharing"}) == ("weight sharing", None)
    assert cv.linked_family({"family": "<b>x"})[0] is None


def _int8_twin(store, start: dict, key: str, drop: float) -> None:  # noqa: ANN001
    record = {k: v for k, v in start.items() if k not in ("cached", "key", "files")}
    record["metrics"] = {**start["metrics"], "accuracy": start["metrics"]["accuracy"] - drop}
    record["compression"] = {"chain": [{"transform": "int8"}], "start_key": start["key"], "start": start["name"],
                             "family": "quantisation"}
    record["deploy"] = deploy_of(start, 4.0)
    record["reference"] = {**deploy_of(start), "metrics": start["metrics"]}
    store.put(key, record)


def test_lesson_int8_step_answers_from_the_stored_pairs(compressed_store: dict) -> None:
    from kdcore.views import lesson

    store = open_store()
    assert lesson.reveal("int8", "mnist").correct is None  # only the scratch student has int8 twins so far
    assert "precompute" in lesson.reveal("int8", "mnist").answer
    kd = tiny(method="hinton")
    kd = kd.replace(teacher=kd.teacher.replace(epochs=1, train_limit=256, test_limit=128))
    kd_starts = [run_through_runner(kd.replace(seed=s)) for s in (0, 1)]
    for i, start in enumerate(kd_starts):
        _int8_twin(store, start, f"feed{i:016d}", 0.02 + 0.001 * i)  # KD students lose ~2 points
    drops = lesson.int8_drops("mnist")
    assert set(drops["student"]) == {"KD student", "scratch student"}
    got = lesson.reveal("int8", "mnist")
    step = lesson.STEPS[lesson.step_index("int8")]
    assert got.correct == step.options[0] and "seed" in got.source and "Data:" in got.source
    assert len(lesson.demo("int8", "mnist").frame) == len(drops) == 4


def test_learn_says_what_distillation_buys_against_the_scratch_twin(shipped_env) -> None:  # noqa: ANN001
    """Distillation's words on Learn compare the distilled student with the same network trained from scratch (a
    model against itself would read "1.0× smaller, +0.00 points"), seed means of the shipped float32 exports."""
    import statistics

    from kdcore.compress.results import compression_results

    words = dict(cv.family_results())["distillation"]
    onnx = [r for r in compression_results("fashion_mnist") if [s["transform"] for s in r["compression"]["chain"]]
            == ["onnx"] and not r["config"]["start_from"].get("l1")]
    kd = statistics.fmean(100 * r["metrics"]["accuracy"] for r in onnx if r["config"]["start_from"]["teacher"])
    scratch = statistics.fmean(100 * r["metrics"]["accuracy"] for r in onnx if not r["config"]["start_from"]["teacher"])
    assert words.startswith(f"{kd - scratch:+.2f} accuracy points over the same network trained from scratch")
    assert f"{kd:.2f} % vs {scratch:.2f} %" in words and "Fashion-MNIST, 3 seeds" in words
    assert "fashion_mnist/" not in words  # in words, not code names
