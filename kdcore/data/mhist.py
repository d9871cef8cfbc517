"""MHIST loader and validator (Wei et al. 2021, "A Petri Dish for Histopathology Image Analysis",
arXiv:2101.12355).

The release is a folder with ``annotations.csv`` and 3,152 RGB PNGs of 224×224 pixels (colorectal
polyps: Hyperplastic Polyp *HP*, benign, vs Sessile Serrated Adenoma *SSA*, precancerous; 2,175
train / 977 test, HP 2,162 / SSA 990). The CSV columns are ``Image Name``, ``Majority Vote Label``
(HP/SSA), ``Number of Annotators who Selected SSA (Out of 7)`` and ``Partition`` (train/test).
Images may sit in ``images/`` or beside the CSV; the distributed zips (``images.zip`` +
``annotations.csv``, or one zip holding both) are unpacked safely into the app's own cache
(``KD_DATA_DIR/cache/mhist-unpacked/<the zip's sha256>``), never into the folder they lie in: that folder
may be a visitor's, or read-only. The MHIST page only looks (:func:`check_mhist_folder` lists the zips
still to unpack, with their sizes, and :func:`unpack_mhist_zips` runs when its button is pressed); a job
or the CLI unpacks into the cache when it loads the folder.

Images that are not 8-bit RGB (RGBA, grayscale, palette) are converted to RGB when decoded, and
the data set's notes say how many were (``MhistData.warnings``, recorded with each result).

Every problem raises :class:`MhistError` whose message names what is wrong *and* how to fix it.
Images stay ``uint8`` in memory (the full release is ≈ 474 MB); convert per batch with
:func:`kdcore.models.mhist.imagenet_normalize`.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

import kdcore.data.safezip as safezip
from kdcore.data.images import CONVERTIBLE_MODES, ImageFiles
from kdcore.data.pairs import MHIST_CLASSES, data_pair
from kdcore.settings import settings

HOW_TO_GET_MHIST = (
    "MHIST cannot be downloaded automatically: request it through the form on the dataset site "
    "https://bmirds.github.io/MHIST (Wei et al. 2021, arXiv:2101.12355); the download links arrive by "
    "e-mail. Put annotations.csv and images.zip (zipped or unpacked) in one folder, then set the "
    "environment variable KD_MHIST_DIR to that folder (or pass it with the CLI flag, or choose the "
    "folder in the app). Without it the app uses a synthetic stand-in, which is not MHIST."
)

CLASSES: tuple[str, str] = MHIST_CLASSES  # 0 = HP, 1 = SSA (kdcore.data.pairs)
POSITIVE = data_pair("mhist").positive_class  # SSA: 4 or more of the 7 annotators chose it
PARTITIONS: tuple[str, str] = ("train", "test")
COL_IMAGE = "Image Name"
COL_LABEL = "Majority Vote Label"
COL_VOTES = "Number of Annotators who Selected SSA (Out of 7)"
COL_PARTITION = "Partition"
COLUMNS: tuple[str, ...] = (COL_IMAGE, COL_LABEL, COL_VOTES, COL_PARTITION)
IMAGE_SIZE = 224
# The published release (Wei et al. 2021, Table 1).
FULL_RELEASE = {"rows": 3152, "train": 2175, "test": 977, "HP": 2162, "SSA": 990}

STANDIN_MARKER = "SYNTHETIC_STANDIN.txt"  # written by kdcore.data.synthetic_mhist
SOURCE_STANDIN = "synthetic stand-in — not MHIST"
SOURCE_MHIST_FULL = "MHIST (Wei et al. 2021) 2,175/977"

# Anything beyond this many pixels is refused *before* decoding: a 224×224 data set has no use
# for it, and a crafted PNG header can ask for gigapixels from a few kilobytes.
MAX_IMAGE_PIXELS = 4096 * 4096
# Zip limits: the real images.zip is a few hundred MB; these bound a zip bomb, not the data.
MAX_ZIP_TOTAL_BYTES = 4 * 1024**3
MAX_ZIP_ENTRY_BYTES = 256 * 1024**2
MAX_ZIP_ENTRIES = 20_000
_SHOW = 5  # how many offending files/rows a message lists


class MhistError(ValueError):
    """The MHIST folder is missing or malformed; the message names the problem and the fix."""


@dataclass(frozen=True)
class MhistData:
    """MHIST (or its synthetic stand-in) in memory. Labels: 0 = HP, 1 = SSA (the positive class)."""

    x_train: ImageFiles  # uint8 (N, 3, 224, 224), decoded from the files batch by batch
    y_train: torch.Tensor  # int64 (N,)
    x_test: ImageFiles
    y_test: torch.Tensor
    names_train: tuple[str, ...]
    names_test: tuple[str, ...]
    annotator_votes_train: torch.Tensor  # int64 (N,): annotators (of 7) who chose SSA
    annotator_votes_test: torch.Tensor
    source: str
    is_standin: bool
    root: Path
    classes: tuple[str, str] = CLASSES
    warnings: tuple[str, ...] = field(default=())
    label: str = ""  # "MHIST (Wei et al. 2021)" (the released split), "MHIST-format folder (N images)", or the stand-in's


def _list_problems(items: Sequence[str]) -> str:
    head = ", ".join(items[:_SHOW])
    return head + (f" … and {len(items) - _SHOW} more" if len(items) > _SHOW else "")


# ---- locating --------------------------------------------------------------------------------
def _find_annotations(folder: Path) -> Path | None:
    """``annotations.csv`` in ``folder`` or one level below (a zip often has a top folder)."""
    direct = folder / "annotations.csv"
    if direct.is_file():
        return direct
    below = sorted(p for p in folder.glob("*/annotations.csv") if p.is_file() and not p.parent.name.startswith("."))
    return below[0] if len(below) == 1 else None


def find_mhist_dir(path: str | Path | None = None) -> Path | None:
    """The folder that holds MHIST (``path``, else ``$KD_MHIST_DIR``), or None when nothing usable is set.

    Only looks; never unpacks or validates (that is :func:`load_mhist`). A path to one of the zips
    gives the folder the zip lies in. "Usable" means an ``annotations.csv`` (here or one level
    down) or a zip to unpack.
    """
    raw = path if path is not None else settings().mhist_dir
    if raw is None or str(raw).strip() == "":
        return None
    p = Path(raw).expanduser()
    if p.is_file() and p.suffix.lower() == ".zip":
        p = p.parent
    if not p.is_dir():
        return None
    csv_path = _find_annotations(p)
    if csv_path is not None:
        return csv_path.parent
    return p if any(p.glob("*.zip")) else None


# ---- safe unpacking (kdcore.data.safezip: the guards every zip goes through) ------------------------
def _rules() -> safezip.ZipRules:
    """MHIST's limits and words (read when called: tests lower the limits)."""
    return safezip.ZipRules(max_entries=MAX_ZIP_ENTRIES, max_entry_bytes=MAX_ZIP_ENTRY_BYTES,
                            max_total_bytes=MAX_ZIP_TOTAL_BYTES, error=MhistError,
                            fix="use the zip from the MHIST site, or unpack it yourself",
                            reread="download it again from the MHIST site or unpack it yourself into this folder",
                            entry_hint="MHIST images are about 0.1 MB each")


