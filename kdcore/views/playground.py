"""The temperature playground's engine: softened probabilities, entropy and dark knowledge from real models.

A trained teacher (and a student distilled from it) are taken from the result store; their logits
on the test set are computed once per process and memoised, so moving the temperature slider only
re-runs a softmax over cached numbers (a few milliseconds, well under the 300 ms target).

Softening: :math:`p_i(T) = \\exp(z_i/T) / \\sum_j \\exp(z_j/T)`; the entropy :math:`H = -\\sum p_i \\log_2 p_i`
grows with T from near 0 bits (one confident class) to :math:`\\log_2 C` (uniform). The
*dark-knowledge map* is the teacher's mean softened distribution per true class: row *c* shows
which other classes the teacher thinks images of *c* resemble.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from kdcore.data import DATASET_TITLES
from kdcore.data.pairs import COURSE_TEMPERATURES
from kdcore.inference import (
    MAX_TEST,
    display_image,
    entropy_bits,
    image_logits,
    soften,
    stored_model,
    test_logits,
)
from kdcore.inference import clear_caches as _clear_inference_caches
from kdcore.store import LayeredStore, open_store
from kdcore.views.results import (
    STANDIN_NOTE,
    TEACHER_ARCHS,
    model_label,
    store_from_id,
    store_id,
    store_listing,
    stored_results,
)
from kdcore.views.results import clear_caches as _clear_result_caches

ENTROPY_TEMPS = tuple(float(t) for t in np.geomspace(0.25, 64.0, 41))
COURSE_TEMPS = COURSE_TEMPERATURES  # the course's grid (kdcore.data.pairs)
MNIST_LIKE = ("mnist", "fashion_mnist")
# A photo of one digit or garment needs neither more bytes nor more pixels than these; both are checked
# before any pixel is decoded (a 168 KB PNG can declare 12000×12000 pixels: 4.5 GB once decoded as floats).
MAX_UPLOAD_BYTES = 10 * 1024**2
MAX_UPLOAD_PIXELS = 25_000_000
WORK_SIDE = 512  # pictures are shrunk to at most this many pixels a side before any float work


class ImageError(ValueError):
    """An uploaded or drawn picture cannot be used; the message says what to do instead."""


# ---- finding the models ----------------------------------------------------------------------
# Models skipped because their stored files fail verification, per (dataset, store): the read-only shipped
# store is never quarantined, so a damaged entry there would otherwise be picked (and fail) on every view.
_skipped: dict[tuple, tuple[str, ...]] = {}


def _verified(results: list[dict], sid: tuple, note: list[str]) -> list[dict]:
    """Those of ``results`` whose files pass the store's check (a full verify: weights hashed); a note each
    for the others."""
    store = store_from_id(sid)
    ok = []
    for r in results:
        if store.get(r["key"]) is not None:
            ok.append(r)
        else:
            note.append(f"{r.get('name', r['key'])} ({r['key']}) was skipped: its stored files fail verification "
                        "(damaged or changed); retrain it in the Distill lab, or restore the shipped results")
    return ok


@functools.lru_cache(maxsize=32)
def _pick(dataset: str, sid: tuple, listing: tuple) -> tuple[dict | None, dict | None]:
    """(teacher result, student result) for ``dataset``; see :func:`pick_models`. Models whose files fail
    verification are skipped (:func:`skipped_models` says which)."""
    note: list[str] = []
    try:
        return _pick_verified(dataset, sid, note)
    finally:
        _skipped[(dataset, sid)] = tuple(note)


def skipped_models(dataset: str, store: LayeredStore | None = None) -> tuple[str, ...]:
    """Notes on the stored models of ``dataset`` the playground skipped (they fail verification)."""
    store = store or open_store()
    sid = store_id(store)
    _pick(dataset, sid, store_listing(store))
    return _skipped.get((dataset, sid), ())


def _pick_verified(dataset: str, sid: tuple, note: list[str]) -> tuple[dict | None, dict | None]:
    results = [r for r in stored_results(store_from_id(sid))
               if r.get("dataset") == dataset and "weights.safetensors" in r.get("files", {})]
    teachers = [r for r in results if r["config"].get("arch") in TEACHER_ARCHS and r["config"].get("teacher") is None
                and r["config"].get("method") == "scratch"]
    # the best-trained teacher that verifies: most training data, then most epochs, then newest
    teachers.sort(key=lambda r: (r.get("n_train", 0), r["config"].get("epochs", 0), r.get("created", "")),
                  reverse=True)
    teacher = next((t for t in teachers if _verified([t], sid, note)), None)
    if teacher is None:
        return None, None
    students = _verified([r for r in results if r.get("teacher_key") == teacher["key"]
                          and r["config"].get("arch") not in TEACHER_ARCHS], sid, note)
    if students:
        # prefer Hinton KD near the course defaults T = 4, alpha = 0.5
        student = min(students, key=lambda r: (r["config"]["method"] != "hinton",
                                               abs(np.log(r["config"]["temperature"] / 4.0)),
                                               abs(r["config"]["alpha"] - 0.5), r["config"]["seed"]))
    else:
        scratch = _verified([r for r in results if r.get("data_source_id") == teacher.get("data_source_id")
                             and r["config"].get("method") == "scratch"
                             and r["config"].get("arch") not in TEACHER_ARCHS], sid, note)
        student = max(scratch, key=lambda r: r.get("n_train", 0)) if scratch else None
    return teacher, student


def pick_models(dataset: str, store: LayeredStore | None = None) -> tuple[dict | None, dict | None]:
    """The stored teacher for ``dataset`` (most data, most epochs) and a student distilled from it
    (Hinton KD nearest T = 4; else a scratch student); ``(None, None)`` when no teacher is stored."""
    store = store or open_store()
    return _pick(dataset, store_id(store), store_listing(store))


# ---- the maths the page shows (softening, entropy: kdcore.inference) ----------------------------
def dark_knowledge(logits: torch.Tensor, labels: torch.Tensor, temperature: float, classes: list[str]) -> pd.DataFrame:
    """Mean softened probability per (true class, class): long format ``true``, ``class``, ``prob`` (C×C rows),
    and ``prob_offdiag`` (NaN on the diagonal)."""
    p = soften(logits, temperature)
    rows = []
    for c, name in enumerate(classes):
        mask = labels == c
        mean = p[mask].mean(0) if mask.any() else torch.full((p.shape[1],), float("nan"))
        rows += [{"true": name, "class": classes[j], "prob": float(mean[j]),
                  # the diagonal (the right class) dwarfs the rest; NaN there lets a chart show the rest
                  "prob_offdiag": float(mean[j]) if j != c else float("nan")} for j in range(len(classes))]
    return pd.DataFrame(rows)


def probability_frame(rows: dict[str, torch.Tensor], temperatures: list[float], classes: list[str]) -> pd.DataFrame:
    """Long format ``model``, ``T``, ``class``, ``prob`` for each model's logits row at each T."""
    out = []
    for model, z in rows.items():
        for t in temperatures:
            p = soften(z, t)
            out += [{"model": model, "T": f"T = {t:g}", "class": c, "prob": float(p[i])} for i, c in enumerate(classes)]
    return pd.DataFrame(out)


