"""``run_job(config)``: config → (cached) result. What the job runner's workers run for every job
(callers submit to the runner: :mod:`kdcore.jobs.submit`).

Flow: validate → load the data (a user's folder: ``config.data_dir``) → :func:`job_key` → store lookup
(a finished job is never recomputed) → inter-process lock → recheck → the teacher's result (a job of its
own, which the runner queued first; fetched here, or run when called directly) and its cached
training-set logits → build student + loss (its :class:`~kdcore.methods.Method`) → the epoch loop
(:func:`kdcore.train.loop.fit`) or the two-stage transfer schedule (:mod:`kdcore.train.transfer`) →
:func:`~kdcore.train.common.evaluate_and_store`.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from kdcore.config import ConfigError, JobConfig
from kdcore.data import ArrayDataset, load_dataset
from kdcore.data.pairs import data_pair
from kdcore.methods import build_loss, check_method_fits, get_method, validate
from kdcore.models import build_model
from kdcore.store import BrokenEntry, open_store, remove_checkpoint
from kdcore.train.common import (
    AnyStore,
    RunTeacher,
    class_logits_fn,
    eval_logits,
    evaluate_and_store,
    load_model,
    nested_progress,
    num_outputs,
    result_record,
    subset,
    teacher_train_logits,
    versions,
)
from kdcore.train.keys import job_key, stored_teacher
from kdcore.train.loop import FitSpec, ProgressFn, fit, flush_denormals


def _noop(_: dict) -> None:
    pass


def run_job(
    config: JobConfig,
    progress: ProgressFn | None = None,
    store: AnyStore | None = None,
    cancel: object | None = None,
    recompute: bool = False,
    key: str | None = None,
) -> dict:
    """Run (or fetch) one job and return its result dict (``result["cached"]`` says which).

    ``key``: the job's :func:`job_key` from the submit path, which validated it (the runner passes it): it is
    neither validated nor keyed again. Called without one (directly, or for a teacher), it does both."""
    progress = progress or _noop
    flush_denormals()  # before this thread's first parallel op, so its OpenMP threads inherit it
    if key is None:
        validate(config)
    mhist = data_pair(config.dataset).transfer
    if mhist:
        from kdcore.train.transfer import check_transfer_config

        check_transfer_config(config)
    store = store or open_store()
    progress({"stage": "data", "message": f"loading {config.dataset}"})
    data = load_dataset(config.dataset, config.data_source, config.data_dir)
    key = key or job_key(config, data)
    weights = get_method(config.method).trains  # an evaluation-only job (BAN ensemble) stores no weights

    # A stored result answers even when an older engine made it (kdcore.engine.stale_reason): callers show it
    # marked as such, and --recompute / precompute --only stale make it again. Recomputing it here would
    # retrain every stale teacher of the chain behind the user's back.
    if not recompute and (hit := store.get(key, need_weights=weights)) is not None:
        return {**hit, "cached": True}
    with store.lock(key):
        if not recompute and (hit := store.get(key, need_weights=weights)) is not None:
            return {**hit, "cached": True}  # another process finished it while we waited
        if config.start_from is not None:  # a compression job (kdcore.compress): a transform of a stored model
            from kdcore.compress.job import compute
        elif not weights:
            from kdcore.train.ensemble import compute_ban_ensemble

            compute = compute_ban_ensemble
        else:  # the two-stage MHIST schedule, or the one loop
            from kdcore.train.transfer import compute as transfer_compute

            compute = transfer_compute if mhist else _compute  # type: ignore[assignment]

        def run_teacher(teacher: JobConfig, stage: str) -> dict:  # a job this one learns from, stored first
            return run_job(teacher, progress=nested_progress(progress, stage), store=store, cancel=cancel)

        try:
            return {**compute(config, key, data, store, progress, cancel, run_teacher), "cached": False}
        except BrokenEntry:  # a stored teacher passed its checksums but did not load: set aside; train it again, once
            return {**compute(config, key, data, store, progress, cancel, run_teacher), "cached": False}


def drop_checkpoints(store: AnyStore, key: str) -> None:
    """Remove every resume checkpoint of job ``key`` (``<key>.pt``, the MHIST stages' ``<key>.stage*.pt``): the job
    runner's Cancel leaves nothing half-made (an interrupted or killed job keeps them: resubmitting it resumes)."""
    root = getattr(store, "root", None)
    if root is None:
        return
    for path in (Path(root) / "checkpoints").glob(f"{key}*.pt"):
        remove_checkpoint(path)


def _compute(config: JobConfig, key: str, data: ArrayDataset, store: AnyStore, progress: ProgressFn,
             cancel: object | None, run_teacher: RunTeacher) -> dict:
    t_start = time.perf_counter()
    spec = get_method(config.method)
    teacher_model = None
    teacher_logits = None
    teacher_result = None
    if config.teacher is not None:
        progress({"stage": "teacher", "message": f"teacher {config.teacher.short_name()}"})
        # stored with weights, or (logits-only methods) with its logits: no teacher pass, no training
        teacher_result = stored_teacher(config, store, data) or run_teacher(config.teacher, "teacher")
        if spec.teacher_features:
            teacher_model = load_model(teacher_result, store)
        else:
            teacher_logits = teacher_train_logits(teacher_result, data.x_train, store, limit=config.train_limit)
    n_out = num_outputs(config, data)
    torch.manual_seed(config.seed)
    model = build_model(config, n_out)
    # the checks need the teacher's architecture only, unless the method reads its features
    teacher_for_checks = teacher_model or (build_model(config.teacher, num_outputs(config.teacher, data))
                                           if teacher_result else None)
    # pair-specific checks (a hint layer that does not exist, AT on the FC student …), before training
    check_method_fits(config, model, teacher_for_checks)
    loss_fn = build_loss(config, model, teacher_for_checks)  # the method's (+ the L1 penalty when l1 > 0)
    xtr, ytr, xte, yte = subset(data, config)
    if teacher_logits is not None:
        teacher_logits = teacher_logits[: len(xtr)]
    ckpt = None
    if hasattr(store, "root") and config.epochs > 1:
        ckpt = store.root / "checkpoints" / f"{key}.pt"
    progress({"stage": "train", "epoch": 0, "epochs": config.epochs, "message": "training"})
    t_train = time.perf_counter()
    history = fit(model, loss_fn, xtr, ytr, xte, yte, FitSpec(
        epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, seed=config.seed,
        teacher=teacher_model, teacher_logits=teacher_logits, progress=progress, cancel=cancel,
        checkpoint_path=ckpt, logits_to_class=class_logits_fn(config),
    ))
    return evaluate_and_store(config, key, data, store, model, n_train=len(xtr), xte=xte, yte=yte, history=history,
                              teacher_result=teacher_result, train_s=time.perf_counter() - t_train, t_start=t_start,
                              progress=progress, checkpoints=(ckpt,), extra=_sparsity(config, model))


def _sparsity(config: JobConfig, model: torch.nn.Module) -> dict | None:
    """What an L1-trained student (``l1`` > 0) reports beyond every result: the share of its Linear/Conv weights
    below the stated threshold (:data:`kdcore.metrics.ZERO_THRESHOLD`, recorded with it)."""
    if not config.l1:
        return None
    from kdcore.metrics import weight_sparsity

    return {"sparsity": {**weight_sparsity(model), "l1": config.l1}}


__all__ = ["AnyStore", "ConfigError", "class_logits_fn", "drop_checkpoints", "eval_logits", "job_key", "load_model",
           "num_outputs", "result_record", "run_job", "stored_teacher", "subset", "teacher_train_logits", "versions"]
