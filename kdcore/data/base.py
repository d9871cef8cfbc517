"""What every data module shares: the :class:`ArrayDataset` record, :class:`DataError` and the download folder.

Its own module (re-exported by :mod:`kdcore.data`) so the loaders import it without importing the
package that lazily imports them: no import circle inside ``kdcore.data``. No torch import here:
:mod:`kdcore.data.pairs` and other light modules can import the package without loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kdcore.settings import settings

if TYPE_CHECKING:
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
    """Where downloads go: ``KD_DATA_DIR`` or ``./data`` (:func:`kdcore.settings.settings`)."""
    return settings().data_dir


__all__ = ["ArrayDataset", "DataError", "data_dir"]