def _has_images(folder: Path) -> bool:
    return (folder / "images").is_dir() or any(folder.glob("*.png"))


# ---- the unpack cache ---------------------------------------------------------------------------
_digests: dict[tuple, str] = {}


def unpack_cache_dir() -> Path:
    """Where zips are unpacked: ``KD_DATA_DIR/cache/mhist-unpacked`` (the app's own folder)."""
    return settings().data_dir / "cache" / "mhist-unpacked"


def _zip_digest(zip_path: Path) -> str:
    """The sha256 of a zip's bytes (its cache folder's name), memoised per (path, size, mtime)."""
    st = zip_path.stat()
    memo = (str(zip_path.resolve()), st.st_size, st.st_mtime_ns)
    if memo not in _digests:
        h = hashlib.sha256()
        with open(zip_path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _digests[memo] = h.hexdigest()
    return _digests[memo]


def _cache_for(zip_path: Path) -> Path:
    return unpack_cache_dir() / _zip_digest(zip_path)[:32]


def _unpacked(zip_path: Path) -> Path | None:
    """The cache folder holding ``zip_path`` unpacked, or None (not unpacked yet)."""
    try:
        cache = _cache_for(zip_path)
    except OSError as e:
        raise MhistError(f"cannot read {zip_path} ({e}); check the file's permissions") from e
    return cache if safezip.is_complete(cache) else None


@dataclass(frozen=True)
class PendingZip:
    """A zip the folder needs unpacked before its images can be read: what unpacking it would write."""

    path: Path
    size: int  # bytes of the zip
    unpacked_size: int  # bytes its entries declare (checked against each entry's real size while unpacking)
    entries: int
    target: Path  # the cache folder it would be unpacked into

    def describe(self) -> str:
        return (f"{self.path.name}: {self.size / 1e6:,.1f} MB, unpacks to {self.unpacked_size / 1e6:,.1f} MB "
                f"({self.entries:,} entries) into the app's cache {self.target}")


class MhistNeedsUnpack(MhistError):
    """The folder's images are in zips not unpacked yet (the MHIST page's check never unpacks: its button does)."""

    def __init__(self, folder: Path, pending: tuple[PendingZip, ...]) -> None:
        self.folder, self.pending = folder, pending
        listing = "; ".join(z.describe() for z in pending)
        super().__init__(f"{folder} holds its images in zip(s) not unpacked yet — {listing}. Press \"Unpack\" on "
                         "the MHIST page (or run any MHIST job on this folder from the command line); the folder "
                         "itself is never written")


def _inspect_zip(zip_path: Path) -> PendingZip:
    """What unpacking ``zip_path`` would write; every refusal of the unpack (zip-slip, links, bombs, a broken
    zip) is raised here already, writing nothing."""
    target = _cache_for(zip_path)
    infos = safezip.inspect(zip_path, str(zip_path), target, _rules())
    return PendingZip(zip_path, zip_path.stat().st_size, sum(i.file_size for i in infos), len(infos), target)


def _unpack_to_cache(zip_path: Path) -> Path:
    """Unpack ``zip_path`` (and any zip it holds, such as images.zip in a zip of everything) into its cache
    folder, atomically (:func:`kdcore.data.safezip.unpack_atomic`)."""
    done = _unpacked(zip_path)
    if done is not None:
        return done
    return safezip.unpack_atomic(zip_path, str(zip_path), _cache_for(zip_path), _rules(), nested=True)


def _zips(folder: Path) -> list[Path]:
    # images.zip first (the usual layout), then any other zip that may hold everything.
    return sorted(folder.glob("*.zip"), key=lambda z: (z.name.lower() != "images.zip", z.name))


def pending_zips(path: str | Path | None = None) -> tuple[PendingZip, ...]:
    """The zips the MHIST folder (``path``, else ``$KD_MHIST_DIR``) still needs unpacked, each checked and
    sized; empty when none is needed. Reads only."""
    try:
        _layout(_folder_of(path), unpack=False)
    except MhistNeedsUnpack as e:
        return e.pending
    except MhistError:
        return ()
    return ()


def unpack_mhist_zips(path: str | Path | None = None) -> Path:
    """Unpack the folder's zips into the app's cache (the MHIST page's button); returns the folder holding
    ``annotations.csv`` as a job reads it. The folder itself is never written."""
    csv_path, _ = _layout(_folder_of(path), unpack=True)
    _checks.clear()
    return csv_path.parent


def _folder_of(path: str | Path | None) -> Path:
    raw = path if path is not None else settings().mhist_dir
    if raw is None or str(raw).strip() == "":
        raise MhistError("no MHIST folder given: pass a path or set KD_MHIST_DIR. " + HOW_TO_GET_MHIST)
    folder = Path(raw).expanduser()
    if folder.is_file() and folder.suffix.lower() == ".zip":
        folder = folder.parent
    if not folder.exists():
        raise MhistError(f"MHIST folder {folder} does not exist; check the path (KD_MHIST_DIR or the folder "
                         "chosen in the app). " + HOW_TO_GET_MHIST)
    if not folder.is_dir():
        raise MhistError(f"{folder} is a file, not a folder; point to the folder holding annotations.csv and the "
                         "images (or images.zip)")
    return folder


def _image_dir(root: Path) -> Path | None:
    """Where the images of a folder (or of one folder below it: a zip's top folder) are, or None."""
    for cand in (root, *sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))):
        if _has_images(cand):
            return cand / "images" if (cand / "images").is_dir() else cand
    return None


