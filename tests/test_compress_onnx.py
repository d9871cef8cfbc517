"""ONNX export and ONNX Runtime int8 (kdcore.compress.onnx_io): the file's logits are the network's, int8 is smaller,
static QDQ quantisation of a small CNN runs and stays close."""

from __future__ import annotations

import torch

from kdcore.compress.onnx_io import export_onnx, ort_latency_us, ort_logits, ort_session, quantize_int8
from kdcore.models.mnist import StudentCNN, StudentMLP


def test_mlp_export_matches_torch_and_int8_is_smaller(tmp_path):
    torch.manual_seed(0)
    model = StudentMLP(hidden=(64, 32)).eval()
    x = torch.rand(70, 1, 28, 28)
    fp32 = export_onnx(model, x[:1], tmp_path / "m.onnx")
    session = ort_session(fp32)
    with torch.no_grad():
        want = model(x).logits
    got = ort_logits(session, x, batch_size=32)  # batches of 32, 32, 6: the batch axis is dynamic
    assert got.shape == want.shape
    assert (got - want).abs().max().item() < 1e-4
    int8 = quantize_int8(fp32, tmp_path / "q.onnx")
    assert int8.stat().st_size < fp32.stat().st_size
    z8 = ort_logits(ort_session(int8), x)
    assert z8.shape == want.shape and (z8 - want).abs().max().item() < 0.1
    assert ort_latency_us(session, x, batch=4, repeats=3) > 0


def test_small_cnn_static_qdq_int8_runs(tmp_path):
    torch.manual_seed(0)
    model = StudentCNN(width=2).eval()
    x = torch.rand(40, 1, 28, 28)
    fp32 = export_onnx(model, x[:1], tmp_path / "c.onnx")
    int8 = quantize_int8(fp32, tmp_path / "cq.onnx", calibration=x[:32])
    import onnx

    ops = {n.op_type for n in onnx.load(str(int8)).graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops  # QDQ format, not the dynamic MatMulInteger
    with torch.no_grad():
        want = model(x).logits
    got = ort_logits(ort_session(int8), x)
    scale = want.abs().max().item()
    assert (got - want).abs().max().item() < 0.1 * scale + 1e-3
