"""The Distill lab's view: widgets → a validated :class:`JobConfig` → a trained (or stored) result.

The jobs are built by :mod:`kdcore.course` (the form's job, the course pipeline, tiny mode: ``KD_APP_TINY``);
what a method needs (its teacher arrangement, student defaults, MHIST note) is asked of its
:class:`~kdcore.methods.Method`; every job goes through the job runner (:func:`train_or_fetch`). Here: the
form's settings, and the frames and words the page draws.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from kdcore.config import JobConfig, parse_hidden
from kdcore.course import (
    TINY_DEFAULT,
    TINY_TEACHER_EPOCHS,
    TinyCaps,
    app_teacher,
    course_student,
    course_teacher,
    tiny_caps,
)
from kdcore.course import cap as _cap
from kdcore.course import lab_job as lab_config
from kdcore.course import pipeline_jobs as pipeline_configs
from kdcore.data.pairs import offered
from kdcore.methods import METHODS, get_method, scratch_twin
from kdcore.store import open_store
from kdcore.views.form import (  # the form's settings and which apply (re-exported: callers ask the lab)
    DEFAULT_CNN_WIDTH,
    FORM_DEFAULTS,
    IGNORES_ALPHA,
    form_defaults,
    form_fields,
    uses_alpha,
    uses_temperature,
)
from kdcore.views.results import confusion_frame, history_frame, load_runs, result_row


def methods() -> list[tuple[str, str]]:
    """(name, title) of every registered method a student can be trained with, for the method picker."""
    return [(k, m.title) for k, m in METHODS.items() if m.in_picker]


def train_or_fetch(config: JobConfig, progress: Callable[[dict], None] | None = None,
                   poll_s: float = 0.2) -> dict:
    """The lab's one way to a result: :func:`kdcore.jobs.submit.run_through_runner` (queue, de-duplication,
    memory guard, progress in the caller's thread, cancel when the caller stops waiting)."""
    from kdcore.jobs.submit import run_through_runner

    return run_through_runner(config, progress=progress, poll_s=poll_s)


def chain_seed(config: JobConfig) -> int:
    """The seed of the job at the bottom of ``config``'s teacher chain: the course teacher a run is compared with.
    Usually the student's own; a born-again generation has a seed of its own (its chain's + 1000·k)."""
    while config.teacher is not None:
        config = config.teacher
    return config.seed


def baselines(config: JobConfig, progress: Callable[[dict], None] | None = None) -> dict[str, dict]:
    """The course teacher and the scratch student of the same data, size, epochs and seed (stored
    after their first run): ``{"teacher": result, "scratch student": result}``."""
    teacher = app_teacher(config.dataset, seed=chain_seed(config))
    scratch = scratch_twin(config)
    if not get_method(config.method).scratch_baseline:  # born-again: its student is the teacher's arch
        scratch = teacher
    out = {"teacher": train_or_fetch(teacher, progress)}
    if scratch != teacher:
        out["scratch student"] = train_or_fetch(scratch, progress)
    return out


def comparison_frame(results: dict[str, dict]) -> pd.DataFrame:
    """Side-by-side table (one row per model) of the lab's result and its baselines. Latency is measured for each
    network on this machine (:func:`kdcore.latency.latency_here`), never the records' own (each made on whatever
    machine trained it)."""
    from kdcore.latency import latency_here

    rows = []
    for label, r in results.items():
        row = result_row(r)
        rows.append({
            "model": label, "setting": row["model"], "accuracy %": 100 * row["accuracy"],
            "F1 %": 100 * row["f1"] if row["f1"] is not None else None,
            "AUC %": 100 * row["auc"] if row["auc"] is not None else None,
            "MFLOPs": row["flops"] / 1e6 if row["flops"] is not None else None, "params": row["params"],
            "latency ms (here)": latency_here(r.get("config", {})).ms, "size MB": (row["weights_bytes"] or 0) / 1e6,
            "train/test": f"{row['n_train']}/{row['n_test']}", "data": row["data"],
        })
    return pd.DataFrame(rows).round({"accuracy %": 2, "F1 %": 2, "AUC %": 2, "MFLOPs": 3, "latency ms (here)": 3,
                                     "size MB": 2})


