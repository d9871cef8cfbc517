"""What the stored sweeps chose: the subclass teacher's auxiliary-temperature sweep (its table, its finalists, its pick).

Precompute asks :func:`sweep_finalists` which temperatures to train on every seed; ``python -m kdcore report``
(:mod:`kdcore.views.report`) prints :func:`subclass_sweep_table`, and a test checks that
``DataPair.subclass_aux_temperature`` is :func:`best_aux_temperature`'s pick. An engine room (no views import),
so a command can read a sweep without importing what pages show.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from kdcore.methods.subclass import AUX_TEMPERATURE_SWEEPS, classes_split


def mean_std_text(values: list[float]) -> str:
    """Accuracies (or any values) as "mean ± sample std", "mean (1 seed)", or "–" for none."""
    if not values:
        return "–"
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.2f} (1 seed)"
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return f"{mean:.2f} ± {std:.2f}"


def subclass_sweep_table(dataset: str = "mnist", results: list[dict] | None = None,
                         seeds: Iterable[int] | None = None) -> pd.DataFrame:
    """The subclass teacher's auxiliary-temperature sweep (``precompute --only subclass-sweep``) on ``dataset``, over
    ``seeds`` (None: every stored seed): per temperature, the classes split
    (:func:`kdcore.methods.subclass.classes_split`; mean over seeds, and the fewest), the teacher's test accuracy %
    mean ± std, and which is the data set's default."""
    from kdcore.data.pairs import data_pair
    from kdcore.engine import is_stale
    from kdcore.store import open_store

    wanted = None if seeds is None else set(seeds)
    cells: dict[float, list[tuple[int, float]]] = {}
    for r in open_store().list() if results is None else results:
        cfg = r.get("config", {})
        params = dict(tuple(p) for p in cfg.get("method_params", []))
        if (r.get("dataset") != dataset or cfg.get("method") != "subclass_teacher" or cfg.get("train_limit")
                or "aux_temperature" not in params or float(params.get("aux_weight", 1.0)) != 1.0
                or "subclass_shares" not in r or is_stale(r) or (wanted is not None and cfg.get("seed") not in wanted)):
            continue
        cells.setdefault(float(params["aux_temperature"]), []).append(
            (classes_split(r["subclass_shares"]), 100 * float(r["metrics"]["accuracy"])))
    default = data_pair(dataset).subclass_aux_temperature
    classes = data_pair(dataset).num_classes
    rows = [{"aux temperature": t, "seeds": len(v), f"classes split (of {classes})": f"{sum(c for c, _ in v) / len(v):.1f}",
             "fewest": min(c for c, _ in v), "teacher accuracy %": mean_std_text([a for _, a in v]),
             "split": sum(c for c, _ in v) / len(v), "default": t == default}
            for t, v in sorted(cells.items(), reverse=True)]
    return pd.DataFrame(rows, columns=["aux temperature", "seeds", f"classes split (of {classes})", "fewest",
                                       "teacher accuracy %", "split", "default"])


def _most_split_first(table: pd.DataFrame) -> pd.DataFrame:
    """Sweep rows, most classes split first; a tie goes to the higher temperature (the one nearer the authors' 1)."""
    return table.sort_values(["split", "aux temperature"], ascending=[False, False])


def sweep_finalists(dataset: str = "mnist", results: list[dict] | None = None,
                    screen_seed: int | None = None) -> tuple[float, ...]:
    """The temperatures of the data set's sweep that are trained on every seed: all of them, or, for a sweep with
    ``finalists``, the ones that split the most classes on the screen's seed (default: the sweep's first);
    () until that screen is stored."""
    sweep = AUX_TEMPERATURE_SWEEPS[dataset]
    if sweep.finalists is None:
        return sweep.temperatures
    table = subclass_sweep_table(dataset, results, seeds=(sweep.seeds[0] if screen_seed is None else screen_seed,))
    screened = table[table["aux temperature"].isin(sweep.temperatures)]
    if len(screened) < len(sweep.temperatures):
        return ()
    return tuple(float(t) for t in _most_split_first(screened)["aux temperature"].head(sweep.finalists))


def best_aux_temperature(dataset: str = "mnist", results: list[dict] | None = None) -> float | None:
    """The data set's sweep's choice (:data:`kdcore.methods.subclass.AUX_TEMPERATURE_SWEEPS`): of the temperatures
    trained on every seed (:func:`sweep_finalists`), the one whose teachers leave the most classes split (mean over
    the sweep's seeds; a tie goes to the higher temperature); None until one is stored on every seed."""
    sweep = AUX_TEMPERATURE_SWEEPS[dataset]
    table = subclass_sweep_table(dataset, results, seeds=sweep.seeds)
    full = table[(table["seeds"] >= len(sweep.seeds)) & table["aux temperature"].isin(sweep_finalists(dataset, results))]
    if full.empty:
        return None
    return float(_most_split_first(full).iloc[0]["aux temperature"])


__all__ = ["best_aux_temperature", "mean_std_text", "subclass_sweep_table", "sweep_finalists"]
