"""The MHIST page's engine: is the data there, how to get it, and the stored MHIST results.

MHIST (Wei et al. 2021, arXiv:2101.12355) cannot be downloaded automatically; without it the app
shows results of the synthetic stand-in, always labelled as such. Training MHIST jobs needs
``kdcore.train.transfer`` (the two-stage transfer-learning schedule); when this build lacks it the
page says so instead of failing.

The folder typed on the page is the one its jobs read: :func:`pipeline_jobs` puts it into every job
of the pipeline (``JobConfig.with_data_dir``), so it is part of their keys and no process reads
``KD_MHIST_DIR`` instead. With no folder typed, jobs read ``KD_MHIST_DIR`` (``data_dir`` None).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from kdcore.data.pairs import data_pair, datasets
from kdcore.settings import settings
from kdcore.store import LayeredStore
from kdcore.views.results import confusion_frame, load_runs, roc_frame, stored_results

if TYPE_CHECKING:
    from kdcore.config import JobConfig
    from kdcore.subclass_examples import SubclassExamples

MHIST_DATASETS = datasets("mhist")  # the real release and its synthetic stand-in
FALLBACK_HOW_TO = (
    "MHIST is distributed on request: fill in the form at https://bmirds.github.io/MHIST (Wei et al. 2021, "
    "arXiv:2101.12355); the download links arrive by e-mail. Put annotations.csv and images.zip in one folder "
    "and set KD_MHIST_DIR to it, or enter the folder below."
)


@dataclass
class MhistStatus:
    found: bool
    folder: str | None
    message: str
    how_to: str
    standin_folder: str | None = None
    # The typed folder, resolved (the folder holding annotations.csv), that the page's jobs read
    # (JobConfig.data_dir); None when nothing usable was typed: jobs then read KD_MHIST_DIR.
    data_dir: str | None = None
    # Zips the folder's images are in, not unpacked yet: what the page's Unpack button would write (each zip's
    # size, unpacked size and the cache folder); the page's check itself never unpacks (issue 23).
    pending: tuple[str, ...] = ()


def mhist_status(path: str | None = None) -> MhistStatus:
    """Where MHIST is (``path``, else ``$KD_MHIST_DIR``), or how to get it; and whether this build trains MHIST.

    A typed ``path`` wins over ``$KD_MHIST_DIR``: when it holds no MHIST the page says so (``found`` False)
    rather than falling back to the variable's folder, and when it does, ``data_dir`` is that folder."""
    try:
        from kdcore.data import mhist
    except Exception:  # the loader is another contributor's module: its absence must not break the page
        mhist = None
    how_to = getattr(mhist, "HOW_TO_GET_MHIST", FALLBACK_HOW_TO)
    typed = (path or "").strip()
    raw = typed or str(settings().mhist_dir or "")
    folder = None
    pending: tuple[str, ...] = ()
    if mhist is not None and raw:
        # the validation a job runs (load_mhist, all but decoding each image's pixels): its message is the
        # CLI's, word for word, and it says what is still unchecked
        check = mhist.check_mhist_folder(raw)
        folder = check.folder if check.ok else None
        pending = tuple(z.describe() for z in check.pending)
        via = "the folder entered below" if typed else "KD_MHIST_DIR"
        message = (f"{check.message} — via {via}; the pipeline below trains and tests on this folder." if check.ok
                   else check.message)
    elif raw:
        message = f"The MHIST loader is not available in this build, so {raw!r} cannot be checked."
    else:
        message = "MHIST not found: KD_MHIST_DIR is not set."
    data_dir = str(Path(folder).resolve()) if (typed and folder is not None) else None
    standin = None
    try:
        from kdcore.data.synthetic_mhist import default_data_dir

        cand = Path(default_data_dir()) / "mhist-synthetic"
        standin = str(cand) if cand.is_dir() else None
    except Exception:
        pass
    return MhistStatus(found=folder is not None, folder=str(folder) if folder else None, message=message,
                       how_to=how_to, standin_folder=standin,
                       data_dir=data_dir, pending=pending)


