"""The compression job: what :func:`kdcore.train.job.run_job` runs for a config with ``start_from``.

Flow: the start model's result (a job of its own, which the runner queued first, so a start model whose weights
were not kept is retrained through its own job) → its network (:func:`load_compressed`) → the transform
(:mod:`kdcore.compress.transforms`) → an optional fine-tune in the one loop (:func:`kdcore.train.loop.fit`, the
job's method's loss: scratch = labels, hinton + teacher = "prune, then distil") → ONNX export (+ int8) → the
``deploy`` figures of this model and of the model it is measured against — the chain's uncompressed root, or for a
root trained with an L1 penalty its twin without one (:func:`kdcore.compress.transforms.reference_config`) — measured
here in one process (:mod:`kdcore.compress.measure`) → one atomic store write: result + weights + the ONNX file (tensor group
``onnx``, key ``bytes``: uint8).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from kdcore.compress import transforms as tf
from kdcore.compress.measure import deploy_figures
from kdcore.compress.onnx_io import export_onnx, quantize_int8
from kdcore.config import JobConfig
from kdcore.data import ArrayDataset
from kdcore.data.pairs import data_pair
from kdcore.methods import build_loss
from kdcore.metrics import ZERO_THRESHOLD, classification_metrics, complexity, weight_sparsity
from kdcore.models import build_model
from kdcore.predictions import GROUP as PREDICTIONS
from kdcore.predictions import prediction_tensors
from kdcore.train.common import (
    AnyStore,
    RunTeacher,
    load_model,
    result_record,
    subset,
    teacher_train_logits,
)
from kdcore.train.keys import job_key, stored_teacher
from kdcore.train.loop import FitSpec, ProgressFn, fit

ONNX_GROUP = "onnx"  # the tensor group holding the stored ONNX file's bytes (uint8 vector under "bytes")


def load_compressed(result: dict, store: AnyStore) -> nn.Module:
    """The PyTorch network of any stored result, compressed or not: structured pruning's smaller hidden sizes are
    read from ``result["compression"]["hidden"]``. (An int8 result's network is its float start network; its int8
    graph is the stored ONNX file: :func:`onnx_bytes`.)"""
    hidden = (result.get("compression") or {}).get("hidden")
    if hidden is None:
        return load_model(result, store)
    config = JobConfig.from_dict(result["config"]).replace(hidden=tuple(hidden))
    return load_model({**result, "config": config.to_dict()}, store)


def onnx_bytes(result: dict, store: AnyStore) -> bytes | None:
    """The ONNX file stored with a compression result (int8 for int8 results, float32 otherwise), or None."""
    group = store.load_tensors(result["key"], ONNX_GROUP)
    return None if not group or "bytes" not in group else group["bytes"].numpy().tobytes()


def calibration_images(config: JobConfig, data: ArrayDataset, n: int) -> torch.Tensor:
    """The static-int8 calibration set: the first ``n`` training images of the job's split."""
    xtr = subset(data, config)[0]
    return xtr[: int(n)].to("cpu")  # a tensor, also where the images are files decoded on demand (MHIST, folders)


def _fetch(cfg: JobConfig, data: ArrayDataset, store: AnyStore, run_teacher: RunTeacher, stage: str) -> dict:
    hit = store.get(job_key(cfg, data), need_weights=True)
    return hit if hit is not None else run_teacher(cfg, stage)


def _finetune(config: JobConfig, model: nn.Module, data: ArrayDataset, store: AnyStore, run_teacher: RunTeacher,
              epochs: int, progress: ProgressFn, cancel: object | None) -> tuple[list[dict], dict | None]:
    teacher_result = teacher_logits = None
    if config.teacher is not None:
        teacher_result = stored_teacher(config, store, data) or run_teacher(config.teacher, "teacher")
        teacher_logits = teacher_train_logits(teacher_result, data.x_train, store, limit=config.train_limit)
    teacher_for_loss = build_model(config.teacher, int(teacher_result["num_outputs"])) if teacher_result else None
    loss_fn = build_loss(config, model, teacher_for_loss)  # an L1-trained start keeps its penalty
    xtr, ytr, xte, yte = subset(data, config)
    if teacher_logits is not None:
        teacher_logits = teacher_logits[: len(xtr)]
    progress({"stage": "train", "epoch": 0, "epochs": epochs, "message": "fine-tuning"})
    history = fit(model, loss_fn, xtr, ytr, xte, yte, FitSpec(
        epochs=epochs, batch_size=config.batch_size, lr=config.lr, seed=config.seed,
        teacher_logits=teacher_logits, progress=progress, cancel=cancel))
    return history, teacher_result