# What each method the MHIST page offers costs there beyond teacher → scratch → KD student (its
# ``Method.mhist_note``; the page shows it under the picker).
MHIST_METHOD_NOTES: dict[str, str] = {k: m.mhist_note for k, m in METHODS.items() if m.mhist_note}


def mhist_methods() -> list[tuple[str, str]]:
    """(name, title) of the KD methods the MHIST pipeline can run (``Method.mhist_note`` set), for its picker."""
    return [(k, m.title) for k, m in METHODS.items() if m.offered_on_mhist]


# ---- honest numbers: seeds ----------------------------------------------------------------------
LAB_DATASETS = offered("lab")


def lead_dataset(store: object | None = None) -> str:
    """The data set the lab (and the lesson) open on: full Fashion-MNIST when its course results are stored
    for several seeds (real data, 60k/10k: the KD gain there is larger than the seed noise), else MNIST."""
    runs = load_runs(store)  # type: ignore[arg-type]
    fm = runs[(runs["dataset"] == "fashion_mnist") & (runs["method"] == "hinton") & ~runs["is_standin"].astype(bool)]
    return "fashion_mnist" if fm["seed"].nunique() >= 2 else "mnist"


def seed_accuracies(result: dict, store: object | None = None) -> pd.Series:
    """Test accuracy per seed of the group of ``result`` (:func:`kdcore.views.groups.group_of`: every stored result
    with its settings, all but the seed, on the same data), ``result`` itself included; indexed by seed."""
    from kdcore.views.groups import group_of
    from kdcore.views.results import stored_results

    group = group_of(result, stored_results(store))  # type: ignore[arg-type]
    return pd.Series([v / 100.0 for v in group.values("accuracy")], index=list(group.seeds), dtype=float)


def _seeds_words(seeds: list) -> str:
    from kdcore.views.groups import seeds_words

    return seeds_words(seeds)


def accuracy_words(result: dict, store: object | None = None) -> str:
    """``"89.71 ± 0.20 % (seeds 0, 1, 2)"``, or ``"88.20 % (one run, seed 0)"`` when only one seed is stored: the
    group's figure as every page writes it (:meth:`kdcore.views.groups.Group.words`)."""
    from kdcore.views.groups import group_of, stat_words
    from kdcore.views.results import stored_results

    group = group_of(result, stored_results(store))  # type: ignore[arg-type]
    values = group.values("accuracy")
    if len(values) > 1:
        return f"{stat_words(values)} % ({_seeds_words(list(group.seeds))})"
    return f"{values[0]:.2f} % (one run, {_seeds_words(list(group.seeds))})"


def gain_words(kd: dict, scratch: dict, store: object | None = None) -> str:
    """The KD student's gain over its scratch twin in points, paired by seed: mean ± std of the per-seed
    differences where several seeds of both are stored, else a single-run delta marked as such."""
    from kdcore.views.groups import stat

    a, b = seed_accuracies(kd, store), seed_accuracies(scratch, store)
    common = sorted(set(a.index) & set(b.index))
    d = 100 * (a[common] - b[common])
    if len(d) > 1:
        mean, std, _ = stat(list(d))
        return f"{mean:+.2f} ± {std:.2f} points ({_seeds_words(common)}, paired)"
    delta = 100 * (float(kd["metrics"]["accuracy"]) - float(scratch["metrics"]["accuracy"]))
    return f"{delta:+.2f} points (a single run, seed {kd.get('seed')}: seed noise not measured)"


@dataclass
class LabOutcome:
    """What the lab page draws after a run."""

    result: dict
    table: pd.DataFrame
    confusion: pd.DataFrame
    history: pd.DataFrame
    cached: bool
    stages: list[StageRecord] = field(default_factory=list)  # what ran, in order (the run's log)
    seeds: dict[str, str] = field(default_factory=dict)  # model -> accuracy over the stored seeds (mean ± std)
    gain: str | None = None  # KD student vs its scratch twin, paired by seed (or a single-run delta, said so)


