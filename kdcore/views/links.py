"""Links a lecturer can paste into a chat: a page's settings (data set, T, test image, method, lesson
step) read from and written to the URL's query string (the pages use ``st.query_params``).

A link is input from anyone: every value is checked against what the page offers; one that does not
fit is dropped with a note saying what the page uses instead, never an exception.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

# query parameter -> the words a note uses for it
NAMES = {"dataset": "data set", "T": "temperature T", "image": "test image number", "method": "method",
         "step": "lesson step"}


MAX_DIGITS = 9  # every number a link carries (a test image, a lesson step, T) is far below 10**9
_WHOLE = re.compile(rf"[0-9]{{1,{MAX_DIGITS}}}")  # ASCII digits only: str.isdigit() also takes "²" and "٣"
_DECIMAL = re.compile(rf"[0-9]{{1,{MAX_DIGITS}}}(\.[0-9]{{1,6}})?|\.[0-9]{{1,6}}")


def _one(value: object) -> str:
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else ""
    return str(value).strip()


def parse_whole(raw: str, lo: int, hi: int) -> int | None:
    """``raw`` as a whole number in ``lo..hi``, or None: the one parser of numbers from a link. Only ASCII
    digits, at most :data:`MAX_DIGITS` of them (``int()`` takes "٣" and raises on "²", and a 5,000-digit
    value is refused before any conversion)."""
    if not _WHOLE.fullmatch(raw):
        return None
    n = int(raw)
    return n if lo <= n <= hi else None


def parse_decimal(raw: str, lo: float, hi: float) -> float | None:
    """``raw`` as a plain decimal (``4``, ``0.5``) in ``lo..hi``, or None (no exponent, sign, "inf", "nan" or
    non-ASCII digit: ``float()`` takes "١٢" and "1e3")."""
    if not _DECIMAL.fullmatch(raw):
        return None
    t = float(raw)
    return t if math.isfinite(t) and lo <= t <= hi else None


def shown(raw: str, limit: int = 80) -> str:
    """A link's value as a note quotes it: at most ``limit`` characters (a 5,000-digit value is not echoed
    whole). The page escapes the note before drawing it (:func:`kdcore.views.text.plain`)."""
    return repr(raw if len(raw) <= limit else raw[:limit] + "…")


def read_link(params: Mapping[str, object], *, datasets: Sequence[str] = (), temperatures: Sequence[float] = (),
              t_range: tuple[float, float] | None = None, image_count: int | None = None,
              methods: Sequence[str] = (), steps: int | None = None) -> tuple[dict, list[str]]:
    """The settings a link asks for that this page offers, and a note for each one it cannot use.

    Only the keys whose offer is given are read: ``datasets`` (names), ``temperatures`` (a slider's
    options; the nearest one is taken) or ``t_range`` (min, max), ``image_count`` (indices 0..n−1),
    ``methods`` (names), ``steps`` (lesson steps, 1-based in the URL, 0-based in the result)."""
    out: dict = {}
    notes: list[str] = []

    def refuse(key: str, raw: str, why: str) -> None:
        notes.append(f"The link's {NAMES[key]} {shown(raw)} {why}; the page's own setting is used instead.")

    if datasets and "dataset" in params:
        raw = _one(params["dataset"])
        if raw in datasets:
            out["dataset"] = raw
        else:
            refuse("dataset", raw, f"is not one of {', '.join(datasets)}")
    if (temperatures or t_range) and "T" in params:
        raw = _one(params["T"])
        lo, hi = (min(temperatures), max(temperatures)) if temperatures else t_range  # type: ignore[misc]
        t = parse_decimal(raw, -math.inf, math.inf)
        if t is None:
            refuse("T", raw, "is not a number")
        elif not lo <= t <= hi:
            refuse("T", raw, f"is outside {lo:g}–{hi:g}")
        else:
            out["T"] = min(temperatures, key=lambda o: abs(o - t)) if temperatures else t
    if image_count is not None and "image" in params:
        raw = _one(params["image"])
        if parse_whole(raw, 0, 10**MAX_DIGITS) is None:
            refuse("image", raw, "is not a whole number")
        elif (index := parse_whole(raw, 0, image_count - 1)) is None:
            refuse("image", raw, f"is past the last test image shown here ({image_count - 1})")
        else:
            out["image"] = index
    if methods and "method" in params:
        raw = _one(params["method"])
        if raw in methods:
            out["method"] = raw
        else:
            refuse("method", raw, "is not a method of this page")
    if steps is not None and "step" in params:
        raw = _one(params["step"])
        if (step := parse_whole(raw, 1, steps)) is not None:
            out["step"] = step - 1
        else:
            refuse("step", raw, f"is not a step from 1 to {steps}")
    return out, notes


def link_params(**values: object) -> dict[str, str]:
    """The query string of a page's current settings (``None`` values left out; T as written, e.g. ``4``;
    a lesson ``step`` 0-based in, 1-based out)."""
    out = {}
    for key, value in values.items():
        if value is None:
            continue
        if key not in NAMES:
            raise KeyError(f"{key!r} is not a link parameter (known: {', '.join(NAMES)})")
        if key == "T":
            out[key] = f"{float(value):g}"  # type: ignore[arg-type]
        elif key == "step":
            out[key] = str(int(value) + 1)  # type: ignore[call-overload]
        else:
            out[key] = str(value)
    return out


__all__ = ["MAX_DIGITS", "NAMES", "link_params", "parse_decimal", "parse_whole", "read_link", "shown"]
