"""Result dicts from the store, shaped into pandas frames for tables, charts and CSV export.

Every row keeps where its data came from (``data_source``, ``is_standin``) so a number measured on
a stand-in (the MNIST-5k subset, the synthetic MHIST) is never shown without saying so. Groups of
jobs that differ only in their seed are summarised as mean ± std.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kdcore.course import course_student
from kdcore.data import DATASET_TITLES
from kdcore.data.pairs import DATA_PAIRS
from kdcore.engine import is_stale
from kdcore.store import LayeredStore, forget_store_ids, open_store, store_from_id, store_id, store_listing
from kdcore.views.groups import digest, group_key, network_words, run_label, stat, stat_words

TEACHER_ARCHS = ("teacher_cnn", "resnetv2_50")
STANDIN_NOTE = "stand-in data"

# Columns of :func:`results_frame`, in order (also the CSV export's columns).
COLUMNS = [
    "name", "dataset", "data", "data_source", "is_standin", "role", "model", "arch", "hidden", "method",
    "T", "alpha", "seed", "epochs", "l1", "n_train", "n_test", "accuracy", "macro_f1", "f1", "auc", "flops", "macs",
    "params", "latency_ms", "device", "weights_bytes", "wall_s", "created", "key", "group", "student", "setup",
    "teacher_group", "teacher_key", "config",
]
METRICS = ["accuracy", "macro_f1", "f1", "auc", "flops", "macs", "params", "latency_ms", "weights_bytes", "wall_s"]
GROUP_COLUMNS = ["group", "dataset", "data", "data_source", "is_standin", "role", "model", "arch", "hidden",
                 "method", "T", "alpha", "epochs", "l1", "n_train", "n_test", "student", "setup", "teacher_group",
                 "config"]


def role_of(config: dict) -> str:
    """"teacher", "scratch student", "KD student" or "compressed model" for a result's config dict."""
    if config.get("start_from") is not None:  # a compression job (kdcore.compress): its fine-tune's teacher, if
        return "compressed model"            # any, does not make it a KD student of the T × α charts
    if config.get("teacher") is None and config.get("method") == "scratch":
        return "teacher" if config.get("arch") in TEACHER_ARCHS else "scratch student"
    if config.get("teacher") is None:
        return "teacher"  # e.g. a subclass teacher: labels only, trained to teach
    return "KD student"


def student_label(config: dict) -> str:
    """The network a config trains in words (:func:`kdcore.views.groups.network_words`), e.g. "MLP 784-784
    student", "small CNN student", "MobileNetV2": two results with different labels are different students and
    never share a chart point."""
    return network_words(config)


def course_student_label(dataset: str) -> str:
    """:func:`student_label` of the course's student on ``dataset`` (the Compare charts' default)."""
    return student_label(course_student(dataset, "scratch").to_dict())


def model_label(config: dict) -> str:
    """A run's name in words, every setting that differs from its method's defaults named
    (:func:`kdcore.views.groups.run_label`), e.g. "MLP 784-784 student · Hinton KD, T = 4, α = 0.5"."""
    return run_label(config)


def data_label(result: dict) -> str:
    """The data column: dataset title, plus "(stand-in: …)" when the numbers are not from the real set."""
    title = DATASET_TITLES.get(result.get("dataset", ""), result.get("dataset", "?"))
    if result.get("is_standin"):
        return f"{title} ({STANDIN_NOTE}: {result.get('data_source_id') or result.get('data_source', '?')})"
    return title


# ---- reading the store once --------------------------------------------------------------------
# ``store.list()`` re-verifies every file's sha256 (seconds for a big store); pages rerun on every
# widget change, so the list is memoised per store (:func:`kdcore.store.store_id`) and re-read only when an
# entry appears or goes (:func:`kdcore.store.store_listing`).
def clear_caches() -> None:
    """Forget memoised store listings (tests; after a store folder was replaced)."""
    _cached_list.cache_clear()
    forget_store_ids()


@functools.lru_cache(maxsize=8)
def _cached_list(sid: tuple, listing: tuple) -> tuple[dict, ...]:
    return tuple(store_from_id(sid).list())


def stored_results(store: LayeredStore | None = None) -> list[dict]:
    """``open_store().list()``, memoised until the store's entries change."""
    store = store or open_store()
    return list(_cached_list(store_id(store), store_listing(store)))


def load_runs(store: LayeredStore | None = None) -> pd.DataFrame:
    """:func:`results_frame` of every stored result (the Compare page's data)."""
    return results_frame(stored_results(store))


