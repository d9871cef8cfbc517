"""``python -m kdcore bench [--quick] [--only SECTION,…]``: speed and memory figures, as a markdown table + bench.json.

The sections are a registry (:data:`SECTIONS`): each is a module of this package with ``run(quick) -> dict`` (its
figures) and ``TARGETS`` (the floors it is checked against, in the table; never in timed tests):

- ``engine`` (:mod:`kdcore.bench.engine`): epochs of the course pair, the KD job end to end, the heap policy;
- ``mhist`` (:mod:`kdcore.bench.mhist`): the MHIST pair's two-stage schedule on CPU;
- ``runner`` (:mod:`kdcore.bench.runner`): a classroom burst against one job runner, and its overhead;
- ``app`` (:mod:`kdcore.bench.app`): the playground's response and the served app's cold start and memory;
- ``compress`` (:mod:`kdcore.bench.compress`): ONNX Runtime int8 vs float32 of the course MLP and the small CNN.

An unknown section name is refused before anything runs, naming the known ones. The bench stands below the
views: what it measures of the app runs in a child process loaded like the app (:mod:`kdcore.bench.child`).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from kdcore.config import ConfigError

# name -> the module holding that section's run(quick) and TARGETS, in the order a full run takes them. A module is
# imported only when its section runs (the MHIST one loads timm; a heap child process imports the engine one only).
SECTIONS: dict[str, str] = {
    "engine": "kdcore.bench.engine",
    "mhist": "kdcore.bench.mhist",
    "runner": "kdcore.bench.runner",
    "app": "kdcore.bench.app",
    "compress": "kdcore.bench.compress",
}

# (label, figure, test) of one section; a figure nested one level (the runner's) reads "outer.inner".
Target = tuple[str, str, Callable[[float], bool]]


def section(name: str) -> ModuleType:
    """The module of section ``name`` (a ConfigError naming the known sections when there is none)."""
    check_sections([name])
    return importlib.import_module(SECTIONS[name])


def check_sections(names: Sequence[str]) -> list[str]:
    """``names`` (or every section, when empty), each one known: a ConfigError for the first that is not."""
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise ConfigError(f"unknown bench section(s) {', '.join(map(repr, unknown))}; the sections are "
                          f"{', '.join(SECTIONS)} (python -m kdcore bench --only engine,app)")
    return list(names) or list(SECTIONS)


def _flat(figs: dict) -> dict:
    """One level of nesting flattened to ``outer.inner`` (the runner's classroom/overhead figures);
    lists and deeper dicts stay in bench.json only. Byte figures also get an MB twin."""
    out: dict = {}
    for k, v in figs.items():
        if isinstance(v, dict):
            for k2, v2 in v.items():
                if not isinstance(v2, (dict, list)):
                    out[f"{k}.{k2}"] = v2
        elif not isinstance(v, list):
            out[k] = v
    for k, v in list(out.items()):
        if k.endswith("_bytes") and isinstance(v, (int, float)):
            out[k[: -len("_bytes")] + "_mb"] = v / 2**20
    return out


def run_bench(quick: bool = False, out: str | Path = "bench.json", only: Sequence[str] | None = None) -> dict:
    """Run the sections ``only`` names (default: all, in :data:`SECTIONS` order), write ``out`` and print the table.
    One section that fails records its error and the others still run."""
    import psutil
    import torch

    from kdcore.train.loop import flush_denormals

    wanted = check_sections(only or ())  # refused before anything runs
    flush_denormals()  # as the CLI and every job do, before this process's first parallel op
    result: dict = {
        "quick": quick,
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
                    "torch": torch.__version__, "cuda": torch.cuda.is_available()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    for name in wanted:
        t0 = time.perf_counter()
        try:
            result[name] = section(name).run(quick)
        except Exception as e:  # one broken section must not hide the others' figures
            result[name] = {"error": f"{type(e).__name__}: {e}"}
        result[name]["section_s"] = time.perf_counter() - t0
    result["peak_rss_mb"] = psutil.Process().memory_info().rss / 2**20
    Path(out).write_text(json.dumps(result, indent=1, default=str))
    print(markdown_table(result))
    print(f"\nwritten: {out}")
    return result


def markdown_table(result: dict) -> str:
    """Every figure of ``result`` (section | figure | value), then each run section's targets with their values."""
    lines = ["| section | figure | value |", "|---|---|---|"]
    flat = {name: _flat(figs) for name, figs in result.items() if isinstance(figs, dict) and name != "machine"}
    for name, figs in flat.items():
        for k, v in figs.items():
            val = f"{v:.4g}" if isinstance(v, float) else str(v)
            lines.append(f"| {name} | {k} | {val} |")
    rows = [(label, flat[name][key], ok(flat[name][key]))
            for name in SECTIONS if name in flat for label, key, ok in section(name).TARGETS
            if isinstance(flat[name].get(key), (int, float))]
    if rows:
        lines += ["", "| target | value | met |", "|---|---|---|"]
        lines += [f"| {label} | {v:.4g} | {'yes' if met else 'NO'} |" for label, v, met in rows]
    return "\n".join(lines)


__all__ = ["SECTIONS", "Target", "check_sections", "markdown_table", "run_bench", "section"]
