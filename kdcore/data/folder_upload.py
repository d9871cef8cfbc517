"""A zip of an image folder (a visitor's upload), unpacked into the app's cache so it can be registered.

The zip's bytes go through the zip guards every zip here goes through (:mod:`kdcore.data.safezip`: zip-slip,
links, bombs, per-file and total sizes, checked before anything is written) with the limits below, and are
unpacked atomically into ``KD_DATA_DIR/cache/folder-uploads/<the zip's sha256>/<the zip's name>`` — the app's
own cache, never a folder of the user's; the upload itself is never written anywhere as a zip. The image
folder is that folder, or the one folder a zip's top holds (``pets.zip`` → ``pets/cat/…``). Equal zips share
one unpacked copy (by content); the folder is then registered as any other (:func:`kdcore.data.folder.register_folder`).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import kdcore.data.safezip as safezip
from kdcore.data.folder import _JUNK, IMAGE_SUFFIXES, FolderError
from kdcore.settings import settings

MAX_UPLOAD_MB = 50  # the zip itself (the page's uploader says so too); a larger set: give its folder's path
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024**2
MAX_UNPACKED_BYTES = 1024**3  # all its entries, unpacked
MAX_ENTRY_BYTES = 64 * 1024**2  # one image (a 4096×4096 PNG, the largest the folder loader reads, fits)
MAX_ZIP_ENTRIES = 200_000  # files and folders (the folder loader's own image limit is checked after unpacking)


def upload_cache_dir() -> Path:
    """Where uploaded zips are unpacked: ``KD_DATA_DIR/cache/folder-uploads`` (the app's own folder)."""
    return settings().data_dir / "cache" / "folder-uploads"


def _rules() -> safezip.ZipRules:
    return safezip.ZipRules(
        max_entries=MAX_ZIP_ENTRIES, max_entry_bytes=MAX_ENTRY_BYTES, max_total_bytes=MAX_UNPACKED_BYTES,
        error=FolderError, fix="zip the image folder itself (one sub-folder per class, no links), or give the "
        "folder's path instead",
        reread="make the zip again from the image folder (e.g. `zip -r images.zip <folder>`), or give the folder's "
        "path instead", entry_hint="one image of the folder loader is at most 4096×4096 pixels")


def _safe_name(file_name: str) -> str:
    """The uploaded file's name as a folder name of ours: letters, digits, ``._-`` only (never a path)."""
    stem = Path(str(file_name).replace("\\", "/")).name
    stem = stem[:-4] if stem.lower().endswith(".zip") else stem
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-")[:48] or "images"


def _visible(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.iterdir()) if not p.name.startswith(".") and p.name.lower() not in _JUNK]


def image_root(folder: Path) -> Path:
    """The image folder in an unpacked zip: ``folder``, or the one folder its top holds, again while that folder
    holds folders (``pets/cat/…``; ``pets/train/cat/…``); a top holding several folders or images stops."""
    while True:
        inside = _visible(folder)
        dirs = [p for p in inside if p.is_dir()]
        images = [p for p in inside if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if len(dirs) != 1 or images or not any(p.is_dir() for p in _visible(dirs[0])):
            return folder
        folder = dirs[0]


def unpack_upload(file_name: str, data: bytes) -> Path:
    """Unpack the uploaded zip ``data`` (named ``file_name`` by the visitor) into the app's cache and return its
    image folder. Refuses (:class:`~kdcore.data.folder.FolderError`, naming the problem, the limit and the fix) an
    empty or too large upload, a file that is not a zip or is corrupt, and every zip the guards refuse; a refused
    zip leaves nothing behind."""
    shown = Path(str(file_name).replace("\\", "/")).name or "the upload"
    if not data:
        raise FolderError(f"{shown} is empty; upload a zip of a folder of images (one sub-folder per class)")
    if len(data) > MAX_UPLOAD_BYTES:
        raise FolderError(f"{shown} is {len(data) / 1024**2:,.1f} MB; the limit for an uploaded zip is "
                          f"{MAX_UPLOAD_BYTES / 1024**2:,.0f} MB — upload a smaller subset, or give the folder's path "
                          "instead")
    final = upload_cache_dir() / hashlib.sha256(data).hexdigest()[:32]
    done = safezip.unpack_atomic(bytes(data), shown, final, _rules(), into=_safe_name(file_name))
    tops = [p for p in _visible(done) if p.is_dir()]
    return image_root(tops[0] if len(tops) == 1 else done)


def discard_upload(root: Path) -> None:
    """Remove the unpacked copy holding ``root`` (a folder under :func:`upload_cache_dir` only)."""
    cache = upload_cache_dir().resolve()
    root = Path(root).resolve()
    if root.is_relative_to(cache) and root != cache:
        shutil.rmtree(cache / root.relative_to(cache).parts[0], ignore_errors=True)


__all__ = ["discard_upload", "MAX_UNPACKED_BYTES", "MAX_UPLOAD_BYTES", "MAX_UPLOAD_MB", "image_root", "unpack_upload",
           "upload_cache_dir"]