# What a student's training setup is *without* the distillation: two KD results with the same setup
# differ only in their method, teacher, T, α and seed; their scratch baseline has the same setup too.
_NOT_SETUP = ("seed", "method", "temperature", "alpha", "teacher")


def result_row(result: dict) -> dict:
    """One flat row of a stored result dict."""
    cfg = result.get("config", {})
    m = result.get("metrics", {})
    cx = result.get("complexity", {})
    source_id = result.get("data_source_id")
    group = group_key(result)  # the one grouping rule (kdcore.views.groups): everything but the seed equal
    is_kd = cfg.get("teacher") is not None and cfg.get("start_from") is None
    return {
        "name": result.get("name", ""),
        "dataset": result.get("dataset", cfg.get("dataset")),
        "data": data_label(result),
        "data_source": result.get("data_source", ""),
        "is_standin": bool(result.get("is_standin", False)),
        "role": role_of(cfg),
        # a result an older engine made says so wherever it is listed (kdcore.engine; --recompute refreshes it)
        "model": model_label(cfg) + (" [older engine]" if is_stale(result) else ""),
        "arch": cfg.get("arch"),
        "hidden": "x".join(str(h) for h in cfg.get("hidden", [])) if cfg.get("arch") == "student_mlp" else "",
        "method": cfg.get("method"),
        # T and alpha mean nothing without a teacher: NaN, so they never fake a T sweep point
        "T": float(cfg.get("temperature")) if is_kd else math.nan,
        "alpha": float(cfg.get("alpha")) if is_kd else math.nan,
        "seed": cfg.get("seed", result.get("seed")),
        "epochs": cfg.get("epochs"),
        "l1": float(cfg.get("l1") or 0.0),  # sparse regularisation's λ (0: none)
        "n_train": result.get("n_train"),
        "n_test": result.get("n_test"),
        "accuracy": m.get("accuracy"),
        "macro_f1": m.get("macro_f1"),
        "f1": m.get("f1"),
        "auc": m.get("auc"),
        "flops": cx.get("flops"),
        "macs": cx.get("macs"),
        "params": cx.get("params"),
        "latency_ms": cx.get("latency_ms"),  # on the machine that trained it (``device``): not comparable across rows
        "device": result.get("device", ""),
        "weights_bytes": cx.get("weights_bytes"),
        "wall_s": result.get("wall_s"),
        "created": result.get("created", ""),
        "key": result.get("key", ""),
        "group": group,
        "student": student_label(cfg),
        "setup": digest({k: v for k, v in cfg.items() if k not in _NOT_SETUP}, source_id),
        # the ``group`` its teacher's results have: a KD row's teacher baseline is exactly that teacher
        # its teacher's ``group`` (results_frame reads it off the teacher's own row where that is listed; a teacher
        # made by the same engine as its student otherwise)
        "teacher_group": digest(cfg["teacher"], source_id, stale=is_stale(result)) if is_kd else "",
        "teacher_key": result.get("teacher_key", "") if is_kd else "",
        "config": json.dumps(cfg, sort_keys=True),  # the settings themselves (the CSV's, and what latency is measured for)
    }


def results_frame(results: Iterable[dict]) -> pd.DataFrame:
    """One row per stored result (see :data:`COLUMNS`); an empty frame with those columns if none."""
    rows = [result_row(r) for r in results]
    own = {row["key"]: row["group"] for row in rows if row["key"]}
    for row in rows:
        if row["teacher_key"] in own:
            row["teacher_group"] = own[row["teacher_key"]]
    df = pd.DataFrame(rows, columns=COLUMNS)
    for c in METRICS + ["T", "alpha"]:
        df[c] = pd.to_numeric(df[c], errors="coerce")
    return df


def summary_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """Seed repeats grouped by the one rule (:func:`kdcore.views.groups.group_key`): ``<metric>_mean``,
    ``<metric>_std`` (0 for one seed), ``seeds`` (count), ``seed_list`` ("0, 1, 2") and, for the percent metrics,
    ``<metric>_words`` (:func:`kdcore.views.groups.stat_words`: the string every page prints for the group)."""
    words_cols = [f"{m}_words" for m in PERCENT_METRICS]
    if runs.empty:
        cols = GROUP_COLUMNS + ["seeds", "seed_list"] + [f"{m}_{s}" for m in METRICS for s in ("mean", "std")]
        return pd.DataFrame(columns=cols + words_cols)
    rows = []
    for _, g in runs.sort_values("seed", kind="stable").groupby("group", sort=False):
        row = {c: g[c].iloc[0] for c in GROUP_COLUMNS}
        row["seeds"] = len(g)
        row["seed_list"] = ", ".join(str(int(s)) for s in g["seed"])
        for m in METRICS:
            mean, std, n = stat(g[m].tolist())
            row[f"{m}_mean"], row[f"{m}_std"] = (mean, 0.0 if std is None else std) if n else (math.nan, math.nan)
        for m in PERCENT_METRICS:
            row[f"{m}_words"] = stat_words([100.0 * v for v in g[m].tolist()])
        rows.append(row)
    out = pd.DataFrame(rows)
    role_order = {"teacher": 0, "scratch student": 1, "KD student": 2}
    out["_r"] = out["role"].map(role_order).fillna(3)
    return out.sort_values(["dataset", "_r", "model"]).drop(columns="_r").reset_index(drop=True)


