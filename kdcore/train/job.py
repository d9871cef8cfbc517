"""``run_job(config)``: config → (cached) result. The single entry point the CLI, app and runner use.

Flow: validate → resolve data source → store lookup (a finished job is never recomputed) →
inter-process lock → recheck → teacher (itself a job, recursively) and its cached training-set
logits → build student + loss → :func:`kdcore.train.loop.fit` → metrics → atomic store write.
"""

from __future__ import annotations

import datetime as dt
import platform
import time
from collections.abc import Callable

import torch
from torch import nn

import kdcore
from kdcore.config import ConfigError, JobConfig
from kdcore.data import ArrayDataset, load_dataset
from kdcore.methods import check_method_fits, get_method, outputs_per_class, validate
from kdcore.metrics import classification_metrics, complexity
from kdcore.models import build_model
from kdcore.store import LayeredStore, ResultStore, open_store, store_key
from kdcore.train.loop import ProgressFn, fit, pick_device, predict_logits

AnyStore = LayeredStore | ResultStore


def _noop(_: dict) -> None:
    pass


def num_outputs(config: JobConfig, data: ArrayDataset) -> int:
    """Network output width: classes, or classes × subclasses for subclass distillation."""
    return data.num_classes * outputs_per_class(config)


def class_logits_fn(config: JobConfig) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Map a network's outputs to class logits (identity unless it has subclass outputs)."""
    s = outputs_per_class(config)
    if s <= 1:
        return None
    def to_class(z: torch.Tensor) -> torch.Tensor:
        return z.view(z.shape[0], -1, s).logsumexp(-1)
    return to_class


def subset(data: ArrayDataset, config: JobConfig) -> tuple[torch.Tensor, ...]:
    """The (possibly limited) train/test tensors of a job; limits take a fixed prefix."""
    ntr = config.train_limit or len(data.x_train)
    nte = config.test_limit or len(data.x_test)
    return data.x_train[:ntr], data.y_train[:ntr], data.x_test[:nte], data.y_test[:nte]


def job_key(config: JobConfig, data: ArrayDataset | None = None) -> str:
    data = data or load_dataset(config.dataset, config.data_source, config.data_dir)
    if config.dataset.startswith("mhist"):  # the key also says which weights started the backbone
        from kdcore.train.transfer import transfer_key

        return transfer_key(config, data)
    return store_key(config, data.source_id)


def load_model(result: dict, store: AnyStore | None = None) -> nn.Module:
    """Rebuild the trained network of a stored result (safetensors weights; no pickle)."""
    store = store or open_store()
    config = JobConfig.from_dict(result["config"])
    weights = store.load_tensors(result["key"], "weights")
    if weights is None:
        raise FileNotFoundError(f"weights of {result.get('name', result['key'])} are not in the store; rerun the job")
    torch.manual_seed(0)
    model = build_model(config, int(result["num_outputs"]))
    model.load_state_dict(weights)
    return model.eval()


def eval_logits(model: nn.Module, x: torch.Tensor, config: JobConfig) -> torch.Tensor:
    """All outputs of ``model`` over ``x`` as its job evaluates them: MHIST images ImageNet-normalised per
    batch at the schedule's batch size on the job's device; MNIST-style tensors as they are."""
    if not config.dataset.startswith("mhist"):
        return predict_logits(model, x)
    from kdcore.models.mhist import imagenet_normalize
    from kdcore.train.transfer import schedule

    device = pick_device()
    return predict_logits(model.to(device), x, batch_size=schedule(config).batch_size, device=device,
                          transform=imagenet_normalize)


