"""The transforms a compression job applies to its start model: registry, settings' checks, and the weight surgery.

One job = one transform (``JobConfig.compress``: ``transform`` + its settings) of one start model
(``JobConfig.start_from``); a chain (KD student → prune → fine-tune → int8) is jobs nested through ``start_from``.

- ``onnx``: the model exported as it is (the reference points' deploy figures). ``zero_below`` (default 0: nothing
  changed) reads out sparse regularisation: every Linear/Conv weight with |w| below it set to exactly 0 before the
  export, for a start model trained with an L1 penalty (``JobConfig.l1`` > 0; others are refused: use ``prune``).
- ``int8``: ONNX Runtime post-training int8 (dynamic for the MLP; static QDQ on ``calibration`` training images for
  CNNs). Always the last step of a chain: its network exists only as an ONNX file.
- ``prune``: global unstructured magnitude pruning of every Linear/Conv weight to ``sparsity`` (share of zeros),
  then ``finetune_epochs`` of the job's method (scratch: labels; hinton + teacher: "prune, then distil") with the
  pruned weights held at zero (``torch.nn.utils.prune`` masks).
- ``prune_structured``: the MLP's hidden units kept by the L2 norm of their incoming weights (share ``keep``), so
  the network is really smaller (FLOPs drop), + fine-tune. Conv nets: not built (ConfigError says so).
- ``share``: each layer's weights clustered into 2^``bits`` shared values (scikit-learn KMeans); no fine-tune of the
  shared values (not built: ``share`` takes no ``finetune_epochs``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from kdcore.config import ConfigError, JobConfig, ParamValue

DEFAULT_CALIBRATION = 256  # training images that calibrate static int8 (the first ones of the training split)


@dataclass(frozen=True)
class Transform:
    name: str
    family: str  # the page's family: quantisation / pruning / weight sharing / reference (L1 training: family())
    settings: dict[str, ParamValue]  # allowed settings with their defaults
    finetune: bool  # whether finetune_epochs may be > 0


TRANSFORMS: dict[str, Transform] = {t.name: t for t in (
    Transform("onnx", "reference", {"zero_below": 0.0}, False),
    Transform("int8", "quantisation", {"calibration": DEFAULT_CALIBRATION}, False),
    Transform("prune", "pruning", {"sparsity": 0.5, "finetune_epochs": 0}, True),
    Transform("prune_structured", "pruning", {"keep": 0.5, "finetune_epochs": 0}, True),
    Transform("share", "weight sharing", {"bits": 4}, False),  # fine-tune of the shared values: not built
)}


def setting(config: JobConfig, name: str) -> ParamValue:
    """A transform's setting of ``config`` (its default when not given)."""
    t = TRANSFORMS[str(config.param_c("transform", ""))]
    return config.param_c(name, t.settings[name])