def pm(mean: float | None, std: float | None, seeds: int, digits: int = 3, scale: float = 1.0) -> str:
    """``"0.981 ± 0.002"`` (or just the mean for a single seed); "–" when undefined."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    if seeds > 1 and std is not None and not math.isnan(std):
        return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f}"


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The Compare page's table: one row per setting, metrics as "mean ± std" strings (the groups' own words),
    data beside them. FLOPs and parameters are the machine-free costs; latency is measured on this machine
    (:func:`kdcore.latency.latency_here`), not read from records made on whatever machine trained them."""
    from kdcore.latency import latency_here

    rows = []
    for _, r in summary.iterrows():
        rows.append({
            "data": r["data"],
            "role": r["role"],
            "model": r["model"],
            "seeds": r["seed_list"],
            "accuracy %": r["accuracy_words"],
            "F1 %": r["f1_words"],
            "AUC %": r["auc_words"],
            "MFLOPs": pm(r["flops_mean"], None, 1, 3, 1e-6),
            "params": f"{int(r['params_mean']):,}" if pd.notna(r["params_mean"]) else "–",
            "latency ms (here)": latency_here(r["config"]).words(),
            "size MB": pm(r["weights_bytes_mean"], None, 1, 2, 1e-6),
            "train/test": f"{int(r['n_train'])}/{int(r['n_test'])}" if pd.notna(r["n_train"]) else "–",
        })
    return pd.DataFrame(rows)


def pareto_front(summary: pd.DataFrame, x: str = "flops_mean", y: str = "accuracy_mean") -> pd.DataFrame:
    """Per data set, the settings no other setting beats on both cost (lower ``x``) and quality (higher ``y``)."""
    keep = []
    for _, d in summary.dropna(subset=[x, y]).groupby("data"):
        best = -np.inf
        for i, r in d.sort_values([x, y], ascending=[True, False]).iterrows():
            if r[y] > best:
                keep.append(i)
                best = r[y]
    return summary.loc[keep].sort_values(["data", x])


COURSE_STUDENT = "course student"  # the student picker's default: each data set's course student
PERCENT_METRICS = ("accuracy", "macro_f1", "f1", "auc")  # fractions in the store, shown in %
METRIC_TITLES = {"accuracy": "accuracy %", "macro_f1": "macro F1 %", "f1": "F1 %", "auc": "AUC %"}


