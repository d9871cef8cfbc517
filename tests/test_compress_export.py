"""Take the student home (issue 25): ``python -m kdcore export`` writes a model file and its card, a key
stored without weights is retrained through its own job, and the ONNX file opened in a fresh onnxruntime
session predicts what the stored model predicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from kdcore.cli import main
from kdcore.compress.export import export_model, resolve_target
from kdcore.config import ConfigError
from kdcore.course import course_student
from kdcore.jobs.submit import run_through_runner
from kdcore.store import open_store


def tiny(seed: int = 0):  # noqa: ANN201 - JobConfig
    return course_student("mnist", "scratch", seed=seed, epochs=1, train_limit=256, test_limit=128, hidden=(32,))


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("KD_OFFLINE", "1")
    return tmp_path


def test_safetensors_export_of_a_key_round_trips(env: Path, capsys: pytest.CaptureFixture) -> None:
    result = run_through_runner(tiny())
    assert main(["export", result["key"], "--format", "safetensors", "--out", str(env / "out")]) == 0
    files = sorted(p.name for p in (env / "out").iterdir())
    assert any(f.endswith(".safetensors") for f in files) and any(f.endswith(".card.md") for f in files)
    from safetensors.torch import load_file

    st = next((env / "out").glob("*.safetensors"))
    stored = open_store().load_tensors(result["key"], "weights")
    got = load_file(str(st))
    assert got.keys() == stored.keys() and all(torch.equal(got[k], stored[k]) for k in got)
    card = json.loads(next((env / "out").glob("*.card.json")).read_text())
    assert card["key"] == result["key"] and card["seeds"][0]["seed"] == 0
    assert card["metrics"]["accuracy"] == result["metrics"]["accuracy"]
    assert card["reproduce"].startswith("python -m kdcore export ")
    # the card's JSON is itself a config file the export takes (the command that reproduces it)
    assert resolve_target(str(next((env / "out").glob("*.card.json")))).key() == tiny().key()


def test_weightless_result_is_retrained_through_its_job(env: Path) -> None:
    result = run_through_runner(tiny(seed=1))
    store = open_store()
    assert store.get(result["key"], need_weights=True) is not None  # drop the weights, as shipped results do
    strip = {k: v for k, v in result.items() if k not in ("cached", "key", "files")}
    store.writable.put(result["key"], strip, None, replace=True)
    assert store.get(result["key"], need_weights=True) is None
    events: list[dict] = []
    done = export_model(result["key"], "safetensors", env / "out", progress=events.append)
    assert done.retrained and done.card["retrained_for_export"]
    assert any(e.get("stage") == "retrain" for e in events)
    assert "retrained through its own job" in done.card_md.read_text()
    assert store.get(result["key"], need_weights=True) is not None


def test_bad_targets_are_refused_before_any_work(env: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["export", "0123456789abcdef0123", "--format", "safetensors", "--out", str(env / "o")]) == 2
    assert "no stored model with key" in capsys.readouterr().err
    assert main(["export", "not a key", "--out", str(env / "o")]) == 2
    assert "neither a store key nor a config file" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="unknown export format"):
        export_model("0123456789abcdef0123", "tflite", env / "o")
    assert not (env / "o").exists()


@pytest.mark.slow  # two dynamo exports (~14 s on a busy core)
def test_onnx_export_opens_in_a_fresh_session_with_the_same_predictions(env: Path) -> None:
    pytest.importorskip("kdcore.compress.onnx_io")
    import onnxruntime as ort

    result = run_through_runner(tiny(seed=2))
    assert main(["export", result["key"], "--format", "onnx", "--out", str(env / "out")]) == 0
    path = next((env / "out").glob("*.onnx"))
    from kdcore.inference import test_logits

    logits, y, x = (t[: result["n_test"]] for t in test_logits(result))  # the job's own test images
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.float().numpy()})[0]
    assert (torch.from_numpy(got).argmax(1) == logits.argmax(1)).all()
    acc = float((torch.from_numpy(got).argmax(1) == y).float().mean())
    assert acc == pytest.approx(result["metrics"]["accuracy"], abs=1e-9)
    int8 = export_model(result["key"], "onnx-int8", env / "out8")
    assert int8.model_path.stat().st_size < path.stat().st_size
    ort.InferenceSession(str(int8.model_path), providers=["CPUExecutionProvider"])


@pytest.mark.slow  # a compression job (two exports) and an export (~25 s on a busy core)
def test_a_real_int8_job_from_the_page_settings_exports_with_its_recorded_accuracy(env: Path) -> None:
    """The page's settings → the engine's job through the one submit path → ``export --format onnx-int8``: a fresh
    onnxruntime session scores the recorded int8 accuracy on the job's test images."""
    pytest.importorskip("kdcore.compress.onnx_io")
    import onnxruntime as ort

    from kdcore.views import compress as cv

    start = run_through_runner(tiny(seed=3))
    events: list[dict] = []
    r = cv.run_compression(cv.Settings(start_key=start["key"], int8=True), events.append)
    assert r["compression"]["family"] == "quantisation" and r["deploy"]["format"] == "onnx-int8"
    view = cv.tradeoff("mnist")
    assert {"quantisation", cv.REFERENCE} <= set(view.points["family"])
    assert main(["export", r["key"], "--format", "onnx-int8", "--out", str(env / "o8")]) == 0
    path = next((env / "o8").glob("*.onnx"))
    assert path.stat().st_size == r["deploy"]["onnx_bytes"]  # the file the job measured
    from kdcore.inference import load_data

    data = load_data(r)
    x, y = data.x_test[: r["n_test"]].float(), data.y_test[: r["n_test"]]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = torch.from_numpy(sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0])
    assert float((got.argmax(1) == y).float().mean()) == pytest.approx(r["metrics"]["accuracy"], abs=1e-9)
    card = json.loads(next((env / "o8").glob("*.card.json")).read_text())
    assert card["compression_chain"][0]["transform"] == "int8" and card["deploy"]["format"] == "onnx-int8"


