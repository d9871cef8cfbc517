"""The one job description: a frozen, typed dataclass whose hash is the store key.

Everything that changes what a job produces lives here; nothing else does. CLI flags and app
widgets both build a ``JobConfig`` (the course's jobs: :mod:`kdcore.course`; a method's teacher chain:
:mod:`kdcore.methods`) and submit it to the job runner (:mod:`kdcore.jobs`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from kdcore import CODE_VERSION
from kdcore.errors import ConfigError  # here too: callers import it from this module

# The data set names the engine knows, ``DATASETS``, are the keys of kdcore.data.pairs.DATA_PAIRS (one DataPair
# each): read through the module ``__getattr__`` at the end, since the data package imports this module.

# Architectures ("arch"): which network a job trains.
#   teacher_cnn    the course's MNIST teacher (2 conv layers, 1,011,466 parameters)
#   student_mlp    the course's fully connected student; hidden sizes from ``hidden``
#   student_cnn    a small CNN student (for feature-based methods: FitNets, attention transfer)
#   resnetv2_50    MHIST teacher (pre-activation ResNet-50)
#   mobilenet_v2   MHIST student
#   resnet18       MHIST teacher assistant (torchvision ResNet-18: between the two in size, for TAKD)
ARCHS: tuple[str, ...] = ("teacher_cnn", "student_mlp", "student_cnn", "resnetv2_50", "mobilenet_v2", "resnet18")

# Default course settings (handout + issue #2).
DEFAULT_HIDDEN: tuple[int, ...] = (784, 784)
DEFAULT_T = 4.0
DEFAULT_ALPHA = 0.5


# Sane ranges (check_ranges): far beyond any course setting, short of what breaks the engine (NaN weights,
# seeds numpy/torch generators cannot take, a job that would run for months).
MAX_TEMPERATURE = 1000.0
MAX_LR = 10.0
MAX_EPOCHS = 1000
MAX_BATCH_SIZE = 65536
MAX_HIDDEN_SIZE = 65536
MAX_HIDDEN_LAYERS = 32
MAX_SEED = 2**32 - 1  # numpy's and the loop's per-epoch generators take uint32 seeds
MAX_LIMIT = 10**9
MAX_L1 = 1.0  # the L1 penalty's weight: 1e-5..1e-4 sparsifies the course student; 1 would zero every weight


ParamValue = float | int | str | bool


@dataclass(frozen=True)
class JobConfig:
    """One training job. Frozen: build a new one with :meth:`replace`, never mutate.

    ``alpha`` is the weight of the **distillation (soft-target) term**:
    ``loss = alpha * T^2 * KL(p_T^tau || p_S^tau) + (1 - alpha) * CE(y, p_S)``.
    ``alpha = 0`` is plain cross-entropy, ``alpha = 1`` pure distillation.
    """

    dataset: str = "mnist"
    arch: str = "student_mlp"
    method: str = "scratch"  # a key of kdcore.methods.METHODS ("scratch" = labels only)
    hidden: tuple[int, ...] = DEFAULT_HIDDEN  # only used by student_mlp
    temperature: float = DEFAULT_T
    alpha: float = DEFAULT_ALPHA
    epochs: int = 12
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 0
    # Extra, method-specific settings as sorted (name, value) pairs, e.g. (("beta", 100.0),).
    # Kept generic so adding a method never changes the keys of existing results.
    method_params: tuple[tuple[str, ParamValue], ...] = ()
    # The teacher job whose logits/features a distillation method learns from (None for teachers
    # and scratch students). Nested so the teacher's settings are part of this job's key.
    teacher: JobConfig | None = None
    # Use at most this many training / test examples (None: all). For tests and quick demos.
    train_limit: int | None = None
    test_limit: int | None = None
    # Where the data must come from: "auto" picks the best available source and records it.
    data_source: str = "auto"
    # A user's own data folder (MHIST: annotations.csv + images), or None for the default place. Part of
    # the key: the folder typed on the MHIST page is the one the job reads, in any worker process.
    data_dir: str | None = None
    extra: tuple[tuple[str, ParamValue], ...] = field(default=())  # free-form, hashed too
    # A compression job (kdcore.compress): the model it starts from (nested, so its key is part of this key, as
    # the teacher's) and the transform as sorted (name, value) pairs, e.g. (("sparsity", 0.5), ("transform",
    # "prune")). Both empty for every training job, so their keys are unchanged.
    start_from: JobConfig | None = None
    compress: tuple[tuple[str, ParamValue], ...] = ()
    # Sparse regularisation (issue 25's fifth family): the weight λ of an L1 penalty λ·Σ|w| over the student's
    # Linear/Conv weights, added to its method's loss (kdcore.losses.sparse). 0 = none: hashed and in the config's
    # dict only when non-zero, so no existing key changed.
    l1: float = 0.0

    def __post_init__(self) -> None:
        # Normalise sequences to tuples so equal configs hash equally however they were built.
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "method_params", tuple(sorted((str(k), v) for k, v in self.method_params)))
        object.__setattr__(self, "extra", tuple(sorted((str(k), v) for k, v in self.extra)))
        object.__setattr__(self, "compress", tuple(sorted((str(k), v) for k, v in self.compress)))
        object.__setattr__(self, "temperature", float(self.temperature))
        object.__setattr__(self, "alpha", float(self.alpha))
        object.__setattr__(self, "lr", float(self.lr))
        object.__setattr__(self, "l1", float(self.l1))

    # ---- convenience -------------------------------------------------------------------
    def replace(self, **changes: Any) -> JobConfig:
        return dataclasses.replace(self, **changes)

    def with_data_dir(self, data_dir: str | None) -> JobConfig:
        """This job and every job in its teacher chain reading ``data_dir`` (one data set for the chain)."""
        teacher = self.teacher.with_data_dir(data_dir) if self.teacher is not None else None
        start = self.start_from.with_data_dir(data_dir) if self.start_from is not None else None
        return dataclasses.replace(self, data_dir=None if data_dir is None else str(data_dir), teacher=teacher,
                                   start_from=start)

    def param_c(self, name: str, default: ParamValue) -> ParamValue:
        """A compression setting from ``compress`` (or ``default``)."""
        return dict(self.compress).get(name, default)

    def param(self, name: str, default: ParamValue) -> ParamValue:
        """A method-specific setting from ``method_params`` (or ``default``)."""
        return dict(self.method_params).get(name, default)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["teacher"] = self.teacher.to_dict() if self.teacher is not None else None
        d["start_from"] = self.start_from.to_dict() if self.start_from is not None else None
        d["compress"] = [list(p) for p in self.compress]
        if self.start_from is None and not self.compress:  # a training job's dict stays as it always was
            del d["start_from"], d["compress"]
        if not self.l1:  # so does every job's without an L1 penalty
            del d["l1"]
        d["hidden"] = list(self.hidden)
        d["method_params"] = [list(p) for p in self.method_params]
        d["extra"] = [list(p) for p in self.extra]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobConfig:
        d = dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown config fields {sorted(unknown)}; known: {sorted(known)}")
        if d.get("teacher") is not None:
            d["teacher"] = cls.from_dict(d["teacher"])
        if d.get("start_from") is not None:
            d["start_from"] = cls.from_dict(d["start_from"])
        for k in ("hidden",):
            if k in d:
                d[k] = tuple(d[k])
        for k in ("method_params", "extra", "compress"):
            if k in d:
                d[k] = tuple(tuple(p) for p in d[k])
        return cls(**d)

    def key(self) -> str:
        """Content hash of this config + the engine's CODE_VERSION: the result-store key.

        Only fields that differ from their defaults are hashed (dataset, arch and method always),
        so adding a new field with a default never changes the keys of existing results.
        """
        always = ("dataset", "arch", "method")
        d = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in always or v != f.default:
                d[f.name] = v.key() if isinstance(v, JobConfig) else v
        if self.teacher is None and self.method == "scratch":
            # T and alpha do nothing without a teacher: equal jobs must share one key.
            d.pop("temperature", None)
            d.pop("alpha", None)
        payload = json.dumps({"config": d, "code": CODE_VERSION}, sort_keys=True, default=list)
        return hashlib.sha256(payload.encode()).hexdigest()[:20]

    def short_name(self) -> str:
        """A human label such as ``mnist/student_mlp[784x784]/hinton T=4 a=0.5 s0`` (a compression job: its start
        model's label + `` → prune s=0.5`` …)."""
        if self.start_from is not None:
            settings = " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                for k, v in self.compress if k != "transform")
            tune = f" +{self.method}" if dict(self.compress).get("finetune_epochs", 0) else ""
            return f"{self.start_from.short_name()} → {self.param_c('transform', '?')} {settings}{tune}".rstrip()
        arch = self.arch + (f"[{'x'.join(map(str, self.hidden))}]" if self.arch == "student_mlp" else "")
        m = self.method
        if m in ("born_again", "ban_ensemble"):  # generations share everything but their teacher chain
            k, t = 0, self.teacher if m == "ban_ensemble" else self
            while t is not None and t.method == "born_again":
                k, t = k + 1, t.teacher
            m += f" gen{k}" if m == "born_again" else f" gens1-{k}"
        if self.teacher is not None:
            m += f" T={self.temperature:g} a={self.alpha:g}"
        if self.l1:
            m += f" +L1={self.l1:g}"
        return f"{self.dataset}/{arch}/{m} s{self.seed}"


def check_ranges(config: JobConfig) -> JobConfig:
    """Check the settings' ranges (and that a teacher chain shares its data), before any work starts.

    What depends on the method (known name, teacher needed or not, its arrangement) is checked by
    :func:`kdcore.methods.validate`, which calls this first. Raises :class:`ConfigError` naming the fix."""
    c = config
    datasets = _datasets()
    if c.dataset not in datasets and not _known_dataset(c.dataset):
        raise ConfigError(f"unknown dataset {c.dataset!r}; choose one of {', '.join(datasets)}")
    if c.arch not in ARCHS:
        raise ConfigError(f"unknown architecture {c.arch!r}; choose one of {', '.join(ARCHS)}")
    if not (math.isfinite(c.temperature) and 0 < c.temperature <= MAX_TEMPERATURE):
        raise ConfigError(f"temperature T must be a number in (0, {MAX_TEMPERATURE:g}] (got {c.temperature}); "
                          "the course uses T in 1..64")
    if not 0.0 <= c.alpha <= 1.0:  # NaN fails this too
        raise ConfigError(f"alpha must be within [0, 1] (got {c.alpha}); it weights the KD term, 1-alpha the CE term")
    if c.arch == "student_mlp":
        if len(c.hidden) == 0:
            raise ConfigError("hidden sizes are empty; give at least one layer, e.g. 784,784 or 32")
        if any(h <= 0 for h in c.hidden):
            raise ConfigError(f"hidden sizes must be positive integers (got {list(c.hidden)}); e.g. 784,784")
        if len(c.hidden) > MAX_HIDDEN_LAYERS or max(c.hidden) > MAX_HIDDEN_SIZE:
            raise ConfigError(f"hidden sizes {list(c.hidden)} are too large: at most {MAX_HIDDEN_LAYERS} layers of at "
                              f"most {MAX_HIDDEN_SIZE} units; the course student is 784,784")
    if not 1 <= c.epochs <= MAX_EPOCHS:
        raise ConfigError(f"epochs must be within 1..{MAX_EPOCHS} (got {c.epochs}); the course trains 12")
    if not 1 <= c.batch_size <= MAX_BATCH_SIZE:
        raise ConfigError(f"batch size must be within 1..{MAX_BATCH_SIZE} (got {c.batch_size}); the course uses 256")
    if not (math.isfinite(c.lr) and 0 < c.lr <= MAX_LR):
        raise ConfigError(f"learning rate must be a number in (0, {MAX_LR:g}] (got {c.lr}); the course uses 1e-3")
    if not (math.isfinite(c.l1) and 0.0 <= c.l1 <= MAX_L1):
        raise ConfigError(f"the L1 weight must be a number in [0, {MAX_L1:g}] (got {c.l1}); 0 = no penalty, the "
                          "course student sparsifies at 1e-5..1e-4")
    if not 0 <= c.seed <= MAX_SEED:
        raise ConfigError(f"seed must be a whole number within 0..{MAX_SEED} (got {c.seed}); e.g. 0, 1 or 2")
    for lim_name in ("train_limit", "test_limit"):
        lim = getattr(c, lim_name)
        if lim is not None and not 1 <= lim <= MAX_LIMIT:
            raise ConfigError(f"{lim_name} must be within 1..{MAX_LIMIT} or unset (got {lim})")
    if c.start_from is not None:
        check_ranges(c.start_from)
        if c.start_from.dataset != c.dataset or c.start_from.data_dir != c.data_dir:
            raise ConfigError("a compression job must read its start model's data set and folder; build it with "
                              "kdcore.course.compress_job")
    if c.teacher is not None:
        check_ranges(c.teacher)
        if c.teacher.dataset != c.dataset:
            raise ConfigError(
                f"teacher was trained on {c.teacher.dataset!r} but the student on {c.dataset!r}; use the same dataset"
            )
        if c.teacher.data_dir != c.data_dir:
            raise ConfigError(f"teacher reads the data folder {c.teacher.data_dir!r} but the student {c.data_dir!r}; "
                              "use one folder for the chain (JobConfig.with_data_dir)")
    return c


def parse_hidden(text: str) -> tuple[int, ...]:
    """The MLP student's hidden sizes from text (``"784,784"`` → ``(784, 784)``; ``;`` and ``x`` separate too), with
    :func:`check_ranges`' limits: the one parser of the lab's form and the CLI's ``--hidden``. Raises
    :class:`ConfigError` saying what a valid entry looks like."""
    parts = [p.strip() for p in str(text).replace(";", ",").replace("x", ",").split(",")]
    parts = [p for p in parts if p]
    if not parts:
        raise ConfigError("hidden sizes are empty: enter comma-separated layer widths, e.g. 784,784 or 32")
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError as e:
        raise ConfigError(f"hidden sizes {text!r} are not whole numbers: enter e.g. 784,784 or 128,64") from e
    if any(s < 1 or s > MAX_HIDDEN_SIZE for s in sizes):
        raise ConfigError(f"hidden sizes must be between 1 and {MAX_HIDDEN_SIZE} (got {list(sizes)}); e.g. 784,784")
    if len(sizes) > MAX_HIDDEN_LAYERS:
        raise ConfigError(f"at most {MAX_HIDDEN_LAYERS} hidden layers (got {len(sizes)}); e.g. 784,784")
    return sizes


def transfer_stages(config: JobConfig) -> tuple[int, int]:
    """(head epochs, fine-tuning epochs) of an MHIST job: its ``stage1_epochs`` / ``stage2_epochs``
    settings (default: its DataPair's ``stage_epochs``), whole numbers >= 0 (else :class:`ConfigError`)."""
    from kdcore.data.pairs import TRANSFER_STAGE_EPOCHS, data_pair

    defaults = data_pair(config.dataset).stage_epochs if _known_dataset(config.dataset) else None
    out = []
    for name, default in zip(("stage1_epochs", "stage2_epochs"), defaults or TRANSFER_STAGE_EPOCHS, strict=True):
        raw = config.param(name, default)
        try:
            value = int(raw)
            if value != float(raw) or value < 0:
                raise ValueError
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a whole number >= 0, got {raw!r}") from None
        out.append(value)
    return out[0], out[1]


def _datasets() -> tuple[str, ...]:
    from kdcore.data.pairs import DATA_PAIRS  # here, not at the top: kdcore.data imports this module

    return tuple(DATA_PAIRS)


def _known_dataset(name: str) -> bool:
    """A folder data set registered by another process (its JSON description under KD_DATA_DIR/folders)."""
    from kdcore.data.pairs import DATA_PAIRS

    return name in DATA_PAIRS


def __getattr__(name: str) -> Any:
    """``DATASETS`` (the data set names: DATA_PAIRS' keys) and the MHIST schedule's defaults, read from their home,
    :mod:`kdcore.data.pairs` (``MHIST_STAGE1_EPOCHS`` / ``MHIST_STAGE2_EPOCHS``: ``TRANSFER_STAGE_EPOCHS``)."""
    if name == "DATASETS":
        return _datasets()
    if name in ("MHIST_STAGE1_EPOCHS", "MHIST_STAGE2_EPOCHS"):
        from kdcore.data.pairs import TRANSFER_STAGE_EPOCHS

        return TRANSFER_STAGE_EPOCHS[name == "MHIST_STAGE2_EPOCHS"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
