"""What the stored sweeps chose: the subclass teacher's auxiliary-temperature sweep, in numbers (its cells, its
finalists, its pick).

Precompute asks :func:`sweep_finalists` which temperatures to train on every seed; ``python -m kdcore report``
(:func:`kdcore.views.report.subclass_sweep_table`) writes :func:`sweep_cells` in words, and a test checks that
``DataPair.subclass_aux_temperature`` is :func:`best_aux_temperature`'s pick. An engine room (no views import),
so a command reads a sweep without importing what pages show.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from kdcore.methods.subclass import AUX_TEMPERATURE_SWEEPS, classes_split

CELL_COLUMNS = ("aux temperature", "seeds", "split", "fewest", "accuracies", "default")


def sweep_cells(dataset: str = "mnist", results: list[dict] | None = None,
                seeds: Iterable[int] | None = None) -> pd.DataFrame:
    """The subclass teacher's auxiliary-temperature sweep (``precompute --only subclass-sweep``) on ``dataset``, over
    ``seeds`` (None: every stored seed; ``results`` None: the store's), one row per temperature, highest first:
    ``seeds`` (teachers stored), ``split`` (classes split, :func:`kdcore.methods.subclass.classes_split`, mean over
    them), ``fewest`` (the fewest of one teacher), ``accuracies`` (each teacher's test accuracy %), ``default``
    (the data set's ``DataPair.subclass_aux_temperature``)."""
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
    rows = [{"aux temperature": t, "seeds": len(v), "split": sum(c for c, _ in v) / len(v),
             "fewest": min(c for c, _ in v), "accuracies": [a for _, a in v], "default": t == default}
            for t, v in sorted(cells.items(), reverse=True)]
    return pd.DataFrame(rows, columns=list(CELL_COLUMNS))


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
    table = sweep_cells(dataset, results, seeds=(sweep.seeds[0] if screen_seed is None else screen_seed,))
    screened = table[table["aux temperature"].isin(sweep.temperatures)]
    if len(screened) < len(sweep.temperatures):
        return ()
    return tuple(float(t) for t in _most_split_first(screened)["aux temperature"].head(sweep.finalists))


def best_aux_temperature(dataset: str = "mnist", results: list[dict] | None = None) -> float | None:
    """The data set's sweep's choice (:data:`kdcore.methods.subclass.AUX_TEMPERATURE_SWEEPS`): of the temperatures
    trained on every seed (:func:`sweep_finalists`), the one whose teachers leave the most classes split (mean over
    the sweep's seeds; a tie goes to the higher temperature); None until one is stored on every seed."""
    sweep = AUX_TEMPERATURE_SWEEPS[dataset]
    table = sweep_cells(dataset, results, seeds=sweep.seeds)
    full = table[(table["seeds"] >= len(sweep.seeds)) & table["aux temperature"].isin(sweep_finalists(dataset, results))]
    if full.empty:
        return None
    return float(_most_split_first(full).iloc[0]["aux temperature"])


__all__ = ["CELL_COLUMNS", "best_aux_temperature", "sweep_cells", "sweep_finalists"]