# ---- progress you can see -----------------------------------------------------------------------
@dataclass
class StageRecord:
    """One stage of a lab run as it ended: its label, whether the store answered it, seconds it took."""

    label: str
    cached: bool
    seconds: float

    def describe(self) -> str:
        return f"{self.label}: " + ("from the store" if self.cached else f"trained in {self.seconds:.0f} s")


def lab_stages(config: JobConfig) -> list[tuple[str, JobConfig]]:
    """The jobs of a lab run in the order they run, each with the label the status box shows: the teacher
    chain (the course teacher first, then e.g. an early-stopped teacher, an assistant, born-again
    generations), the student ("KD student"), then its "scratch baseline" (same architecture, data,
    epochs and seed; none for born-again, whose student is the teacher's architecture).

    Running the chain as stages of their own (the runner would queue them anyway) lets the page say
    whose epoch it is instead of "queued" while the teacher trains."""
    chain: list[JobConfig] = []
    t = config.teacher
    while t is not None:
        chain.append(t)
        t = t.teacher
    course = _cap(course_teacher(config.dataset, seed=chain_seed(config)), tiny_caps(), teacher=True)
    stages = [("teacher" if c == course else f"teacher {c.short_name()} ({c.epochs} epochs)", c) for c in reversed(chain)]
    stages.append(("KD student" if config.teacher is not None else "student", config))
    if get_method(config.method).scratch_baseline and config.method != "scratch":
        stages.append(("scratch baseline", scratch_twin(config)))
    if course not in chain:  # e.g. subclass distillation learns from a teacher of its own: the course one is the baseline
        stages.append(("teacher", course))
    return stages


