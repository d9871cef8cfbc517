"""A small synthetic stand-in for MHIST, in MHIST's exact folder format — **not MHIST**.

So the MHIST page, the CLI and the tests work without the real (request-only) data set, this module
draws histology-like tiles procedurally: pink (eosin) stroma with scattered purple (haematoxylin)
nuclei and a few crypt-like glands, each a ring of epithelium with nuclei around a pale lumen.

Every tile gets a hidden *lesion score* ``z``: HP (label 0) draws it from N(0, 1), SSA (label 1) from
N(``CLASS_SEPARATION``, 1). The score, not the label, drives what the tile looks like:

- **colour**: more and darker haematoxylin (nuclei, a bluer-lilac stroma) as ``z`` grows;
- **texture**: coarser, more mottled stroma and denser nuclei;
- **shape**: more elongated crypts with a more saw-toothed (serrated) luminal border — a caricature
  of the serrated architecture that marks sessile serrated adenomas.

Because the two classes' scores overlap, so do their tiles: the best possible classifier scores an
AUC of Φ(CLASS_SEPARATION / √2) ≈ 0.92 and an accuracy of ≈ 0.86 at 2:1 (against 0.67 for always
answering HP), not 1, and a model has to learn colour and texture statistics
(which a random-init network picks up too) to beat predicting HP for everything. Stain intensity and
brightness vary per tile independently of the class, as they do between real slides. Everything is
seeded and deterministic (one generator per tile) and cheap (~15 ms a tile). The folder holds
``annotations.csv`` (MHIST's columns), ``images/*.png`` (224×224 RGB, ≈ 2:1 HP:SSA like MHIST's
2,162:990) and the marker file ``SYNTHETIC_STANDIN.txt`` by which
:func:`kdcore.data.mhist.load_mhist` labels it "synthetic stand-in — not MHIST".

``GENERATOR_VERSION`` is part of the data's source id (``mhist-synthetic-v2``), of the image names
and of the marker: a new generator makes new folders and new store keys, so no result computed on
an older stand-in is served for this one. v1 (shape only, no overlap in ranking) taught nothing: every
stored model predicted HP for every tile.
"""

from __future__ import annotations

import csv
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from kdcore.data.mhist import CLASSES, COLUMNS, IMAGE_SIZE, STANDIN_MARKER
from kdcore.settings import settings

GENERATOR_VERSION = 2
CLASS_SEPARATION = 2.0  # SSA's lesion score is N(2, 1), HP's N(0, 1)
DEFAULT_N_TRAIN = 96
DEFAULT_N_TEST = 48


def _smooth_noise(rng: np.random.Generator, cells: int) -> np.ndarray:
    """Low-frequency noise in [0, 1] at 224×224 (random grid, bicubic upsampling)."""
    grid = (rng.random((cells, cells)) * 255).astype(np.uint8)
    up = Image.fromarray(grid).resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC)
    return np.asarray(up, dtype=np.float32) / 255.0


def _contour(cx: float, cy: float, r0: float, elong: float, angle: float, serr: float, teeth: int,
             n: int = 160) -> list[tuple[float, float]]:
    """A closed crypt outline: an ellipse (axes r0·(1±elong)) with optional saw-tooth serration."""
    pts = []
    ca, sa = math.cos(angle), math.sin(angle)
    for i in range(n):
        t = 2 * math.pi * i / n
        # Triangle wave in [0, 1]: sharp teeth, unlike a smooth sine bump.
        tooth = abs(((teeth * t / (2 * math.pi)) % 1.0) - 0.5) * 2
        r = r0 * (1 + serr * (tooth - 0.5))
        x, y = r * (1 + elong) * math.cos(t), r * (1 - elong) * math.sin(t)
        pts.append((cx + ca * x - sa * y, cy + sa * x + ca * y))
    return pts


