"""What the Class board page draws: a class's labelled runs (:mod:`kdcore.board`) joined with their stored
results, the best so far and the spread, and the one call that runs a setting and labels it."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from kdcore.board import board_entries, check_code, check_name, label_run
from kdcore.store import open_store
from kdcore.views.groups import network_words, run_label

COLUMNS = ["who", "data", "student", "method", "T", "alpha", "setting", "test accuracy %", "labelled", "key"]


def board_frame(code: str) -> pd.DataFrame:
    """One row per labelled run of class ``code`` whose result is stored, newest first."""
    store = open_store()
    rows = []
    for e in board_entries(code):
        r = store.get(e["key"])
        if r is None:
            continue
        c = r["config"]
        # the one naming rule (kdcore.views.groups): what the run was, in words
        rows.append({"who": e["name"], "data": r["dataset"], "student": network_words(c), "method": c["method"],
                     "T": float(c["temperature"]), "alpha": float(c["alpha"]), "setting": run_label(c),
                     "test accuracy %": round(100 * r["metrics"]["accuracy"], 2), "labelled": e["created"],
                     "key": e["key"]})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.sort_values("labelled", ascending=False, kind="stable").reset_index(drop=True)


def board_summary(frame: pd.DataFrame) -> dict:
    """Runs, people, the best run so far and the spread of test accuracy (per data set mixed: the page
    says which data each row is)."""
    if frame.empty:
        return {"runs": 0, "people": 0, "best": None, "spread": None}
    acc = frame["test accuracy %"]
    best = frame.loc[acc.idxmax()]
    return {
        "runs": len(frame),
        "people": frame["who"].nunique(),
        "best": {"who": best["who"], "setting": best["setting"],
                 "accuracy": float(best["test accuracy %"]), "data": best["data"]},
        "spread": {"min": float(acc.min()), "max": float(acc.max()), "std": float(acc.std(ddof=0))},
    }


def run_for_board(code: str, name: str, dataset: str, temperature: float, alpha: float, hidden_text: str,
                  progress: Callable[[dict], None] | None = None) -> dict:
    """Run (or fetch) the Hinton-KD job of this setting through the runner, as the Distill lab does, and label
    it with ``name`` on class ``code``. The label is not part of the job: equal settings share one result."""
    from kdcore.views import lab

    code, name = check_code(code), check_name(name)  # refused before anything trains
    config = lab.lab_config(dataset, "hinton", hidden_text, temperature=temperature, alpha=alpha)
    result = lab.train_or_fetch(config, progress)
    label_run(code, name, result)
    return result


__all__ = ["board_frame", "board_summary", "run_for_board"]