def _layout(folder: Path, unpack: bool) -> tuple[Path, Path]:
    """(annotations.csv, the images' folder) of the MHIST folder ``folder``: the folder's own files, else its
    zips' unpacked copies in the cache (unpacked now when ``unpack``; else :class:`MhistNeedsUnpack`)."""
    csv_path = _find_annotations(folder)
    if csv_path is not None and _has_images(csv_path.parent):
        return csv_path, _image_dir(csv_path.parent) or csv_path.parent
    zips = _zips(folder)
    pending: list[PendingZip] = []
    image_dir = None
    for z in zips:
        cache = _unpack_to_cache(z) if unpack else _unpacked(z)
        if cache is None:
            pending.append(_inspect_zip(z))
            continue
        if csv_path is None:
            csv_path = _find_annotations(cache)
        image_dir = image_dir or _image_dir(cache)
        if csv_path is not None and image_dir is not None:
            return csv_path, image_dir
    if pending:
        raise MhistNeedsUnpack(folder, tuple(pending))
    if csv_path is None:
        if _has_images(folder) or zips:
            raise MhistError(f"annotations.csv is missing in {folder}: MHIST needs it beside the images (it holds "
                             "the labels and the train/test split); download it from the MHIST site into this folder")
        raise MhistError(f"{folder} is not an MHIST folder: it has no annotations.csv, no images and no zip. "
                         + HOW_TO_GET_MHIST)
    return csv_path, csv_path.parent  # no images anywhere: the loader names what is missing


