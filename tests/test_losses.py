"""Tests of the issue-5 losses: maths on tiny hand-computed fixtures, zero loss/gradient when the
student equals the teacher, shapes, every registry entry on a tiny batch of the real MNIST models,
and the pre-training checks. (Hinton/scratch tests may live in this file too; keep names distinct.)
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kdcore.config import ConfigError, JobConfig
from kdcore.course import course_teacher
from kdcore.losses import Batch
from kdcore.losses.attention import AttentionTransfer, attention_map, attention_vector
from kdcore.losses.born_again import ban_ensemble_logits
from kdcore.losses.dkd import DecoupledKD, nckd, tckd
from kdcore.losses.features import parse_layer_pairs
from kdcore.losses.fitnet import FitNetLoss, hint_loss
from kdcore.losses.hinton import soft_target_kl
from kdcore.losses.subclass import (
    SubclassKD,
    SubclassTeacherLoss,
    class_logits_from_subclass,
    subclass_contrastive_loss,
    subclass_shares,
)
from kdcore.methods import METHODS, check_method_fits, validate
from kdcore.methods.born_again import ban_ensemble_config, born_again_configs, born_again_generation, ensemble_members
from kdcore.methods.early_stopped import early_stopped_teacher
from kdcore.methods.subclass import subclass_configs
from kdcore.methods.takd import teacher_assistant_configs
from kdcore.models.contract import ModelOutput
from kdcore.models.mnist import StudentCNN, StudentMLP, TeacherCNN


def _batch(y: list[int]) -> Batch:
    y_t = torch.tensor(y)
    return Batch(torch.zeros(len(y), 1, 28, 28), y_t, torch.arange(len(y)))


# ---- FitNets -------------------------------------------------------------------------------------
def test_fitnet_hint_loss_known_value() -> None:
    # ½ · mean((1-0)², (2-0)²) = ½ · 2.5
    assert hint_loss(torch.tensor([[1.0, 2.0]]), torch.zeros(1, 2)).item() == pytest.approx(1.25)


def test_fitnet_zero_hint_and_gradient_when_student_matches_teacher() -> None:
    loss = FitNetLoss((3,), (3,), hint_layer="h", guided_layer="g", beta=10.0)
    with torch.no_grad():  # identity regressor: r(f_S) = f_S
        loss.regressor.weight.copy_(torch.eye(3))
        loss.regressor.bias.zero_()
    feat = torch.randn(2, 3)
    f_s = feat.clone().requires_grad_(True)
    logits = torch.randn(2, 4)
    terms = loss(ModelOutput(logits, {"g": f_s}), ModelOutput(logits, {"h": feat}), _batch([0, 1]))
    assert terms["hint"].item() == pytest.approx(0.0, abs=1e-12)
    terms["hint"].backward()
    assert torch.count_nonzero(f_s.grad) == 0


def test_fitnet_stage_switch_and_weights() -> None:
    torch.manual_seed(0)
    loss = FitNetLoss((2,), (3,), hint_layer="h", guided_layer="g", beta=10.0, alpha=0.25, stage1_epochs=2)
    s_out = ModelOutput(torch.randn(2, 4), {"g": torch.randn(2, 2)})
    t_out = ModelOutput(torch.randn(2, 4), {"h": torch.randn(2, 3)})
    b = _batch([0, 3])
    raw_hint = hint_loss(loss.regress(s_out.features["g"]), t_out.features["h"])
    loss.on_epoch_start(1)  # stage 1: hint only, unweighted
    t1 = loss(s_out, t_out, b)
    assert t1["kd"].item() == 0.0 and t1["ce"].item() == 0.0
    assert t1["hint"].item() == pytest.approx(raw_hint.item())
    loss.on_epoch_start(2)  # stage 2: β·hint + α·KD + (1-α)·CE
    t2 = loss(s_out, t_out, b)
    assert t2["hint"].item() == pytest.approx(10.0 * raw_hint.item())
    assert t2["kd"].item() == pytest.approx(0.25 * soft_target_kl(s_out.logits, t_out.logits, 4.0).item())
    assert t2["ce"].item() == pytest.approx(0.75 * F.cross_entropy(s_out.logits, b.y).item())


def test_fitnet_conv_regressor_shapes() -> None:
    loss = FitNetLoss((4, 5, 5), (6, 7, 7))
    assert loss.regress(torch.randn(2, 4, 5, 5)).shape == (2, 6, 7, 7)
    with pytest.raises(ValueError):
        FitNetLoss((4, 5, 5), (6,))


# ---- Attention transfer --------------------------------------------------------------------------
def test_attention_map_and_vector_known_values() -> None:
    feats = torch.tensor([[[[1.0, 2.0]], [[-3.0, 0.0]]]])  # (N=1, C=2, H=1, W=2)
    assert attention_map(feats).tolist() == [[[10.0, 4.0]]]  # 1²+3², 2²+0²
    q = attention_vector(feats)
    assert q[0].tolist() == pytest.approx([10 / math.sqrt(116), 4 / math.sqrt(116)])
    with pytest.raises(ValueError):
        attention_map(torch.randn(2, 5))


def test_attention_loss_known_value() -> None:
    # Q_S = [1, 0], Q_T = [0, 1]: ‖Q_S − Q_T‖₂ = √2; β/2 with β = 2 → √2.
    at = AttentionTransfer([("a", "a")], beta=2.0, alpha=0.0)
    s_out = ModelOutput(torch.zeros(1, 3), {"a": torch.tensor([[[[1.0, 0.0]]]])})
    t_out = ModelOutput(torch.zeros(1, 3), {"a": torch.tensor([[[[0.0, 1.0]]]])})
    terms = at(s_out, t_out, _batch([0]))
    assert terms["at"].item() == pytest.approx(math.sqrt(2))
    assert "kd" not in terms  # alpha = 0: the paper's AT without KD


def test_attention_zero_loss_and_gradient_when_equal_and_resizes() -> None:
    at = AttentionTransfer([("a", "a"), ("b", "b")], beta=5.0)
    f = torch.rand(3, 4, 6, 6)
    f_s = f.clone().requires_grad_(True)
    terms = at(
        ModelOutput(torch.zeros(3, 2), {"a": f_s, "b": f_s}),
        ModelOutput(torch.zeros(3, 2), {"a": f, "b": f}),
        _batch([0, 1, 0]),
    )
    assert terms["at"].item() == pytest.approx(0.0, abs=1e-6)
    terms["at"].backward()
    assert f_s.grad.abs().max().item() < 1e-5
    # A constant 2×2 student map resized to the teacher's 4×4 equals a constant teacher map.
    d = at.at_term(
        {"a": torch.ones(1, 3, 2, 2), "b": torch.ones(1, 3, 2, 2)},
        {"a": torch.ones(1, 8, 4, 4), "b": torch.ones(1, 8, 4, 4)},
    )
    assert d.item() == pytest.approx(0.0, abs=1e-6)


def test_parse_layer_pairs() -> None:
    assert parse_layer_pairs("conv1, conv2:c2,") == [("conv1", "conv1"), ("conv2", "c2")]


# ---- DKD ----------------------------------------------------------------------------------------
def test_dkd_known_value_by_hand() -> None:
    z_s, z_t, y, t = [1.0, 0.0, -1.0], [2.0, 1.0, 0.0], 0, 2.0

    def softmax(z: list[float]) -> list[float]:
        e = [math.exp(v / t) for v in z]
        return [v / sum(e) for v in e]

    def kl(p: list[float], q: list[float]) -> float:
        return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True))

    p_s, p_t = softmax(z_s), softmax(z_t)
    want_tckd = kl([p_t[0], 1 - p_t[0]], [p_s[0], 1 - p_s[0]]) * t * t
    want_nckd = kl([p / (1 - p_t[0]) for p in p_t[1:]], [p / (1 - p_s[0]) for p in p_s[1:]]) * t * t
    zs, zt, yy = torch.tensor([z_s]), torch.tensor([z_t]), torch.tensor([y])
    assert tckd(zs, zt, yy, t).item() == pytest.approx(want_tckd, rel=1e-5)
    assert nckd(zs, zt, yy, t).item() == pytest.approx(want_nckd, rel=1e-5)


def test_dkd_decomposition_of_classical_kd() -> None:
    # The paper's eq. (3): KD = TCKD + (1 − p_t^T) · NCKD, at any temperature.
    torch.manual_seed(1)
    zs, zt, y, t = torch.randn(5, 7), torch.randn(5, 7), torch.randint(0, 7, (5,)), 3.0
    for i in range(5):
        s, tt, yy = zs[i : i + 1], zt[i : i + 1], y[i : i + 1]
        p_target = F.softmax(tt / t, dim=1)[0, yy[0]]
        rhs = tckd(s, tt, yy, t) + (1 - p_target) * nckd(s, tt, yy, t)
        assert soft_target_kl(s, tt, t).item() == pytest.approx(rhs.item(), rel=1e-4)


def test_dkd_zero_when_equal_and_warmup() -> None:
    z = torch.randn(4, 5)
    z_s = z.clone().requires_grad_(True)
    dkd = DecoupledKD(alpha=1.0, beta=8.0, warmup_epochs=4)
    b = _batch([0, 1, 2, 3])
    terms = dkd(ModelOutput(z_s, {}), ModelOutput(z, {}), b)
    assert terms["tckd"].item() == pytest.approx(0.0, abs=1e-6)
    assert terms["nckd"].item() == pytest.approx(0.0, abs=1e-6)
    (terms["tckd"] + terms["nckd"]).backward()
    assert z_s.grad.abs().max().item() < 1e-5
    other = torch.randn(4, 5)
    full = DecoupledKD(warmup_epochs=0)(ModelOutput(other, {}), ModelOutput(z, {}), b)["nckd"].item()
    dkd.on_epoch_start(0)
    assert dkd(ModelOutput(other, {}), ModelOutput(z, {}), b)["nckd"].item() == pytest.approx(full / 4)
    dkd.on_epoch_start(3)
    assert dkd(ModelOutput(other, {}), ModelOutput(z, {}), b)["nckd"].item() == pytest.approx(full)


# ---- Subclass distillation ------------------------------------------------------------------------
def test_class_logits_from_subclass_sums_probabilities() -> None:
    z = torch.log(torch.tensor([[1.0, 1.0, 2.0, 2.0]]))  # class 0: e^z sums to 2, class 1: to 4
    c = class_logits_from_subclass(z, 2)
    assert F.softmax(c, dim=1)[0].tolist() == pytest.approx([1 / 3, 2 / 3])
    assert torch.equal(class_logits_from_subclass(z, 1), z)
    with pytest.raises(ValueError):
        class_logits_from_subclass(z, 3)


def test_subclass_contrastive_loss_known_value() -> None:
    # Per example, [1, 0] and [0, 1] standardise to ±[1, −1], scaled by 1/sqrt(T·K) = 1/sqrt(2): v1·v1 = 1,
    # v1·v2 = −1, so loss = log(e + e⁻¹) − 1/T − log n = log(1 + e⁻²) − log 2.
    loss = subclass_contrastive_loss(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert loss.item() == pytest.approx(math.log1p(math.exp(-2)) - math.log(2), rel=1e-6)


def _authors_negative_sampling_loss(z: np.ndarray, temperature: float, eps: float = 1e-9) -> float:
    """The authors' TF ``negative_sampling_loss`` step by step in numpy (tf.nn.moments over the last axis,
    tf.nn.batch_normalization with scale 1/sqrt(T·K))."""
    n, k = z.shape
    mean, var = z.mean(-1, keepdims=True), z.var(-1, keepdims=True)
    v = (z - mean) * (1.0 / np.sqrt(temperature * k)) / np.sqrt(var + eps)
    sim = v @ v.T
    lse = np.log(np.exp(sim - sim.max(-1, keepdims=True)).sum(-1)) + sim.max(-1)
    return float(lse.mean() - 1.0 / temperature - np.log(n))


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_subclass_contrastive_loss_matches_the_authors_code(temperature: float) -> None:
    z = torch.randn(64, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3
    ours = subclass_contrastive_loss(z, temperature).item()
    assert ours == pytest.approx(_authors_negative_sampling_loss(z.numpy(), temperature), rel=1e-9, abs=1e-12)


def test_subclass_contrastive_loss_sees_a_subclass_taking_over() -> None:
    # Issue 16: standardising each logit over the batch made the loss blind to one subclass's logit rising in
    # every example (the class collapsing onto it). Per-example normalisation must see it, and push back.
    z = torch.randn(256, 10, generator=torch.Generator().manual_seed(0))
    shifted = z.clone()
    shifted[:, 0] += 6.0
    assert subclass_contrastive_loss(shifted).item() > subclass_contrastive_loss(z).item() + 0.5
    offset = torch.zeros((), requires_grad=True)
    moved = z.clone()
    moved[:, 0] = moved[:, 0] + offset
    subclass_contrastive_loss(moved).backward()
    assert offset.grad is not None and abs(offset.grad.item()) > 1e-3  # the old loss: ~1e-17


def test_subclass_shares_count_each_class_by_its_own_subclasses() -> None:
    # 2 classes x 2 subclasses; only the true class's two outputs decide an example's subclass
    z = torch.tensor([[5.0, 1.0, 9.0, 0.0],   # class 0 -> subclass 0 (the 9 is class 1's, ignored)
                      [0.0, 2.0, 0.0, 0.0],   # class 0 -> subclass 1
                      [1.0, 0.0, 3.0, 4.0],   # class 0 -> subclass 0
                      [9.0, 9.0, 0.0, 1.0]])  # class 1 -> subclass 1
    shares = subclass_shares(z, torch.tensor([0, 0, 0, 1]), 2)
    assert shares.tolist() == [[pytest.approx(2 / 3), pytest.approx(1 / 3)], [0.0, 1.0]]
    assert subclass_shares(z, torch.tensor([0, 0, 0, 0]), 2)[1].tolist() == [0.0, 0.0]  # a class with no examples
    with pytest.raises(ValueError, match="s=3"):
        subclass_shares(z, torch.tensor([0, 0, 0, 1]), 3)


def test_subclass_teacher_loss_ce_is_summed_subclass_probability() -> None:
    z = torch.tensor([[0.5, -1.0, 2.0, 0.0]])
    p = F.softmax(z, dim=1)[0]
    terms = SubclassTeacherLoss(subclasses=2, aux_weight=0.0)(ModelOutput(z, {}), None, _batch([1]))
    assert terms["ce"].item() == pytest.approx(-math.log(p[2].item() + p[3].item()), rel=1e-5)
    assert terms["aux"].item() == 0.0


def test_subclass_kd_zero_when_equal_and_class_level_ce() -> None:
    z = torch.randn(3, 6)
    z_s = z.clone().requires_grad_(True)
    b = _batch([0, 2, 1])
    terms = SubclassKD(subclasses=2, temperature=2.0, alpha=0.5)(ModelOutput(z_s, {}), ModelOutput(z, {}), b)
    assert terms["kd"].item() == pytest.approx(0.0, abs=1e-6)
    terms["kd"].backward()
    assert z_s.grad.abs().max().item() < 1e-6
    want_ce = F.cross_entropy(class_logits_from_subclass(z, 2), b.y).item()
    assert terms["ce"].item() == pytest.approx(0.5 * want_ce)


# ---- Procedures: born-again, teacher assistant, early stopping -----------------------------------
def test_born_again_chain() -> None:
    base = course_teacher("mnist", seed=3)
    chain = born_again_configs(base, 3)
    assert [c.teacher for c in chain] == [base, chain[0], chain[1]]
    for k, c in enumerate(chain, start=1):
        # each generation starts from a fresh initialisation: a seed of its own, derived from the teacher's
        assert (c.arch, c.method, c.alpha, c.temperature, c.seed) == ("teacher_cnn", "born_again", 1.0, 1.0, 3 + 1000 * k)
        validate(c)
    assert len({c.key() for c in chain}) == 3
    with pytest.raises(ConfigError):
        born_again_configs(base, 0)


def test_ban_ensemble_averages_probabilities() -> None:
    a, b = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    ens = ban_ensemble_logits([a, b])
    assert F.softmax(ens, dim=1)[0].tolist() == pytest.approx([0.5, 0.5])
    assert torch.allclose(ban_ensemble_logits([a]), a.log_softmax(dim=1))


def test_ban_ensemble_config_names_its_generations() -> None:
    base = course_teacher("mnist", seed=1)
    chain = born_again_configs(base, 3)
    ens = validate(ban_ensemble_config(chain[-1]))
    assert ensemble_members(ens) == chain and [born_again_generation(c) for c in chain] == [1, 2, 3]
    assert born_again_generation(base) == 0 and not METHODS["ban_ensemble"].trains
    assert len({ens.key(), *(c.key() for c in chain)}) == 4
    with pytest.raises(ConfigError, match="born-again"):
        ban_ensemble_config(base)  # generation 0 alone is not an ensemble
    with pytest.raises(ConfigError, match="trains nothing"):
        METHODS["ban_ensemble"].loss(ens, TeacherCNN(), TeacherCNN())


def test_teacher_assistant_configs() -> None:
    teacher = course_teacher("mnist")
    student = JobConfig(hidden=(32,), method="takd", teacher=teacher)
    assistant, stu = teacher_assistant_configs(teacher, (392,), student=student)
    assert (assistant.hidden, assistant.method, assistant.teacher) == ((392,), "hinton", teacher)
    assert (stu.hidden, stu.method, stu.teacher) == ((32,), "takd", assistant)
    validate(stu)
    cnn = JobConfig(arch="student_cnn", method="takd", teacher=teacher, method_params=(("width", 4),))
    a_cnn, _ = teacher_assistant_configs(teacher, student=cnn, assistant_width=16)
    assert a_cnn.param("width", 0) == 16
    mhist_teacher = course_teacher("mhist")
    a_mhist, _ = teacher_assistant_configs(mhist_teacher, student=JobConfig(dataset="mhist", arch="mobilenet_v2"))
    assert (a_mhist.arch, a_mhist.teacher) == ("resnet18", mhist_teacher)  # the MHIST pair's mid-size network
    with pytest.raises(ConfigError, match="no intermediate architecture for student 'resnetv2_50'"):
        teacher_assistant_configs(mhist_teacher, student=JobConfig(dataset="mhist", arch="resnetv2_50"))


def test_early_stopped_teacher() -> None:
    teacher = course_teacher("mnist")
    early = early_stopped_teacher(teacher, 3)
    assert early == teacher.replace(epochs=3) and early.key() != teacher.key()
    for bad in (0, teacher.epochs):
        with pytest.raises(ConfigError):
            early_stopped_teacher(teacher, bad)


# ---- Every registry entry on the real MNIST models ------------------------------------------------
def _case(method: str) -> tuple[JobConfig, torch.nn.Module, torch.nn.Module | None]:
    """A config that fits ``method`` plus freshly built student and teacher networks."""
    teacher_cfg = course_teacher("mnist")
    if method == "scratch":
        return JobConfig(method="scratch", hidden=(16,)), StudentMLP((16,)), None
    if method == "subclass_teacher":
        t_cfg, _ = subclass_configs(teacher_cfg, JobConfig(hidden=(16,)), subclasses=2)
        return t_cfg, TeacherCNN(num_classes=20), None
    if method == "subclass":
        t_cfg, s_cfg = subclass_configs(teacher_cfg, JobConfig(hidden=(16,)), subclasses=2)
        return s_cfg, StudentMLP((16,), num_classes=20), TeacherCNN(num_classes=20)
    if method == "born_again":
        return born_again_configs(teacher_cfg, 1)[0], TeacherCNN(), TeacherCNN()
    if method == "takd":
        _, s_cfg = teacher_assistant_configs(teacher_cfg, (32,), student=JobConfig(hidden=(16,)))
        return s_cfg, StudentMLP((16,)), StudentMLP((32,))
    if method in ("attention", "fitnet"):
        cfg = JobConfig(arch="student_cnn", method=method, teacher=teacher_cfg, method_params=(("width", 4),))
        return cfg, StudentCNN(width=4), TeacherCNN()
    return JobConfig(method=method, hidden=(16,), teacher=teacher_cfg), StudentMLP((16,)), TeacherCNN()


@pytest.mark.parametrize("method", sorted(k for k, spec in METHODS.items() if spec.trains))
def test_every_registry_entry_builds_and_runs(method: str) -> None:
    torch.manual_seed(0)
    config, student, teacher = _case(method)
    spec = METHODS[method]
    validate(config)
    check_method_fits(config, student, teacher)
    loss_fn = spec.loss(config, student, teacher)
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    batch = Batch(x, y, torch.arange(4))
    if teacher is None:
        t_out = None
    else:
        teacher.eval()
        with torch.no_grad():
            full = teacher(x)
        # What the loop feeds: the teacher's features only when the method asks for them.
        t_out = full if spec.teacher_features else ModelOutput(full.logits, {})
    if hasattr(loss_fn, "on_epoch_start"):
        loss_fn.on_epoch_start(0)
    terms = loss_fn(student(x), t_out, batch)
    assert terms and all(v.dim() == 0 and torch.isfinite(v) for v in terms.values())
    sum(terms.values()).backward()
    grads = [p.grad for p in student.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)


def test_fitnet_vector_hint_on_fully_connected_student() -> None:
    cfg = JobConfig(
        method="fitnet",
        hidden=(16,),
        teacher=course_teacher("mnist"),
        method_params=(("hint_layer", "fc"), ("guided_layer", "fc1")),
    )
    student, teacher = StudentMLP((16,)), TeacherCNN().eval()
    check_method_fits(cfg, student, teacher)
    loss_fn = METHODS["fitnet"].loss(cfg, student, teacher)
    assert isinstance(loss_fn.regressor, torch.nn.Linear) and loss_fn.regressor.weight.shape == (128, 16)
    x = torch.rand(4, 1, 28, 28)
    terms = loss_fn(student(x), teacher(x), _batch([0, 1, 2, 3]))
    assert terms["hint"].item() > 0


# ---- check_method_fits: bad settings fail before training ---------------------------------------
def _bad(method: str, **kw: object) -> JobConfig:
    params = kw.pop("params", ())
    return JobConfig(method=method, teacher=course_teacher("mnist"), method_params=params, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("config", "student", "teacher", "message"),
    [
        (_bad("attention", hidden=(16,)), StudentMLP((16,)), TeacherCNN(), "student_cnn"),
        (
            _bad("attention", arch="student_cnn", params=(("at_layers", "fc:conv1"),)),
            StudentCNN(4),
            TeacherCNN(),
            "not a spatial map",
        ),
        (_bad("fitnet", hidden=(16,)), StudentMLP((16,)), TeacherCNN(), "guided_layer='fc1'"),
        (
            _bad("fitnet", arch="student_cnn", params=(("hint_layer", "conv3"),)),
            StudentCNN(4),
            TeacherCNN(),
            "no feature 'conv3'",
        ),
        (
            _bad("fitnet", arch="student_cnn", params=(("hint_layer", "fc"),)),
            StudentCNN(4),
            TeacherCNN(),
            "both be conv maps or both vectors",
        ),
        (
            _bad("fitnet", arch="student_cnn", epochs=3, params=(("fitnet_stage1_epochs", 3),)),
            StudentCNN(4),
            TeacherCNN(),
            "no epoch for the KD stage",
        ),
        (_bad("dkd", hidden=(16,), params=(("dkd_beta", -1.0),)), StudentMLP((16,)), TeacherCNN(), "dkd_beta"),
        (
            JobConfig(arch="teacher_cnn", method="subclass_teacher", method_params=(("subclasses", 0),)),
            TeacherCNN(),
            None,
            "'subclasses' must be >= 1",
        ),
        (
            JobConfig(arch="teacher_cnn", method="subclass_teacher", method_params=(("subclasses", 3),)),
            TeacherCNN(),
            None,
            "not a multiple of subclasses=3",
        ),
        (
            _bad("subclass", hidden=(16,), params=(("subclasses", 2),)),
            StudentMLP((16,), num_classes=20),
            TeacherCNN(num_classes=20),
            "must be a 'subclass_teacher' job",
        ),
        (_bad("born_again", hidden=(16,)), StudentMLP((16,)), TeacherCNN(), "teacher's architecture"),
        (_bad("takd", hidden=(16,)), StudentMLP((16,)), TeacherCNN(), "assistant"),
        (_bad("hinton", hidden=(16,)), StudentMLP((16,)), None, "distils from a teacher"),
    ],
    ids=[
        "at-fc-student",
        "at-flat-feature",
        "fitnet-fc-default",
        "fitnet-missing-hint",
        "fitnet-rank-mismatch",
        "fitnet-stage1-too-long",
        "dkd-negative",
        "subclass-zero",
        "subclass-width",
        "subclass-wrong-teacher",
        "born-again-arch",
        "takd-no-assistant",
        "missing-teacher",
    ],
)
def test_check_method_fits_rejects(
    config: JobConfig, student: torch.nn.Module, teacher: torch.nn.Module | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_method_fits(config, student, teacher)


def test_born_again_generations_start_from_fresh_weights() -> None:
    # Issue 16: generation 1 began from the teacher's exact initial weights (same seed). The seeded
    # initialisation of each generation must differ from its teacher's and from the other generations'.
    from kdcore.models import build_model

    base = course_teacher("mnist", seed=0)
    firsts = []
    for c in (base, *born_again_configs(base, 2)):
        torch.manual_seed(c.seed)
        firsts.append(next(build_model(c, 10).parameters()).detach().clone())
    assert not torch.equal(firsts[0], firsts[1]) and not torch.equal(firsts[1], firsts[2])


def test_loading_a_teacher_leaves_the_callers_random_stream_alone(tmp_path) -> None:
    # A job seeds its RNG, builds its student, then loads its teacher: the dropout masks it draws while
    # training must follow its own seed, not the seed the teacher's rebuild used (load_model).
    from kdcore.store import ResultStore
    from kdcore.train.common import load_model

    store = ResultStore(tmp_path)
    cfg = course_teacher("mnist", seed=0)
    torch.manual_seed(0)
    net = TeacherCNN()
    store.put("k" * 24, {"config": cfg.to_dict(), "num_outputs": 10}, {"weights": net.state_dict()})
    draws = []
    for load in (False, True):
        torch.manual_seed(5)
        if load:
            load_model({"key": "k" * 24, "config": cfg.to_dict(), "num_outputs": 10}, store)
        draws.append(torch.rand(3))
    assert torch.equal(draws[0], draws[1])
