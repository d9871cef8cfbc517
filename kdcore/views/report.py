"""``python -m kdcore report``: the stored results as the markdown tables the README quotes.

Every table is computed from the store (the shipped results, plus the user's own when ``KD_STORE_DIR`` has
some); the README says which command printed each one, so a table is re-made, never edited by hand.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from kdcore.data import DATASET_TITLES
from kdcore.methods.subclass import AUX_TEMPERATURE_SWEEPS, classes_split


def _fmt(values: list[float]) -> str:
    """mean ± std as every page writes it (:func:`kdcore.views.groups.stat_words`)."""
    from kdcore.views.groups import stat_words

    return stat_words(values)


def settings_table(dataset: str, results: list[dict] | None = None, include_stale: bool = False) -> pd.DataFrame:
    """One row per stored setting of ``dataset`` (the groups of :func:`kdcore.views.groups.group_results`: everything
    but the seed equal), named by :func:`kdcore.views.groups.run_label`: model, seeds, test accuracy % (and F1 / AUC %
    on binary sets with a positive class) as mean ± sample std; results of an older engine left out unless
    ``include_stale`` (then marked)."""
    from kdcore.data.pairs import data_pair
    from kdcore.engine import is_stale
    from kdcore.views.groups import group_results, seeds_words
    from kdcore.views.results import data_label, role_of, stored_results

    results = [r for r in (stored_results() if results is None else results) if r.get("dataset") == dataset]
    if not include_stale:
        results = [r for r in results if not is_stale(r)]
    binary = data_pair(dataset).positive_class is not None
    rows = []
    for g in group_results(results):
        row = {"role": role_of(g.config), "model": g.label, "data": data_label(g.results[0]),
               "seeds": seeds_words(g.seeds).split(" ", 1)[1], "accuracy %": g.words("accuracy")}
        if binary:
            row["F1 %"] = g.words("f1")
            row["AUC %"] = g.words("auc")
        if include_stale:
            row["engine"] = "stale" if any(is_stale(r) for r in g.results) else "current"
        rows.append(row)
    order = {"teacher": 0, "scratch student": 1, "KD student": 2}
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["_r"] = out["role"].map(order).fillna(3)
    return out.sort_values(["_r", "model", "data"]).drop(columns="_r").reset_index(drop=True)


def dkd_sweep_table(dataset: str = "fashion_mnist", results: list[dict] | None = None) -> pd.DataFrame:
    """DKD's β × warm-up cells on the course MLP (``precompute --only dkd-sweep``): accuracy % mean ± std per cell,
    ``mean`` for ranking, and which cell is the engine's default (:mod:`kdcore.methods.dkd`)."""
    from kdcore.course import course_student
    from kdcore.engine import is_stale
    from kdcore.methods.dkd import DEFAULT_BETA, DEFAULT_WARMUP
    from kdcore.views.results import stored_results

    hidden = list(course_student(dataset, "scratch").hidden or ())
    cells: dict[tuple[float, int], list[float]] = {}
    for r in stored_results() if results is None else results:
        cfg = r.get("config", {})
        if (r.get("dataset") != dataset or cfg.get("method") != "dkd" or cfg.get("arch") != "student_mlp"
                or list(cfg.get("hidden") or ()) != hidden or cfg.get("train_limit") or is_stale(r)):
            continue
        params = dict(tuple(p) for p in cfg.get("method_params", []))
        if "dkd_beta" not in params or "dkd_warmup" not in params or cfg.get("temperature") != 4.0:
            continue
        cells.setdefault((float(params["dkd_beta"]), int(params["dkd_warmup"])), []).append(
            100 * float(r["metrics"]["accuracy"]))
    rows = [{"dkd_beta": b, "dkd_warmup": w, "seeds": len(v), "accuracy %": _fmt(v), "mean": sum(v) / len(v),
             "default": (b, w) == (DEFAULT_BETA, DEFAULT_WARMUP)} for (b, w), v in sorted(cells.items())]
    return pd.DataFrame(rows, columns=["dkd_beta", "dkd_warmup", "seeds", "accuracy %", "mean", "default"])


def best_dkd_cell(table: pd.DataFrame, seeds: int = 3) -> tuple[float, int] | None:
    """(β, warm-up) of the sweep cell with the highest mean accuracy over ``seeds`` seeds (None if none has them)."""
    full = table[table["seeds"] >= seeds]
    if full.empty:
        return None
    best = full.sort_values(["mean", "dkd_beta"], ascending=[False, True]).iloc[0]
    return float(best["dkd_beta"]), int(best["dkd_warmup"])


def subclass_sweep_table(dataset: str = "mnist", results: list[dict] | None = None,
                         seeds: Iterable[int] | None = None) -> pd.DataFrame:
    """The subclass teacher's auxiliary-temperature sweep (``precompute --only subclass-sweep``) on ``dataset``, over
    ``seeds`` (None: every stored seed): per temperature, the classes split
    (:func:`kdcore.methods.subclass.classes_split`; mean over seeds, and the fewest), the teacher's test accuracy %
    mean ± std, and which is the data set's default."""
    from kdcore.data.pairs import data_pair
    from kdcore.engine import is_stale
    from kdcore.views.results import stored_results

    wanted = None if seeds is None else set(seeds)
    cells: dict[float, list[tuple[int, float]]] = {}
    for r in stored_results() if results is None else results:
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
             "fewest": min(c for c, _ in v), "teacher accuracy %": _fmt([a for _, a in v]),
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


def markdown(table: pd.DataFrame) -> str:
    """A pipe table (what ``DataFrame.to_markdown`` prints, without needing ``tabulate``)."""
    head = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def report(datasets: tuple[str, ...] = ("fashion_mnist", "mnist", "mnist_binary")) -> str:
    """All tables as markdown, each under a heading naming its data set."""
    parts = []
    for ds in datasets:
        table = settings_table(ds)
        if not table.empty:
            parts.append(f"### {DATASET_TITLES.get(ds, ds)}\n\n{markdown(table)}\n")
    for sweep in AUX_TEMPERATURE_SWEEPS.values():
        sub = subclass_sweep_table(sweep.dataset)
        if not sub.empty:
            how = f"seeds {', '.join(map(str, sweep.seeds))}"
            if sweep.finalists is not None:
                how = f"screened on seed {sweep.seeds[0]}, the best {sweep.finalists} on {how}"
            parts.append(f"### Subclass teacher: auxiliary-loss temperature ({DATASET_TITLES.get(sweep.dataset, sweep.dataset)}"
                         f", course CNN, 2 subclasses per class; {how})\n\n{markdown(sub.drop(columns='split'))}\n")
    sweep = dkd_sweep_table()
    if not sweep.empty:
        parts.append("### DKD β × warm-up sweep (Fashion-MNIST, course MLP, T = 4)\n\n"
                     f"{markdown(sweep.drop(columns='mean'))}\n")
    return "\n".join(parts)


__all__ = ["best_dkd_cell", "dkd_sweep_table", "markdown", "report", "settings_table"]