def check_compress(config: JobConfig) -> None:
    """Refuse a compression job that cannot run, before any work: an unknown transform or setting, sparsity outside
    [0, 1), bits outside 1..8, int8 in the middle of a chain, a transform the start model's kind cannot take."""
    if config.start_from is None:
        if config.compress:
            raise ConfigError("compression settings need a start model: build the job with kdcore.course.compress_job")
        return
    name = str(config.param_c("transform", ""))
    if name not in TRANSFORMS:
        raise ConfigError(f"unknown transform {name!r}; choose one of {', '.join(TRANSFORMS)}")
    t = TRANSFORMS[name]
    unknown = sorted(set(dict(config.compress)) - set(t.settings) - {"transform"})
    if unknown:
        raise ConfigError(f"transform {name!r} takes the settings {sorted(t.settings) or 'none'}; not {unknown}")
    start = config.start_from
    if start.start_from is not None and start.param_c("transform", "") in ("int8", "onnx"):
        raise ConfigError(f"a chain cannot continue after {start.param_c('transform', '')!r} (its network is an ONNX "
                          "file): put int8 last, e.g. prune → int8")
    if config.arch != start.arch or config.hidden != start.hidden:
        raise ConfigError("a compression job keeps its start model's architecture; build it with "
                          "kdcore.course.compress_job")

    def number(key: str) -> float:
        raw = setting(config, key)
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ConfigError(f"{key} must be a number, got {raw!r}")
        return float(raw)

    if "sparsity" in t.settings and not 0.0 <= number("sparsity") < 1.0:
        raise ConfigError(f"sparsity must be within [0, 1) (got {setting(config, 'sparsity')}): the share of weights "
                          "set to zero, e.g. 0.5 or 0.9 (1.0 would remove every weight)")
    if "keep" in t.settings and not 0.0 < number("keep") <= 1.0:
        raise ConfigError(f"keep must be within (0, 1] (got {setting(config, 'keep')}): the share of hidden units "
                          "kept, e.g. 0.5")
    if "bits" in t.settings:
        bits = number("bits")
        if bits != int(bits) or not 1 <= bits <= 8:
            raise ConfigError(f"bits must be a whole number within 1..8 (got {setting(config, 'bits')}): weight "
                              "sharing keeps 2^bits values per layer, e.g. 4 (16 values)")
    if "calibration" in t.settings:
        n = number("calibration")
        if n != int(n) or not 1 <= n <= 100_000:
            raise ConfigError(f"calibration must be a whole number of images within 1..100000 (got {n:g}); e.g. 256")
    if "zero_below" in t.settings and number("zero_below"):
        if not 0.0 < number("zero_below") < 1.0:
            raise ConfigError(f"zero_below must be within [0, 1) (got {setting(config, 'zero_below')}): the |w| under "
                              "which an L1-trained student's weights are set to 0, e.g. 0.001")
        if not chain_root(config).l1:
            raise ConfigError("zero_below reads out sparse regularisation: the start model must be trained with an L1 "
                              "penalty (l1 > 0, e.g. python -m kdcore distill --l1 1e-4); to zero the smallest "
                              "weights of any model use 'prune'")
    epochs = number("finetune_epochs") if "finetune_epochs" in t.settings else 0
    if epochs != int(epochs) or not 0 <= epochs <= 1000:
        raise ConfigError(f"finetune_epochs must be a whole number within 0..1000 (got {epochs:g})")
    if name == "prune_structured" and config.arch != "student_mlp":
        raise ConfigError(f"structured pruning is built for the MLP student only (got {config.arch!r}); use "
                          "unstructured 'prune' for conv nets")
    if config.arch in ("resnetv2_50", "mobilenet_v2", "resnet18") and name not in ("onnx", "int8"):
        raise ConfigError(f"{name!r} is not built for the MHIST backbones ({config.arch}); use 'int8' or 'onnx'")
    if not epochs and (config.method != "scratch" or config.teacher is not None):
        raise ConfigError("a teacher / KD method only matters for a fine-tune: set finetune_epochs > 0 or use "
                          "method 'scratch' without a teacher")


def chain_root(config: JobConfig) -> JobConfig:
    """The training job at the bottom of a compression chain (``config`` itself for a training job)."""
    while config.start_from is not None:
        config = config.start_from
    return config


def reference_config(config: JobConfig) -> JobConfig:
    """The uncompressed model a compression job is measured against: its chain's root training job, or for a root
    trained with an L1 penalty its twin without one (same data, method, teacher, schedule, seed), so sparse
    regularisation is measured like the other families — against the model it would otherwise have been."""
    root = chain_root(config)
    return root.replace(l1=0.0) if root.l1 else root


def family(chain: list[dict], root: JobConfig) -> str:
    """The page's family of a chain of steps (``transform`` + settings) from ``root``: its one transform's family,
    "sparse regularisation" for an L1-trained root, "stack" for more than one, and for an export alone
    "distillation" (a KD student) or "reference"."""
    names = [TRANSFORMS[step["transform"]].family for step in chain if step["transform"] != "onnx"]
    if root.l1:
        names.insert(0, "sparse regularisation")
    if not names:
        return "distillation" if root.teacher is not None else "reference"
    return "stack" if len(names) > 1 else names[0]


