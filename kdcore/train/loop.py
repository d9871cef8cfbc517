"""The one training loop. Read it top to bottom; it does not know which method it runs.

Data are whole tensors in memory; a batch is an index slice. The teacher's training-set logits
are computed once per teacher and passed in (``teacher_logits``), so a Hinton-KD epoch costs
about what a scratch epoch costs; only methods that need teacher *features* run the teacher on
every batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from kdcore.losses.base import Batch, EpochHook
from kdcore.models.contract import ModelOutput
from kdcore.settings import settings
from kdcore.store import read_checkpoint, write_checkpoint

log = logging.getLogger("kdcore.train")

ProgressFn = Callable[[dict], None]


class JobCancelled(RuntimeError):
    """Raised inside the loop when the job's cancel event is set."""


@dataclass
class FitState:
    history: list[dict] = field(default_factory=list)
    start_epoch: int = 0


def pick_device() -> torch.device:
    """CUDA when present (and not disabled with KD_DEVICE=cpu), else CPU (:func:`device_note` says so when
    KD_DEVICE=cuda asked for a GPU that is not there)."""
    if settings().device != "cpu" and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def device_note() -> str | None:
    """A warning when ``KD_DEVICE=cuda`` but no CUDA GPU is visible, else None. Jobs then train on the CPU
    rather than being refused: every result is the same computation on either device and records the one it
    ran on (``device``), and a lent GPU that is gone should slow a class down, not stop it."""
    if settings().device == "cuda" and not torch.cuda.is_available():
        return ("KD_DEVICE=cuda, but no CUDA GPU is visible to this process: jobs train on the CPU instead (slower; "
                "each result records its device). Run where a GPU is visible, or set KD_DEVICE=cpu to say so.")
    return None


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1024, device: torch.device | None = None,
                   transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Eval-mode logits for all of ``x`` (on CPU), in batches."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    outs = []
    for i in range(0, len(x), batch_size):
        xb = x[i: i + batch_size].to(device, non_blocking=True)
        if transform is not None:
            xb = transform(xb)
        outs.append(model(xb).logits.float().cpu())
    model.train(was_training)
    return torch.cat(outs) if outs else torch.empty(0)


def _save_checkpoint(path: Path, model: nn.Module, loss_fn: nn.Module, opt: torch.optim.Optimizer,
                     epoch: int, history: list[dict]) -> None:
    """Atomic per-epoch checkpoint, bound to its job (:func:`kdcore.store.write_checkpoint`); loadable with
    ``weights_only=True``."""
    state = {
        "epoch": epoch,
        "model": model.state_dict(),
        "loss": loss_fn.state_dict(),
        "opt": opt.state_dict(),
        "rng": torch.get_rng_state(),
        "history": history,
    }
    write_checkpoint(path, state)


def _load_checkpoint(path: Path, model: nn.Module, loss_fn: nn.Module, opt: torch.optim.Optimizer,
                     epochs: int) -> FitState:
    state = read_checkpoint(path)  # None: absent, or not this job's (ignored with a warning)
    if state is None:
        return FitState()
    try:
        epoch, history = int(state["epoch"]), list(state["history"])
        if not 0 <= epoch < epochs or len(history) != epoch + 1:
            raise ValueError(f"epoch {epoch} with {len(history)} history rows, for a job of {epochs} epochs")
        model.load_state_dict(state["model"])
        loss_fn.load_state_dict(state["loss"])
        opt.load_state_dict(state["opt"])
        torch.set_rng_state(state["rng"])
        return FitState(history=history, start_epoch=epoch + 1)
    except Exception as e:  # a torn or foreign checkpoint: start over rather than crash
        log.warning("ignoring the checkpoint %s (%s); this job trains from its first epoch", path, e)
        return FitState()


def flush_denormals() -> bool:
    """Treat denormal floats as zero in this thread, and in the OpenMP threads it starts from now on.

    Adam's moving averages for weights that see a gradient only now and then (the first layer's weights of
    MNIST's border pixels) decay into the denormal range (< 1.2e-38) after a few hundred steps, and the CPU
    handles those in a slow path: a Fashion-MNIST KD epoch grew from 2.5 s to 3.4 s over 12 epochs (one job
    40 s; with denormals flushed 2.4–2.7 s throughout, 32.5 s). Flushing them changes no result here: the
    weights of a Fashion-MNIST KD student, an MNIST-5k one and a course teacher came out bit for bit the same
    (an update of ~1e-38 / ε cannot move a float32 weight), and ``tests/test_denormals.py`` checks it on a case
    built to make denormals. The flag is per thread and a thread's OpenMP workers copy it when they are
    created, so it is set where a job's thread starts (CLI, runner slots and workers, Ray tasks, the app)
    as well as here. Returns False where the CPU has no such mode."""
    return bool(torch.set_flush_denormal(True))


