"""Image files that index like a uint8 tensor: MHIST-sized data without holding its pixels.

MHIST is 3,152 RGB images of 224×224: 474 MB as a uint8 tensor. Held in memory that is a quarter
of a 2 GB host, twice over when the app process also loads the data set (to key a job) beside the
worker that trains it. :class:`ImageFiles` keeps only the paths; a batch is decoded from its PNG
files when indexed (~2 ms an image, against ~50–170 ms an image for a fine-tuning step on CPU).

It supports exactly the indexing the engine does — ``len(x)``, ``x.shape``, ``x.dtype``,
``x.device``, ``x[i]``, ``x[index_tensor]`` (decoded ``uint8`` tensors), ``x[a:b]`` (another
``ImageFiles``) and ``x.to(device)`` (decode all) — so the training loop and the evaluation code
take it where they take a tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from kdcore.data.base import DataError

# Modes PIL converts to 8-bit RGB faithfully (an alpha channel is dropped): such images are converted when
# decoded, and the loader records how many were (kdcore.data.mhist). 16-bit and float modes are refused.
CONVERTIBLE_MODES: tuple[str, ...] = ("1", "L", "LA", "P", "PA", "RGBA", "RGBX", "CMYK", "YCbCr")


class ImageFiles:
    """A read-only ``uint8`` ``(N, 3, size, size)`` "tensor" backed by RGB image files.

    The files were validated when the data set was loaded (size, mode, decodable); a file that
    changes afterwards raises :class:`DataError` naming it when its batch is decoded.
    """

    dtype = torch.uint8
    device = torch.device("cpu")

    def __init__(self, paths: Sequence[Path | str], size: int = 224) -> None:
        self.paths = tuple(Path(p) for p in paths)
        self.size = int(size)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.paths), 3, self.size, self.size))

    def __repr__(self) -> str:
        return f"ImageFiles({len(self.paths)} images of 3×{self.size}×{self.size}, decoded on demand)"

    def _decode(self, path: Path) -> torch.Tensor:
        from PIL import Image

        try:
            with Image.open(path) as im:
                if im.size != (self.size, self.size) or im.mode not in ("RGB", *CONVERTIBLE_MODES):
                    raise ValueError(f"now {im.size[0]}×{im.size[1]} {im.mode}")
                arr = np.asarray(im if im.mode == "RGB" else im.convert("RGB"))
        except (OSError, SyntaxError, ValueError) as e:
            raise DataError(f"image {path} changed or vanished since the data set was checked ({e}); "
                            "restore the original file, then run the job again") from e
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))

    def __getitem__(self, index: int | slice | torch.Tensor | Sequence[int]) -> torch.Tensor | ImageFiles:
        if isinstance(index, slice):
            return ImageFiles(self.paths[index], self.size)
        if isinstance(index, int) or (isinstance(index, torch.Tensor) and index.dim() == 0):
            return self._decode(self.paths[int(index)])
        ids = torch.as_tensor(index).flatten().tolist()
        out = torch.empty((len(ids), 3, self.size, self.size), dtype=torch.uint8)
        for row, i in enumerate(ids):
            out[row] = self._decode(self.paths[i])
        return out

    def materialize(self) -> torch.Tensor:
        """All images as one uint8 tensor (only for small sets: MHIST is 474 MB)."""
        return self[torch.arange(len(self.paths))]

    def to(self, device: torch.device | str | None = None, non_blocking: bool = False) -> torch.Tensor:
        """Decode all images onto ``device`` (what ``x[a:b].to(device)`` in the batch loops needs)."""
        return self.materialize().to(device or "cpu", non_blocking=non_blocking)


__all__ = ["ImageFiles"]
