"""The "Your own images" page's engine: a folder path or an uploaded zip of one becomes a data set.

:func:`add_folder` / :func:`add_zip` check the folder (or unpack the zip into the app's cache first:
:mod:`kdcore.data.folder_upload`), register it (:func:`kdcore.data.folder.register_folder`: its description under
``KD_DATA_DIR/folders``, never inside the folder) and load it once — every image decoded, so a truncated one is
refused here, not at the first job — and say what it became (:class:`FolderAdded`). A refusal is a
:class:`~kdcore.data.folder.FolderError` naming the problem and the fix; a folder that registered but failed to
load is forgotten again, so it is offered nowhere. The registered folder data sets (:func:`folder_datasets`) are
offered by the Distill lab's picker; their results reach Compare and What the student learned through the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from kdcore.data import DataError, load_dataset
from kdcore.data.folder import FolderError, forget_folder, register_folder, registered_folders
from kdcore.data.folder_upload import (
    MAX_UNPACKED_BYTES,
    MAX_UPLOAD_MB,
    discard_upload,
    unpack_upload,
    upload_cache_dir,
)
from kdcore.data.pairs import DataPair, data_pair

ZIP_NOTE = (f"A zip of at most {MAX_UPLOAD_MB} MB ({MAX_UNPACKED_BYTES / 1024**3:.0f} GB unpacked), holding the folder "
            "(or its class folders). It is unpacked only into the app's own cache — every entry checked first: no "
            "links, nothing outside the folder, no zip bombs.")
REFUSALS = (FolderError, DataError, ValueError)  # what the page shows as a refusal (the message names the fix)


def pair_words(pair: DataPair) -> str:
    """Which teacher → student pair the folder's images get."""
    if pair.transfer:
        return "larger or colour images: the transfer-learning pair (ImageNet ResNetV2-50 → MobileNetV2) at 224×224"
    return "small grey images: the course pair (CNN teacher → MLP student) at 28×28"


@dataclass(frozen=True)
class FolderAdded:
    """A folder that became a data set: what the page says about it."""

    name: str  # the data set's name (jobs, the store)
    title: str  # its title in every picker: "<folder> (your images, N)"
    folder_name: str  # the folder's own name
    images: int
    classes: tuple[str, ...]
    n_train: int
    n_test: int
    source: str  # the loader's words: folder, images, classes, split
    pair: str  # :func:`pair_words`
    positive_class: str | None
    root: str  # the folder jobs read (an uploaded zip's: in the app's cache)
    from_zip: bool
    notice: str | None  # e.g. files that are not images, ignored

    def words(self) -> str:
        """One paragraph: the folder's name, how many images, classes, split and pair, and where to go next."""
        shown = ", ".join(self.classes[:10]) + (f" … ({len(self.classes)} in all)" if len(self.classes) > 10 else "")
        scored = (f" F1 and AUC score the class {self.positive_class!r}." if self.positive_class is not None else "")
        where = " (unpacked into the app's cache)" if self.from_zip else ""
        return (f"{self.folder_name}{where}: {self.images:,} images in {len(self.classes)} classes ({shown}); "
                f"{self.n_train:,} to train on and {self.n_test:,} to test on; {self.pair}.{scored} "
                f"It is now a data set in the Distill lab (“{self.title}”); its results appear in Compare and "
                "What the student learned.")


def _add(root: str, positive: str | None, from_zip: bool) -> FolderAdded:
    pair = register_folder(root, positive=(positive or "").strip() or None)
    data_dir = str(root)
    try:
        data = load_dataset(pair.name, "auto", data_dir)  # every image decoded once (kept for the first job)
    except DataError:
        forget_folder(pair.name)
        raise
    return FolderAdded(
        name=pair.name, title=pair.title, folder_name=str(data.extra.get("folder_name", "")),
        images=int(data.extra.get("images", 0)), classes=tuple(pair.classes), n_train=len(data.y_train),
        n_test=len(data.y_test), source=data.source, pair=pair_words(pair), positive_class=pair.positive_class,
        root=str(data.extra.get("root", root)), from_zip=from_zip, notice=data.notice)


def add_folder(path: str, positive: str | None = None) -> FolderAdded:
    """The folder at ``path`` (typed on the page) as a data set: checked, registered, loaded. Reads only."""
    if not str(path or "").strip():
        raise FolderError("no folder given; type the path of a folder that holds one sub-folder of images per class")
    return _add(str(path).strip(), positive, from_zip=False)


def add_zip(file_name: str, data: bytes, positive: str | None = None) -> FolderAdded:
    """An uploaded zip of an image folder as a data set: unpacked (guards first) into the app's cache, then as
    :func:`add_folder`."""
    root = unpack_upload(file_name, data)
    try:
        return _add(str(root), positive, from_zip=True)
    except REFUSALS as e:
        discard_upload(root)  # a refused folder's unpacked copy is not kept (equal zips are refused alike)
        shown = Path(str(file_name).replace("\\", "/")).name or "the zip"  # named as the visitor knows it
        raise FolderError(str(e).replace(f"{root}/", f"{shown}: ").replace(str(root), shown)) from e


def folder_datasets() -> list[str]:
    """The registered folder data sets whose folder is still there, newest first (the lab's picker offers them)."""
    return [r["name"] for r in registered_folders()]


def folder_table() -> pd.DataFrame:
    """One row per registered folder data set: its title, images, classes, train/test, pair and folder."""
    cache = str(upload_cache_dir())
    rows = []
    for record in registered_folders():
        try:
            pair = data_pair(record["name"])
        except (KeyError, ValueError):
            continue
        n_train, n_test = pair.examples.get(None, (0, 0))
        rows.append({"data set": pair.title, "images": int(record.get("images", n_train + n_test)),
                     "classes": len(pair.classes), "train/test": f"{n_train:,}/{n_test:,}",
                     "pair": "28×28 CNN → MLP" if not pair.transfer else "224×224 ResNetV2-50 → MobileNetV2",
                     "folder": "(uploaded zip, in the app's cache)" if record["root"].startswith(cache)
                     else record["root"]})
    return pd.DataFrame(rows, columns=["data set", "images", "classes", "train/test", "pair", "folder"])


__all__ = ["MAX_UPLOAD_MB", "REFUSALS", "ZIP_NOTE", "FolderAdded", "FolderError", "add_folder", "add_zip",
           "folder_datasets", "folder_table", "pair_words"]
