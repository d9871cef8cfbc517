"""A data set from a folder of labelled images (the ImageFolder layout): distil on your own images.

Layout: ``root/<class>/<image>``, or ``root/train/<class>/<image>`` + ``root/test/<class>/<image>``.
PNG / JPEG / WebP / BMP, colour or grey, any size. Without a ``train/`` + ``test/`` split the images are
split per class (stratified) with a fixed seed (:data:`SPLIT_SEED`, :data:`TEST_FRACTION`), and the result
says so (``ArrayDataset.source``).

Identity: the folder's *content* (each image's relative name and its sha256) hashes to a content id; the
data set's name (``folder-<slug>-<id10>``) and its ``source_id`` hold it, so every store key does: the same
folder with one image changed is another data set with other keys, and two folders never share results.

Its :class:`~kdcore.data.pairs.DataPair` is derived from the images, not written by hand:

- small grey images (every side ≤ :data:`SMALL_SIDE`) → the course pair (CNN teacher → MLP student) on
  28×28 grey floats in memory (resized when not 28×28);
- anything larger or in colour → the transfer-learning pair of MHIST (ImageNet backbone teacher →
  MobileNetV2 student, the two-stage schedule) on 224×224 RGB decoded per batch from the files.

The derived pair is registered in this process and written (atomically) as a small JSON description under
``KD_DATA_DIR/folders/<name>.json`` — never inside the user's folder — so worker processes and later sessions
find ``data_pair(name)`` (:mod:`kdcore.data.pairs` reads it on a miss).

Every problem raises :class:`FolderError` (a :class:`~kdcore.data.DataError`) naming the problem and the fix,
before any training. Nothing is ever written inside the user's folder. Files that are not images by their
extension are ignored, and the data set's notice says how many were.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch

from kdcore.data.base import ArrayDataset, DataError
from kdcore.data.images import ImageFiles
from kdcore.data.pairs import (
    DATA_PAIRS,
    FOLDER_PREFIX,
    TRANSFER_STAGE_EPOCHS,
    DataPair,
    folder_registry_dir,
    pair_from_json,
    pair_to_json,
)

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
# Names no one means as data: ignored without a note.
_JUNK = {".ds_store", "thumbs.db", "desktop.ini", "__macosx"}  # __MACOSX/: a Mac zip's resource forks
MAX_IMAGES = 100_000  # a folder with more is refused before any file is read (hashing 100k files takes minutes)
MAX_IMAGE_PIXELS = 4096 * 4096  # header size checked before decoding (a crafted header can ask for gigapixels)
SMALL_SIDE = 64  # grey images no larger than this go to the course's 28×28 pair
COURSE_SIZE = 28
TRANSFER_SIZE = 224
SPLIT_SEED = 0
TEST_FRACTION = 0.2
_SHOW = 5


class FolderError(DataError):
    """The image folder cannot be used; the message names the problem and the fix."""


def _listing(items: Sequence[str]) -> str:
    head = ", ".join(items[:_SHOW])
    return head + (f" … and {len(items) - _SHOW} more" if len(items) > _SHOW else "")


@dataclass(frozen=True)
class FolderScan:
    """What a folder holds, checked: the images by split and class, in a fixed order, and its content id."""

    root: Path
    classes: tuple[str, ...]
    # per split ("train", "test") or one "all": (relative path, class index) in order
    files: dict[str, tuple[tuple[str, int], ...]]
    content_id: str  # sha256 over (relative name, file sha256) of every image
    grey: bool
    max_side: int
    ignored: tuple[str, ...]  # non-image files skipped

    @property
    def has_split(self) -> bool:
        return "train" in self.files

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.files.values())


def _check_name(path: Path, root: Path) -> None:
    try:
        str(path.relative_to(root)).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path.relative_to(root)).decode("utf-8", "backslashreplace")
        raise FolderError(f"the name {shown!r} in {root} is not valid UTF-8; rename it (e.g. with `convmv -r -f "
                          "latin1 -t utf8 --notest`) so the app can show it, then pick the folder again") from None


def _entries(folder: Path, root: Path) -> list[Path]:
    """The folder's entries, names checked, links that leave ``root`` refused."""
    out = []
    try:
        children = sorted(folder.iterdir())
    except OSError as e:
        raise FolderError(f"cannot read the folder {folder} ({e}); check its permissions") from e
    for p in children:
        _check_name(p, root)
        if p.is_symlink():
            target = p.resolve()
            if not target.is_relative_to(root):
                raise FolderError(f"{p} is a link to {target}, outside the data folder {root}; copy the file into "
                                  "the folder instead of linking it (links that leave the folder are refused)")
        out.append(p)
    return out


