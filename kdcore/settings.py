"""Every ``KD_*`` environment variable, read and validated in one place: ``settings()``.

``settings()`` parses the *current* environment into a frozen :class:`Settings`, memoised on the
raw values: parsed once per distinct environment, and a changed variable is seen at the next call.
Every call checks every variable: a malformed value raises :class:`SettingsError` (a
:class:`kdcore.config.ConfigError`, so the CLI prints it as ``error: …``) naming the variable, the
value and an example of a good one; nothing is silently ignored. Unset or empty means the default.

Variables (``Settings`` field in brackets; default; example):

``KD_DATA_DIR`` (``data_dir: Path``)
    Where data sets are downloaded and made. Default ``./data``. E.g. ``KD_DATA_DIR=~/kd-data``.
``KD_STORE_DIR`` (``store_dir: Path | None``)
    The result store. Unset (None): ``~/.cache/distillation-lab/store``
    (:func:`kdcore.store.default_store_dir`; ``precompute`` uses ``~/.cache/distillation-lab/precompute``).
    E.g. ``KD_STORE_DIR=/srv/kd/store``.
``KD_MHIST_DIR`` (``mhist_dir: Path | None``)
    Your MHIST folder (annotations.csv + images, or the release zips). Unset: None (the MHIST page
    says how to get it). E.g. ``KD_MHIST_DIR=~/MHIST``.
``KD_OFFLINE`` (``offline: bool``)
    Never touch the network. ``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off``.
    Default off. E.g. ``KD_OFFLINE=1``.
``KD_DEVICE`` (``device: "auto" | "cpu" | "cuda"``)
    ``cpu`` ignores a GPU; ``auto`` (and ``cuda``) train on CUDA when it is present, else on the CPU.
    Default ``auto``. E.g. ``KD_DEVICE=cpu``.
``KD_WORKERS`` (``workers: int``, >= 1)
    Training jobs the job runner runs at once. Default ``max(1, cpus // 2)`` (a job uses two
    threads well). E.g. ``KD_WORKERS=2``.
``KD_QUEUE_LIMIT`` (``queue_limit: int``, >= 1)
    Jobs that may wait in the runner's queue; one more is refused. Default ``64``. E.g. ``KD_QUEUE_LIMIT=32``.
``KD_RUNNER_MODE`` (``runner_mode: "auto" | "process" | "thread"``)
    ``process``: each worker slot hands its job to a worker process (a crash fails only that job);
    ``thread``: jobs run in threads of the calling process (~400 MB less); ``auto``: small jobs (the
    MNIST-style pairs, estimated ≤ 256 MB) in threads, anything bigger (MHIST) in a worker process.
    Default ``auto``. E.g. ``KD_RUNNER_MODE=thread``.
``KD_WORKER_THREADS`` (``worker_threads: int | None``, >= 0)
    Torch threads per worker process; ``0`` leaves torch's own default. Unset (None):
    ``max(1, cpus // workers)``. E.g. ``KD_WORKER_THREADS=2``.
``KD_MEMORY_BUDGET`` (``memory_budget: int``, bytes, > 0)
    Memory the runner's jobs may use together (each of ``workers`` jobs gets ``budget / workers``;
    :mod:`kdcore.jobs.memory`). Binary units K/M/G/T, optionally with ``B``/``iB``. Default ``2G``.
    E.g. ``KD_MEMORY_BUDGET=1500M`` or ``2.5GiB``.
``KD_APP_TINY`` (``app_tiny: tuple[int, int, int] | None``)
    Tiny mode: the app caps every job it builds at TRAIN training / TEST test examples and EPOCHS
    epochs (:mod:`kdcore.views.lab`). ``1``: ``256,128,1``; ``TRAIN,TEST,EPOCHS``: those; unset
    or ``0``: off (None). E.g. ``KD_APP_TINY=256,128,1``.
``KD_COST_CLASSES`` (``cost_classes: tuple[int, ...]``)
    ``precompute --only fashion-methods``: which cost classes (0–5, see
    :func:`kdcore.precompute.method_cost_rank`) to run. Default ``0,1,2,3,4,5``. E.g. ``KD_COST_CLASSES=1,2``.
``KD_SEEDS`` (``seeds: tuple[int, ...] | None``)
    ``precompute --only fashion-methods`` (also ``subclass-sweep``, ``dkd-sweep``, ``teacher-logits``): which seeds
    to run. Unset (None): each part's own (``0,1,2``; the Fashion-MNIST subclass sweep: ``0``). E.g. ``KD_SEEDS=0,1``.
``KD_RAY_ADDRESS`` (``ray_address: str | None``)
    Run every job of the job runner (the app's, the CLI's) on the Ray cluster at this address
    (:mod:`kdcore.jobs.ray_executor`): ``auto`` (this machine's cluster), ``ray://HOST:10001`` or
    ``HOST:6379``; the runner's queue, de-duplication and memory guard stay here. Unset: jobs run on
    this machine. E.g. ``KD_RAY_ADDRESS=ray://10.0.0.5:10001``.
``KD_LECTURER_CODE`` (``lecturer_code: str | None``)
    The code the Class board asks for before it starts a fresh class (which changes the class every new visitor
    joins): 6–64 letters, digits, ``-`` or ``_``. Unset (None): a random code made at start and printed once to
    the server log (:func:`kdcore.board.lecturer_code`). E.g. ``KD_LECTURER_CODE=ece1512-lecturer``.
``KD_CHECKPOINT_EVERY_S`` (``checkpoint_every_s: int``, seconds, >= 0)
    A training job saves a resume checkpoint after an epoch once this many seconds have passed since its last
    one (never after its last epoch: the result is stored then). ``0``: after every epoch. Default ``10``: a
    course job of a few seconds writes none (each write of the course student's weights and optimiser state,
    15 MB, cost ~0.05 s: a sixth of a 3-s MNIST job), an interrupted one loses at most ~10 s of work. E.g.
    ``KD_CHECKPOINT_EVERY_S=0``.

This module imports nothing heavy (no torch) and, of kdcore, only :mod:`kdcore.errors`.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from kdcore.errors import ConfigError

# Every variable this module reads, in the order of the raw tuple settings() memoises on.
ENV_VARS: tuple[str, ...] = (
    "KD_DATA_DIR", "KD_STORE_DIR", "KD_MHIST_DIR", "KD_OFFLINE", "KD_DEVICE", "KD_WORKERS", "KD_QUEUE_LIMIT",
    "KD_RUNNER_MODE", "KD_WORKER_THREADS", "KD_MEMORY_BUDGET", "KD_APP_TINY", "KD_COST_CLASSES", "KD_SEEDS",
    "KD_RAY_ADDRESS", "KD_CHECKPOINT_EVERY_S", "KD_LECTURER_CODE",
)

DEFAULT_DATA_DIR = "data"
DEFAULT_QUEUE_LIMIT = 64
DEFAULT_MEMORY_BUDGET = "2G"
DEFAULT_CHECKPOINT_EVERY_S = 10
DEFAULT_TINY = (256, 128, 1)  # KD_APP_TINY=1: training / test examples, epochs
COST_CLASSES: tuple[int, ...] = (0, 1, 2, 3, 4, 5)  # precompute.method_cost_rank's classes
Device = Literal["auto", "cpu", "cuda"]
RunnerMode = Literal["auto", "process", "thread"]
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
RUNNER_MODES: tuple[str, ...] = ("auto", "process", "thread")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

MB = 1024**2
GB = 1024**3


class SettingsError(ConfigError):
    """A ``KD_*`` environment variable holds a value that cannot be used; the message names the
    variable, the value and an example of a good one."""

    def __init__(self, name: str, value: str, problem: str, example: str) -> None:
        super().__init__(f"{name}={value!r} is not valid: {problem}; set it to e.g. {name}={example}, or unset it")
        self.name, self.value = name, value


@dataclass(frozen=True)
class Settings:
    """The parsed ``KD_*`` environment (see the module docstring for each variable)."""

    data_dir: Path
    store_dir: Path | None  # None: unset (kdcore.store.default_store_dir() picks the default)
    mhist_dir: Path | None
    offline: bool
    device: Device
    workers: int
    queue_limit: int
    runner_mode: RunnerMode
    worker_threads: int | None  # None: max(1, cpus // workers); 0: torch's own default
    memory_budget: int  # bytes
    app_tiny: tuple[int, int, int] | None  # (train_limit, test_limit, epochs), None: tiny mode off
    cost_classes: tuple[int, ...]
    seeds: tuple[int, ...] | None  # None: precompute's own SEEDS
    ray_address: str | None = None  # None: jobs run on this machine
    checkpoint_every_s: int = DEFAULT_CHECKPOINT_EVERY_S  # seconds between a job's resume checkpoints (0: every epoch)
    lecturer_code: str | None = None  # None: kdcore.board makes a random one at start and logs it


def parse_bytes(text: str | int | float) -> int:
    """``"2G"``, ``"1500M"``, ``"2.5GiB"``, ``"512mb"`` or a plain number of bytes → bytes (binary units)."""
    if isinstance(text, (int, float)):
        return int(text)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b)?\s*", text.lower())
    if m is None:
        raise ConfigError(f"cannot read a memory size from {text!r}; write e.g. 2G, 1500M or 2.5GiB")
    scale = {"": 1, "k": 1024, "m": MB, "g": GB, "t": 1024 * GB}[m.group(2)]
    return int(float(m.group(1)) * scale)


def settings() -> Settings:
    """The ``KD_*`` settings of the current environment; raises :class:`SettingsError` for a malformed one."""
    return _parse(tuple(os.environ.get(name) for name in ENV_VARS))


# ---- parsing ------------------------------------------------------------------------------------
def _path(raw: str | None) -> Path | None:
    return Path(raw.strip()).expanduser() if raw and raw.strip() else None


def _folder(name: str, raw: str | None, example: str) -> Path | None:
    """A folder path; one that names an existing file is refused (whether it can be written is checked where
    it is written: the store, the data loaders)."""
    path = _path(raw)
    if path is not None and path.exists() and not path.is_dir():
        raise SettingsError(name, raw or "", "it names a file, not a folder (a folder is made if it is missing)",
                            example)
    return path


def _bool(name: str, raw: str | None) -> bool:
    text = (raw or "").strip().lower()
    if text in ("", *_FALSE):
        return False
    if text in _TRUE:
        return True
    raise SettingsError(name, raw or "", "expected 1/true/yes/on or 0/false/no/off", "1")


def _choice(name: str, raw: str | None, choices: tuple[str, ...], default: str, example: str) -> str:
    text = (raw or "").strip().lower()
    if not text:
        return default
    if text not in choices:
        raise SettingsError(name, raw or "", f"expected one of {', '.join(choices)}", example)
    return text


def _int(name: str, raw: str | None, minimum: int, example: str) -> int | None:
    """A whole number >= ``minimum``; None when unset."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise SettingsError(name, raw or "", f"expected a whole number >= {minimum}", example)
    return value