def compute(config: JobConfig, key: str, data: ArrayDataset, store: AnyStore, progress: ProgressFn,
            cancel: object | None, run_teacher: RunTeacher) -> dict:
    """Run one compression job (see the module docstring) and return its stored result."""
    t_start = time.perf_counter()
    pair = data_pair(config.dataset)
    name = str(config.param_c("transform", ""))
    assert config.start_from is not None
    progress({"stage": "start", "message": f"start model {config.start_from.short_name()}"})
    start_result = _fetch(config.start_from, data, store, run_teacher, "start")
    start_comp = start_result.get("compression") or {}
    root_key = start_comp.get("start_key", start_result["key"])
    root_config = tf.chain_root(config)
    # what it is measured against: the chain's root, or for an L1-trained root its twin without the penalty
    ref_config = tf.reference_config(config)
    ref_result = start_result if job_key(ref_config, data) == start_result["key"] else _fetch(
        ref_config, data, store, run_teacher, "reference")
    model = load_compressed(start_result, store).cpu().eval()
    hidden = start_comp.get("hidden")
    step: dict = {"transform": name, **{k: tf.setting(config, k) for k in tf.TRANSFORMS[name].settings}}
    epochs = int(step.get("finetune_epochs", 0))
    torch.manual_seed(config.seed)
    if name == "prune":
        tf.prune_global(model, float(step["sparsity"]))
    elif name == "prune_structured":
        model, sizes = tf.prune_mlp_units(model, float(step["keep"]))
        hidden = list(sizes)
    elif name == "share":
        tf.share_weights(model, int(step["bits"]), seed=config.seed)
    elif name == "onnx" and float(step["zero_below"]):
        tf.zero_below(model, float(step["zero_below"]))
    else:
        step.pop("zero_below", None)  # a plain export: its record stays as it always was
    history: list[dict] = []
    teacher_result = None
    t_train = time.perf_counter()
    if epochs:
        history, teacher_result = _finetune(config, model.train(), data, store, run_teacher, epochs, progress, cancel)
        step["finetune_method"] = config.method
        if config.teacher is not None:
            step["teacher_key"] = teacher_result["key"] if teacher_result else None
    tf.make_permanent(model)
    model = model.cpu().eval()
    train_s = time.perf_counter() - t_train
    progress({"stage": "eval", "message": "exporting and measuring"})
    xtr, ytr, xte, yte = subset(data, config)
    xte = xte.to("cpu")  # decoded once where the test images are files (MHIST, folders): export and ORT need a tensor
    if pair.imagenet_normalized:
        from kdcore.models.mhist import imagenet_normalize

        xte_in, calib_tf = imagenet_normalize(xte), imagenet_normalize
    else:
        xte_in, calib_tf = xte, None
    with tempfile.TemporaryDirectory() as d:
        fp32 = export_onnx(model, xte_in[:1], Path(d) / "model.onnx")
        onnx_file, fmt = fp32, "onnx-fp32"
        if name == "int8":
            calib = None
            if config.arch != "student_mlp":  # static QDQ for conv nets
                calib = calibration_images(config, data, int(step["calibration"]))
                calib = calib_tf(calib) if calib_tf else calib
                step["calibration_source"] = f"first {len(calib)} training images"
            else:
                step["mode"] = "dynamic"
            onnx_file, fmt = quantize_int8(fp32, Path(d) / "model.int8.onnx", calibration=calib), "onnx-int8"
            if calib is not None:
                step["mode"] = "static QDQ"
        with torch.no_grad():
            torch_logits = model(xte_in).logits
        deploy, ort_logits_test = deploy_figures(model, onnx_file, fmt, xte_in, pair.input_shape, torch_logits)
        file_bytes = onnx_file.read_bytes()
        ref_model = load_compressed(ref_result, store).cpu().eval()
        ref_fp32 = export_onnx(ref_model, xte_in[:1], Path(d) / "reference.onnx")
        reference, ref_logits = deploy_figures(ref_model, ref_fp32, "onnx-fp32", xte_in, pair.input_shape)
    positive = pair.positive_index
    # the result's metrics are what the deployed file scores (int8: ONNX Runtime's int8 logits)
    logits = ort_logits_test if name == "int8" else torch_logits
    metrics = classification_metrics(yte, torch.softmax(logits, 1), positive=positive)
    reference["metrics"] = classification_metrics(yte, torch.softmax(ref_logits, 1), positive=positive)
    reference["key"] = ref_result["key"]
    if hidden is not None:
        step["hidden"] = list(hidden)
    chain = list(start_comp.get("chain", [])) + [step]
    compression = {"chain": chain, "start_key": root_key, "start": root_config.short_name(),
                   "parent_key": start_result["key"], "family": tf.family(chain, root_config),
                   "hidden": hidden, "distinct_weight_values": tf.distinct_values(model)}
    if root_config.l1:  # sparse regularisation: the penalty, and the share of zeros at the stated threshold
        reference["name"] = ref_config.short_name()
        threshold = float(step.get("zero_below") or ZERO_THRESHOLD)
        compression.update({"l1": root_config.l1, "sparsity": weight_sparsity(model, threshold)})
        reference["sparsity"] = weight_sparsity(ref_model, threshold)
    cx = complexity(model, pair.input_shape, latency_repeats=0)
    result = result_record(config, data, n_train=len(xtr), n_test=len(xte), num_outputs=int(start_result["num_outputs"]),
                           history=history, metrics=metrics, complexity=cx, teacher_result=teacher_result,
                           train_s=train_s, wall_s=time.perf_counter() - t_start, device="cpu")
    result.update({"compression": compression, "deploy": deploy, "reference": reference})
    tensors = {"weights": model.state_dict(), PREDICTIONS: prediction_tensors(logits, yte),
               ONNX_GROUP: {"bytes": torch.frombuffer(bytearray(file_bytes), dtype=torch.uint8)}}
    stored = store.put(key, result, tensors, replace=True)
    progress({"stage": "done", "message": "done"})
    return stored
