"""What the MHIST folder tests share (pytest puts tests/ on sys.path: `from mhist_support import zip_release`)."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path


def zip_release(ds: Path, dest: Path) -> Path:
    """Turn ``ds`` into the distributed layout: annotations.csv + images.zip (holding images/…)."""
    dest.mkdir()
    shutil.copy(ds / "annotations.csv", dest)
    with zipfile.ZipFile(dest / "images.zip", "w") as z:
        for p in sorted((ds / "images").iterdir()):
            z.write(p, f"images/{p.name}")
    return dest