# ---- weight surgery --------------------------------------------------------------------------------------------
def prunable(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """(module, "weight") of every Linear / Conv layer: what pruning and weight sharing act on (biases stay)."""
    from kdcore.models.contract import WEIGHT_LAYERS

    return [(m, "weight") for m in model.modules() if isinstance(m, WEIGHT_LAYERS)]


def zero_below(model: nn.Module, threshold: float) -> nn.Module:
    """Set every Linear/Conv weight with |w| < ``threshold`` to exactly 0, in place (the read-out of L1 training)."""
    from kdcore.models.contract import layer_weights

    with torch.no_grad():
        for w in layer_weights(model):
            w.masked_fill_(w.abs() < threshold, 0.0)
    return model


def prune_global(model: nn.Module, sparsity: float) -> nn.Module:
    """Global magnitude pruning in place: the ``sparsity`` share of all Linear/Conv weights with the smallest |w|
    zeroed, held at zero by ``torch.nn.utils.prune`` masks until :func:`make_permanent`."""
    from torch.nn.utils import prune

    if sparsity > 0:
        prune.global_unstructured(prunable(model), pruning_method=prune.L1Unstructured, amount=float(sparsity))
    return model


def make_permanent(model: nn.Module) -> nn.Module:
    """Fold pruning masks into the weights (a plain state dict again)."""
    from torch.nn.utils import prune

    for m, name in prunable(model):
        if prune.is_pruned(m) and hasattr(m, f"{name}_mask"):
            prune.remove(m, name)
    return model


def prune_mlp_units(model: nn.Module, keep: float) -> tuple[nn.Module, tuple[int, ...]]:
    """A smaller StudentMLP keeping, in each hidden layer, the ``keep`` share of units with the largest L2 norm of
    incoming weights (their rows; the next layer's matching columns). Returns (network, its hidden sizes)."""
    from kdcore.models.mnist import StudentMLP

    layers = list(model.hidden_layers) + [model.head]
    kept_prev = torch.arange(layers[0].in_features)
    new_w, new_b, sizes = [], [], []
    for i, layer in enumerate(layers):
        w = layer.weight.detach()[:, kept_prev]
        b = layer.bias.detach()
        if i < len(layers) - 1:
            k = max(1, round(layer.out_features * keep))
            rows = torch.sort(torch.topk(w.norm(dim=1), k).indices).values
            w, b = w[rows], b[rows]
            kept_prev = rows
            sizes.append(k)
        new_w.append(w.clone())
        new_b.append(b.clone())
    small = StudentMLP(hidden=tuple(sizes), num_classes=model.head.out_features, in_features=layers[0].in_features)
    with torch.no_grad():
        for layer, w, b in zip(list(small.hidden_layers) + [small.head], new_w, new_b, strict=True):
            layer.weight.copy_(w)
            layer.bias.copy_(b)
    return small.eval(), tuple(sizes)


def share_weights(model: nn.Module, bits: int, seed: int = 0) -> nn.Module:
    """Weight sharing in place: each Linear/Conv weight tensor replaced by its nearest of 2^``bits`` centroids
    (1-D KMeans, scikit-learn, on at most 20,000 sampled weights then assigned for all). Exact zeros stay zero."""
    import numpy as np
    from sklearn.cluster import KMeans

    k = 2 ** int(bits)
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for m, name in prunable(model):
            w = getattr(m, name)
            flat = w.detach().cpu().numpy().reshape(-1).astype(np.float64)
            nonzero = flat != 0
            values = flat[nonzero]
            if len(np.unique(values)) <= k:
                continue
            fit_on = values if len(values) <= 20_000 else rng.choice(values, 20_000, replace=False)
            km = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(fit_on.reshape(-1, 1))
            centres = km.cluster_centers_.reshape(-1)
            out = flat.copy()
            out[nonzero] = centres[km.predict(values.reshape(-1, 1))]
            w.copy_(torch.from_numpy(out.reshape(w.shape)).to(w.dtype))
    return model


def distinct_values(model: nn.Module) -> int:
    """The most distinct non-zero values in any one Linear/Conv weight tensor (2^bits after weight sharing)."""
    return max((int(torch.unique(w.detach()[w.detach() != 0]).numel()) for m, n in prunable(model)
                for w in [getattr(m, n)]), default=0)
