"""Flushing denormal floats (kdcore.train.loop.flush_denormals) makes training faster and changes no result."""

from __future__ import annotations

import pytest
import torch

from kdcore.losses import CrossEntropy
from kdcore.models.mnist import StudentMLP
from kdcore.train.loop import FitSpec, adam, fit, flush_denormals

TINY = torch.finfo(torch.float32).tiny  # smallest normal float32: below it (and above 0) a value is denormal


@pytest.fixture(autouse=True)
def _flush_again_afterwards():
    yield
    flush_denormals()  # what every job sets; these tests switch it off for their reference runs


def _adam_after_one_gradient(flush: bool, steps: int = 900) -> tuple[torch.Tensor, torch.Tensor]:
    """A weight that gets a gradient once and zero gradients after (a border pixel's first-layer weight):
    Adam's first moment decays by 0.9 a step, into the denormal range after ~800 steps."""
    torch.set_flush_denormal(flush)
    w = torch.nn.Parameter(torch.tensor([0.5, -0.25]))
    opt = adam([w], 1e-3)
    for step in range(steps):
        w.grad = torch.tensor([0.01, 0.02]) if step == 0 else torch.zeros(2)
        opt.step()
    return w.detach().clone(), opt.state[w]["exp_avg"].clone()


def test_adams_moments_turn_denormal_and_flushing_them_moves_no_weight() -> None:
    w_plain, m_plain = _adam_after_one_gradient(flush=False)
    assert ((m_plain.abs() > 0) & (m_plain.abs() < TINY)).all(), m_plain  # the slow values this is about
    w_flush, m_flush = _adam_after_one_gradient(flush=True)
    if not flush_denormals():
        pytest.skip("this CPU has no flush-to-zero mode")
    assert torch.equal(m_flush, torch.zeros(2))
    assert torch.equal(w_flush, w_plain)  # an update of ~1e-38 / eps cannot move a float32 weight


def _train(flush: bool) -> dict[str, torch.Tensor]:
    torch.set_flush_denormal(flush)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3600, 1, 4, 4, generator=g)
    x[256:, 0, 0, 0] = 0.0  # one input seen only in the first batch: its weights' moments go denormal
    y = (x[:, 0, 1, 1] > 0.5).long()
    torch.manual_seed(0)
    model = StudentMLP(hidden=(8,), num_classes=2, in_features=16)
    fit(model, CrossEntropy(), x, y, x[:64], y[:64], FitSpec(epochs=1, batch_size=4, lr=1e-3, seed=0,
                                                             device=torch.device("cpu")))
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_training_with_denormals_flushed_gives_the_same_weights() -> None:
    # fit() sets the flag itself; switch it off inside for the reference run
    import kdcore.train.loop as loop

    real = loop.flush_denormals
    try:
        loop.flush_denormals = lambda: bool(torch.set_flush_denormal(False))
        plain = _train(flush=False)
    finally:
        loop.flush_denormals = real
    flushed = _train(flush=True)
    assert plain.keys() == flushed.keys()
    assert all(torch.equal(plain[k], flushed[k]) for k in plain)