def _class_files(class_dir: Path, root: Path, ignored: list[str]) -> list[Path]:
    images = []
    stack = [class_dir]
    while stack:
        for p in _entries(stack.pop(), root):
            if p.name.startswith(".") or p.name.lower() in _JUNK:
                continue
            if p.is_dir():
                stack.append(p)
            elif p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
                images.append(p)
            else:
                ignored.append(str(p.relative_to(root)))
            if len(images) > MAX_IMAGES:
                raise FolderError(f"{root} holds more than {MAX_IMAGES:,} images (the limit MAX_IMAGES); use a "
                                  "subset of at most that many (the app trains on a CPU)")
    return sorted(images)


def _class_dirs(folder: Path, root: Path, ignored: list[str]) -> dict[str, Path]:
    dirs = {}
    for p in _entries(folder, root):
        if p.name.startswith(".") or p.name.lower() in _JUNK:
            continue
        if p.is_dir():
            dirs[p.name] = p
        else:
            ignored.append(str(p.relative_to(root)))
    return dirs


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _header(path: Path, root: Path) -> tuple[int, int, str]:
    """(width, height, mode) from the header only; refused before decoding when too large or unreadable."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                mode = im.mode
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise FolderError(f"{path.relative_to(root)} is too large to decode safely ({e}); resize it to at most "
                          f"{MAX_IMAGE_PIXELS:,} pixels (e.g. 4096×4096) or remove it") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise FolderError(f"{path.relative_to(root)} in {root} is not a readable image ({e}); replace it with a "
                          "valid PNG/JPEG/WebP/BMP file or remove it") from e
    if w * h > MAX_IMAGE_PIXELS:
        raise FolderError(f"{path.relative_to(root)} is {w:,}×{h:,} pixels (limit {MAX_IMAGE_PIXELS:,} pixels); "
                          "resize it (the models see 28×28 or 224×224) or remove it")
    return w, h, mode


def scan_folder(path: str | Path) -> FolderScan:
    """Check the folder (layout, names, links, counts, image headers) and hash its content; reads only."""
    raw = Path(str(path)).expanduser()
    if str(path).strip() == "" or not raw.exists():
        raise FolderError(f"the image folder {str(path)!r} does not exist; give a folder laid out as "
                          "<folder>/<class>/<image> (optionally with train/ and test/ inside)")
    if not raw.is_dir():
        raise FolderError(f"{raw} is a file, not a folder; give the folder that holds one sub-folder per class")
    root = raw.resolve()
    ignored: list[str] = []
    top = _class_dirs(root, root, ignored)
    split_dirs = {k.lower(): v for k, v in top.items() if k.lower() in ("train", "test")}
    if len(split_dirs) == 1:
        only = next(iter(split_dirs))
        raise FolderError(f"{root} has a {only}/ folder but no {'test' if only == 'train' else 'train'}/ one; add "
                          "it, or put the class folders directly in the folder (the app then splits them)")
    parts = {"train": _class_dirs(split_dirs["train"], root, ignored),
             "test": _class_dirs(split_dirs["test"], root, ignored)} if split_dirs else {"all": top}
    classes = sorted({c for dirs in parts.values() for c in dirs})
    if len(classes) == 0:
        raise FolderError(f"{root} holds no class folders; lay it out as <folder>/<class>/<image> (one sub-folder "
                          "per class, named after the class)")
    if len(classes) == 1:
        raise FolderError(f"{root} holds one class only ({classes[0]!r}); distillation needs at least two classes: "
                          "add a folder of images per class")
    files: dict[str, tuple[tuple[str, int], ...]] = {}
    paths: list[Path] = []
    for part, dirs in parts.items():
        rows: list[tuple[str, str, int]] = []
        for ci, c in enumerate(classes):
            if c not in dirs:
                raise FolderError(f"class {c!r} is missing from {part}/ in {root}; give every class a folder in both "
                                  "train/ and test/")
            imgs = _class_files(dirs[c], root, ignored)
            if not imgs:
                raise FolderError(f"the class folder {dirs[c].relative_to(root)} in {root} holds no images "
                                  f"({', '.join(IMAGE_SUFFIXES)}); add images or remove the folder")
            if part == "all" and len(imgs) < 2:
                raise FolderError(f"class {c!r} has 1 image ({imgs[0].relative_to(root)}); each class needs at least "
                                  "2 (one to train on, one to test on): add images or remove the class")
            rows += [(p.name, str(p.relative_to(root)), ci) for p in imgs]
            paths += imgs
            if len(paths) > MAX_IMAGES:
                raise FolderError(f"{root} holds more than {MAX_IMAGES:,} images (the limit MAX_IMAGES); use a "
                                  "subset of at most that many (the app trains on a CPU)")
        rows.sort()  # by file name, then relative path: an export named by index keeps its order
        files[part] = tuple((rel, ci) for _, rel, ci in rows)
    grey, max_side = True, 0
    digest = hashlib.sha256()
    for part in files:
        for rel, _ in files[part]:
            p = root / rel
            w, h, mode = _header(p, root)
            grey = grey and mode in ("1", "L", "LA", "I", "I;16")
            max_side = max(max_side, w, h)
            digest.update(f"{part}/{rel}\0{_file_sha(p)}\n".encode())
    return FolderScan(root=root, classes=tuple(classes), files=files, content_id=digest.hexdigest(), grey=grey,
                      max_side=max_side, ignored=tuple(sorted(ignored)))


def _slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (s or "images")[:24].strip("-") or "images"


def _split(scan: FolderScan) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(train, test) rows: the folder's own split, else a stratified split seeded by :data:`SPLIT_SEED`."""
    if scan.has_split:
        return list(scan.files["train"]), list(scan.files["test"])
    rows = list(scan.files["all"])
    gen = torch.Generator().manual_seed(SPLIT_SEED)
    test_ids: set[int] = set()
    for ci in range(len(scan.classes)):
        ids = [i for i, (_, c) in enumerate(rows) if c == ci]
        n_test = min(len(ids) - 1, max(1, round(len(ids) * TEST_FRACTION)))
        perm = torch.randperm(len(ids), generator=gen).tolist()
        test_ids.update(ids[j] for j in perm[:n_test])
    train = [r for i, r in enumerate(rows) if i not in test_ids]
    test = [r for i, r in enumerate(rows) if i in test_ids]
    return train, test