def _nucleus(draw: ImageDraw.ImageDraw, rng: np.random.Generator, x: float, y: float, scale: float,
             colour: np.ndarray) -> None:
    rx, ry = scale * rng.uniform(1.5, 2.6), scale * rng.uniform(1.2, 2.0)
    shade = rng.uniform(-20, 20)
    draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=tuple(int(v) for v in np.clip(colour + shade, 0, 255)))


def lesion_score(rng: np.random.Generator, ssa: bool) -> float:
    """The hidden score a tile is drawn from: N(0, 1) for HP, N(CLASS_SEPARATION, 1) for SSA."""
    return float(rng.normal(CLASS_SEPARATION if ssa else 0.0, 1.0))


def render_tile(rng: np.random.Generator, ssa: bool) -> Image.Image:
    """One 224×224 RGB tile of class SSA (``ssa``) or HP; how SSA-like it looks follows its
    :func:`lesion_score`, so some HP tiles look like SSA and the reverse."""
    s = IMAGE_SIZE
    z = lesion_score(rng, ssa)
    # 0 (very HP-like) … 1 (very SSA-like); the classes' ranges overlap by construction
    k = float(np.clip((z + 1.5) / (CLASS_SEPARATION + 3.0), 0.0, 1.0))
    stain = rng.uniform(0.85, 1.15)  # slide-to-slide stain intensity, independent of the class
    # Stroma: eosin pink shifting to lilac with more haematoxylin, blotchy variation, grain coarser with k.
    low = _smooth_noise(rng, int(5 + 10 * k))[..., None]
    grain = rng.normal(0, 4 + 8 * k, (s, s, 1)).astype(np.float32)
    pink, lilac = np.array([236, 166, 200], np.float32), np.array([196, 150, 214], np.float32)
    base = (1 - k) * pink + k * lilac + rng.uniform(-14, 14, 3).astype(np.float32)
    base = 255 - (255 - base) * stain
    arr = base + (low - 0.5) * np.array([30, 45, 30], dtype=np.float32) * (1 + k) + grain
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    nucleus = np.array([110 - 40 * k, 55 - 20 * k, 150 - 10 * k], np.float32) * (2 - stain)
    for _ in range(int(rng.integers(50, 90) + 80 * k)):  # scattered stromal nuclei, denser in SSA-like tiles
        _nucleus(draw, rng, rng.uniform(0, s), rng.uniform(0, s), 0.9 + 0.3 * k, nucleus)
    for _ in range(int(rng.integers(2, 5))):
        cx, cy = rng.uniform(30, s - 30), rng.uniform(30, s - 30)
        r0 = rng.uniform(22, 34)
        angle = rng.uniform(0, math.pi)
        elong = float(np.clip(0.05 + 0.45 * k + rng.normal(0, 0.08), 0.0, 0.6))
        serr = float(np.clip(0.05 + 0.4 * k + rng.normal(0, 0.08), 0.0, 0.55))
        teeth = int(rng.integers(12, 19))
        epi = tuple(int(v) for v in np.array([205, 130, 185]) + rng.uniform(-10, 10, 3))
        draw.polygon(_contour(cx, cy, r0, elong, angle, 0.0, 1), fill=epi)
        # Nuclei line the basal side of the epithelium (the outer ring).
        for x, y in _contour(cx, cy, r0 * 0.86, elong, angle, 0.0, 1, n=int(2 * math.pi * r0 / 4.5)):
            _nucleus(draw, rng, x, y, 0.8, nucleus)
        lumen = tuple(int(v) for v in np.array([246, 232, 240]) + rng.uniform(-6, 6, 3))
        draw.polygon(_contour(cx, cy, r0 * 0.55, elong, angle, serr, teeth), fill=lumen)
    return img.filter(ImageFilter.GaussianBlur(0.7))