def prepare_mhist_dir(path: str | Path | None = None) -> Path:
    """Resolve the MHIST folder, unpacking its zips into the app's cache if the images are not there yet.

    Returns the folder that holds ``annotations.csv`` (the user's, or its unpacked copy). Writes only into
    the cache (:func:`unpack_cache_dir`)."""
    return _layout(_folder_of(path), unpack=True)[0].parent


# ---- CSV ---------------------------------------------------------------------------------------
@dataclass
class _Row:
    name: str
    label: int
    votes: int
    partition: str


def _read_annotations(csv_path: Path) -> tuple[list[_Row], list[str]]:
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
            raw_rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in reader]
    except (UnicodeDecodeError, csv.Error) as e:
        raise MhistError(f"{csv_path} is not a readable CSV ({e}); download annotations.csv again from "
                         "the MHIST site") from e
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        hint = "" if len(missing) < len(COLUMNS) else " — this does not look like MHIST's annotations.csv"
        raise MhistError(f"{csv_path} lacks column(s) {missing}; found {header}{hint}. MHIST's annotations.csv "
                         f"has the columns {list(COLUMNS)}; use the file from the MHIST release unchanged")
    if not raw_rows:
        raise MhistError(f"{csv_path} has a header but no rows; use the annotations.csv from the MHIST release")
    rows: list[_Row] = []
    bad_label, bad_part, bad_votes, bad_name, inconsistent = [], [], [], [], []
    for i, r in enumerate(raw_rows, start=2):  # line 1 is the header
        name, lab, part, votes_s = r[COL_IMAGE], r[COL_LABEL], r[COL_PARTITION], r[COL_VOTES]
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            bad_name.append(f"line {i}: {name!r}")
        if lab not in CLASSES:
            bad_label.append(f"line {i}: {lab!r}")
        if part not in PARTITIONS:
            bad_part.append(f"line {i}: {part!r}")
        try:
            votes = int(float(votes_s))
            if not (0 <= votes <= 7 and float(votes_s) == votes):
                raise ValueError
        except ValueError:
            bad_votes.append(f"line {i}: {votes_s!r}")
            votes = -1
        if lab in CLASSES and votes >= 0 and (votes >= 4) != (lab == POSITIVE):
            inconsistent.append(f"line {i}: {lab} with {votes}/7 SSA votes")
        rows.append(_Row(name, CLASSES.index(lab) if lab in CLASSES else -1, votes, part))
    if bad_label:
        raise MhistError(f"unknown label(s) in column {COL_LABEL!r}: {_list_problems(bad_label)}; MHIST labels are "
                         "exactly 'HP' or 'SSA' — fix those rows or use the original annotations.csv")
    if bad_part:
        raise MhistError(f"unknown partition(s) in column {COL_PARTITION!r}: {_list_problems(bad_part)}; allowed are "
                         "'train' and 'test' — fix those rows or use the original annotations.csv")
    if bad_votes:
        raise MhistError(f"bad annotator count(s) in column {COL_VOTES!r}: {_list_problems(bad_votes)}; it must be a "
                         "whole number from 0 to 7 — use the original annotations.csv")
    if bad_name:
        raise MhistError(f"bad file name(s) in column {COL_IMAGE!r}: {_list_problems(bad_name)}; names must be plain "
                         "file names such as MHIST_aaa.png (no folders) — use the original annotations.csv")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.name] = counts.get(r.name, 0) + 1
    dups = sorted(n for n, c in counts.items() if c > 1)
    if dups:
        raise MhistError(f"image name(s) listed more than once in {csv_path.name}: {_list_problems(dups)}; each "
                         "image must appear once — use the original annotations.csv")
    warnings = []
    if inconsistent:
        warnings.append(f"{len(inconsistent)} row(s) whose label disagrees with the 7-annotator majority: "
                        + _list_problems(inconsistent))
    return rows, warnings