def derive_pair(scan: FolderScan, positive: str | None = None) -> DataPair:
    """The folder's :class:`DataPair`, from what the images are (see the module docstring)."""
    from kdcore.data.pairs import _mhist_style, _mnist_style

    train, test = _split(scan)
    course = scan.grey and scan.max_side <= SMALL_SIDE
    counts = [sum(1 for _, c in train + test if c == ci) for ci in range(len(scan.classes))]
    pos = None
    if len(scan.classes) == 2:
        default = scan.classes[int(np.argmin(counts))] if counts[0] != counts[1] else scan.classes[1]
        pos = default if positive in (None, "") else positive
        if pos not in scan.classes:
            raise FolderError(f"positive class {positive!r} is not one of the folder's classes "
                              f"{', '.join(scan.classes)}; pick one of them")
    elif positive not in (None, ""):
        raise FolderError(f"a positive class is only for two-class folders; {scan.root} has {len(scan.classes)} "
                          "classes — leave it unset (accuracy is scored)")
    name = f"{FOLDER_PREFIX}{_slug(scan.root.name)}-{scan.content_id[:10]}"
    if len(scan.classes) == 2 and positive not in (None, "") and pos != default:
        name += f"-pos{scan.classes.index(pos)}"
    title = f"{scan.root.name} (your images, {scan.count:,})"
    examples = MappingProxyType({None: (len(train), len(test))})
    if course:
        base = _mnist_style(name, title, scan.classes, examples)
        return DataPair(**{**base.__dict__, "positive_class": pos, "user_folder": True, "pages": ("lab",),
                           "subclass_aux_temperature": 1.0 if len(scan.classes) == 2 else 0.3})
    base = _mhist_style(name, title, user_folder=True, examples=(len(train), len(test)))
    return DataPair(**{**base.__dict__, "classes": scan.classes, "positive_class": pos, "pages": ("lab",),
                       "stage_epochs": TRANSFER_STAGE_EPOCHS})


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def register_folder(path: str | Path, positive: str | None = None) -> DataPair:
    """Check ``path``, derive its :class:`DataPair`, register it (this process + ``KD_DATA_DIR/folders``) and
    return it: ``pair.name`` is the data set name a job uses, with ``data_dir=path``."""
    scan = scan_folder(path)
    pair = derive_pair(scan, positive)
    record = {"pair": pair_to_json(pair), "root": str(scan.root), "content_id": scan.content_id,
              "images": scan.count}
    target = folder_registry_dir() / f"{pair.name}.json"
    try:
        _write_atomic(target, json.dumps(record, indent=1, sort_keys=True))
    except OSError as e:
        raise FolderError(f"cannot record the folder data set in {target.parent} ({e}); set KD_DATA_DIR to a "
                          "writable folder") from e
    DATA_PAIRS[pair.name] = pair
    return pair


