"""ONNX export, ONNX Runtime int8 quantisation, sessions, logits and latency: the one path a model leaves PyTorch.

Why this path (issue 25, torch 2.14 / onnx 1.23 / onnxruntime 1.31): torch's default (dynamo) exporter writes a
graph whose value-info shapes ONNX Runtime's quantiser cannot re-infer ("Inferred shape and existing shape differ
in dimension 0"); running ``onnxruntime.quantization.quant_pre_process`` (symbolic shape inference + ORT graph
optimisation) first makes ``quantize_dynamic`` / ``quantize_static`` work. ``torch.ao.quantization`` is
deprecated in torch 2.14 and is not used.

Dynamic int8 (weights int8, activations quantised on the fly) suits the MLP, whose cost is its MatMuls; static QDQ
int8 (activation ranges calibrated on a few hundred training images) suits the CNNs, whose Conv ops need fixed
activation scales.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
OPSET = 18  # the dynamo exporter's default; ORT 1.31's quantiser supports it


class LogitsOnly(nn.Module):
    """A network that returns :class:`kdcore.models.ModelOutput` seen as one returning its logits only (the
    exported graph's single output, so the features are not computed or written)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return out.logits if hasattr(out, "logits") else out


def export_onnx(model: nn.Module, example: torch.Tensor, path: Path) -> Path:
    """``model`` (eval mode, CPU, float32) as an ONNX file at ``path`` with a dynamic batch axis; returns ``path``.

    The file holds the weights inside (no external data) so one file is the whole model. Written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapped = LogitsOnly(model).eval().cpu()
    example = example.detach().float().cpu()
    if example.shape[0] < 2:  # a batch of 2 keeps the exporter from specialising the batch axis to 1
        example = torch.cat([example, example], 0)
    batch = torch.export.Dim("batch", min=1)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(wrapped, (example,), dynamo=True, input_names=[INPUT_NAME],
                                    output_names=[OUTPUT_NAME], dynamic_shapes={"x": {0: batch}},
                                    opset_version=OPSET, verbose=False, optimize=True)
        program.save(str(tmp), external_data=False)
    tmp.replace(path)
    return path


def _preprocessed(fp32_path: Path, workdir: Path) -> Path:
    """The float32 model after ORT's quantisation pre-process (shape inference + graph optimisation)."""
    from onnxruntime.quantization import quant_pre_process

    out = workdir / "pre.onnx"
    quant_pre_process(str(fp32_path), str(out), skip_symbolic_shape=False)
    return out


class _Calibration:
    """ORT's CalibrationDataReader over a tensor of images, in small batches."""

    def __init__(self, images: torch.Tensor, batch_size: int = 32) -> None:
        arr = images.detach().float().cpu().numpy()
        self._batches = iter([{INPUT_NAME: arr[i:i + batch_size]} for i in range(0, len(arr), batch_size)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)

    def rewind(self) -> None:  # pragma: no cover - ORT calls it only for some calibrators
        pass


def quantize_int8(fp32_path: Path, out_path: Path, calibration: torch.Tensor | None = None) -> Path:
    """An int8 copy of the float32 ONNX model at ``fp32_path``, written to ``out_path`` (returned).

    ``calibration`` None: dynamic quantisation (int8 weights of MatMul/Gemm; the MLP). Else static QDQ: activation
    ranges (MinMax) calibrated on these images, int8 weights per channel (the CNNs, MobileNetV2)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pre = _preprocessed(Path(fp32_path), Path(d))
        if calibration is None:
            quantize_dynamic(str(pre), str(tmp), weight_type=QuantType.QInt8)
        else:
            if len(calibration) == 0:
                raise ValueError("static int8 needs at least one calibration image")

            class Reader(CalibrationDataReader):
                def __init__(self) -> None:
                    self.inner = _Calibration(calibration)

                def get_next(self) -> dict[str, np.ndarray] | None:
                    return self.inner.get_next()

            quantize_static(str(pre), str(tmp), Reader(), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True)
    tmp.replace(out_path)
    return out_path


def ort_session(path: Path | bytes, threads: int = 1) -> Any:
    """An ONNX Runtime CPU session of the model at ``path`` (or its bytes) with ``threads`` intra-op threads (one
    inter-op), so latency figures are of one core however many the machine has."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    src = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(src, sess_options=opts, providers=["CPUExecutionProvider"])


def ort_logits(session: Any, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The session's logits over ``x`` (float32 CPU tensor), in batches of ``batch_size``."""
    arr = x.detach().float().cpu().numpy()
    name = session.get_inputs()[0].name
    outs = [session.run(None, {name: arr[i:i + batch_size]})[0] for i in range(0, len(arr), batch_size)]
    if not outs:
        return torch.zeros(0, 0)
    return torch.from_numpy(np.concatenate(outs, 0)).float()


def ort_latency_us(session: Any, example: torch.Tensor, batch: int, repeats: int) -> float:
    """Median wall time per image, in µs, of running the session on a batch of ``batch`` images (the first
    ``batch`` rows of ``example``, repeated if it is shorter), over ``repeats`` timed runs after two warm-ups."""
    arr = example.detach().float().cpu().numpy()
    if len(arr) == 0:
        raise ValueError("latency needs at least one example image")
    reps = int(np.ceil(batch / len(arr)))
    arr = np.ascontiguousarray(np.concatenate([arr] * reps, 0)[:batch])
    name = session.get_inputs()[0].name
    feed = {name: arr}
    for _ in range(2):
        session.run(None, feed)
    times = []
    for _ in range(max(1, int(repeats))):
        t0 = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6 / batch