def _check_counts(rows: list[_Row], expect_full_release: bool) -> None:
    for part in PARTITIONS:
        if not any(r.partition == part for r in rows):
            raise MhistError(f"the {part!r} partition is empty (no row has {COL_PARTITION} = {part!r}); MHIST has "
                             f"{FULL_RELEASE[part]:,} {part} images — use the original annotations.csv")
    if not (expect_full_release or len(rows) == FULL_RELEASE["rows"]):
        return
    got = {
        "rows": len(rows),
        "train": sum(r.partition == "train" for r in rows),
        "test": sum(r.partition == "test" for r in rows),
        "HP": sum(r.label == 0 for r in rows),
        "SSA": sum(r.label == 1 for r in rows),
    }
    wrong = [f"{k} {got[k]:,} (expected {v:,})" for k, v in FULL_RELEASE.items() if got[k] != v]
    if wrong:
        raise MhistError("counts differ from the MHIST release: " + "; ".join(wrong) + ". The release has 3,152 images "
                         "(2,175 train / 977 test; HP 2,162 / SSA 990): use the original annotations.csv unchanged")


def is_released_split(rows: list[_Row]) -> bool:
    """The folder has the published release's split: 2,175 train / 977 test images (HP 2,162 / SSA 990)."""
    return (sum(r.partition == "train" for r in rows), sum(r.partition == "test" for r in rows),
            sum(r.label == 0 for r in rows), sum(r.label == 1 for r in rows)) == (
        FULL_RELEASE["train"], FULL_RELEASE["test"], FULL_RELEASE["HP"], FULL_RELEASE["SSA"])


