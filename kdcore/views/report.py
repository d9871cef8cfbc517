"""``python -m kdcore report``: the stored results as the markdown tables the README quotes.

Every table is computed from the store (the shipped results, plus the user's own when ``KD_STORE_DIR`` has
some); the README says which command printed each one, so a table is re-made, never edited by hand.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from kdcore.data import DATASET_TITLES
from kdcore.methods.subclass import AUX_TEMPERATURE_SWEEPS
from kdcore.sweeps import best_aux_temperature, sweep_cells, sweep_finalists


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
    mean ± std, and which is the data set's default (the numbers: :func:`kdcore.sweeps.sweep_cells`)."""
    from kdcore.data.pairs import data_pair
    from kdcore.views.results import stored_results

    cells = sweep_cells(dataset, stored_results() if results is None else results, seeds)
    classes = data_pair(dataset).num_classes
    rows = [{"aux temperature": c["aux temperature"], "seeds": c["seeds"],
             f"classes split (of {classes})": f"{c['split']:.1f}", "fewest": c["fewest"],
             "teacher accuracy %": _fmt(c["accuracies"]), "split": c["split"], "default": c["default"]}
            for c in cells.to_dict("records")]
    return pd.DataFrame(rows, columns=["aux temperature", "seeds", f"classes split (of {classes})", "fewest",
                                       "teacher accuracy %", "split", "default"])


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


__all__ = ["best_aux_temperature", "best_dkd_cell", "dkd_sweep_table", "markdown", "report", "settings_table",
           "subclass_sweep_table", "sweep_finalists"]
