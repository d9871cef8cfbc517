"""Memory guard: estimate a job's peak memory and refuse, before it starts, a job that would not fit.

A hosted classroom app (Streamlit Community Cloud: about 2.7 GB of RAM) dies as a whole when one
job runs out of memory, so the runner refuses a job whose estimate exceeds ``KD_MEMORY_BUDGET``
(default ``2G``; accepts ``"2G"``, ``"1500M"``, ``"2.5GiB"`` or plain bytes) with a message that
says what would fit.

The estimate is a sum of the parts a job really holds at its peak (the backward pass of a batch)::

    runtime      python + torch + kdcore imported in the worker process
    data         the whole data set as loaded (load_dataset keeps all of it in memory)
    model        trainable parameters × 16 bytes (weights, gradients, Adam's two moments)
                 + frozen parameters × 4 bytes
    activations  tensors autograd saves for backward, per example × batch × 1.3 (the backward
                 pass's temporaries, measured: ×1.18 for ResNetV2-50, ×1.35 for MobileNetV2),
                 or an evaluation batch's (1024 MNIST images), whichever is larger
    teacher      the teacher's weights + its cached training-set logits (KD methods); a teacher
                 that runs on every batch (feature methods: FitNets, attention transfer; on MHIST
                 in stage 2, on each micro-batch) adds its no-grad forward pass at that batch —
                 for the backbones the measured live peak (:func:`live_peak_bytes_per_example`)

A KD job trains its teacher first in the same process when the teacher is not in the store, so
its peak is the larger of the teacher job's and the student's own.

Per-example activation bytes are measured for the MNIST models (a forward pass on the ``meta``
device: no memory allocated, exact shapes). The ImageNet backbones are too slow to build on every
request, so their figures at 224×224 come from :data:`BACKBONES`, measured once with
:func:`saved_bytes_per_example` (timm 1.0.31 ``resnetv2_50``, torchvision 0.29.1 ``mobilenet_v2`` and
``resnet18``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import torch

from kdcore.config import MHIST_STAGE2_EPOCHS, ConfigError, JobConfig
from kdcore.data.pairs import data_pair
from kdcore.settings import parse_bytes, settings
from kdcore.train.common import micro_batch

GB = 1024**3
MB = 1024**2
# What a worker process holds before any job data: python + torch 2.14 + scikit-learn + thop and
# oneDNN's kernel caches after a first job. Measured after a small MNIST job: 558 MB proportional
# set size (shared library pages split between the processes that map them), 504 MB unique; its
# RSS reads 882 MB because RSS counts the shared pages in full in every process.
RUNTIME_BYTES = 600 * MB
BACKWARD_FACTOR = 1.3
SAFETY = 1.1  # allocator slack and the small tensors this sum leaves out

@dataclass(frozen=True)
class Backbone:
    """Measured figures of an ImageNet backbone at 224×224 (see :func:`saved_bytes_per_example`)."""

    params: int  # backbone parameters (without the 2-class head)
    feature_dim: int  # width of the pooled features the new head reads
    saved_per_example: int  # bytes autograd saves per training example
    inference_per_example: int  # peak no-grad activation bytes per example (two largest maps)
    # bytes alive at the peak of a no-grad forward, per example, input and returned features included
    # (live_peak_bytes_per_example): the teacher that runs beside a feature method's student
    forward_peak_per_example: int = 0


BACKBONES: dict[str, Backbone] = {
    # 23,504,450 params with a 2-way head; 171.8 MB saved at batch 1, 249.3 MB at batch 2. Its
    # pre-activation blocks keep x, BN-ReLU(x), the shortcut and the sum alive together: the live
    # peak is 2.2× the two largest maps.
    "resnetv2_50": Backbone(params=23_500_352, feature_dim=2048, saved_per_example=77_500_000,
                            inference_per_example=2 * 256 * 56 * 56 * 4, forward_peak_per_example=14_249_984),
    # 2,226,434 params with a 2-way head; 87.3 MB saved at batch 1, 165.5 MB at batch 2.
    "mobilenet_v2": Backbone(params=2_223_872, feature_dim=1280, saved_per_example=78_200_000,
                             inference_per_example=2 * 96 * 112 * 112 * 4, forward_peak_per_example=11_038_720),
    # the teacher assistant (TAKD): 11,177,538 params with a 2-way head; 22.2 MB saved per example
    # (post-activation blocks: far fewer saved maps than the two others'), live peak = the stem's
    # two 64×112×112 maps and the input.
    "resnet18": Backbone(params=11_176_512, feature_dim=512, saved_per_example=22_200_000,
                         inference_per_example=2 * 64 * 112 * 112 * 4, forward_peak_per_example=7_024_640),
}


class MemoryBudgetError(ConfigError):
    """The job's estimated peak memory exceeds the budget; the message says what would fit."""