def mhist_label(rows: list[_Row]) -> str:
    """What a folder is called beside its numbers: "MHIST (Wei et al. 2021)" only for the released split."""
    return "MHIST (Wei et al. 2021)" if is_released_split(rows) else f"MHIST-format folder ({len(rows):,} images)"


def _stratified_first(rows: list[_Row], limit: int | None) -> list[_Row]:
    """The first ``limit`` rows in a deterministic order that keeps the class ratio (for small demos)."""
    if limit is None or limit >= len(rows):
        return rows
    keyed = []
    for cls in (0, 1):
        members = [r for r in rows if r.label == cls]
        keyed += [((i + 0.5) / len(members), cls, r) for i, r in enumerate(members)]
    keyed.sort(key=lambda t: (t[0], t[1]))
    chosen = {id(t[2]) for t in keyed[:limit]}
    return [r for r in rows if id(r) in chosen]  # keep CSV order


# ---- images ------------------------------------------------------------------------------------
def _load_images(image_dir: Path, rows: list[_Row], problems: dict[str, list[str]],
                 progress: Callable[[int, int], None] | None, done0: int, total: int, decode: bool = True) -> ImageFiles:
    """Check every image (header, size, mode, and unless ``decode`` is False a full decode for corrupt data);
    return them as :class:`ImageFiles`, decoded again batch by batch when used (the pixels are not kept)."""
    for i, r in enumerate(rows):
        p = image_dir / r.name
        if progress is not None and (i % 64 == 0 or i == len(rows) - 1):
            progress(done0 + i + 1, total)
        try:
            with Image.open(p) as im:
                w, h = im.size  # read from the header; nothing is decoded yet
                if w * h > MAX_IMAGE_PIXELS:
                    problems["bomb"].append(f"{r.name} ({w}×{h} = {w * h / 1e9:.2f} gigapixels)")
                    continue
                if (w, h) != (IMAGE_SIZE, IMAGE_SIZE):
                    problems["size"].append(f"{r.name} ({w}×{h})")
                    continue
                if im.mode in CONVERTIBLE_MODES:  # decoded as RGB (ImageFiles); the data set's notes say so
                    problems["converted"].append(f"{r.name} ({im.mode})")
                elif im.mode != "RGB":
                    problems["mode"].append(f"{r.name} ({im.mode})")
                    continue
                if decode:
                    im.load()  # decodes; truncated/corrupt data raises here
        except Image.DecompressionBombError as e:
            problems["bomb"].append(f"{r.name} ({e})")
            continue
        except FileNotFoundError:
            problems["missing"].append(r.name)
            continue
        except (OSError, SyntaxError, ValueError) as e:  # PIL.UnidentifiedImageError is an OSError
            problems["corrupt"].append(f"{r.name} ({type(e).__name__})")
            continue
    return ImageFiles([image_dir / r.name for r in rows], IMAGE_SIZE)


_PROBLEM_TEXT = {
    "missing": ("image file(s) listed in annotations.csv are missing", "unpack images.zip completely into the folder "
                "(images/ or beside annotations.csv)"),
    "corrupt": ("image file(s) are corrupt or not PNG", "download images.zip again and unpack it"),
    "mode": ("image(s) are in a mode with no faithful 8-bit RGB conversion (16-bit or float)", "MHIST images "
             "are 8-bit RGB: use the original files or convert them with PIL's .convert('RGB')"),
    "size": (f"image(s) are not {IMAGE_SIZE}×{IMAGE_SIZE}", f"MHIST images are {IMAGE_SIZE}×{IMAGE_SIZE}: use the "
             "original files, not resized ones"),
    "bomb": ("image(s) would decompress to an enormous size (decompression bomb) and were refused unread",
             "remove them and use the original MHIST images"),
}