def _decode(path: Path, size: int, grey: bool) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            im = im.convert("L" if grey else "RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except (OSError, SyntaxError, ValueError) as e:
        raise FolderError(f"{path} cannot be decoded ({e}); it is truncated or not an image — replace it or "
                          "remove it, then pick the folder again") from e


class ResizedImageFiles(ImageFiles):
    """:class:`ImageFiles` of any size and mode, converted to RGB and resized to ``size`` when decoded."""

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return ResizedImageFiles(self.paths[index], self.size)
        return super().__getitem__(index)

    def _decode(self, path: Path) -> torch.Tensor:
        arr = _decode(path, self.size, grey=False)
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def load_folder_dataset(name: str, source: str = "auto", data_dir: str | Path | None = None) -> ArrayDataset:
    """The folder data set ``name`` read from ``data_dir`` (whose content must still be the registered one)."""
    if source != "auto":
        raise FolderError(f"a folder data set has one source, auto (got {source!r}); drop the data source setting")
    if data_dir is None or str(data_dir).strip() == "":
        raise FolderError(f"{name} is read from a folder of images: give it (CLI --data-dir, the app's folder box)")
    scan = scan_folder(data_dir)
    if not name.startswith(f"{FOLDER_PREFIX}") or scan.content_id[:10] not in name:
        raise FolderError(f"the folder {scan.root} changed since it was picked as {name} (its content id is now "
                          f"{scan.content_id[:10]}); pick the folder again (results of the old content stay stored)")
    pair = DATA_PAIRS[name]
    train, test = _split(scan)
    course = pair.family == "mnist"
    notes = []
    if scan.ignored:
        notes.append(f"ignored {len(scan.ignored)} file(s) that are not {'/'.join(IMAGE_SUFFIXES)} images: "
                     f"{_listing(list(scan.ignored))}")

    def tensors(rows: list[tuple[str, int]]) -> tuple[torch.Tensor | ImageFiles, torch.Tensor]:
        y = torch.tensor([c for _, c in rows], dtype=torch.int64)
        paths = [scan.root / rel for rel, _ in rows]
        if course:
            arr = np.stack([_decode(p, COURSE_SIZE, grey=True) for p in paths])
            return torch.from_numpy(arr).to(torch.float32).div_(255.0).unsqueeze(1).contiguous(), y
        for p in paths:  # validated once here (truncated files refused before any training)
            _decode(p, 8, grey=False)
        return ResizedImageFiles(paths, TRANSFER_SIZE), y

    x_train, y_train = tensors(train)
    x_test, y_test = tensors(test)
    split = ("its own train/test split" if scan.has_split else
             f"split per class with seed {SPLIT_SEED}, {TEST_FRACTION:.0%} test")
    source_label = (f"image folder {scan.root.name!r}: {scan.count:,} images, {len(scan.classes)} classes, "
                    f"{len(train):,}/{len(test):,} train/test ({split})")
    return ArrayDataset(
        name=name, source=source_label, source_id=f"folder-{scan.content_id[:16]}", x_train=x_train, y_train=y_train,
        x_test=x_test, y_test=y_test, classes=scan.classes, notice="; ".join(notes) or None,
        extra={"root": str(scan.root), "images": scan.count, "folder_name": scan.root.name,
               "split": "folder" if scan.has_split else f"stratified seed {SPLIT_SEED}"},
    )


def registered_record(name: str) -> dict | None:
    """The JSON description of folder data set ``name`` (KD_DATA_DIR/folders), or None."""
    path = folder_registry_dir() / f"{name}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def registered_folders() -> list[dict]:
    """The folder data sets registered under ``KD_DATA_DIR/folders`` whose folder is still there, newest first, one
    per folder (a folder edited since is offered with its newest content only): each its description plus
    ``name``. Reads only the small descriptions: whether a folder's content is still the registered one is
    checked when a job loads it (:func:`load_folder_dataset` names the fix)."""
    found = []
    try:
        entries = list(folder_registry_dir().glob(f"{FOLDER_PREFIX}*.json"))
    except OSError:
        return []
    for path in entries:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            name, root, when = record["pair"]["name"], record["root"], path.stat().st_mtime_ns
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if name == path.stem and Path(root).is_dir():
            found.append((when, name, {**record, "name": name}))
    newest: dict[str, dict] = {}
    for _, _, record in sorted(found, key=lambda f: (-f[0], f[1])):
        newest.setdefault(record["root"], record)
    return list(newest.values())


def forget_folder(name: str) -> None:
    """Drop folder data set ``name``'s registration (its description and this process's pair): a folder that
    registered but then failed to load (a truncated image) is not offered anywhere. Results stay stored."""
    if not name.startswith(FOLDER_PREFIX) or "/" in name or "\\" in name:
        return
    dict.pop(DATA_PAIRS, name, None)
    (folder_registry_dir() / f"{name}.json").unlink(missing_ok=True)


def tree_snapshot(path: str | Path) -> dict[str, tuple[int, int]]:
    """Every entry under ``path`` → (mode, size): what the tests compare to prove nothing was written there."""
    root = Path(path)
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            st = p.lstat()
            out[os.fsencode(p.relative_to(root)).hex()] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns)
    return out


__all__ = ["FolderError", "MAX_IMAGES", "MAX_IMAGE_PIXELS", "ResizedImageFiles", "derive_pair", "forget_folder",
           "load_folder_dataset", "pair_from_json", "register_folder", "registered_folders", "registered_record",
           "scan_folder", "tree_snapshot"]