def memory_budget() -> int:
    """``KD_MEMORY_BUDGET`` in bytes (default 2 GiB: a 2.7 GB host keeps room for the app itself)."""
    return settings().memory_budget


def fmt_bytes(n: float) -> str:
    return f"{n / GB:.2f} GiB" if n >= GB else f"{n / MB:.0f} MiB"


# ---- measuring a network ------------------------------------------------------------------------
def saved_bytes(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Bytes autograd saves for backward in one training forward pass of ``model`` on ``x``.

    On real tensors a tensor saved twice is counted once (by storage); on ``meta`` tensors there is
    no storage to compare, so a tensor two ops save counts twice (a small over-estimate).
    """
    seen: dict[object, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        nbytes = t.numel() * t.element_size()
        k = id(t) if t.is_meta else (t.untyped_storage().data_ptr(), t.dtype)
        seen[k] = max(seen.get(k, 0), nbytes if t.is_meta else t.untyped_storage().nbytes())
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(seen.values())


def saved_bytes_per_example(model: torch.nn.Module, input_shape: tuple[int, ...], device: str = "cpu") -> int:
    """Per-example saved bytes: the difference between batch 2 and batch 1 (weights saved by
    convolutions and linears appear in both and cancel)."""
    one = saved_bytes(model, torch.zeros((1, *input_shape), device=device))
    two = saved_bytes(model, torch.zeros((2, *input_shape), device=device))
    return max(two - one, 0)


def inference_bytes_per_example(model: torch.nn.Module, input_shape: tuple[int, ...], device: str = "cpu") -> int:
    """Peak no-grad activation bytes per example: the two largest layer outputs (an op's input and
    output are alive together; everything earlier is already freed)."""
    sizes: list[int] = []

    def hook(_m: torch.nn.Module, _i: object, out: object) -> None:
        if isinstance(out, torch.Tensor):
            sizes.append(out.numel() * out.element_size())

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():
            model.eval()
            model(torch.zeros((1, *input_shape), device=device))
    finally:
        for h in handles:
            h.remove()
    top = sorted(sizes, reverse=True)[:2]
    return sum(top) + int(torch.Size(input_shape).numel()) * 4


def live_peak_bytes_per_example(model: torch.nn.Module, input_shape: tuple[int, ...]) -> int:
    """Bytes alive at the peak of one no-grad eval forward pass, per example, the input included.

    Every tensor an op returns is counted from its creation until it is garbage (a weakref
    finalizer), once per storage; the returned output (features included) is alive at the end. Exact
    where "the two largest layer outputs" is not: a pre-activation block holds more than two maps.
    Real tensors only (the storages must exist); per example = batch 2 minus batch 1.
    """
    import weakref

    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    class _Live(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.live = self.peak = 0
            self.seen: set[int] = set()

        def _free(self, key: int, nbytes: int) -> None:
            self.live -= nbytes
            self.seen.discard(key)

        def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
            out = func(*args, **(kwargs or {}))
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    key = t.untyped_storage().data_ptr()
                    if key and key not in self.seen:
                        nbytes = t.untyped_storage().nbytes()
                        self.seen.add(key)
                        self.live += nbytes
                        self.peak = max(self.peak, self.live)
                        weakref.finalize(t, self._free, key, nbytes)
            return out

    def peak(n: int) -> int:
        x = torch.zeros((n, *input_shape))
        mode = _Live()
        with torch.no_grad(), mode:
            out = model(x)
        del out
        return mode.peak + x.numel() * x.element_size()

    model.eval()
    return peak(2) - peak(1)


@functools.lru_cache(maxsize=256)
def _small_model_figures(config: JobConfig, num_outputs: int) -> tuple[int, int, int]:
    """(parameters, saved bytes per training example, inference bytes per example) of an
    MNIST-style model, built on the meta device (nothing allocated, however big)."""
    from kdcore.models import build_model

    with torch.device("meta"):
        model = build_model(config, num_outputs)
        params = sum(p.numel() for p in model.parameters())
        per_example = saved_bytes_per_example(model, (1, 28, 28), device="meta")
        infer = inference_bytes_per_example(model, (1, 28, 28), device="meta")
    return params, per_example, infer


# ---- the estimate -------------------------------------------------------------------------------
@dataclass
class Estimate:
    """A job's estimated peak bytes, by part (``parts``) and in total (``total``)."""

    parts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return int(sum(self.parts.values()) * SAFETY)

    def describe(self) -> str:
        return ", ".join(f"{k} {fmt_bytes(v)}" for k, v in self.parts.items() if v) + f" (×{SAFETY} slack)"




def backbone_frozen(config: JobConfig) -> bool:
    """True when an MHIST job trains only the new head: ``stage2_epochs=0`` (no fine-tuning)."""
    return float(config.param("stage2_epochs", MHIST_STAGE2_EPOCHS)) == 0


def activation_batch(config: JobConfig) -> int:
    """How many examples' activations are alive at once in training: the batch, or for MHIST
    fine-tuning the ``micro_batch`` slices the batch is split into (one optimiser step per batch)."""
    if config.arch in BACKBONES:
        return micro_batch(config)
    return config.batch_size



def _outputs(config: JobConfig) -> int:
    return data_pair(config.dataset).num_classes * int(config.param("subclasses", 1))


def _examples(config: JobConfig) -> tuple[int, int]:
    """(train, test) examples the job's data set holds as loaded (``DataPair.examples``), before ``train_limit``."""
    examples = data_pair(config.dataset).examples
    return examples.get(config.data_source, examples[None])


def _data_bytes(config: JobConfig) -> int:
    """What load_dataset holds for the whole data set (train + test), plus one decoded batch when the images stay in
    their files."""
    pair = data_pair(config.dataset)
    held = sum(_examples(config)) * pair.bytes_per_example
    if pair.images_on_disk:
        c, h, w = pair.input_shape
        held += pair.teacher_batch_size * c * h * w  # one uint8 batch
    return held


def _n_train(config: JobConfig) -> int:
    n = _examples(config)[0]
    return min(n, config.train_limit) if config.train_limit else n


def _network(config: JobConfig, batch: int, train: bool = True) -> tuple[int, int]:
    """(model bytes, activation bytes at ``batch``) of the network ``config.arch`` trains."""
    n_out = _outputs(config)
    if config.arch in BACKBONES:
        bb = BACKBONES[config.arch]
        head = (bb.feature_dim + 1) * n_out
        if not train:
            return (bb.params + head) * 4, batch * bb.inference_per_example
        if backbone_frozen(config):
            # head epochs run on cached pooled features; the backbone runs once, without grad
            feats = _n_train(config) * bb.feature_dim * 4
            return bb.params * 4 + head * 16 + feats, batch * bb.inference_per_example
        return (bb.params + head) * 16, int(batch * bb.saved_per_example * BACKWARD_FACTOR)
    params, per_example, infer = _small_model_figures(config, n_out)
    if not train:
        return params * 4, batch * infer
    return params * 16, int(batch * per_example * BACKWARD_FACTOR)


def estimate(config: JobConfig, teacher_cached: bool = False) -> Estimate:
    """The parts of ``config``'s peak memory (see the module docstring for what each part is).

    ``teacher_cached``: the teacher is already in the store, so it is loaded, not trained.
    """
    batch = activation_batch(config)
    model, acts = _network(config, batch)
    # the per-epoch test pass: the batch size for MHIST, the loop's default 1024 otherwise
    infer_batch = config.batch_size if data_pair(config.dataset).transfer else 1024
    # a training batch's activations are freed before evaluation starts: the larger one counts
    acts = max(acts, _network(config, infer_batch, train=False)[1])
    parts = {"runtime": RUNTIME_BYTES, "data": _data_bytes(config), "model": model, "activations": acts}
    if config.teacher is not None:
        t_model, t_acts = _network(config.teacher, batch, train=False)
        logits = _n_train(config) * _outputs(config.teacher) * 4
        from kdcore.methods import get_method

        runs_every_batch = get_method(config.method).teacher_features
        if runs_every_batch and config.teacher.arch in BACKBONES:
            # MHIST stage 2: the teacher's forward on each micro-batch, beside the student's saved activations
            t_acts = batch * BACKBONES[config.teacher.arch].forward_peak_per_example
        parts["teacher"] = t_model + logits + (t_acts if runs_every_batch else 0)
        teacher_job = estimate(config.teacher)
        if not teacher_cached and teacher_job.total > Estimate(parts).total:
            return teacher_job  # the teacher's own training is this job's peak
    return Estimate(parts)


def estimate_peak_bytes(config: JobConfig) -> int:
    """Estimated peak resident bytes of running ``config`` in a worker process (with slack)."""
    return estimate(config).total


def _with_batch(config: JobConfig, n: int) -> JobConfig:
    if config.arch in BACKBONES:  # the micro-batch, not the batch: the gradient stays the same
        mp = {**dict(config.method_params), "micro_batch": n}
        return config.replace(method_params=tuple(mp.items()))
    return config.replace(batch_size=n)


def _largest_fitting_batch(config: JobConfig, budget: int, teacher_cached: bool) -> int:
    lo, hi = 0, activation_batch(config)
    while lo < hi:  # the estimate grows with the batch: bisect for the largest that fits
        mid = (lo + hi + 1) // 2
        if estimate(_with_batch(config, mid), teacher_cached=teacher_cached).total <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def check_memory(config: JobConfig, budget: int | None = None, teacher_cached: bool = False,
                 workers: int = 1) -> int:
    """Return the estimate, or raise :class:`MemoryBudgetError` saying what would fit. ``workers`` > 1: the
    job may use its share ``budget // workers`` (the runner's jobs run side by side); a refusal then names the
    split (KD_WORKERS × share vs KD_MEMORY_BUDGET) and how many workers would let it fit."""
    total_budget = memory_budget() if budget is None else budget
    budget = budget_per_job(workers, total_budget)
    est = estimate(config, teacher_cached=teacher_cached)
    if est.total <= budget:
        return est.total
    if workers > 1:
        fit = total_budget // max(est.total, 1)
        fix = (f"set KD_WORKERS={fit} (or fewer) so each job gets more of the budget, or raise KD_MEMORY_BUDGET"
               if fit >= 1 else f"raise KD_MEMORY_BUDGET to at least {fmt_bytes(est.total * workers)} (or set "
               f"KD_WORKERS=1 with at least {fmt_bytes(est.total)})")
        raise MemoryBudgetError(
            f"{config.short_name()} needs about {fmt_bytes(est.total)} of memory at its peak ({est.describe()}), "
            f"more than one worker's share: KD_MEMORY_BUDGET={fmt_bytes(total_budget)} is split between "
            f"KD_WORKERS={workers} workers, {fmt_bytes(budget)} each; {fix}.")
    fixes = []
    if (b := _largest_fitting_batch(config, budget, teacher_cached)) >= 1:
        if config.arch in BACKBONES:
            fixes.append(f"a micro-batch of {b} or less (micro_batch={b}, now {activation_batch(config)}; "
                         f"the batch of {config.batch_size} is split into slices, same gradient)")
        else:
            fixes.append(f"a batch size of {b} or less (now {config.batch_size})")
    from kdcore.methods import get_method

    # a feature method needs the fine-tuning stage (kdcore.train.transfer refuses stage2_epochs=0 for it)
    if config.arch in BACKBONES and not backbone_frozen(config) and not get_method(config.method).teacher_features:
        frozen = config.replace(method_params=tuple({**dict(config.method_params), "stage2_epochs": 0}.items()))
        if estimate(frozen, teacher_cached=teacher_cached).total <= budget:
            fixes.append("a frozen backbone (stage2_epochs=0: only the head trains, on cached features)")
    if config.train_limit is None or config.train_limit > 1000:
        fewer = config.replace(train_limit=1000)
        if estimate(fewer, teacher_cached=teacher_cached).total <= budget:
            fixes.append("fewer training images (train_limit=1000)")
    if not teacher_cached and config.teacher is not None and estimate(config.teacher).total > budget:
        fixes.append("training its teacher elsewhere first (it is part of this job and does not fit either)")
    hint = "; ".join(fixes) if fixes else "nothing smaller of this job fits; raise KD_MEMORY_BUDGET on a bigger machine"
    raise MemoryBudgetError(
        f"{config.short_name()} needs about {fmt_bytes(est.total)} of memory at its peak "
        f"({est.describe()}), more than the budget of {fmt_bytes(budget)} (KD_MEMORY_BUDGET). "
        f"It would fit with: {hint}."
    )


def budget_per_job(workers: int, budget: int | None = None) -> int:
    """The share of the budget one of ``workers`` concurrent jobs may use."""
    budget = memory_budget() if budget is None else budget
    return max(budget // max(workers, 1), 0)


__all__ = [
    "BACKBONES", "Estimate", "MemoryBudgetError", "budget_per_job", "check_memory", "estimate",
    "estimate_peak_bytes", "fmt_bytes", "live_peak_bytes_per_example", "memory_budget", "parse_bytes",
    "saved_bytes_per_example",
]
