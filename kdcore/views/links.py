"""Links a lecturer can paste into a chat: a page's settings (data set, T, test image, method, lesson
step) read from and written to the URL's query string (the pages use ``st.query_params``).

A link is input from anyone: every value is checked against what the page offers; one that does not
fit is dropped with a note saying what the page uses instead, never an exception.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

# query parameter -> the words a note uses for it
NAMES = {"dataset": "data set", "T": "temperature T", "image": "test image number", "method": "method",
         "step": "lesson step"}


def _one(value: object) -> str:
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else ""
    return str(value).strip()


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
        notes.append(f"The link's {NAMES[key]} {raw!r} {why}; the page's own setting is used instead.")

    if datasets and "dataset" in params:
        raw = _one(params["dataset"])
        if raw in datasets:
            out["dataset"] = raw
        else:
            refuse("dataset", raw, f"is not one of {', '.join(datasets)}")
    if (temperatures or t_range) and "T" in params:
        raw = _one(params["T"])
        try:
            t = float(raw)
            if not math.isfinite(t):
                raise ValueError(raw)
        except ValueError:
            refuse("T", raw, "is not a number")
        else:
            lo, hi = (min(temperatures), max(temperatures)) if temperatures else t_range  # type: ignore[misc]
            if not lo <= t <= hi:
                refuse("T", raw, f"is outside {lo:g}–{hi:g}")
            else:
                out["T"] = min(temperatures, key=lambda o: abs(o - t)) if temperatures else t
    if image_count is not None and "image" in params:
        raw = _one(params["image"])
        if not raw.isdigit():
            refuse("image", raw, "is not a whole number")
        elif int(raw) >= image_count:
            refuse("image", raw, f"is past the last test image shown here ({image_count - 1})")
        else:
            out["image"] = int(raw)
    if methods and "method" in params:
        raw = _one(params["method"])
        if raw in methods:
            out["method"] = raw
        else:
            refuse("method", raw, "is not a method of this page")
    if steps is not None and "step" in params:
        raw = _one(params["step"])
        if raw.isdigit() and 1 <= int(raw) <= steps:
            out["step"] = int(raw) - 1
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


__all__ = ["NAMES", "link_params", "read_link"]