def teacher_train_logits(teacher_result: dict, x_train: torch.Tensor, store: AnyStore, batch_size: int = 1024,
                         transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """The teacher's logits over the training inputs: computed once per trained teacher, then read
    from its store entry (``train_logits``) by every student job that distils from it."""
    n = len(x_train)
    cached = store.load_tensors(teacher_result["key"], "train_logits")
    if cached is not None and cached["logits"].shape[0] >= n:
        return cached["logits"][:n]
    teacher = load_model(teacher_result, store).to(pick_device())
    logits = predict_logits(teacher, x_train, batch_size=batch_size, transform=transform)
    del teacher
    try:
        store.add_tensors(teacher_result["key"], "train_logits", {"logits": logits})
    except Exception:  # a read-only or full store: the logits still serve this process
        pass
    return logits


def run_job(
    config: JobConfig,
    progress: ProgressFn | None = None,
    store: AnyStore | None = None,
    cancel: object | None = None,
    recompute: bool = False,
) -> dict:
    """Run (or fetch) one job and return its result dict (``result["cached"]`` says which)."""
    progress = progress or _noop
    validate(config)
    mhist = config.dataset.startswith("mhist")
    if mhist:
        from kdcore.train import transfer

        transfer.check_transfer_config(config)
    store = store or open_store()
    progress({"stage": "data", "message": f"loading {config.dataset}"})
    data = load_dataset(config.dataset, config.data_source, config.data_dir)
    key = job_key(config, data)
    weights = get_method(config.method).trains  # an evaluation-only job (BAN ensemble) stores no weights
    if not recompute and (hit := store.get(key, need_weights=weights)) is not None:
        return {**hit, "cached": True}
    with store.lock(key):
        if not recompute and (hit := store.get(key, need_weights=weights)) is not None:
            return {**hit, "cached": True}  # another process finished it while we waited
        if not weights:
            from kdcore.train.ensemble import compute_ban_ensemble

            compute = compute_ban_ensemble
        else:  # the two-stage MHIST schedule, or the one loop
            compute = transfer.compute if mhist else _compute
        return {**compute(config, key, data, store, progress, cancel), "cached": False}


def _compute(config: JobConfig, key: str, data: ArrayDataset, store: AnyStore, progress: ProgressFn,
             cancel: object | None) -> dict:
    t_start = time.perf_counter()
    spec = get_method(config.method)
    teacher_model = None
    teacher_logits = None
    teacher_result = None
    if config.teacher is not None:
        progress({"stage": "teacher", "message": f"teacher {config.teacher.short_name()}"})
        teacher_result = run_job(config.teacher, progress=_nested(progress, "teacher"), store=store, cancel=cancel)
        if spec.teacher_features:
            teacher_model = load_model(teacher_result, store)
        else:
            teacher_logits = teacher_train_logits(teacher_result, data.x_train, store)
    n_out = num_outputs(config, data)
    torch.manual_seed(config.seed)
    model = build_model(config, n_out)
    teacher_for_checks = teacher_model or (load_model(teacher_result, store) if teacher_result else None)
    # pair-specific checks (a hint layer that does not exist, AT on the FC student …), before training
    check_method_fits(config, model, teacher_for_checks)
    loss_fn = spec.loss(config, model, teacher_for_checks)
    xtr, ytr, xte, yte = subset(data, config)
    if teacher_logits is not None:
        teacher_logits = teacher_logits[: len(xtr)]
    ckpt = None
    if hasattr(store, "root") and config.epochs > 1:
        ckpt = store.root / "checkpoints" / f"{key}.pt"
    progress({"stage": "train", "epoch": 0, "epochs": config.epochs, "message": "training"})
    t_train = time.perf_counter()
    history = fit(
        model, loss_fn, xtr, ytr, xte, yte,
        epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, seed=config.seed,
        teacher=teacher_model, teacher_logits=teacher_logits, progress=progress, cancel=cancel,
        checkpoint_path=ckpt, logits_to_class=class_logits_fn(config),
    )
    train_s = time.perf_counter() - t_train
    progress({"stage": "eval", "message": "evaluating"})
    model.cpu().eval()
    logits = predict_logits(model, xte)
    to_class = class_logits_fn(config)
    if to_class is not None:
        logits = to_class(logits)
    metrics = classification_metrics(yte, torch.softmax(logits, 1))
    cx = complexity(model, data.input_shape)
    result = result_record(config, data, n_train=len(xtr), n_test=len(xte), num_outputs=n_out, history=history,
                           metrics=metrics, complexity=cx, teacher_result=teacher_result, train_s=train_s,
                           wall_s=time.perf_counter() - t_start, device=pick_device())
    stored = store.put(key, result, {"weights": model.state_dict()})
    if ckpt is not None:
        ckpt.unlink(missing_ok=True)
    progress({"stage": "done", "message": "done"})
    return stored


def result_record(config: JobConfig, data: ArrayDataset, *, n_train: int, n_test: int, num_outputs: int,
                  history: list[dict], metrics: dict, complexity: dict, teacher_result: dict | None,
                  train_s: float, wall_s: float, device: torch.device | str) -> dict:
    """The result dict every job stores: what ran, on which data, what it scored, and provenance."""
    return {
        "name": config.short_name(),
        "config": config.to_dict(),
        "config_key": config.key(),
        "dataset": config.dataset,
        "data_source": data.source,
        "data_source_id": data.source_id,
        "is_standin": data.is_standin,
        "n_train": n_train,
        "n_test": n_test,
        "num_outputs": num_outputs,
        "classes": list(data.classes),
        "history": history,
        "metrics": metrics,
        "complexity": complexity,
        "teacher_key": teacher_result["key"] if teacher_result else None,
        "train_s": train_s,
        "wall_s": wall_s,
        "seed": config.seed,
        "device": str(device),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
    }


def _nested(progress: ProgressFn, stage: str) -> ProgressFn:
    def inner(event: dict) -> None:
        progress({**event, "stage": f"{stage}:{event.get('stage', '')}"})
    return inner


def versions() -> dict:
    # From package metadata: importing torchvision just for its version costs a worker ~90 MB.
    from importlib.metadata import version

    return {
        "kdcore": kdcore.__version__,
        "code_version": kdcore.CODE_VERSION,
        "torch": torch.__version__,
        "torchvision": version("torchvision"),
        "sklearn": version("scikit-learn"),
        "python": platform.python_version(),
    }


__all__ = ["ConfigError", "job_key", "load_model", "run_job", "teacher_train_logits"]