def kd_cells(runs: pd.DataFrame, metric: str = "accuracy", method: str = "hinton",
             student: str = COURSE_STUDENT) -> pd.DataFrame:
    """One row per (data, student, setup, teacher, α, T) of ``method``'s KD students: ``mean`` and
    ``std`` of ``metric`` over seeds, in %, and ``seeds`` (n). Only one student per data set: the
    course student (``student`` = :data:`COURSE_STUDENT`) or the one named (a :func:`student_label`).

    Results are averaged only when they differ in nothing but their seed, so a point never mixes
    students, schedules or teachers. ``facet`` names the panel a cell belongs to (data · student, plus
    epochs / training size / teacher when one data set holds several setups of that student) and
    ``line`` the α-line it belongs to within the panel.
    """
    cols = ["facet", "line", "data", "dataset", "student", "setup", "teacher_group", "alpha", "T", "mean", "std",
            "lo", "hi", "seeds", "teacher", "shade"]
    # an L1-trained student (sparse regularisation: the Compress page's family) is no point of KD's T × α sweep
    d = runs[(runs["method"] == method) & runs["T"].notna() & runs[metric].notna() & (runs["l1"] == 0)]
    if student == COURSE_STUDENT:
        d = d[d["student"] == d["dataset"].map(course_student_label)]
    else:
        d = d[d["student"] == student]
    if d.empty:
        return pd.DataFrame(columns=cols)
    keys = ["data", "dataset", "student", "setup", "teacher_group", "alpha", "T"]
    scale = 100.0 if metric in PERCENT_METRICS else 1.0
    g = d.groupby(keys, as_index=False).agg(mean=(metric, "mean"), std=(metric, "std"), seeds=(metric, "size"),
                                            epochs=("epochs", "first"), n_train=("n_train", "first"))
    g["mean"] *= scale
    g["std"] = g["std"].fillna(0.0) * scale
    g["lo"], g["hi"] = g["mean"] - g["std"], g["mean"] + g["std"]
    teacher_rows = runs[runs["role"] == "teacher"]
    teachers = dict(zip(teacher_rows["group"], teacher_rows["model"], strict=True))
    g["teacher"] = g["teacher_group"].map(teachers).fillna("its teacher")
    g["facet"] = g["data"] + " · " + g["student"]
    variants = g.groupby("facet")[["setup", "teacher_group"]].transform(lambda c: c.nunique())
    several = (variants["setup"] > 1) | (variants["teacher_group"] > 1)
    g.loc[several, "facet"] += (" · " + g["epochs"].astype("Int64").astype(str) + " ep, "
                                + g["n_train"].astype("Int64").astype(str) + " train, teacher "
                                + g["teacher"])[several]
    g["line"] = g["facet"] + " · α=" + g["alpha"].map("{:g}".format)
    # where the cell sits on its panel's own colour scale (0 lowest, 1 highest): picks a readable label colour
    lo, hi = g.groupby("facet")["mean"].transform("min"), g.groupby("facet")["mean"].transform("max")
    g["shade"] = ((g["mean"] - lo) / (hi - lo).where(hi > lo)).fillna(0.5)
    return g[cols].sort_values(["facet", "alpha", "T"]).reset_index(drop=True)


