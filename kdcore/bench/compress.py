"""``bench --only compress``: what ONNX Runtime int8 buys the course's students on one CPU thread.

The course KD student (full Fashion-MNIST, seed 0; its weights ship in assets/store) and the small CNN student
(MNIST, seed 0, scratch; shipped too), each exported to float32 ONNX and quantised to int8 (dynamic for the MLP,
static QDQ on 256 training images for the CNN), measured in this process: file bytes, ORT latency per image at
batch 1 and 64 (one thread, median), test accuracy of each file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from kdcore.bench import Target
from kdcore.compress.measure import deploy_figures


def _stored(config_filter) -> dict | None:
    from kdcore.store import open_store

    store = open_store()
    for r in store.list():
        if config_filter(r) and store.get(r["key"], need_weights=True) is not None:
            return r
    return None


def _measure(result: dict, quick: bool) -> dict:
    from kdcore.compress.onnx_io import export_onnx, quantize_int8
    from kdcore.config import JobConfig
    from kdcore.data import load_dataset
    from kdcore.data.pairs import data_pair
    from kdcore.store import open_store
    from kdcore.train.common import load_model, subset

    config = JobConfig.from_dict(result["config"])
    data = load_dataset(config.dataset, config.data_source)
    xtr, _, xte, yte = subset(data, config)
    if quick:
        xte, yte = xte[:1000], yte[:1000]
    model = load_model(result, open_store()).cpu().eval()
    shape = data_pair(config.dataset).input_shape
    reps = (50, 5) if quick else (300, 30)
    with tempfile.TemporaryDirectory() as d:
        fp32 = export_onnx(model, xte[:1], Path(d) / "m.onnx")
        calib = None if config.arch == "student_mlp" else xtr[:256]
        int8 = quantize_int8(fp32, Path(d) / "m.int8.onnx", calibration=calib)
        f, zf = deploy_figures(model, fp32, "onnx-fp32", xte, shape, repeats_b1=reps[0], repeats_b64=reps[1])
        q, zq = deploy_figures(model, int8, "onnx-int8", xte, shape, repeats_b1=reps[0], repeats_b64=reps[1])
    acc_f = float((zf.argmax(1) == yte).float().mean()) * 100
    acc_q = float((zq.argmax(1) == yte).float().mean()) * 100
    return {
        "model": result["name"], "mode": "dynamic" if calib is None else "static QDQ (256 training images)",
        "n_test": len(yte), "fp32_bytes": f["onnx_bytes"], "int8_bytes": q["onnx_bytes"],
        "size_ratio": f["onnx_bytes"] / q["onnx_bytes"],
        "fp32_us_b1": f["ort_latency_us_b1"], "int8_us_b1": q["ort_latency_us_b1"],
        "latency_ratio_b1": f["ort_latency_us_b1"] / q["ort_latency_us_b1"],
        "fp32_us_b64": f["ort_latency_us_b64"], "int8_us_b64": q["ort_latency_us_b64"],
        "latency_ratio_b64": f["ort_latency_us_b64"] / q["ort_latency_us_b64"],
        "fp32_accuracy_pct": acc_f, "int8_accuracy_pct": acc_q, "accuracy_drop_points": acc_f - acc_q,
        "fp32_same_predictions_as_torch": f["same_predictions"],
    }


def run(quick: bool) -> dict:
    from kdcore.course import course_student
    from kdcore.train import job_key

    torch.set_num_threads(1)
    key = job_key(course_student("fashion_mnist", "hinton"))
    mlp = _stored(lambda r: r["key"] == key)
    cnn = _stored(lambda r: r.get("dataset") == "mnist" and r["config"].get("arch") == "student_cnn"
                  and r["config"].get("method") == "scratch" and r.get("seed") == 0 and "compression" not in r)
    out: dict = {}
    for name, r in (("mlp", mlp), ("cnn", cnn)):
        out[name] = _measure(r, quick) if r is not None else {"error": "no stored weights (run precompute)"}
    return out


# Issue 25's floor, for each student against its own float32 ONNX twin measured in the same run.
TARGETS: list[Target] = [
    target for name, words in (("mlp", "course MLP"), ("cnn", "small CNN (static QDQ)")) for target in (
        (f"int8 {words} >= 3.5x smaller ONNX file", f"{name}.size_ratio", lambda v: v >= 3.5),
        (f"int8 {words} >= 1.5x faster per image (ORT, batch 1, 1 thread)", f"{name}.latency_ratio_b1",
         lambda v: v >= 1.5),
        (f"int8 {words} within 0.5 accuracy points", f"{name}.accuracy_drop_points", lambda v: v <= 0.5),
    )
]