def _eta_words(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


class LabProgress:
    """Turns the runner's progress events into what the lab's status box shows (no Streamlit here):
    a ``label`` that names the stage and epoch ("KD student — epoch 3/12", "KD student — teacher
    logits", "scratch baseline — queued: your job is 2nd in the queue"), the stage's ``fraction``
    done, an ETA from the epochs done so far, the queue ``position`` while waiting, and ``rows`` of
    (stage, epoch, train loss, test accuracy %) for the live chart.

    ``clock`` is injectable so tests can check the ETA without waiting."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        import time

        self._clock = clock or time.monotonic
        self.stage = "starting"
        self.label = "starting"
        self.fraction = 0.0
        self.eta_s: float | None = None
        self.position: int | None = None
        self.rows: list[dict] = []
        self.log: list[StageRecord] = []
        self._stage_t0 = self._clock()
        self._train_t0: float | None = None
        self._epoch0 = 0

    def start(self, stage: str) -> None:
        """A new stage begins (its job is about to be submitted)."""
        self.stage, self.label, self.fraction, self.eta_s, self.position = stage, stage, 0.0, None, None
        self._stage_t0, self._train_t0 = self._clock(), None

    def finish(self, cached: bool) -> None:
        self.log.append(StageRecord(self.stage, cached, self._clock() - self._stage_t0))
        self.fraction, self.eta_s, self.position = 1.0, None, None
        self.label = f"{self.stage} — " + ("from the store" if cached else "done")

    def update(self, event: dict) -> None:
        """Read one progress event (run_job's, nested ``who:stage`` ones, or the submit path's queue event)."""
        raw = str(event.get("stage", ""))
        who, _, kind = raw.rpartition(":")
        prefix = f"{self.stage} — " + (f"{who} " if who else "")
        self.position = None
        if kind == "queue":
            self.position = event.get("position")
            self.label = prefix + str(event.get("message") or f"queued ({self.position})")
        elif kind == "train" and event.get("epochs"):
            epoch, epochs = int(event.get("epoch") or 0), int(event["epochs"])
            self.label = prefix + f"epoch {epoch}/{epochs}"
            if not who:
                self._eta(epoch, epochs)
                self.fraction = epoch / epochs
            if "row" in event and not who:
                row = event["row"]
                acc = row.get("test_acc")
                self.rows.append({"stage": self.stage, "epoch": int(row.get("epoch", epoch)),
                                  "train loss": row.get("train_loss"),
                                  "test accuracy %": None if acc is None else 100 * float(acc)})
        elif kind == "teacher" and not who:
            self.label = prefix + "teacher logits"
        elif kind == "data":
            self.label = prefix + "loading data"
        elif kind == "eval":
            self.label = prefix + "evaluating"
        elif event.get("message"):
            self.label = prefix + str(event["message"])
        if self.eta_s is not None and kind == "train":
            self.label += f" (about {_eta_words(self.eta_s)} left)"

    def _eta(self, epoch: int, epochs: int) -> None:
        now = self._clock()
        if self._train_t0 is None or epoch <= self._epoch0:  # epoch 0 (or a resumed start): the clock starts
            self._train_t0, self._epoch0, self.eta_s = now, epoch, None
            return
        per_epoch = (now - self._train_t0) / (epoch - self._epoch0)
        self.eta_s = per_epoch * (epochs - epoch)

    def chart_frame(self) -> pd.DataFrame:
        """The live curves in long format: ``stage``, ``epoch``, ``kind`` (train loss / test accuracy %), ``value``."""
        if not self.rows:
            return pd.DataFrame(columns=["stage", "epoch", "kind", "value"])
        long = pd.DataFrame(self.rows).melt(id_vars=["stage", "epoch"], var_name="kind", value_name="value")
        return long.dropna(subset=["value"])


def run_lab(config: JobConfig, progress: Callable[[dict], None] | None = None,
            tracker: LabProgress | None = None) -> LabOutcome:
    """Train or fetch ``config`` and its baselines, stage by stage (:func:`lab_stages`); return the frames
    the page draws. ``tracker`` (a :class:`LabProgress`) is told when each stage starts and ends and
    sees every event before ``progress`` does."""
    tracker = tracker or LabProgress()

    def relay(event: dict) -> None:
        tracker.update(event)
        if progress is not None:
            progress(event)

    results: dict[str, dict] = {}
    for label, job in lab_stages(config):
        tracker.start(label)
        if progress is not None:
            progress({"stage": "lab", "message": "starting"})
        results[label] = train_or_fetch(job, relay)
        tracker.finish(bool(results[label].get("cached")))
        if progress is not None:
            progress({"stage": "lab", "message": "finished"})
    student_label = "KD student" if config.teacher is not None else "student"
    result = results[student_label]
    base = {"teacher": results["teacher"]}
    if "scratch baseline" in results:
        base["scratch student"] = results["scratch baseline"]
    # a BAN ensemble trains nothing itself: its generations' rows say what the averaging added
    store = open_store()
    members = {f"generation {k}": m for k, key in enumerate(result.get("members", []), start=1)
               if (m := store.get(key)) is not None}
    table = comparison_frame({"this run": result, **members, **base})
    seeds = {label: accuracy_words(r, store) for label, r in {"this run": result, **base}.items()}
    gain = gain_words(result, base["scratch student"], store) if "scratch student" in base else None
    return LabOutcome(result=result, table=table, confusion=confusion_frame(result),
                      history=history_frame(result.get("history", [])), cached=bool(result.get("cached")),
                      stages=list(tracker.log), seeds=seeds, gain=gain)


__all__ = [
    "DEFAULT_CNN_WIDTH", "TINY_DEFAULT", "TINY_TEACHER_EPOCHS", "course_student", "course_teacher",
    "FORM_DEFAULTS", "LAB_DATASETS", "LabOutcome", "LabProgress", "MHIST_METHOD_NOTES", "StageRecord", "TinyCaps", "baselines",
    "comparison_frame", "form_defaults", "lab_config", "lab_stages", "lead_dataset", "methods", "mhist_methods", "parse_hidden",
    "pipeline_configs", "run_lab", "tiny_caps", "train_or_fetch", "accuracy_words", "gain_words", "seed_accuracies",
    "IGNORES_ALPHA", "form_fields", "uses_alpha", "uses_temperature",
]