def _ints(name: str, raw: str | None, example: str, allowed: tuple[int, ...] | None = None) -> tuple[int, ...] | None:
    """Comma-separated whole numbers (>= 0, or each one of ``allowed``); None when unset."""
    text = (raw or "").strip()
    if not text:
        return None
    what = f"one of {','.join(map(str, allowed))}" if allowed is not None else "whole numbers >= 0"
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or any(v < 0 or (allowed is not None and v not in allowed) for v in values):
        raise SettingsError(name, raw or "", f"expected comma-separated {what}", example)
    return values


def _memory_budget(raw: str | None) -> int:
    text = (raw or "").strip() or DEFAULT_MEMORY_BUDGET
    try:
        value = parse_bytes(text)
    except ConfigError:
        value = 0
    if value <= 0:
        raise SettingsError("KD_MEMORY_BUDGET", raw or "",
                            "expected a memory size above 0 such as 2G, 1500M, 2.5GiB or a number of bytes", "2G")
    return value


def _tiny(raw: str | None) -> tuple[int, int, int] | None:
    text = (raw or "").strip().lower()
    if text in ("", *_FALSE):
        return None
    if text in _TRUE:
        return DEFAULT_TINY
    try:
        train, test, epochs = (int(v) for v in text.split(","))
    except ValueError:
        train = test = epochs = 0
    if min(train, test, epochs) < 1:
        raise SettingsError("KD_APP_TINY", raw or "", "expected 1 (the default caps, 256,128,1), 0 (off) or "
                            "TRAIN,TEST,EPOCHS: three whole numbers >= 1", "256,128,1")
    return train, test, epochs