def kd_baselines(runs: pd.DataFrame, cells: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """The reference lines of each :func:`kd_cells` panel: the very teacher its students learned from,
    and the scratch student of the same setup (same network, schedule and data), mean ± std in %."""
    cols = ["facet", "role", "model", "mean", "std", "seeds"]
    if cells.empty:
        return pd.DataFrame(columns=cols)
    scale = 100.0 if metric in PERCENT_METRICS else 1.0
    summary = summary_frame(runs)
    rows = []
    for facet, c in cells.groupby("facet"):
        teacher = summary[(summary["role"] == "teacher") & summary["group"].isin(c["teacher_group"])]
        scratch = summary[(summary["role"] == "scratch student") & summary["setup"].isin(c["setup"])]
        for _, r in pd.concat([teacher, scratch]).iterrows():
            if pd.notna(r[f"{metric}_mean"]):
                rows.append({"facet": facet, "role": r["role"], "model": r["model"],
                             "mean": r[f"{metric}_mean"] * scale, "std": r[f"{metric}_std"] * scale,
                             "seeds": int(r["seeds"])})
    return pd.DataFrame(rows, columns=cols)


def kd_students(runs: pd.DataFrame, method: str = "hinton") -> list[str]:
    """The picker's choices: :data:`COURSE_STUDENT`, then every other student stored with ``method``."""
    d = runs[(runs["method"] == method) & runs["T"].notna()]
    return [COURSE_STUDENT] + sorted(d["student"].dropna().unique().tolist())


def data_choices(runs: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(every ``data`` label stored, the default choice): synthetic data (the generated MHIST stand-in) is off
    unless chosen, so it never squashes real numbers onto one axis; real subsets (the offline MNIST-5k) stay on,
    labelled as such; when the store holds nothing else the synthetic sets are the default (an empty page
    teaches nothing)."""
    present = sorted(runs["data"].dropna().unique().tolist())
    synthetic = runs["dataset"].map(lambda d: d in DATA_PAIRS and DATA_PAIRS[d].synthetic).astype(bool)
    real = sorted(runs.loc[~synthetic, "data"].dropna().unique().tolist())
    return present, real or present


@dataclass
class CompareView:
    """Everything the Compare page draws (metrics in % where they are fractions)."""

    runs: pd.DataFrame  # one row per stored result (every seed) of the chosen data
    summary: pd.DataFrame  # seeds grouped: mean/std per metric
    table: pd.DataFrame  # display strings "mean ± std"
    points: pd.DataFrame  # ``summary`` with ``y`` / ``y_std``: the metric in % (the cost/quality chart)
    pareto: pd.DataFrame  # per data set, the cost/quality frontier of ``points``
    sweep: pd.DataFrame  # :func:`kd_cells` of the chosen student: Hinton KD settings with their T
    baselines: pd.DataFrame  # :func:`kd_baselines`: its teacher and scratch student per panel
    sweep_panels: pd.DataFrame  # ``sweep`` (role "KD student") and ``baselines`` in one frame (facets need one)
    grid: pd.DataFrame  # the same cells, as α × T heat-map cells
    csv: bytes
    datasets: list[str]  # ``data`` labels present in the store (for the filter)
    default_datasets: list[str]  # the filter's default: stand-in data off
    students: list[str]  # the student picker's choices
    metric_title: str  # e.g. "accuracy %"
    has_standin: bool


def compare_view(datasets: list[str] | None = None, metric: str = "accuracy", student: str = COURSE_STUDENT,
                 store: LayeredStore | None = None) -> CompareView:
    """The Compare page's frames for the stored results whose ``data`` label is in ``datasets`` (the
    default choice when None: stand-in data off), on ``metric`` (``accuracy``, ``f1``, ``macro_f1`` or
    ``auc``), the sweep and heat map for ``student`` (:data:`COURSE_STUDENT` or a :func:`student_label`)."""
    if metric not in PERCENT_METRICS:
        raise ValueError(f"metric must be accuracy, f1, macro_f1 or auc (got {metric!r})")
    all_runs = load_runs(store)
    present, default = data_choices(all_runs)
    runs = all_runs[all_runs["data"].isin(default if datasets is None else datasets)].reset_index(drop=True)
    summary = summary_frame(runs)
    points = summary.assign(y=summary[f"{metric}_mean"] * 100.0, y_std=summary[f"{metric}_std"] * 100.0)
    cells = kd_cells(runs, metric, "hinton", student)
    baselines = kd_baselines(runs, cells, metric)
    return CompareView(
        runs=runs, summary=summary, table=display_table(summary), points=points,
        pareto=pareto_front(points, y="y"), sweep=cells, baselines=baselines, grid=cells,
        sweep_panels=pd.concat([cells.assign(role="KD student"), baselines], ignore_index=True),
        csv=to_csv(runs), datasets=present, default_datasets=default, students=kd_students(all_runs),
        metric_title=METRIC_TITLES[metric], has_standin=bool(runs["is_standin"].any()) if not runs.empty else False,
    )


def to_csv(runs: pd.DataFrame) -> bytes:
    """The per-run frame as UTF-8 CSV (every run, every seed, with its data source)."""
    return runs.to_csv(index=False).encode("utf-8")


def confusion_frame(result: dict) -> pd.DataFrame:
    """Long-format confusion matrix: ``true``, ``predicted``, ``count``, ``share`` (of the true row)."""
    cm = np.asarray(result.get("metrics", {}).get("confusion", []), dtype=float)
    classes = result.get("classes") or [str(i) for i in range(len(cm))]
    rows = []
    for i in range(cm.shape[0] if cm.ndim == 2 else 0):
        total = cm[i].sum() or 1.0
        for j in range(cm.shape[1]):
            rows.append({"true": classes[i], "predicted": classes[j], "count": int(cm[i, j]),
                         "share": float(cm[i, j] / total)})
    return pd.DataFrame(rows, columns=["true", "predicted", "count", "share"])


def history_frame(history: list[dict]) -> pd.DataFrame:
    """Per-epoch curves in long format: ``epoch``, ``series`` (train_loss, test_acc, ...), ``value``."""
    if not history:
        return pd.DataFrame(columns=["epoch", "series", "value", "kind"])
    df = pd.DataFrame(history)
    keep = [c for c in df.columns if c.startswith("loss_") or c in ("train_loss", "train_acc", "test_acc")]
    long = df.melt(id_vars="epoch", value_vars=keep, var_name="series", value_name="value").dropna()
    long["kind"] = np.where(long["series"].str.endswith("acc"), "accuracy", "loss")
    return long


def roc_frame(result: dict) -> pd.DataFrame:
    """ROC points (``fpr``, ``tpr``) of a binary result, with its model label; empty when absent."""
    roc = result.get("metrics", {}).get("roc")
    if not roc:
        return pd.DataFrame(columns=["fpr", "tpr", "model"])
    return pd.DataFrame({"fpr": roc["fpr"], "tpr": roc["tpr"], "model": model_label(result.get("config", {}))})


__all__ = [
    "COLUMNS", "COURSE_STUDENT", "CompareView", "clear_caches", "compare_view", "confusion_frame",
    "course_student_label", "data_choices", "display_table", "history_frame", "kd_baselines", "kd_cells",
    "kd_students", "load_runs", "model_label", "pareto_front", "pm", "results_frame", "roc_frame", "role_of",
    "store_from_id", "store_id", "store_listing", "stored_results", "student_label", "summary_frame", "to_csv",
]