def make_synthetic_mhist(out_dir: str | Path, n_train: int = DEFAULT_N_TRAIN, n_test: int = DEFAULT_N_TEST,
                         seed: int = 0) -> Path:
    """Write a synthetic stand-in in MHIST's folder format to ``out_dir`` (created if needed) and return it.

    About 2/3 of each partition is HP, like MHIST (2,162 HP / 990 SSA). Annotator votes (of 7)
    agree with the label: HP gets 0–3 SSA votes, SSA 4–7.
    """
    if n_train < 2 or n_test < 2:
        raise ValueError(f"need at least 2 train and 2 test images (one per class), got {n_train}/{n_test}")
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    idx = 0
    for part, n in (("train", n_train), ("test", n_test)):
        n_ssa = max(1, round(n / 3))
        labels = np.array([1] * n_ssa + [0] * (n - n_ssa))
        np.random.default_rng([seed, 1 if part == "train" else 2]).shuffle(labels)
        for lab in labels:
            # One generator per image: a tile does not depend on how many were drawn before it.
            rng = np.random.default_rng([seed, 0, idx])
            name = f"MHIST_synv{GENERATOR_VERSION}_{idx:04d}.png"  # the version in the CSV too: new content hash
            render_tile(rng, bool(lab)).save(out / "images" / name, optimize=False)
            votes = int(rng.choice([4, 5, 6, 7], p=[0.2, 0.25, 0.3, 0.25]) if lab
                        else rng.choice([0, 1, 2, 3], p=[0.45, 0.3, 0.15, 0.1]))
            rows.append((name, CLASSES[int(lab)], votes, part))
            idx += 1
    with open(out / "annotations.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(rows)
    (out / STANDIN_MARKER).write_text(_marker_text(n_train, n_test, seed), encoding="utf-8")
    return out


def _marker_text(n_train: int, n_test: int, seed: int) -> str:
    return (
        "synthetic stand-in — not MHIST\n"
        "Procedurally drawn by kdcore.data.synthetic_mhist so the app runs without the real data set.\n"
        "Results on it are NOT MHIST results. Real MHIST: https://bmirds.github.io/MHIST (request form).\n"
        f"generator_version={GENERATOR_VERSION} n_train={n_train} n_test={n_test} seed={seed}\n"
    )


def default_data_dir() -> Path:
    """``$KD_DATA_DIR`` or ``./data`` (:func:`kdcore.settings.settings`)."""
    return settings().data_dir


def ensure_synthetic_mhist(data_dir: str | Path | None = None, n_train: int = DEFAULT_N_TRAIN,
                           n_test: int = DEFAULT_N_TEST, seed: int = 0) -> Path:
    """The stand-in under ``<data_dir>/mhist-synthetic`` (data_dir: ``$KD_DATA_DIR`` or ``./data``), made once.

    Built in a temporary folder beside the target and renamed into place, so a crash or a second
    process never leaves a half-written set that later passes for complete. Non-default sizes get
    their own folder (``mhist-synthetic-<train>-<test>-s<seed>``).
    """
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    default = (n_train, n_test, seed) == (DEFAULT_N_TRAIN, DEFAULT_N_TEST, 0)
    target = root / ("mhist-synthetic" if default else f"mhist-synthetic-{n_train}-{n_test}-s{seed}")
    want = _marker_text(n_train, n_test, seed)

    def complete() -> bool:
        marker = target / STANDIN_MARKER
        return marker.is_file() and marker.read_text(encoding="utf-8") == want

    if complete():
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".mhist-synthetic-", dir=root))
    try:
        make_synthetic_mhist(tmp, n_train=n_train, n_test=n_test, seed=seed)
        if target.exists():  # stale (older generator) or incomplete: move aside, then swap
            old = Path(tempfile.mkdtemp(prefix=".mhist-synthetic-old-", dir=root))
            try:
                target.rename(old / "stale")
            except FileNotFoundError:
                pass  # another process moved it first
        try:
            tmp.rename(target)
        except OSError:
            if not complete():  # someone else won the race with a good set: use theirs
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for junk in root.glob(".mhist-synthetic-old-*"):
            shutil.rmtree(junk, ignore_errors=True)
    return target


__all__ = ["CLASS_SEPARATION", "GENERATOR_VERSION", "default_data_dir", "ensure_synthetic_mhist", "lesion_score",
           "make_synthetic_mhist", "render_tile"]