def load_mhist(
    path: str | Path | None = None,
    expect_full_release: bool = False,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    decode: bool = True,
    unpack: bool = True,
) -> MhistData:
    """Load and validate MHIST (or the synthetic stand-in) from ``path`` (else ``$KD_MHIST_DIR``).

    expect_full_release: insist on the published counts (3,152 rows; 2,175/977; HP 2,162/SSA 990).
        They are checked anyway when the CSV has 3,152 rows.
    limit: at most this many images *per partition*, chosen deterministically with the class ratio
        kept (for quick demos and tests). The whole CSV is validated; only chosen images are decoded.
    progress: called as ``progress(done, total)`` while images are decoded.
    decode: False checks every image's header (present, 224×224, RGB, not a bomb) but not its pixel data
        (:func:`check_mhist_folder`: the MHIST page's check, fast enough to run on every page view).
    unpack: False never unpacks a zip (the page's check): :class:`MhistNeedsUnpack` lists what would be.

    Raises :class:`MhistError` naming the problem and the fix.
    """
    user_folder = _folder_of(path)
    csv_path, image_dir = _layout(user_folder, unpack)
    folder = csv_path.parent
    try:
        return _load_from(csv_path, image_dir, expect_full_release, limit, progress, decode)
    except MhistError as e:  # name the folder in every message (the CSV's and the counts' do not)
        if str(folder) in str(e):
            raise
        raise MhistError(f"MHIST folder {folder}: {e}") from e


def _load_from(csv_path: Path, image_dir: Path, expect_full_release: bool, limit: int | None,
               progress: Callable[[int, int], None] | None, decode: bool) -> MhistData:
    folder = csv_path.parent
    rows, warnings = _read_annotations(csv_path)
    _check_counts(rows, expect_full_release)
    missing = [r.name for r in rows if not (image_dir / r.name).is_file()]
    if missing:
        if len(missing) == len(rows):
            raise MhistError(f"none of the {len(rows):,} images in annotations.csv is in {image_dir}; unpack "
                             "images.zip into this folder (images/ or beside annotations.csv)")
        text, fix = _PROBLEM_TEXT["missing"]
        raise MhistError(f"{len(missing):,} {text}: {_list_problems(missing)}; {fix}")
    is_standin = (folder / STANDIN_MARKER).is_file()
    if limit is not None and limit < 1:
        raise MhistError(f"limit must be >= 1 or None (got {limit})")
    parts = {p: _stratified_first([r for r in rows if r.partition == p], limit) for p in PARTITIONS}
    total = sum(len(v) for v in parts.values())
    problems: dict[str, list[str]] = {k: [] for k in (*_PROBLEM_TEXT, "converted")}
    xs = {}
    done = 0
    for p in PARTITIONS:
        xs[p] = _load_images(image_dir, parts[p], problems, progress, done, total, decode)
        done += len(parts[p])
    converted = problems.pop("converted")
    if converted:  # not a problem: recorded in the data set's notes (each result's data_notes)
        warnings.append(f"{len(converted):,} image(s) converted to RGB (alpha dropped, gray or palette expanded): "
                        + _list_problems(converted))
    msgs = [f"{len(v):,} {_PROBLEM_TEXT[k][0]}: {_list_problems(v)}; fix: {_PROBLEM_TEXT[k][1]}"
            for k, v in problems.items() if v]
    if msgs:
        raise MhistError(f"bad images in {image_dir}: " + " | ".join(msgs))
    tr, te = parts["train"], parts["test"]
    source = SOURCE_STANDIN if is_standin else f"{mhist_label(rows)} {len(tr):,}/{len(te):,}"
    return MhistData(
        x_train=xs["train"],
        y_train=torch.tensor([r.label for r in tr], dtype=torch.int64),
        x_test=xs["test"],
        y_test=torch.tensor([r.label for r in te], dtype=torch.int64),
        names_train=tuple(r.name for r in tr),
        names_test=tuple(r.name for r in te),
        annotator_votes_train=torch.tensor([r.votes for r in tr], dtype=torch.int64),
        annotator_votes_test=torch.tensor([r.votes for r in te], dtype=torch.int64),
        source=source,
        is_standin=is_standin,
        root=folder,
        warnings=tuple(warnings),
        label=SOURCE_STANDIN if is_standin else mhist_label(rows),
    )


