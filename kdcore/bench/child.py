"""Benchmarks that must not share this process: each runs in a fresh Python process (its own heap and RSS, nothing
this process holds), and prints its figures as one JSON line after ``BENCH``."""

from __future__ import annotations

import json
import subprocess
import sys


def run_in_child(code: str, timeout_s: int, what: str) -> dict:
    """Run ``code`` in a fresh Python process and return the JSON it prints after ``BENCH``; a RuntimeError with the
    child's stderr when it fails."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout_s)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH")]
    if proc.returncode or not line:
        raise RuntimeError(f"benchmark child ({what}) failed: {proc.stderr[-2000:]}")
    return json.loads(line[0][5:])


def call_in_child(module: str, function: str, timeout_s: int, what: str, prelude: str = "", **kwargs: object) -> dict:
    """``module.function(**kwargs)`` in a fresh process (after ``prelude``, Python statements run first), its
    JSON-able return value back here. ``kwargs`` must be literals (they are written into the child's code)."""
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    code = (f"{prelude}\nimport json\nfrom {module} import {function}\n"
            f"print('BENCH' + json.dumps({function}({args}), default=str))")
    return run_in_child(code, timeout_s, what)


# What a Streamlit app process holds before anyone trains: Streamlit, Altair, the modules its pages call, and the
# playground's default models and test logits (its first view). Python run first in a child that measures the app
# (the classroom burst, the playground's response), so the figure is the app's, not a bare interpreter's: without
# it the burst's peak would flatter the app by its own few hundred MB. The bench stands below the views and never
# imports them itself: only such a child, which plays the app's process, loads them.
APP_PRELUDE = """
import importlib
for _name in ("streamlit", "altair", "kdcore.views.lab", "kdcore.views.learn", "kdcore.views.results",
              "kdcore.views.mhist_view"):
    try:
        importlib.import_module(_name)
    except ImportError:  # streamlit/altair absent: the engine-only install; measure what there is
        pass
from kdcore.views.playground import playground_datasets, playground_view
_datasets = playground_datasets()
if _datasets:
    playground_view(_datasets[0], 4.0, index=0)
"""