@pytest.mark.slow  # a 224×224 MobileNetV2 exported twice (dynamo; static int8 calibrated): ~30 s on a busy core
@pytest.mark.usefixtures("mhist_env", "one_torch_thread")
def test_the_mhist_student_exports_as_onnx_and_static_int8(env: Path) -> None:
    """The MHIST pair's student (MobileNetV2, on the tiny synthetic stand-in, random init: no weight files read):
    its float32 ONNX file predicts what the stored model predicts on the job's own test images (ImageNet-normalised
    inside the file: the user feeds 0–255 images as the data set stores them), and its int8 file is static QDQ,
    smaller, and opens in a fresh onnxruntime session."""
    pytest.importorskip("kdcore.compress.onnx_io")
    import onnxruntime as ort

    from kdcore.inference import test_logits

    tiny_mhist = dict(data_source="mhist-synthetic-6-4", train_limit=4, test_limit=4, extra=(("pretrained", "none"),),
                      method_params=(("stage1_epochs", 1), ("stage2_epochs", 1)))
    result = run_through_runner(course_student("mhist_synthetic", "scratch", **tiny_mhist))
    assert result["config"]["arch"] == "mobilenet_v2"
    fp32 = export_model(result["key"], "onnx", env / "fp32")
    logits, _, x = (t[: result["n_test"]] for t in test_logits(result))
    sess = ort.InferenceSession(str(fp32.model_path), providers=["CPUExecutionProvider"])
    x = x.to("cpu").float()  # the stand-in's tiles are files, decoded here
    got = torch.from_numpy(sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0])
    assert torch.allclose(got, logits.float(), atol=1e-3), (got - logits).abs().max()
    int8 = export_model(result["key"], "onnx-int8", env / "int8")
    assert "static QDQ" in json.dumps(int8.card)
    assert int8.model_path.stat().st_size < fp32.model_path.stat().st_size / 3
    ort.InferenceSession(str(int8.model_path), providers=["CPUExecutionProvider"])