# ---- the MHIST page's check ---------------------------------------------------------------------
UNCHECKED = ("not yet checked: the pixel data of each image (a job decodes every image when it loads the folder "
             "and refuses a corrupt one, naming it)")


@dataclass(frozen=True)
class MhistCheck:
    """What :func:`check_mhist_folder` found. ``message``: the error exactly as the CLI prints it (after
    ``error:``), or what was found and checked."""

    ok: bool
    message: str
    folder: Path | None = None  # the folder holding annotations.csv (the folder given, when only its zips hold it)
    label: str = ""
    n_images: int = 0
    unchecked: str = ""
    pending: tuple[PendingZip, ...] = ()  # zips to unpack (into the app's cache) before the folder can be read


_checks: dict[tuple, MhistCheck] = {}


def _signature(raw: str | Path) -> tuple:
    """What changes when the folder's contents do (for the memo): the path and the times of what is read."""
    p = Path(raw).expanduser()
    sig: list = [str(p)]
    for q in (p, p / "annotations.csv", p / "images", *sorted(p.glob("*/annotations.csv"))[:2], *sorted(p.glob("*.zip"))):
        try:
            st = q.stat()
            sig.append((str(q), st.st_mtime_ns, st.st_size))
        except OSError:
            sig.append((str(q), None))
    for z in sorted(p.glob("*.zip")):  # unpacked into the cache since the last look?
        try:
            sig.append(_unpacked(z) is not None)
        except MhistError:
            sig.append(None)
    return tuple(sig)


def check_mhist_folder(path: str | Path | None = None) -> MhistCheck:
    """The validation a job runs on an MHIST folder (``path``, else ``$KD_MHIST_DIR``): :func:`load_mhist`
    itself — folder, zips (checked as for a job, never unpacked: ``pending`` lists those still to unpack into
    the cache), annotations.csv, counts, every image present with a 224×224 header in a mode read as RGB —
    all but decoding every image's pixels (:data:`UNCHECKED` says so). Writes nothing. Memoised per folder
    state, so the MHIST page can run it on every view."""
    raw = path if path is not None else settings().mhist_dir
    if raw is None or str(raw).strip() == "":
        return MhistCheck(False, "no MHIST folder given: pass a path or set KD_MHIST_DIR. " + HOW_TO_GET_MHIST)
    key = _signature(raw)
    if key in _checks:
        return _checks[key]
    try:
        data = load_mhist(raw, decode=False, unpack=False)
        n = len(data.names_train) + len(data.names_test)
        given = _folder_of(raw).resolve()
        folder = data.root if data.root.resolve().is_relative_to(given) else given
        images = data.x_train.paths[0].parent if len(data.x_train) else data.root
        where = (str(folder) if folder == data.root else f"{folder} (its zips unpacked in the app's cache, {images})")
        notes = "".join(f"; note: {w}" for w in data.warnings)
        check = MhistCheck(True, f"{data.label} found: {where} ({len(data.names_train):,} train / "
                           f"{len(data.names_test):,} test images; annotations.csv, the split and every image's "
                           f"header checked; {UNCHECKED}){notes}", folder, data.label, n, UNCHECKED)
    except MhistNeedsUnpack as e:
        check = MhistCheck(False, str(e), pending=e.pending)
    except MhistError as e:
        check = MhistCheck(False, str(e))
    if len(_checks) > 32:
        _checks.clear()
    _checks[key] = check
    return check


__all__ = [
    "CLASSES", "COLUMNS", "FULL_RELEASE", "HOW_TO_GET_MHIST", "MhistData", "MhistError", "SOURCE_MHIST_FULL",
    "SOURCE_STANDIN", "STANDIN_MARKER", "MhistCheck", "MhistNeedsUnpack", "PendingZip", "check_mhist_folder",
    "find_mhist_dir", "load_mhist", "mhist_label", "pending_zips", "prepare_mhist_dir", "unpack_cache_dir",
    "unpack_mhist_zips",
]
