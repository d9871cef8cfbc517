"""MHIST (or its synthetic stand-in) as an :class:`~kdcore.data.ArrayDataset`, for ``load_dataset``.

Names and sources (``JobConfig.dataset`` / ``JobConfig.data_source``):

- ``mhist`` + ``auto``: the real release from the job's folder (``JobConfig.data_dir``: the folder
  typed on the MHIST page), else ``$KD_MHIST_DIR`` (zips unpacked safely on first use). A folder that
  is given is the one read: it is never replaced by ``$KD_MHIST_DIR``. ``source_id`` is ``mhist-full``
  for the published 2,175/977 split, ``mhist-custom-<csv hash>`` for any other valid folder and
  ``mhist-standin-<csv hash>`` for a folder holding a stand-in: folders whose annotations differ never
  share an id (and a job's ``data_dir`` is part of its key besides). ``mhist-<n>`` (e.g. ``mhist-200``):
  at most *n* images per partition, class ratio kept (quick demos on the real data). No folder: a
  :class:`MhistDataError` saying how to get MHIST (it is distributed on request only).
- ``mhist_synthetic`` + ``auto``: the default stand-in (96 train / 48 test) made once under
  ``$KD_DATA_DIR/mhist-synthetic``; ``mhist-synthetic-<train>-<test>`` (optionally ``-s<seed>``):
  a stand-in of that size (tests use a tiny one). Always labelled "synthetic stand-in — not MHIST"
  and ``is_standin=True``.

Images are ``uint8`` ``(N, 3, 224, 224)`` :class:`~kdcore.data.images.ImageFiles` (decoded per batch, not
held in memory); models normalise per batch
(:func:`kdcore.models.mhist.imagenet_normalize`). Labels: 0 = HP, 1 = SSA (the positive class).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from kdcore.data.base import ArrayDataset, DataError
from kdcore.data.mhist import FULL_RELEASE, HOW_TO_GET_MHIST, MhistData, MhistError, load_mhist
from kdcore.data.pairs import DATA_PAIRS
from kdcore.data.synthetic_mhist import DEFAULT_N_TEST, DEFAULT_N_TRAIN, GENERATOR_VERSION, ensure_synthetic_mhist
from kdcore.settings import settings

# every source id of the generated stand-in starts so (its generator version follows): see older_standin_source
STANDIN_SOURCE = "mhist-synthetic-"


class MhistDataError(DataError, MhistError):
    """MHIST cannot be loaded. Both a :class:`DataError` (the CLI prints it as a plain error) and an
    :class:`MhistError` (the MHIST page catches those)."""


_LIMIT = re.compile(r"mhist-(\d+)")
_SYNTH = re.compile(r"mhist-synthetic-(\d+)-(\d+)(?:-s(\d+))?")


def _from_mhist(name: str, data: MhistData, source_id: str) -> ArrayDataset:
    notice = "; ".join(data.warnings) or None
    return ArrayDataset(
        name=name, source=data.source, source_id=source_id,
        x_train=data.x_train, y_train=data.y_train, x_test=data.x_test, y_test=data.y_test,
        classes=tuple(data.classes), is_standin=data.is_standin, notice=notice,
        extra={"root": str(data.root), "names_test": data.names_test,
               "annotator_votes_test": data.annotator_votes_test},
    )


def _load_real(source: str, data_dir: str | Path | None = None) -> ArrayDataset:
    limit = None
    if source not in ("auto", "mhist-full"):
        m = _LIMIT.fullmatch(source)
        if m is None:
            raise MhistDataError(f"unknown MHIST data source {source!r}: use auto, mhist-full or mhist-<n> "
                                 "(n images per partition)")
        limit = int(m.group(1))
    raw = data_dir if data_dir is not None else settings().mhist_dir
    if raw is None or str(raw).strip() == "":
        raise MhistDataError("MHIST not found: KD_MHIST_DIR is not set. " + HOW_TO_GET_MHIST
                             + " To try the page without it, use the dataset mhist_synthetic.")
    try:  # the folder's own message (a file, an empty folder, no CSV, bad images …), naming its path
        data = load_mhist(raw, expect_full_release=source == "mhist-full", limit=limit)
    except MhistError as e:
        raise MhistDataError(str(e)) from e
    if data.is_standin:
        # KD_MHIST_DIR points at a stand-in: keep it apart from real results, by content.
        source_id = f"mhist-standin-{_csv_hash(data)}"
    elif _is_full_release(data):
        source_id = "mhist-full"
    else:
        source_id = f"mhist-custom-{_csv_hash(data)}"
    if limit is not None:
        source_id = f"mhist-{limit}" if source_id == "mhist-full" else f"{source_id}-{limit}"
    return _from_mhist("mhist", data, source_id)


def _csv_hash(data: MhistData) -> str:
    return hashlib.sha256((data.root / "annotations.csv").read_bytes()).hexdigest()[:10]


def _is_full_release(data: MhistData) -> bool:
    """The CSV is the published one in size (``load_mhist`` checks all counts when it has 3,152 rows)."""
    rows = sum(1 for _ in open(data.root / "annotations.csv", encoding="utf-8-sig")) - 1
    return rows == FULL_RELEASE["rows"]


def _load_synthetic(source: str) -> ArrayDataset:
    if source == "auto":
        n_train, n_test, seed = DEFAULT_N_TRAIN, DEFAULT_N_TEST, 0
    else:
        m = _SYNTH.fullmatch(source)
        if m is None:
            raise MhistDataError(f"unknown stand-in source {source!r}: use auto or mhist-synthetic-<train>-<test>"
                                 "[-s<seed>], e.g. mhist-synthetic-12-8")
        n_train, n_test, seed = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    try:
        folder = ensure_synthetic_mhist(n_train=n_train, n_test=n_test, seed=seed)
        data = load_mhist(folder)
    except (MhistError, ValueError) as e:
        raise MhistDataError(f"cannot make the synthetic stand-in: {e}") from e
    if not data.is_standin:  # the marker is what keeps it from being shown as MHIST
        raise MhistDataError(f"{folder} lacks the stand-in marker; delete the folder so it is made again")
    default = (n_train, n_test, seed) == (DEFAULT_N_TRAIN, DEFAULT_N_TEST, 0)
    source_id = f"{STANDIN_SOURCE}v{GENERATOR_VERSION}" + ("" if default else f"-{n_train}-{n_test}-s{seed}")
    return _from_mhist("mhist_synthetic", data, source_id)


def load_mhist_dataset(name: str, source: str = "auto", data_dir: str | Path | None = None) -> ArrayDataset:
    """``mhist`` (the real release, from ``data_dir``, else ``$KD_MHIST_DIR``) or ``mhist_synthetic`` (the
    labelled stand-in, made under ``$KD_DATA_DIR``; it takes no ``data_dir``) with uint8
    :class:`~kdcore.data.images.ImageFiles` images. Raises :class:`MhistDataError` saying what is wrong
    and what to do."""
    if data_dir is not None and str(data_dir).strip() == "":
        data_dir = None
    if name == "mhist":
        return _load_real(source, data_dir)
    if name in DATA_PAIRS and DATA_PAIRS[name].is_standin:  # the generated stand-in
        if data_dir is not None:
            raise MhistDataError(f"the synthetic stand-in is made by kdcore, not read from a folder (got "
                                 f"{str(data_dir)!r}); to train on that folder use the dataset mhist")
        return _load_synthetic(source)
    raise DataError(f"unknown MHIST dataset {name!r}; use mhist or mhist_synthetic")


def older_standin_source(source_id: str) -> bool:
    """A source id of the generated stand-in made by an older :data:`GENERATOR_VERSION`: its images differ from
    today's, so its results' keys are never asked for again (precompute's export drops them)."""
    return source_id.startswith(STANDIN_SOURCE) and not source_id.startswith(f"{STANDIN_SOURCE}v{GENERATOR_VERSION}")


__all__ = ["MhistDataError", "STANDIN_SOURCE", "load_mhist_dataset", "older_standin_source"]
