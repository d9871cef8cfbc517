"""What a deployed model costs and how faithful its ONNX file is: the ``deploy`` dict of a compression result.

Measured for a compressed model and its uncompressed start model in the same process (one thread, same inputs),
so their ratios compare like with like. Latency is ONNX Runtime CPU time per image (median of repeated runs).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import torch
from torch import nn

from kdcore.compress.onnx_io import ort_latency_us, ort_logits, ort_session
from kdcore.metrics import count_macs
from kdcore.models.contract import layer_weights

THREADS = 1
REPEATS_B1 = 200
REPEATS_B64 = 20


def nonzero_params(model: nn.Module) -> int:
    return int(sum(int((p.detach() != 0).sum()) for p in model.parameters()))


def deploy_figures(model: nn.Module, onnx_path: Path, fmt: str, x_test: torch.Tensor, input_shape: tuple[int, ...],
                   torch_logits: torch.Tensor | None = None, repeats_b1: int = REPEATS_B1,
                   repeats_b64: int = REPEATS_B64) -> tuple[dict, torch.Tensor]:
    """(the ``deploy`` dict, the ONNX file's test logits). ``model``: the PyTorch network the file was made from
    (for int8, the float network it quantises); ``torch_logits``: its test logits (computed when None)."""
    session = ort_session(onnx_path, threads=THREADS)
    onnx_logits = ort_logits(session, x_test)
    if torch_logits is None:
        with torch.no_grad():
            torch_logits = model.eval()(x_test).logits
    data = Path(onnx_path).read_bytes()
    macs, params = count_macs(model, input_shape)
    nz = nonzero_params(model)
    flops = 2 * int(macs)
    weights = [w.detach() for w in layer_weights(model)]
    weight_params = sum(int(w.numel()) for w in weights)
    weight_nonzero = sum(int((w != 0).sum()) for w in weights)
    example = x_test[:64]
    deploy = {
        "format": fmt,
        "params": int(sum(p.numel() for p in model.parameters())),
        "nonzero_params": nz,
        "zero_share": 1.0 - nz / max(1, int(sum(p.numel() for p in model.parameters()))),
        # of the Linear/Conv weights alone (what pruning and the L1 penalty act on; biases excluded)
        "weight_zero_share": 1.0 - weight_nonzero / max(1, weight_params),
        "flops": flops,
        # the network as it runs (structured pruning makes it smaller, so both drop); unstructured zeros still run
        "flops_effective": flops,
        # what a sparse kernel could skip: FLOPs scaled by the non-zero share of the Linear/Conv weights
        "flops_if_sparse": int(round(flops * weight_nonzero / max(1, weight_params))),
        "onnx_bytes": len(data),
        "onnx_gzip_bytes": len(gzip.compress(data, compresslevel=9, mtime=0)),
        "ort_latency_us_b1": ort_latency_us(session, example, batch=1, repeats=repeats_b1),
        "ort_latency_us_b64": ort_latency_us(session, example, batch=64, repeats=repeats_b64),
        "max_abs_logit_diff": float((onnx_logits - torch_logits).abs().max()) if len(x_test) else 0.0,
        "same_predictions": bool(torch.equal(onnx_logits.argmax(1), torch_logits.argmax(1))),
        "threads": THREADS,
    }
    return deploy, onnx_logits