def unpack_zips(path: str | None = None) -> str:
    """Unpack the typed folder's (else ``KD_MHIST_DIR``'s) zips into the app's cache — the Unpack button —
    and say where; the folder itself is never written (:func:`kdcore.data.mhist.unpack_mhist_zips`)."""
    from kdcore.data import clear_cache
    from kdcore.data.mhist import unpack_mhist_zips

    folder = unpack_mhist_zips((path or "").strip() or None)
    clear_cache()  # a data set read before the unpack (as "not found") is read again
    return f"Unpacked into the app's cache: {folder}"


def pipeline_jobs(dataset: str, method: str, data_dir: str | None = None, seed: int = 0) -> list[JobConfig]:
    """The page's pipeline (:func:`kdcore.course.pipeline_jobs`: teacher first, the ``method`` student
    last) reading ``data_dir`` — the folder typed on the page (:attr:`MhistStatus.data_dir`) — in every
    job and its whole teacher chain. ``data_dir`` None, or a data set read from no user folder (the
    stand-in): the jobs as the course builds them."""
    from kdcore.course import pipeline_jobs as course_pipeline

    jobs = course_pipeline(dataset, seed=seed, method=method)  # validated there
    if data_dir is None or not data_pair(dataset).user_folder:
        return jobs
    return [c.with_data_dir(data_dir) for c in jobs]  # the whole chain: one folder, as validate requires


def answers_one_class(result: dict) -> bool:
    """True when ``result`` predicts the same class for every test tile (e.g. HP everywhere: a teacher whose
    backbone started from random numbers): its ROC and confusion matrix teach nothing but that."""
    confusion = (result.get("metrics") or {}).get("confusion") or []
    predicted = [sum(row[j] for row in confusion) for j in range(len(confusion[0]))] if confusion else []
    return sum(1 for n in predicted if n) <= 1


def _informative(result: dict) -> tuple[bool, float, float]:
    m = result.get("metrics") or {}
    return (not answers_one_class(result), float(m.get("balanced_accuracy") or 0.0), float(m.get("auc") or 0.0))


@dataclass
class MhistView:
    status: MhistStatus
    table: pd.DataFrame  # one row per stored MHIST / stand-in result
    results: dict[str, dict] = field(default_factory=dict)  # label -> result dict (for ROC / confusion)

    def most_informative(self, prefer: Iterable[str] = ()) -> str | None:
        """The label whose curves say most: among the results with a key in ``prefer`` (the run just made), else
        among all, one that does not answer one class for every tile, with the highest balanced accuracy (then
        AUC). None when nothing is stored."""
        keys = set(prefer)
        mine = {k: r for k, r in self.results.items() if r.get("key") in keys}
        for pool in (mine, self.results):
            ranked = sorted(pool, key=lambda k: _informative(pool[k]), reverse=True)
            if ranked and (_informative(pool[ranked[0]])[0] or pool is self.results):
                return ranked[0]
        return None


