"""MHIST jobs: the course's two-stage transfer-learning schedule, on the one generic loop.

For data sets whose pair trains with this schedule (``DataPair.transfer``: MHIST and its stand-in)
:func:`kdcore.train.job.run_job` does the store lookup and lock, then calls :func:`compute` here. It
returns (and stores) the same result dict as every other job, plus ``pretrained_source``.

Schedule (the course's; settings are ``config.param`` names):

1. **Stage 1** — backbone frozen, new head (global average pool → dropout 0.2 → linear),
   ``stage1_epochs`` (10) epochs at ``config.lr``. The frozen backbone (BatchNorm in inference mode)
   maps an image to the same pooled vector in every epoch, so it runs **once** over the data
   (``"features"``); the head epochs then run :func:`~kdcore.train.loop.fit` on the stored
   ``(N, C)`` tensors through :class:`PooledHead`. The features are cached in the store
   (``<root>/cache/features/``): students that share a backbone (ImageNet MobileNetV2 for the
   scratch and the KD student) share one pass.
2. **Stage 2** — the whole network fine-tuned for ``stage2_epochs`` (25) epochs at ``config.lr / 10``,
   with augmentation (:class:`Augment`: flips, 90° rotations, mild colour jitter; training batches
   only). BatchNorm stays in inference mode, as in Keras' transfer-learning recipe
   (``base_model(x, training=False)``): batch statistics of 32 histology tiles would otherwise
   overwrite the ImageNet ones, and it makes a batch split into pieces give the same gradient.

``config.epochs`` is **not used** by MHIST jobs (the two stage lengths above are); ``batch_size``
(32) and ``lr`` (1e-4 teacher, 1e-3 students) are. Adam throughout (the loop's optimiser), a fresh
one per stage. ``class_weighted=True`` weights the label cross-entropy by ``N / (2 · N_class)``
(label-only jobs: the teacher and the scratch student).

Knowledge distillation: the teacher's logits on the **un-augmented** training images are computed
once per trained teacher and cached in its store entry (``train_logits``), then used in both
stages. In stage 2 the student sees an augmented image but the teacher's logits of the original:
an approximation (flips and 90° rotations barely change a histology tile's class evidence) that
saves a ResNet-50 forward pass per student batch — about as much CPU as the student's own step.

Feature methods (FitNets, attention transfer: ``LossSpec.teacher_features``) compare intermediate
maps (``map28``, ``map14``, ``map7``; :mod:`kdcore.models.mhist`). Stage 1 trains the head with their
label/KD terms only (:class:`HeadOnlyTerms`): the frozen, cached backbone feeds nothing trainable to
the compared maps, so the feature term would be a constant there. Stage 2 loads the trained teacher
from its store entry and runs it (eval mode, no gradients) on every micro-batch of the **same augmented
images** the student sees, so both maps come from identical inputs; the KD term still reads the cached
logits (:class:`CachedTeacherLogits`), as a Hinton student's does, so such a result differs from the
Hinton one by the feature term alone. The teacher network is freed when stage 2 ends. This costs a
ResNetV2-50 forward per micro-batch (roughly doubling a stage-2 epoch on CPU), and feature methods
need ``stage2_epochs >= 1``.

Store key (:func:`kdcore.train.job.job_key`, the one key function): the config, the data source and
which weights initialised the backbone (:func:`kdcore.train.common.weights_id`, by content), plus the
teacher's key for KD students. Per-stage checkpoints (``<root>/checkpoints/<key>.stage{1,2}.pt``) make a killed job resume.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from kdcore import CODE_VERSION
from kdcore.config import ConfigError, JobConfig
from kdcore.data import ArrayDataset
from kdcore.losses.base import Batch, EpochHook, LogitTerms
from kdcore.losses.scratch import CrossEntropy
from kdcore.methods import FeatureSide, check_feature_settings, check_method_fits, get_method
from kdcore.models import build_model
from kdcore.models.contract import ModelOutput
from kdcore.models.mhist import ARCHS as MHIST_ARCHS
from kdcore.models.mhist import FEATURE_SHAPES, BackboneClassifier, imagenet_normalize
from kdcore.store import read_checkpoint, temp_path
from kdcore.train.common import (
    AnyStore,
    RunTeacher,
    Schedule,
    class_logits_fn,
    evaluate_and_store,
    load_model,
    micro_batch,
    num_outputs,
    schedule,
    subset,
    teacher_train_logits,
    weights_id,
)
from kdcore.train.loop import FitSpec, ProgressFn, fit, pick_device

# The schedules' lengths are data-set facts: DataPair.stage_epochs (the defaults) and DataPair.pipeline_params (the
# stand-in's short schedule the app and the shipped results use), in kdcore.data.pairs.

STAGE2_SEED_OFFSET = 7919  # stage 2 shuffles in another order than stage 1


def check_transfer_config(config: JobConfig) -> None:
    """MHIST-specific checks on top of :func:`kdcore.config.validate`, before anything is built or trained.

    Feature methods have their layer settings checked against the backbones' declared feature shapes
    (:data:`kdcore.models.mhist.FEATURE_SHAPES`), not a forward pass: a misspelt layer fails here, not
    after the teacher's training. They need a fine-tuning stage: with ``stage2_epochs=0`` nothing
    trainable feeds the compared maps, and the job would be a Hinton student under another name.
    """
    if config.arch not in MHIST_ARCHS:
        raise ConfigError(f"MHIST jobs train a 224×224 backbone: arch must be one of {', '.join(MHIST_ARCHS)} "
                          f"(got {config.arch!r})")
    spec = get_method(config.method)
    sched = schedule(config)
    if sched.class_weighted and config.method != "scratch":
        raise ConfigError("class_weighted applies to label-only jobs (teacher, scratch student); "
                          f"method {config.method!r} builds its own loss")
    if config.teacher is not None:
        check_transfer_config(config.teacher)
    if spec.teacher_features and config.teacher is not None:
        if sched.stage2_epochs == 0:
            raise ConfigError(f"method {config.method!r} matches intermediate feature maps, which only the fine-tuning "
                              "stage trains (stage 1 trains the head on cached pooled features): set stage2_epochs "
                              ">= 1, or use method 'hinton' for a head-only KD student")
        check_feature_settings(config, FeatureSide.declared(config.arch, FEATURE_SHAPES[config.arch]),
                               FeatureSide.declared(config.teacher.arch, FEATURE_SHAPES[config.teacher.arch]))


# ---- stage 1: cached backbone features -----------------------------------------------------------
class PooledHead(nn.Module):
    """The head of a :class:`BackboneClassifier` as a model of its own: input = pooled ``(N, C)``
    features, output = the model's :meth:`~BackboneClassifier.forward_pooled` (``ModelOutput``).

    Only the head is a submodule (the backbone is held outside the module tree), so the optimiser
    and the per-epoch checkpoints see the head's few thousand parameters, not the backbone.
    """

    feature_names = ("pooled",)

    def __init__(self, model: BackboneClassifier) -> None:
        super().__init__()
        self.head = model.head  # shared: training this trains the model's head
        self._model = (model,)

    def forward(self, pooled: torch.Tensor) -> ModelOutput:
        return self._model[0].forward_pooled(pooled)


@torch.no_grad()
def pooled_features(model: BackboneClassifier, x: torch.Tensor, batch_size: int = 32,
                    device: torch.device | None = None, cancel: object | None = None) -> torch.Tensor:
    """Backbone → global average pool for uint8 images ``x`` (normalised per batch), float32 on CPU."""
    device = device or pick_device()
    model.to(device).eval()
    out = []
    for i in range(0, len(x), batch_size):
        if cancel is not None and cancel.is_set():
            from kdcore.train.loop import JobCancelled

            raise JobCancelled("cancelled")
        xb = imagenet_normalize(x[i: i + batch_size].to(device))
        out.append(torch.flatten(model.pool(model.backbone(xb)), 1).float().cpu())
    return torch.cat(out) if out else torch.empty(0, model.num_features)


def _feature_cache_path(store: AnyStore, config: JobConfig, data: ArrayDataset, n_train: int, n_test: int) -> Path:
    wid = weights_id(config)[0]
    # A random-init backbone depends on the seed; ImageNet weights do not (students share them).
    seed = config.seed if wid == "random-init" else None
    ident = repr((config.arch, wid, seed, data.source_id, n_train, n_test, CODE_VERSION))
    return Path(store.root) / "cache" / "features" / (hashlib.sha256(ident.encode()).hexdigest()[:24] + ".safetensors")


def cached_features(model: BackboneClassifier, config: JobConfig, data: ArrayDataset, xtr: torch.Tensor,
                    xte: torch.Tensor, store: AnyStore, batch_size: int, cancel: object | None
                    ) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """(train features, test features, read from cache?) — one backbone pass, stored atomically."""
    from safetensors.torch import load_file, save_file

    path = _feature_cache_path(store, config, data, len(xtr), len(xte))
    if path.is_file():
        try:
            t = load_file(str(path))
            if t["train"].shape[0] == len(xtr) and t["test"].shape[0] == len(xte):
                return t["train"], t["test"], True
        except Exception:  # torn or foreign file: recompute and overwrite
            pass
    ftr = pooled_features(model, xtr, batch_size, cancel=cancel)
    fte = pooled_features(model, xte, batch_size, cancel=cancel)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(path)  # named after its writer: the store's sweep removes it if this write is killed
        save_file({"train": ftr.contiguous(), "test": fte.contiguous()}, str(tmp))
        os.replace(tmp, path)
    except OSError:  # a read-only store: the features still serve this job
        pass
    return ftr, fte, False


def _finished_stage(path: Path | None, epochs: int) -> dict | None:
    """The checkpoint of a stage that ran all ``epochs`` (a job killed in the next stage), else None."""
    if path is None:
        return None
    state = read_checkpoint(path)  # None: absent, or not this job's (ignored with a warning)
    try:
        return state if state is not None and int(state["epoch"]) + 1 >= epochs else None
    except (KeyError, TypeError, ValueError):
        return None


# ---- feature methods: what each stage's loss sees ---------------------------------------------------
class HeadOnlyTerms(nn.Module):
    """Stage 1 of a feature method: the loss's ``logit_terms`` (label and KD terms; the feature term
    reported as 0). The head trains on cached pooled features: no trainable parameter feeds the maps
    the feature term compares, and the teacher network does not run. The wrapped loss is held, not
    registered, so its trainable parts (FitNets' regressor) stay out of stage 1's optimiser."""

    def __init__(self, loss: nn.Module) -> None:
        super().__init__()
        if not isinstance(loss, LogitTerms):  # the protocol (kdcore/losses/base.py); Method checks its loss class
            raise TypeError(f"{type(loss).__name__} has no logit_terms(): it cannot train a head-only stage")
        self._loss = (loss,)

    def forward(self, student_out: ModelOutput, teacher_out: ModelOutput | None, batch: Batch) -> dict[str, torch.Tensor]:
        return self._loss[0].logit_terms(student_out, teacher_out, batch)


class CachedTeacherLogits(nn.Module):
    """Stage 2 of a feature method: the teacher network's output on the augmented micro-batch, with its
    logits replaced by the cached ones of the un-augmented images (``logits[batch.index]``): the
    feature term compares maps of identical inputs, the KD term is a Hinton student's. The wrapped loss
    is registered, so the loop optimises and checkpoints its parameters, and its epoch hook is passed on."""

    def __init__(self, loss: nn.Module, logits: torch.Tensor) -> None:
        super().__init__()
        self.loss = loss
        self._logits = logits  # not a buffer: no copy in every checkpoint, stays on the CPU

    def on_epoch_start(self, epoch: int) -> None:
        if isinstance(self.loss, EpochHook):
            self.loss.on_epoch_start(epoch)

    def forward(self, student_out: ModelOutput, teacher_out: ModelOutput | None, batch: Batch) -> dict[str, torch.Tensor]:
        if teacher_out is None:
            raise ValueError("CachedTeacherLogits needs the teacher network's output (fit(..., teacher=…))")
        z_t = self._logits[batch.index.cpu()].to(student_out.logits.device)
        return self.loss(student_out, ModelOutput(z_t, teacher_out.features), batch)


# ---- stage 2: augmentation ------------------------------------------------------------------------
class Augment(nn.Module):
    """uint8 batch → ImageNet-normalised float batch; augmented only while ``model`` trains.

    Per image: horizontal and vertical flip (p = 0.5 each), rotation by k·90° (k uniform in 0..3),
    brightness, contrast and saturation factors uniform in [1 - jitter, 1 + jitter]. Batched tensor
    ops, drawn from the global torch RNG, which the job seeds and the loop's checkpoints save — so a
    resumed run draws the same augmentations. The loop also passes test batches through this hook
    (``predict_logits`` puts the model in eval mode first): those are only normalised.
    """

    def __init__(self, model: nn.Module, jitter: float = 0.1) -> None:
        super().__init__()
        self._model = (model,)
        self.jitter = jitter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._model[0].training:
            return imagenet_normalize(x)
        n = x.shape[0]
        r = torch.rand(n, 6)  # CPU draws: the same numbers on CPU and CUDA runs
        flip_h = (r[:, 0] < 0.5).view(n, 1, 1, 1).to(x.device)
        flip_v = (r[:, 1] < 0.5).view(n, 1, 1, 1).to(x.device)
        x = torch.where(flip_h, x.flip(-1), x)
        x = torch.where(flip_v, x.flip(-2), x)
        k = (r[:, 2] * 4).long().clamp_(max=3)
        if x.shape[-1] == x.shape[-2]:
            rotated = x.clone()
            for q in (1, 2, 3):
                sel = (k == q).nonzero().flatten().to(x.device)
                if len(sel):
                    rotated[sel] = torch.rot90(x[sel], q, dims=(-2, -1))
            x = rotated
        f = x.float().div_(255.0)
        lo, hi = 1.0 - self.jitter, 1.0 + self.jitter
        b, c, s = ((lo + (hi - lo) * r[:, j]).view(n, 1, 1, 1).to(x.device) for j in (3, 4, 5))
        f = f * b
        mean = f.mean(dim=(1, 2, 3), keepdim=True)
        f = (f - mean) * c + mean
        gray = (0.299 * f[:, 0:1] + 0.587 * f[:, 1:2] + 0.114 * f[:, 2:3])
        f = ((f - gray) * s + gray).clamp_(0.0, 1.0)
        return imagenet_normalize(f)


# ---- the job ------------------------------------------------------------------------------------
def _stage_progress(progress: ProgressFn, stage: str) -> ProgressFn:
    def inner(event: dict) -> None:
        progress({**event, "stage": stage})
    return inner


def compute(config: JobConfig, key: str, data: ArrayDataset, store: AnyStore, progress: ProgressFn,
            cancel: object | None, run_teacher: RunTeacher) -> dict:
    """Train one MHIST job and store it; run_job did the lookup and lock and gives ``run_teacher``."""
    t_start = time.perf_counter()
    sched = schedule(config)
    device = pick_device()
    wid, pretrained_source = weights_id(config)  # what the key was made from (fetched already)
    timings: dict[str, float] = {}
    xtr, ytr, xte, yte = subset(data, config)

    teacher_result, t_logits = None, None
    if config.teacher is not None:
        progress({"stage": "teacher", "message": f"teacher {config.teacher.short_name()}"})
        teacher_result = run_teacher(config.teacher, "teacher")
        t0 = time.perf_counter()
        progress({"stage": "teacher_logits", "message": "teacher logits on the training images"})
        # un-augmented images, ImageNet-normalised, small batches (224×224)
        t_logits = teacher_train_logits(teacher_result, xtr, store, sched.batch_size, transform=imagenet_normalize)
        timings["teacher_logits_s"] = time.perf_counter() - t0

    spec = get_method(config.method)
    teacher_model: BackboneClassifier | None = None
    if spec.teacher_features and teacher_result is not None:
        # Loaded before the student is seeded (load_model seeds the RNG itself); run in stage 2 only.
        progress({"stage": "teacher_model", "message": "teacher network for the feature term"})
        teacher_model = load_model(teacher_result, store)  # type: ignore[assignment]
        teacher_model.requires_grad_(False)

    n_out = num_outputs(config, data)
    to_class = class_logits_fn(config)
    torch.manual_seed(config.seed)
    model = build_model(config, n_out)
    assert isinstance(model, BackboneClassifier)
    if model.weights_id != wid:  # by content: only a file removed or replaced since the key was made
        raise RuntimeError(f"the {config.arch} backbone weights changed while the job started ({wid} → "
                           f"{model.weights_id}: {model.pretrained_source}); run it again")
    if teacher_model is not None:
        check_method_fits(config, model, teacher_model)  # the real networks' shapes, before training
    loss_fn = spec.loss(config, model, teacher_model)
    if sched.class_weighted:
        counts = torch.bincount(ytr, minlength=data.num_classes).clamp(min=1).float()
        loss_fn = CrossEntropy(class_weights=len(ytr) / (data.num_classes * counts))

    ckpt_dir = Path(store.root) / "checkpoints" if hasattr(store, "root") else None
    ck1 = ckpt_dir / f"{key}.stage1.pt" if ckpt_dir else None
    ck2 = ckpt_dir / f"{key}.stage2.pt" if ckpt_dir else None
    common = dict(batch_size=sched.batch_size, teacher_logits=t_logits, cancel=cancel, device=device,
                  logits_to_class=to_class)  # what both stages' FitSpec share

    # Stage 1: frozen backbone, head epochs on features computed once.
    t_train = time.perf_counter()
    model.freeze_backbone(True)
    head = PooledHead(model)
    history1: list[dict] = []
    if sched.stage1_epochs:
        done = _finished_stage(ck1, sched.stage1_epochs) if sched.stage2_epochs else None
        if done is not None:  # killed in stage 2: stage 1 is finished, its features are not needed
            head.load_state_dict(done["model"])
            torch.set_rng_state(done["rng"])
            history1 = list(done["history"])
        else:
            progress({"stage": "features", "epoch": 0, "epochs": 1, "message": "backbone pass over the data"})
            t0 = time.perf_counter()
            ftr, fte, hit = cached_features(model, config, data, xtr, xte, store, sched.batch_size, cancel)
            timings["features_s"] = time.perf_counter() - t0
            timings["features_cached"] = float(hit)
            progress({"stage": "features", "epoch": 1, "epochs": 1, "message": "features ready"})
            t0 = time.perf_counter()
            loss1 = HeadOnlyTerms(loss_fn) if teacher_model is not None else loss_fn
            history1 = fit(head, loss1, ftr, ytr, fte, yte, FitSpec(
                epochs=sched.stage1_epochs, lr=sched.stage1_lr, seed=config.seed,
                progress=_stage_progress(progress, "stage1"), checkpoint_path=ck1,
                checkpoint_last=bool(sched.stage2_epochs), **common))  # stage 2's resume reads it
            timings["stage1_s"] = time.perf_counter() - t0
            del ftr, fte

    # Stage 2: fine-tune everything (BatchNorm in inference mode) at lr / 10, augmented.
    history2: list[dict] = []
    if sched.stage2_epochs:
        model.freeze_backbone(False, bn_eval=True)
        # The per-epoch test pass runs beside the optimiser's state (3 copies of the weights for
        # Adam): in small batches, or its activations set the job's peak memory.
        micro = micro_batch(config)
        # Feature methods: the teacher runs on each augmented micro-batch (fit's teacher=), the KD
        # term reads the cached logits.
        loss2 = CachedTeacherLogits(loss_fn, t_logits) if teacher_model is not None else loss_fn
        t0 = time.perf_counter()
        history2 = fit(model, loss2, xtr, ytr, xte, yte, FitSpec(
            epochs=sched.stage2_epochs, lr=sched.stage2_lr, seed=config.seed + STAGE2_SEED_OFFSET,
            progress=_stage_progress(progress, "stage2"), checkpoint_path=ck2, transform=Augment(model),
            eval_batch_size=2 * micro, micro_batch=micro, teacher=teacher_model, **common))
        timings["stage2_s"] = time.perf_counter() - t0
    del teacher_model  # ~100 MB of ResNetV2-50 weights: not needed for the evaluation
    train_s = time.perf_counter() - t_train

    history = [{**r, "stage": "stage1", "stage_epoch": r["epoch"]} for r in history1]
    history += [{**r, "stage": "stage2", "stage_epoch": r["epoch"], "epoch": r["epoch"] + len(history1)}
                for r in history2]
    extra = {"pretrained_source": pretrained_source, "weights_id": wid, "schedule": asdict(sched), "timings": timings}
    return evaluate_and_store(config, key, data, store, model, n_train=len(xtr), xte=xte, yte=yte, history=history,
                              teacher_result=teacher_result, train_s=train_s, t_start=t_start, progress=progress,
                              checkpoints=(ck1, ck2), extra=extra)


__all__ = ["Augment", "CachedTeacherLogits", "HeadOnlyTerms", "PooledHead", "Schedule",
           "cached_features", "pooled_features", "schedule"]