LECTURER_CODE_RE = re.compile(r"[A-Za-z0-9_-]{6,64}")


def _lecturer_code(raw: str | None) -> str | None:
    text = (raw or "").strip()
    if not text:
        return None
    if not LECTURER_CODE_RE.fullmatch(text):
        raise SettingsError("KD_LECTURER_CODE", raw or "", "expected 6-64 letters, digits, '-' or '_' (short codes "
                            "are guessed)", "ece1512-lecturer")
    return text


@functools.lru_cache(maxsize=32)
def _parse(raw: tuple[str | None, ...]) -> Settings:
    """The settings of one environment: ``raw`` holds the values of :data:`ENV_VARS` (None: unset)."""
    env = dict(zip(ENV_VARS, raw, strict=True))
    cpus = os.cpu_count() or 1
    workers = _int("KD_WORKERS", env["KD_WORKERS"], 1, "2")
    queue_limit = _int("KD_QUEUE_LIMIT", env["KD_QUEUE_LIMIT"], 1, "32")
    checkpoint_every_s = _int("KD_CHECKPOINT_EVERY_S", env["KD_CHECKPOINT_EVERY_S"], 0, "0")
    return Settings(
        data_dir=_folder("KD_DATA_DIR", env["KD_DATA_DIR"], "~/kd-data") or Path(DEFAULT_DATA_DIR),
        store_dir=_folder("KD_STORE_DIR", env["KD_STORE_DIR"], "~/kd-store"),
        mhist_dir=_path(env["KD_MHIST_DIR"]),
        offline=_bool("KD_OFFLINE", env["KD_OFFLINE"]),
        device=cast(Device, _choice("KD_DEVICE", env["KD_DEVICE"], DEVICES, "auto", "cpu")),
        workers=max(1, cpus // 2) if workers is None else workers,
        queue_limit=DEFAULT_QUEUE_LIMIT if queue_limit is None else queue_limit,
        runner_mode=cast(RunnerMode, _choice("KD_RUNNER_MODE", env["KD_RUNNER_MODE"], RUNNER_MODES, "auto",
                                             "thread")),
        worker_threads=_int("KD_WORKER_THREADS", env["KD_WORKER_THREADS"], 0, "2"),
        memory_budget=_memory_budget(env["KD_MEMORY_BUDGET"]),
        app_tiny=_tiny(env["KD_APP_TINY"]),
        cost_classes=_ints("KD_COST_CLASSES", env["KD_COST_CLASSES"], "1,2", COST_CLASSES) or COST_CLASSES,
        seeds=_ints("KD_SEEDS", env["KD_SEEDS"], "0,1"),
        ray_address=(env["KD_RAY_ADDRESS"] or "").strip() or None,
        checkpoint_every_s=DEFAULT_CHECKPOINT_EVERY_S if checkpoint_every_s is None else checkpoint_every_s,
        lecturer_code=_lecturer_code(env["KD_LECTURER_CODE"]),
    )


__all__ = ["ENV_VARS", "Settings", "SettingsError", "parse_bytes", "settings"]