def adam(params: list[torch.nn.Parameter], lr: float) -> torch.optim.Adam:
    """The loop's optimiser: Adam, **fused** (one kernel over every parameter instead of ~7 element-wise
    passes each). On the course student's 1.24 M parameters it cut the optimiser step ~4.5× on CPU, the
    largest cost after the matmuls (profile of one cached-logits KD epoch: Adam was ~40 % of it). Its
    updates equal the unfused Adam's up to float rounding (~1e-8 after 20 steps), not bit for bit.
    Falls back to the default implementation where the fused kernel does not exist (a device or dtype
    without one)."""
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.Adam(params, lr=lr)


def _has_conv(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


@dataclass(frozen=True, eq=False)  # eq=False: it holds tensors and modules, compared by identity
class FitSpec:
    """How one run of :func:`fit` goes: everything beyond the model, the loss and the data.

    Either ``teacher_logits`` (cached, indexed by ``Batch.index``) or ``teacher`` (run on every
    batch, for feature-based methods) feeds the loss; both None for label-only training.
    ``cancel`` is anything with ``is_set()`` (a ``threading.Event``); checked every batch.
    ``checkpoint_path``: save after an epoch (every ``KD_CHECKPOINT_EVERY_S`` seconds; after the last one only with
    ``checkpoint_last``, for a stage a later stage resumes from) and resume from it when it exists.
    ``transform``: applied to every input batch on the device (the MHIST schedule's augmentation).
    ``eval_every_epoch``: the test pass after every epoch (else after the last only).
    ``device``: None picks one (:func:`pick_device`). ``logits_to_class``: network outputs → class logits
    (subclass teachers). ``eval_batch_size``: batch of the per-epoch test pass (small for 224×224 backbones: memory).
    ``micro_batch``: forward/backward in slices of this size, one optimiser step per batch.
    """

    epochs: int
    batch_size: int
    lr: float
    seed: int
    teacher: nn.Module | None = None
    teacher_logits: torch.Tensor | None = None
    progress: ProgressFn | None = None
    cancel: object | None = None
    checkpoint_path: Path | None = None
    checkpoint_last: bool = False
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None
    eval_every_epoch: bool = True
    device: torch.device | None = None
    logits_to_class: Callable[[torch.Tensor], torch.Tensor] | None = None
    eval_batch_size: int = 1024
    micro_batch: int | None = None


def fit(model: nn.Module, loss_fn: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor,
        y_test: torch.Tensor, spec: FitSpec) -> list[dict]:
    """Train ``model`` with the summed terms of ``loss_fn`` as ``spec`` says; return per-epoch history rows.

    The calling thread keeps denormal floats flushed afterwards (:func:`flush_denormals`; results are unchanged).
    """
    flush_denormals()
    device = spec.device or pick_device()
    model.to(device).train()
    loss_fn.to(device).train()
    teacher = spec.teacher
    if teacher is not None:
        teacher.to(device).eval()
    # Conv nets train ~1.45x faster on CPU (oneDNN) with channels-last weights; restored afterwards
    # so callers get back the layout they passed in.
    nets = [m for m in (model, teacher) if m is not None and _has_conv(m)]
    for m in nets:
        m.to(memory_format=torch.channels_last)
    try:
        return _fit_epochs(model, loss_fn, x_train, y_train, x_test, y_test, spec, device)
    finally:
        for m in nets:
            m.to(memory_format=torch.contiguous_format)


def _fit_epochs(model: nn.Module, loss_fn: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor,
                x_test: torch.Tensor, y_test: torch.Tensor, spec: FitSpec, device: torch.device) -> list[dict]:
    epochs, batch_size, teacher, teacher_logits, cancel = (spec.epochs, spec.batch_size, spec.teacher,
                                                           spec.teacher_logits, spec.cancel)
    params = [p for p in list(model.parameters()) + list(loss_fn.parameters()) if p.requires_grad]
    opt = adam(params, spec.lr)
    state = FitState()
    if spec.checkpoint_path is not None:
        state = _load_checkpoint(spec.checkpoint_path, model, loss_fn, opt, epochs)
        if state.start_epoch and spec.progress is not None:  # the page and the CLI say so (kdcore.views.lab, cli)
            spec.progress({"stage": "train", "resumed_from": state.start_epoch,
                           "message": f"resumed from its checkpoint after epoch {state.start_epoch}/{epochs}"})
    history = state.history
    n = len(x_train)
    # a resume checkpoint once settings().checkpoint_every_s have passed since the last one; after the last epoch
    # only if asked (the result is stored then): a short job writes none (KD_CHECKPOINT_EVERY_S, kdcore/settings.py)
    every_s, last_saved = settings().checkpoint_every_s, time.perf_counter()
    to_class = spec.logits_to_class or (lambda z: z)
    on_device = x_train.device == device
    for epoch in range(state.start_epoch, epochs):
        if isinstance(loss_fn, EpochHook):  # the loss protocol (kdcore/losses/base.py)
            loss_fn.on_epoch_start(epoch)
        t0 = time.perf_counter()
        # A per-epoch generator makes the shuffle order a function of (seed, epoch) alone, so a
        # resumed run sees exactly the batches an uninterrupted one would.
        g = torch.Generator().manual_seed(spec.seed * 100_003 + epoch)
        perm = torch.randperm(n, generator=g)
        sums: dict[str, torch.Tensor] = {}
        correct = torch.zeros((), dtype=torch.long, device=device)  # on the device: no sync every step
        for i in range(0, n, batch_size):
            if cancel is not None and cancel.is_set():
                raise JobCancelled("cancelled")
            idx = perm[i: i + batch_size]
            xb, yb = x_train[idx], y_train[idx]
            if not on_device:
                xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            if spec.transform is not None:
                xb = spec.transform(xb)
            opt.zero_grad(set_to_none=True)
            # micro_batch: accumulate the batch's gradient over slices, so a 224×224 backbone fits in
            # memory. The same gradient as one pass for per-example-mean losses (BatchNorm frozen).
            step = spec.micro_batch or len(idx)
            for j in range(0, len(idx), step):
                xs, ys, ids = xb[j: j + step], yb[j: j + step], idx[j: j + step]
                out = model(xs)
                if teacher is not None:
                    with torch.no_grad():
                        t_out = teacher(xs)
                elif teacher_logits is not None:
                    t_out = ModelOutput(teacher_logits[ids].to(device, non_blocking=True), {})
                else:
                    t_out = None
                terms = loss_fn(out, t_out, Batch(xs, ys, ids))
                loss = sum(terms.values())
                (loss if step >= len(idx) else loss * (len(ids) / len(idx))).backward()
                with torch.no_grad():
                    for k, v in terms.items():
                        sums[k] = sums.get(k, 0) + v.detach() * len(ids)
                    correct += (to_class(out.logits).argmax(1) == ys).sum()
            opt.step()
        opt.zero_grad(set_to_none=True)  # free the gradients before the test pass (memory peak)
        row: dict = {"epoch": epoch + 1, "train_s": time.perf_counter() - t0}
        row.update({f"loss_{k}": float(v) / n for k, v in sums.items()})
        row["train_loss"] = sum(row[f"loss_{k}"] for k in sums)
        row["train_acc"] = float(correct) / n
        if spec.eval_every_epoch or epoch == epochs - 1:
            logits = predict_logits(model, x_test, batch_size=spec.eval_batch_size, device=device,
                                    transform=spec.transform)
            row["test_acc"] = float((to_class(logits).argmax(1) == y_test).float().mean())
        history.append(row)
        last = epoch == epochs - 1
        if spec.checkpoint_path is not None and (spec.checkpoint_last if last else
                                                 time.perf_counter() - last_saved >= every_s):
            _save_checkpoint(spec.checkpoint_path, model, loss_fn, opt, epoch, history)
            last_saved = time.perf_counter()
        if spec.progress is not None:
            spec.progress({"stage": "train", "epoch": epoch + 1, "epochs": epochs, "row": row})
    return history
