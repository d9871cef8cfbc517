"""What the Class board page draws: a class's labelled runs (:mod:`kdcore.board`) joined with their stored
results, the best so far (the first to reach it) and the spread per data set and student, and the one call that
runs a setting and labels it."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from kdcore.board import board_entries, check_code, check_name, label_run
from kdcore.course import lab_job
from kdcore.store import open_store
from kdcore.views.groups import network_words, run_label
from kdcore.views.results import data_label

COLUMNS = ["who", "data", "student", "method", "T", "alpha", "setting", "test accuracy %", "labelled", "key",
           "standin"]


def board_frame(code: str) -> pd.DataFrame:
    """One row per labelled run of class ``code`` whose result is stored, newest first. ``data`` names the data the
    result was measured on (:func:`kdcore.views.results.data_label`: a stand-in says so); ``student`` is the network
    (:func:`kdcore.views.results.student_label`), so two student sizes are never one group."""
    store = open_store()
    rows = []
    for e in board_entries(code):  # oldest first: the order the class posted in
        r = store.get(e["key"])
        if r is None:
            continue
        c = r["config"]
        # the one naming rule (kdcore.views.groups): what the run was, in words; the data with its stand-in flag
        rows.append({"who": e["name"], "data": data_label(r), "student": network_words(c), "method": c["method"],
                     "T": float(c["temperature"]), "alpha": float(c["alpha"]), "setting": run_label(c),
                     "test accuracy %": round(100 * r["metrics"]["accuracy"], 2), "labelled": e["created"],
                     "key": e["key"], "standin": bool(r.get("is_standin"))})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    # newest first; equal timestamps (one second) keep the reverse of the posting order
    return frame.iloc[::-1].sort_values("labelled", ascending=False, kind="stable").reset_index(drop=True)


def group_summary(frame: pd.DataFrame) -> list[dict]:
    """Per data set and student (never mixing MNIST-5k with Fashion-MNIST, nor a 64-unit student with the course
    one): runs, the best test accuracy and who reached it *first* (a later re-post of the same setting does not
    take it; different settings with the same best are all shown, as ties), and the spread."""
    out = []
    oldest_first = frame.iloc[::-1]  # board_frame is newest first
    for (data, student), g in oldest_first.groupby(["data", "student"], sort=True):
        acc = g["test accuracy %"]
        best = float(acc.max())
        holders = []
        for _key, runs in g[acc == best].groupby("key", sort=False):  # in order of each setting's first post
            first = runs.iloc[0]
            holders.append({"who": first["who"], "setting": first["setting"], "when": first["labelled"],
                            "also": [w for w in dict.fromkeys(runs["who"][1:]) if w != first["who"]]})
        out.append({"data": data, "student": student, "runs": len(g), "standin": bool(g["standin"].any()),
                    "best": {"accuracy": best, "holders": holders},
                    "spread": {"min": float(acc.min()), "max": best, "std": float(acc.std(ddof=0))}})
    return out


def board_summary(frame: pd.DataFrame) -> dict:
    """Runs and people on the board, and per data set and student (:func:`group_summary`) the best and the spread."""
    if frame.empty:
        return {"runs": 0, "people": 0, "groups": []}
    return {"runs": len(frame), "people": frame["who"].nunique(), "groups": group_summary(frame)}


def summary_table(summary: dict) -> pd.DataFrame:
    """The page's table of :func:`board_summary`'s groups: one row per data set and student."""
    rows = []
    for g in summary["groups"]:
        best = g["best"]
        first = " · ".join(f"{h['who']} ({h['setting']})" for h in best["holders"])
        rows.append({"data": g["data"], "student": g["student"], "runs": g["runs"],
                     "best %": best["accuracy"], "first to reach it": first + (" — tie" if len(best["holders"]) > 1
                                                                                else ""),
                     "spread % (min–max)": f"{g['spread']['min']:.2f}–{g['spread']['max']:.2f}",
                     "std (points)": round(g["spread"]["std"], 2)})
    return pd.DataFrame(rows)


def run_for_board(code: str, name: str, dataset: str, temperature: float, alpha: float, hidden_text: str,
                  progress: Callable[[dict], None] | None = None) -> dict:
    """Run (or fetch) the Hinton-KD job of this setting through the runner, as the Distill lab does, and label
    it with ``name`` on class ``code``. The label is not part of the job: equal settings share one result."""
    from kdcore.views import lab

    code, name = check_code(code), check_name(name)  # refused before anything trains
    config = lab_job(dataset, "hinton", hidden_text, temperature=temperature, alpha=alpha)
    result = lab.train_or_fetch(config, progress)
    label_run(code, name, result)
    return result


__all__ = ["board_frame", "board_summary", "group_summary", "run_for_board", "summary_table"]
