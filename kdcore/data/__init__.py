"""Data sets as whole tensors (batches are index slices, never per-item ``Dataset`` calls). MNIST-style
sets are held in memory; MHIST as :class:`kdcore.data.images.ImageFiles`, which index like a tensor
but decode a batch from its PNG files when it is used.

``load_dataset(name, source, data_dir)`` returns an :class:`ArrayDataset` that records where its data
came from (``source``), whether it is a stand-in, and any notice the user should see (e.g. "download
failed, using the 5k subset"). Results carry that source next to every number. ``data_dir`` is a
user's own folder (MHIST: the folder typed on the MHIST page, ``JobConfig.data_dir``); None keeps the
default places (``KD_MHIST_DIR`` for MHIST).

What each data set *is* (input shape, classes, the course pair on it) is in :mod:`kdcore.data.pairs`.
The shared types live in :mod:`kdcore.data.base`, so the loaders never import this package back.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

from kdcore.data.base import ArrayDataset, DataError, data_dir
from kdcore.data.pairs import DATA_PAIRS, FOLDER_PREFIX, DataPair, data_pair

# (name, source) for sets read from fixed places; (name, source, resolved folder) for a set read from a
# user's folder (MHIST), so two folders never share an entry and a changed KD_MHIST_DIR is seen.
_CacheKey = tuple
_cache: dict[_CacheKey, ArrayDataset] = {}
_cache_lock = threading.Lock()
_load_locks: dict[_CacheKey, threading.Lock] = {}


def _folder(name: str, folder: str | Path | None) -> str | Path | None:
    """``folder`` checked against data set ``name``: None (or blank) for the default places."""
    if folder is None or str(folder).strip() == "":
        return None
    if name in DATA_PAIRS and not DATA_PAIRS[name].user_folder:
        users = ", ".join(n for n, p in DATA_PAIRS.items() if p.user_folder)
        raise DataError(f"{name} is not read from a folder of your own (got data_dir={str(folder)!r}); only "
                        f"{users} is — drop the folder, or pick {users}")
    return folder


def _cache_key(name: str, source: str, folder: str | Path | None) -> _CacheKey:
    if name not in DATA_PAIRS or not DATA_PAIRS[name].user_folder:
        return (name, source)
    if name.startswith(FOLDER_PREFIX):  # the name holds the folder's content id; the loader checks it still does
        return (name, source, str(Path(str(folder)).expanduser().resolve()) if folder is not None else None)
    from kdcore.data.mhist import find_mhist_dir

    found = find_mhist_dir(folder)  # folder None: KD_MHIST_DIR
    where = str(found.resolve()) if found is not None else f"<not found: {folder}>"
    return (name, source, where)


def load_dataset(name: str, source: str = "auto", data_dir: str | Path | None = None) -> ArrayDataset:
    """Load ``name`` ("mnist", "fashion_mnist", "mhist", "mhist_synthetic"), memoised per process.

    ``source`` "auto" picks the best available source; a specific source id (e.g. "mnist-5k")
    forces it or raises :class:`DataError` saying how to get it. ``data_dir``: the user's folder to
    read (MHIST only; a :class:`DataError` for the others), never replaced by ``KD_MHIST_DIR``; None
    reads the default places.
    """
    folder = _folder(name, data_dir)
    key = _cache_key(name, source, folder)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        load_lock = _load_locks.setdefault(key, threading.Lock())
    # One load per data set at a time: 30 sessions asking at once must not load it 30 times
    # (measured: 30 concurrent first loads of MNIST-5k took 87 s and 5.6 GB instead of 3 s).
    with load_lock:
        with _cache_lock:
            if key in _cache:
                return _cache[key]
        ds = _load_uncached(name, source) if folder is None else _load_uncached(name, source, folder)
        with _cache_lock:
            _cache[key] = ds
        return ds


def _load_uncached(name: str, source: str, folder: str | Path | None = None) -> ArrayDataset:
    if name == "mnist":
        from kdcore.data.mnist import load_mnist

        return load_mnist(source)
    if name == "mnist_binary":
        from kdcore.data.mnist import load_mnist_binary

        # memoised: the MNIST arrays are shared; a stored result names its source "mnist-5k-binary"
        return load_mnist_binary(load_dataset("mnist", source.removesuffix("-binary")))
    if name == "fashion_mnist":
        from kdcore.data.mnist import load_fashion_mnist

        return load_fashion_mnist(source)
    if name.startswith(FOLDER_PREFIX) and name in DATA_PAIRS:  # a folder of the user's images (kdcore.data.folder)
        from kdcore.data.folder import load_folder_dataset

        return load_folder_dataset(name, source, folder)
    if name in DATA_PAIRS and DATA_PAIRS[name].family == "mhist":  # the real release or its stand-in
        from kdcore.data.mhist_adapter import load_mhist_dataset

        return load_mhist_dataset(name, source, folder)
    raise DataError(f"unknown dataset {name!r}; choose {', '.join(DATA_PAIRS)}")


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


class _Titles(Mapping):
    """Each data set's title, read from its :class:`DataPair` when asked: a folder data set registered after
    start-up (or by another process) has its title too."""

    def __getitem__(self, name: str) -> str:
        return DATA_PAIRS[name].title

    def __iter__(self):  # noqa: ANN204 - the names of the pairs known in this process
        return iter(dict.keys(DATA_PAIRS))

    def __len__(self) -> int:
        return dict.__len__(DATA_PAIRS)


DATASET_TITLES: Mapping[str, str] = _Titles()

__all__ = ["DATASET_TITLES", "ArrayDataset", "DataError", "DataPair", "clear_cache", "data_dir", "data_pair",
           "load_dataset"]