def mhist_view(path: str | None = None, store: LayeredStore | None = None) -> MhistView:
    """Data status plus a table (accuracy, F1 of SSA, AUC, balanced accuracy, cost, data) of MHIST results."""
    runs = load_runs(store)
    runs = runs[runs["dataset"].isin(MHIST_DATASETS)]
    by_key = {r["key"]: r for r in stored_results(store) if r.get("dataset") in MHIST_DATASETS}
    table = pd.DataFrame({
        "data": runs["data"], "role": runs["role"], "model": runs["model"], "seed": runs["seed"],
        "accuracy %": 100 * runs["accuracy"], "F1 (SSA) %": 100 * runs["f1"], "AUC %": 100 * runs["auc"],
                # FLOPs and parameters: the machine-free costs (a record's latency is the training machine's, not comparable)
        "MFLOPs": runs["flops"] / 1e6, "params": runs["params"],
        "train/test": runs["n_train"].astype("Int64").astype(str) + "/" + runs["n_test"].astype("Int64").astype(str),
        # which weights the backbone started from: offline, ResNetV2-50 has no ImageNet weights and
        # starts random, which explains a teacher stuck at the majority class
        "backbone init": [by_key.get(k, {}).get("pretrained_source", "?") for k in runs["key"]],
        "schedule": [_schedule_label(by_key.get(k, {})) for k in runs["key"]],
        # the folder a job read when it was given one (the MHIST page's folder); blank: KD_MHIST_DIR / stand-in
        "data folder": [_data_folder(by_key.get(k, {})) for k in runs["key"]],
    }).reset_index(drop=True)
    labels = {f"{r['model']} · seed {r['seed']} · {r['data']}": by_key[r["key"]] for _, r in runs.iterrows()
              if r["key"] in by_key}
    return MhistView(status=mhist_status(path), table=table, results=labels)


def _data_folder(result: dict) -> str:
    return str((result.get("config") or {}).get("data_dir") or "")


def _schedule_label(result: dict) -> str:
    sched = result.get("schedule") or {}
    if not sched:
        return "?"
    return f"{sched.get('stage1_epochs', '?')} head + {sched.get('stage2_epochs', '?')} fine-tune epochs"


def subclass_teacher(dataset: str, store: LayeredStore | None = None, data_dir: str | None = None) -> dict | None:
    """The stored subclass teacher of this page's subclass pipeline on ``dataset`` read from ``data_dir``
    (``pipeline_jobs(dataset, "subclass", data_dir)[0]``; the newest if several) whose examples can be
    shown — it has weights, or its examples were saved (the shipped stand-in teacher) — or None."""
    from kdcore.config import JobConfig
    from kdcore.subclass_examples import examples_saved

    want = pipeline_jobs(dataset, "subclass", data_dir)[0]
    found = [r for r in stored_results(store) if r.get("dataset") == dataset
             and r.get("config", {}).get("method") == "subclass_teacher" and JobConfig.from_dict(r["config"]) == want
             and ("weights.safetensors" in r.get("files", {}) or examples_saved(r, store))]
    return max(found, key=lambda r: r.get("created", ""), default=None)


def subclass_examples(teacher: dict, store: LayeredStore | None = None) -> SubclassExamples:
    """Example test tiles per (class, subclass) of a stored MHIST subclass teacher and each subclass's
    share (:func:`kdcore.subclass_examples.teacher_examples`: run once, then read from the user store)."""
    from kdcore.subclass_examples import teacher_examples

    return teacher_examples(teacher, store)


def subclass_note(ex: SubclassExamples) -> str:
    """What the split means for this teacher: nothing on stand-in data or from a random-init backbone."""
    if ex.meta.get("is_standin"):
        return ("⚠ Stand-in data: the tiles are procedurally drawn, not MHIST, so the split means nothing here; on "
                "your MHIST folder it is the teacher's own invention — it was only ever told HP or SSA.")
    if ex.meta.get("weights_id") == "random-init":
        return ("⚠ This teacher's backbone started from random numbers (no ImageNet weights offline), so its split "
                "says little; with ImageNet weights it is the teacher's own invention — it was only told HP or SSA.")
    return ("The teacher was only ever told HP or SSA: how it splits each class into two subclasses is its own "
            "invention (Müller et al. 2020 motivate subclass distillation with such binary tasks).")


def result_curves(result: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(ROC points, long-format confusion matrix) of one stored binary result."""
    return roc_frame(result), confusion_frame(result)


__all__ = ["MhistStatus", "MhistView", "answers_one_class", "mhist_status", "mhist_view", "pipeline_jobs",
           "result_curves", "subclass_examples", "subclass_note", "subclass_teacher", "unpack_zips"]