def entropy_frame(rows: dict[str, torch.Tensor], temps: tuple[float, ...] = ENTROPY_TEMPS) -> pd.DataFrame:
    """Entropy (bits) of each model's softened distribution over a log-spaced range of T."""
    out = []
    for model, z in rows.items():
        h = entropy_bits(soften(z.unsqueeze(0).expand(len(temps), -1) / torch.tensor(temps).unsqueeze(1), 1.0))
        out += [{"model": model, "T": t, "entropy_bits": float(v)} for t, v in zip(temps, h, strict=True)]
    return pd.DataFrame(out)


# ---- user images -------------------------------------------------------------------------------
def prepare_image(image: bytes | np.ndarray) -> np.ndarray:
    """A drawn (RGBA array) or uploaded (file bytes) picture as a 28×28 MNIST-style image in [0, 1].

    Like MNIST: light ink on a dark background (inverted when the background is light), the ink's
    bounding box scaled to fit 20×20 and centred by its centre of mass in a 28×28 frame.
    Raises :class:`ImageError` for unreadable, too large (:data:`MAX_UPLOAD_BYTES`,
    :data:`MAX_UPLOAD_PIXELS`, checked before decoding) and blank pictures.
    """
    from PIL import Image

    if isinstance(image, (bytes, bytearray)):
        arr = np.asarray(_decode_small(bytes(image)).convert("RGBA"), dtype=np.float32) / 255.0
    else:
        arr = np.asarray(image)
        if arr.size > 4 * MAX_UPLOAD_PIXELS:
            raise ImageError(f"this picture is too large ({arr.shape}); draw or upload one of at most "
                             f"{MAX_UPLOAD_PIXELS / 1e6:.0f} megapixels")
        arr = arr.astype(np.float32)
        arr = arr / 255.0 if arr.max(initial=0) > 1.0 else arr
        if arr.ndim == 2:
            arr = np.stack([arr, arr, arr, np.ones_like(arr)], -1)
        elif arr.ndim == 3 and arr.shape[-1] == 3:
            arr = np.concatenate([arr, np.ones_like(arr[..., :1])], -1)
    if arr.ndim != 3 or arr.shape[-1] != 4 or min(arr.shape[:2]) < 2:
        raise ImageError("the picture has an unexpected shape; upload an ordinary PNG or JPEG")
    lum = arr[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    alpha = arr[..., 3]
    opaque = alpha > 0.5
    # Transparent pixels (a canvas, a cut-out) take the colour that contrasts with the opaque ink.
    ink_light = bool(lum[opaque].mean() > 0.5) if opaque.any() else True
    gray = alpha * lum + (1 - alpha) * (0.0 if ink_light else 1.0)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if border.mean() > 0.5:  # light background (paper, a white canvas): invert to MNIST's white-on-black
        gray = 1.0 - gray
    gray = np.clip(gray - np.median(border if border.mean() <= 0.5 else 1.0 - border), 0.0, 1.0)
    if gray.max() < 0.15:
        raise ImageError("the picture looks blank; draw or upload one dark-on-light or light-on-dark digit")
    gray = gray / gray.max()
    ys, xs = np.nonzero(gray > 0.1)
    crop = gray[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize((nw, nh), Image.LANCZOS),
                       dtype=np.float32) / 255.0
    out = np.zeros((28, 28), dtype=np.float32)
    top, left = (28 - nh) // 2, (28 - nw) // 2
    out[top: top + nh, left: left + nw] = small
    # shift so the centre of mass sits at the centre (as in MNIST's preprocessing)
    total = out.sum()
    if total > 0:
        cy, cx = (np.arange(28) @ out.sum(1)) / total, (np.arange(28) @ out.sum(0)) / total
        dy, dx = int(round(13.5 - cy)), int(round(13.5 - cx))
        dy = int(np.clip(dy, -top, 28 - nh - top))
        dx = int(np.clip(dx, -left, 28 - nw - left))
        out = np.roll(out, (dy, dx), axis=(0, 1))
    return np.clip(out, 0.0, 1.0)


def _decode_small(data: bytes):  # noqa: ANN202 - PIL.Image.Image
    """An uploaded file decoded at no more than :data:`WORK_SIDE` pixels a side. Its size in bytes and its
    pixel count (read from the header: ``Image.open`` decodes nothing) are checked first; JPEGs are decoded
    at a reduced scale (``draft``), other formats shrunk by ``thumbnail`` (integer ``reduce`` first)."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    too_large = (f"upload a picture of at most {MAX_UPLOAD_BYTES // 1024**2} MB and "
                 f"{MAX_UPLOAD_PIXELS / 1e6:.0f} megapixels (a phone photo or a scan is fine; crop it to the "
                 "digit or garment)")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageError(f"this file is too large ({len(data) / 1024**2:.1f} MB); {too_large}")
    unreadable = "this file could not be read as an image; upload a PNG or JPEG picture of one digit or garment"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below, with our message
            img = Image.open(io.BytesIO(data))  # lazy: the header only
    except Image.DecompressionBombError as e:
        over = 2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6  # Pillow refuses twice its warning limit at open
        raise ImageError(f"this picture is too large: over {over:.0f} megapixels; {too_large}") from e
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ImageError(unreadable) from e
    width, height = img.size
    if width * height > MAX_UPLOAD_PIXELS:
        raise ImageError(f"this picture is too large: {width}×{height} = {width * height / 1e6:.0f} megapixels; "
                         f"{too_large}")
    try:
        if img.format == "JPEG":
            img.draft(img.mode, (WORK_SIDE, WORK_SIDE))  # the decoder scales by 1/2 … 1/8 as it reads
        img.thumbnail((WORK_SIDE, WORK_SIDE), reducing_gap=2.0)  # decodes, then reduces by whole factors
        img.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ImageError(unreadable) from e
    return img


# ---- one call per page view ----------------------------------------------------------------------
@dataclass
class PlaygroundView:
    """Everything the playground page draws for one (data set, image, T)."""

    available: bool
    notice: str | None = None
    dataset: str = ""
    data: str = ""  # the data label, with "stand-in" when it is one
    is_standin: bool = False
    classes: list[str] = field(default_factory=list)
    teacher: str = ""
    student: str | None = None
    n_test: int = 0
    image: np.ndarray | None = None  # what the models saw, for display (H×W or H×W×3)
    true_label: str | None = None
    probs: pd.DataFrame = field(default_factory=pd.DataFrame)  # model, T, class, prob
    entropy: pd.DataFrame = field(default_factory=pd.DataFrame)  # model, T, entropy_bits
    dark: pd.DataFrame = field(default_factory=pd.DataFrame)  # true, class, prob
    entropy_at_t: dict[str, float] = field(default_factory=dict)
    prediction: dict[str, str] = field(default_factory=dict)


def playground_view(dataset: str, temperature: float, index: int = 0, image: bytes | np.ndarray | None = None,
                    store: LayeredStore | None = None) -> PlaygroundView:
    """Teacher (and student) probabilities at T = 1 and at ``temperature`` for test image ``index`` or a
    user ``image`` (drawn RGBA array or uploaded bytes; MNIST-style data sets only), the entropy of
    the soft targets vs T, and the teacher's dark-knowledge map at ``temperature``.

    Raises :class:`ImageError` for an unusable user image; returns ``available=False`` with a notice
    when no trained teacher for ``dataset`` is stored yet.
    """
    store = store or open_store()
    sid = store_id(store)
    teacher, student = _pick(dataset, sid, store_listing(store))
    title = DATASET_TITLES.get(dataset, dataset)
    if teacher is None:
        return PlaygroundView(available=False, dataset=dataset, notice=(
            f"No trained {title} teacher is stored yet. Train one in the Distill lab, or run "
            "`python -m kdcore precompute` to fill the shipped results."))
    z_t, y, x = test_logits(teacher, store)
    classes = list(teacher.get("classes") or [str(i) for i in range(z_t.shape[1])])
    rows: dict[str, torch.Tensor] = {}
    if image is not None:
        if dataset not in MNIST_LIKE:
            raise ImageError(f"drawn and uploaded pictures work for MNIST and Fashion-MNIST, not {title}; "
                             "pick a test image instead")
        pic = prepare_image(image)
        rows["teacher"] = image_logits(teacher, store, pic)
        if student is not None:
            rows["student"] = image_logits(student, store, pic)
        shown, true_label = pic, None
    else:
        i = int(np.clip(index, 0, len(y) - 1))
        rows["teacher"] = z_t[i]
        if student is not None:
            rows["student"] = test_logits(student, store)[0][i]
        shown, true_label = display_image(x[i]), classes[int(y[i])]
    temps = [1.0] if float(temperature) == 1.0 else [1.0, float(temperature)]
    data = DATASET_TITLES.get(dataset, dataset)
    if teacher.get("is_standin"):
        data += f" ({STANDIN_NOTE}: {teacher.get('data_source', '')})"
    return PlaygroundView(
        available=True, dataset=dataset, data=data, is_standin=bool(teacher.get("is_standin")), classes=classes,
        teacher=model_label(teacher["config"]) + f" · test acc {teacher['metrics']['accuracy']:.1%}",
        student=(model_label(student["config"]) + f" · test acc {student['metrics']['accuracy']:.1%}"
                 if student else None),
        n_test=len(y), image=shown, true_label=true_label,
        probs=probability_frame(rows, temps, classes),
        entropy=entropy_frame(rows),
        dark=dark_knowledge(z_t, y, temperature, classes),
        entropy_at_t={m: float(entropy_bits(soften(z, temperature))) for m, z in rows.items()},
        prediction={m: classes[int(z.argmax())] for m, z in rows.items()},
    )


def temperature_demo(dataset: str = "mnist", index: int = 0, temps: tuple[float, ...] = COURSE_TEMPS,
                     store: LayeredStore | None = None) -> tuple[pd.DataFrame, str | None]:
    """A stored teacher's softmax on test image ``index`` at the course's temperatures (the Learn page's
    mini-demo): (frame ``model``, ``T``, ``class``, ``prob``; the true label), or an empty frame and None."""
    store = store or open_store()
    sid = store_id(store)
    teacher, _ = _pick(dataset, sid, store_listing(store))
    if teacher is None:
        return pd.DataFrame(columns=["model", "T", "class", "prob"]), None
    z, y, _ = test_logits(teacher, store)
    classes = list(teacher.get("classes") or [str(i) for i in range(z.shape[1])])
    i = int(np.clip(index, 0, len(y) - 1))
    return probability_frame({"teacher": z[i]}, list(temps), classes), classes[int(y[i])]


def test_image_count(dataset: str, store: LayeredStore | None = None) -> int:
    """How many test images the playground scores for ``dataset`` (the first :data:`MAX_TEST`, or the whole
    test set when smaller, e.g. 1,000 on the MNIST-5k subset): the bound of its "Test image number"."""
    store = store or open_store()
    sid = store_id(store)
    teacher, _ = _pick(dataset, sid, store_listing(store))
    return 0 if teacher is None else len(test_logits(teacher, store)[1])


def playground_datasets(store: LayeredStore | None = None) -> list[str]:
    """Data sets with a stored teacher (MNIST first), for the playground's picker."""
    store = store or open_store()
    sid, listing = store_id(store), store_listing(store)
    from kdcore.data.pairs import DATA_PAIRS

    return [d for d in DATA_PAIRS if _pick(d, sid, listing)[0] is not None]


def clear_caches() -> None:
    """Forget memoised models, logits and store picks (tests; after the store was replaced)."""
    _pick.cache_clear()
    _skipped.clear()
    _clear_inference_caches()
    _clear_result_caches()


__all__ = [
    "MAX_TEST", "ImageError", "PlaygroundView", "clear_caches", "dark_knowledge", "entropy_bits", "entropy_frame",
    "pick_models", "playground_datasets", "playground_view", "prepare_image", "probability_frame", "skipped_models",
    "soften",
    "stored_model", "temperature_demo", "test_image_count", "test_logits",
]
