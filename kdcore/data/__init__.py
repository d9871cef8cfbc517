"""Data sets as whole tensors (batches are index slices, never per-item ``Dataset`` calls). MNIST-style
sets are held in memory; MHIST as :class:`kdcore.data.images.ImageFiles`, which index like a tensor
but decode a batch from its PNG files when it is used.

``load_dataset(name)`` returns an :class:`ArrayDataset` that records where its data came from
(``source``), whether it is a stand-in, and any notice the user should see (e.g. "download
failed, using the 5k subset"). Results carry that source next to every number.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch


class DataError(RuntimeError):
    """A data set cannot be loaded; the message says what is wrong and what to do."""


@dataclass
class ArrayDataset:
    name: str  # "mnist", "fashion_mnist", ...
    source: str  # human label shown next to every number, e.g. "MNIST 60k/10k"
    source_id: str  # short stable id, part of the store key, e.g. "mnist-60k"
    # float32 (N, C, H, W) in [0, 1]; MHIST: uint8 ImageFiles decoded per batch (kdcore.data.images)
    x_train: torch.Tensor
    y_train: torch.Tensor  # int64 (N,)
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[str, ...]
    is_standin: bool = False
    notice: str | None = None  # e.g. why a fallback source was used
    extra: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def data_dir() -> Path:
    """Where downloads go: ``KD_DATA_DIR`` or ``./data``."""
    return Path(os.environ.get("KD_DATA_DIR", "data")).expanduser()


_cache: dict[tuple[str, str], ArrayDataset] = {}
_cache_lock = threading.Lock()
_load_locks: dict[tuple[str, str], threading.Lock] = {}


def load_dataset(name: str, source: str = "auto") -> ArrayDataset:
    """Load ``name`` ("mnist", "fashion_mnist", "mhist", "mhist_synthetic"), memoised per process.

    ``source`` "auto" picks the best available source; a specific source id (e.g. "mnist-5k")
    forces it or raises :class:`DataError` saying how to get it.
    """
    with _cache_lock:
        if (name, source) in _cache:
            return _cache[(name, source)]
        load_lock = _load_locks.setdefault((name, source), threading.Lock())
    # One load per data set at a time: 30 sessions asking at once must not load it 30 times
    # (measured: 30 concurrent first loads of MNIST-5k took 87 s and 5.6 GB instead of 3 s).
    with load_lock:
        with _cache_lock:
            if (name, source) in _cache:
                return _cache[(name, source)]
        return _load_uncached(name, source)


def _load_uncached(name: str, source: str) -> ArrayDataset:
    if name == "mnist":
        from kdcore.data.mnist import load_mnist

        ds = load_mnist(source)
    elif name == "fashion_mnist":
        from kdcore.data.mnist import load_fashion_mnist

        ds = load_fashion_mnist(source)
    elif name in ("mhist", "mhist_synthetic"):
        from kdcore.data.mhist_adapter import load_mhist_dataset

        ds = load_mhist_dataset(name, source)
    else:
        raise DataError(f"unknown dataset {name!r}; choose mnist, fashion_mnist, mhist or mhist_synthetic")
    with _cache_lock:
        _cache[(name, source)] = ds
    return ds


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


DATASET_TITLES = {
    "mnist": "MNIST",
    "fashion_mnist": "Fashion-MNIST",
    "mhist": "MHIST",
    "mhist_synthetic": "MHIST synthetic stand-in",
}
