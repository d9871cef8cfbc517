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
    cap,
    course_student,
    course_teacher,
    tiny_caps,
)
from kdcore.data.pairs import FOLDER_PREFIX, data_pair, offered
from kdcore.jobs.duration import duration_words
from kdcore.methods import METHODS, get_method, scratch_twin
from kdcore.store import open_store
from kdcore.views.form import (  # the form's settings and which apply (re-exported: callers ask the lab)
    DEFAULT_CNN_WIDTH,
    FORM_DEFAULTS,
    IGNORES_ALPHA,
    L1_CHOICES,
    form_defaults,
    form_fields,
    uses_alpha,
    uses_temperature,
)
from kdcore.views.own_images import folder_datasets
from kdcore.views.results import confusion_frame, load_runs, result_row


def methods() -> list[tuple[str, str]]:
    """(name, title) of every registered method a student can be trained with, for the method picker."""
    return [(k, m.title) for k, m in METHODS.items() if m.in_picker]


def train_or_fetch(config: JobConfig, progress: Callable[[dict], None] | None = None,
                   poll_s: float = 0.2, heartbeat: Callable[[], None] | None = None) -> dict:
    """The lab's one way to a result: :func:`kdcore.jobs.submit.run_through_runner` (queue, de-duplication,
    memory guard, progress in the caller's thread, cancel when the caller stops waiting)."""
    from kdcore.jobs.submit import run_through_runner

    return run_through_runner(config, progress=progress, poll_s=poll_s, heartbeat=heartbeat)


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
LAB_DATASETS = offered("lab")  # the built-in ones; :func:`lab_datasets` adds the folders registered since


def method_note(method: str, dataset: str) -> str | None:
    """What ``method`` costs or means on ``dataset``, said under the lab's picker rather than run silently: its
    transfer-pair note on a folder of colour or large images (ResNetV2-50 → MobileNetV2, as on the MHIST page), and
    its two-class note on a two-class data set (DKD: the non-target part is zero). None when there is nothing to say."""
    chosen, pair = get_method(method), data_pair(dataset)
    notes = []
    if pair.transfer and chosen.mhist_note and chosen.mhist_note != chosen.two_class_note:
        notes.append(chosen.mhist_note)
    if len(pair.classes) == 2 and chosen.two_class_note:
        notes.append(chosen.two_class_note)
    return " ".join(notes) or None


def lab_datasets() -> list[str]:
    """The lab's data set picker: the built-in data sets (its default first), then the folder data sets of your
    own images registered so far (:func:`kdcore.views.own_images.folder_datasets`: newest first, one per folder)."""
    return [n for n in offered("lab") if not n.startswith(FOLDER_PREFIX)] + folder_datasets()


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
    history: pd.DataFrame  # the students' curves (curves_frame): named series, accuracy in %
    cached: bool
    stages: list[StageRecord] = field(default_factory=list)  # what ran, in order (the run's log)
    seeds: dict[str, str] = field(default_factory=dict)  # model -> accuracy over the stored seeds (mean ± std)
    gain: str | None = None  # KD student vs its scratch twin, paired by seed (or a single-run delta, said so)
    sparsity: str | None = None  # an L1-trained student: the share of its weights near 0 (and its twin's)


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
    course = cap(course_teacher(config.dataset, seed=chain_seed(config)), tiny_caps(), teacher=True)
    from kdcore.views.groups import run_label

    # a teacher of the chain other than the course one is named in words (groups.run_label: "teacher CNN, 3 epochs")
    stages = [("teacher" if c == course else f"teacher: {run_label(c.to_dict())}", c) for c in reversed(chain)]
    stages.append(("KD student" if config.teacher is not None else "student", config))
    if get_method(config.method).scratch_baseline and config.method != "scratch":
        stages.append(("scratch baseline", scratch_twin(config)))
    if course not in chain:  # e.g. subclass distillation learns from a teacher of its own: the course one is the baseline
        stages.append(("teacher", course))
    return stages


LONG_RUN_S = 60.0  # a plan expected to train longer than this is announced with its estimate before it starts


@dataclass
class PlanStage:
    """One stage of a lab run before it starts: its label, its job, whether the store answers it already and
    how long it is expected to train here (0 when stored; None when this machine cannot estimate it)."""

    label: str
    config: JobConfig
    stored: bool
    estimate_s: float | None

    def describe(self) -> str:
        if self.stored:
            return f"{self.label}: from the store"
        return f"{self.label}: trains" + (f", about {duration_words(self.estimate_s)}" if self.estimate_s else "")


@dataclass
class LabPlan:
    """The whole of a lab run, in order (:func:`lab_plan`): what the store answers and what trains, for how long."""

    stages: list[PlanStage]

    @property
    def total_s(self) -> float:
        """Expected training seconds of the stages that train (those this machine can estimate)."""
        return float(sum(s.estimate_s or 0.0 for s in self.stages))

    def describe(self) -> str:
        """``"1 teacher: from the store · 2 KD student: trains, about 40 s · 3 scratch baseline: trains, about 35 s"``."""
        return " · ".join(f"{i} {s.describe()}" for i, s in enumerate(self.stages, start=1))

    def warning(self) -> str | None:
        """Said before a plan expected to train over :data:`LONG_RUN_S` starts; None for a shorter one."""
        if self.total_s <= LONG_RUN_S:
            return None
        training = [s for s in self.stages if not s.stored]
        return (f"This run is expected to take about {duration_words(self.total_s)} on this machine "
                f"({len(training)} of its {len(self.stages)} stages train; measured from a few training steps "
                "here). Fewer epochs or a smaller student make it shorter; a setting already in the store "
                "answers at once.")


def lab_plan(config: JobConfig, store: object | None = None) -> LabPlan:
    """The stages of ``config``'s lab run (:func:`lab_stages`), each with whether the store answers it and its
    expected training seconds here (:func:`kdcore.jobs.duration.estimate_duration`). Loads the data set (once per
    process): the run's first seconds, which the page shows as "loading data"."""
    from kdcore.data import load_dataset
    from kdcore.jobs.duration import estimate_duration
    from kdcore.train import job_key
    from kdcore.train.common import stored_logits

    store = store or open_store()
    data = load_dataset(config.dataset, config.data_source, config.data_dir)
    stages: list[PlanStage] = []
    stored_keys: set[str] = set()
    for label, job in lab_stages(config):
        key = job_key(job, data)
        stored = store.get(key, need_weights=get_method(job.method).trains) is not None  # type: ignore[attr-defined]
        if stored:
            stored_keys.add(key)
        estimate = None
        if not stored:
            logits = job.teacher is not None and stored_logits(store, job_key(job.teacher, data), "train_logits",
                                                               data.x_train) is not None  # type: ignore[arg-type]
            n_train, n_test = (min(len(x), limit or len(x)) for x, limit in
                               ((data.x_train, job.train_limit), (data.x_test, job.test_limit)))
            found = estimate_duration(job, n_train, n_test, teacher_logits_stored=logits)
            estimate = found.seconds if found is not None else None
        stages.append(PlanStage(label, job, stored, 0.0 if stored else estimate))
    return LabPlan(stages)


class LabProgress:
    """Turns the runner's progress events into what the lab's status box shows (no Streamlit here).

    With a :class:`LabPlan` it speaks for the whole plan: a ``label`` such as "stage 2 of 3: scratch baseline —
    epoch 5/12 (about 40 s left in all)", ONE ``fraction`` for the whole plan that only grows (each stage weighs
    its expected seconds), and ``eta_s`` for the rest of the plan: the running stage's remaining epochs at its own
    measured pace, the later stages' estimates corrected by how the measured epochs compared with their
    estimates. Without a plan it speaks per stage ("KD student — epoch 3/12 (about 30 s left)"). ``position`` is
    the queue place while waiting; ``rows`` (stage, epoch, train loss, test accuracy %) feed the live chart.

    ``clock`` is injectable so tests can check the ETA without waiting."""

    def __init__(self, plan: LabPlan | None = None, clock: Callable[[], float] | None = None) -> None:
        import time

        self.plan = plan
        self._clock = clock or time.monotonic
        self.stage = "starting"
        self.label = "starting"
        self.fraction = 0.0
        self.eta_s: float | None = plan.total_s if plan is not None and plan.total_s else None
        self.position: int | None = None
        self.rows: list[dict] = []
        self.log: list[StageRecord] = []
        self.index = 0  # 1-based number of the running stage in the plan (0: none yet)
        self._stage_t0 = self._clock()
        self._train_t0: float | None = None
        self._epoch0 = 0
        self._stage_fraction = 0.0
        self._stage_eta: float | None = None
        self._pace = 1.0  # measured / estimated seconds of the stages (and epochs) trained so far

    # ---- the plan's arithmetic -----------------------------------------------------------------
    def _weights(self) -> list[float]:
        """Each stage's share of the whole: its expected seconds (a stored one weighs a little: it still loads)."""
        assert self.plan is not None
        known = [s.estimate_s for s in self.plan.stages if s.estimate_s]
        fallback = sum(known) / len(known) if known else 1.0  # a stage with no estimate weighs like an average one
        return [0.02 * fallback if s.stored else (s.estimate_s or fallback) for s in self.plan.stages]

    def _refresh(self) -> None:
        """Overall fraction (never smaller than before) and the remaining seconds of the whole plan."""
        if self.plan is None or not self.index:
            self.fraction = max(self.fraction, self._stage_fraction) if self.plan is not None else self._stage_fraction
            self.eta_s = self._stage_eta if self.plan is None else self.eta_s
            return
        w = self._weights()
        i = self.index - 1
        done = sum(w[:i]) + w[i] * self._stage_fraction
        self.fraction = min(1.0, max(self.fraction, done / sum(w)))
        later = sum((s.estimate_s or 0.0) for s in self.plan.stages[i + 1:]) * self._pace
        current = self.plan.stages[i]
        if self._stage_eta is not None:
            now_s = self._stage_eta
        elif current.estimate_s:
            now_s = max(0.0, current.estimate_s * self._pace - (self._clock() - self._stage_t0))
        else:
            now_s = 0.0
        self.eta_s = now_s + later if (now_s + later) > 0 or current.stored else None

    def _prefix(self) -> str:
        if self.plan is not None and self.index:
            return f"stage {self.index} of {len(self.plan.stages)}: {self.stage} — "
        return f"{self.stage} — "

    def _eta_suffix(self) -> str:
        if self.eta_s is None:
            return ""
        return f" (about {duration_words(self.eta_s)} left" + (" in all)" if self.plan is not None else ")")

    # ---- events --------------------------------------------------------------------------------
    def start(self, stage: str) -> None:
        """A new stage begins (its job is about to be submitted)."""
        if self.plan is not None:
            labels = [s.label for s in self.plan.stages]
            self.index = labels.index(stage, self.index) + 1 if stage in labels[self.index:] else 0
        self.stage, self.position = stage, None
        self._stage_fraction, self._stage_eta = 0.0, None
        self._stage_t0, self._train_t0 = self._clock(), None
        self._refresh()
        self.label = self._prefix() + "starting" + self._eta_suffix()

    def finish(self, cached: bool) -> None:
        seconds = self._clock() - self._stage_t0
        self.log.append(StageRecord(self.stage, cached, seconds))
        if self.plan is not None and self.index and not cached:
            planned = self.plan.stages[self.index - 1].estimate_s
            if planned:  # how fast this machine really is, for the stages still to come
                self._pace = max(0.05, seconds / planned)
        self._stage_fraction, self._stage_eta, self.position = 1.0, None, None
        self._refresh()
        if self.plan is None:
            self.eta_s = None
        self.label = self._prefix() + ("from the store" if cached else "done")

    def update(self, event: dict) -> None:
        """Read one progress event (run_job's, nested ``who:stage`` ones, or the submit path's queue event)."""
        raw = str(event.get("stage", ""))
        who, _, kind = raw.rpartition(":")
        prefix = self._prefix() + (f"{who} " if who else "")
        self.position = None
        if kind == "queue":
            self.position = event.get("position")
            detail = str(event.get("message") or f"queued ({self.position})")
        elif kind == "train" and event.get("epochs"):
            epoch, epochs = int(event.get("epoch") or 0), int(event["epochs"])
            detail = f"epoch {epoch}/{epochs}"
            if not who:
                self._eta(epoch, epochs)
                self._stage_fraction = epoch / epochs
            if "row" in event and not who:
                row = event["row"]
                acc = row.get("test_acc")
                self.rows.append({"stage": self.stage, "epoch": int(row.get("epoch", epoch)),
                                  "train loss": row.get("train_loss"),
                                  "test accuracy %": None if acc is None else 100 * float(acc)})
        elif kind == "teacher" and not who:
            detail = "teacher logits"
        elif kind == "data":
            detail = "loading data"
        elif kind == "eval":
            detail = "evaluating"
        else:
            detail = str(event.get("message") or kind or "working")
        self._refresh()
        self.label = prefix + detail + (self._eta_suffix() if kind == "train" or self.plan is not None else "")

    def _eta(self, epoch: int, epochs: int) -> None:
        now = self._clock()
        if self._train_t0 is None or epoch <= self._epoch0:  # epoch 0 (or a resumed start): the clock starts
            self._train_t0, self._epoch0, self._stage_eta = now, epoch, None
            return
        per_epoch = (now - self._train_t0) / (epoch - self._epoch0)
        self._stage_eta = per_epoch * (epochs - epoch)
        if self.plan is not None and self.index:
            planned = self.plan.stages[self.index - 1]
            if planned.estimate_s:  # the pace so far corrects the later stages' estimates at once
                self._pace = max(0.05, per_epoch * epochs / planned.estimate_s)

    def chart_frame(self) -> pd.DataFrame:
        """The live curves in long format: ``stage``, ``epoch``, ``kind`` (train loss / test accuracy %), ``value``."""
        if not self.rows:
            return pd.DataFrame(columns=["stage", "epoch", "kind", "value"])
        long = pd.DataFrame(self.rows).melt(id_vars=["stage", "epoch"], var_name="kind", value_name="value")
        return long.dropna(subset=["value"])


CURVE_KINDS = {"test_acc": "test accuracy %", "train_acc": "training accuracy %"}


def curves_frame(results: dict[str, dict]) -> pd.DataFrame:
    """The per-epoch curves of the lab's students, one named series each ("KD student", "scratch baseline"), in
    long format (``series``, ``epoch``, ``kind``, ``value``): test and training accuracy in % — the figures the
    tables show. Losses are left out: the KD student's loss has a T²-weighted soft term the scratch one lacks, so
    the two are not on one scale."""
    rows = [{"series": label, "epoch": int(h["epoch"]), "kind": kind, "value": 100 * float(h[col])}
            for label, r in results.items() for h in r.get("history") or []
            for col, kind in CURVE_KINDS.items() if h.get(col) is not None and "epoch" in h]
    return pd.DataFrame(rows, columns=["series", "epoch", "kind", "value"])


def run_lab(config: JobConfig, progress: Callable[[dict], None] | None = None,
            tracker: LabProgress | None = None, heartbeat: Callable[[], None] | None = None) -> LabOutcome:
    """Train or fetch ``config`` and its baselines, stage by stage (:func:`lab_stages`); return the frames
    the page draws. ``tracker`` (a :class:`LabProgress`) is told when each stage starts and ends and
    sees every event before ``progress`` does. ``heartbeat`` is called while a stage waits between events (a few
    times a second): an exception it raises stops the run, and the running job is cancelled (nothing of it is
    stored) — how the page's Cancel reaches the runner (a Streamlit rerun raises in the script thread)."""
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
        results[label] = train_or_fetch(job, relay, heartbeat=heartbeat)
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
    curves = curves_frame({label: results[label] for label in (student_label, "scratch baseline") if label in results})
    return LabOutcome(result=result, table=table, confusion=confusion_frame(result),
                      history=curves, cached=bool(result.get("cached")),
                      stages=list(tracker.log), seeds=seeds, gain=gain,
                      sparsity=sparsity_words(result, base.get("scratch student")))


def sparsity_words(result: dict, twin: dict | None = None) -> str | None:
    """What an L1-trained student's penalty did, from its record (``sparsity``: the share of its Linear/Conv weights
    below the stated threshold), and its scratch twin's (trained with the same penalty); None without a penalty."""
    s = result.get("sparsity")
    if not isinstance(s, dict):
        return None
    words = (f"L1 penalty λ = {s['l1']:g}: {100 * s['share_below_threshold']:.1f} % of the student's "
             f"{s['weights']:,} weights are below {s['threshold']:g}")
    t = (twin or {}).get("sparsity")
    if isinstance(t, dict):
        words += f" (its scratch twin, with the same penalty: {100 * t['share_below_threshold']:.1f} %)"
    return words + (". A dense file keeps its zeros: see what they buy once exported on the Compress page "
                    "(sparse regularisation).")


__all__ = [
    "DEFAULT_CNN_WIDTH", "TINY_DEFAULT", "TINY_TEACHER_EPOCHS", "course_student", "course_teacher",
    "CURVE_KINDS", "LONG_RUN_S", "LabPlan", "PlanStage", "curves_frame", "duration_words", "lab_plan",
    "FORM_DEFAULTS", "LAB_DATASETS", "LabOutcome", "LabProgress", "MHIST_METHOD_NOTES", "StageRecord", "TinyCaps", "baselines",
    "comparison_frame", "form_defaults", "lab_stages", "lead_dataset", "methods", "mhist_methods", "parse_hidden",
    "lab_datasets", "method_note", "run_lab", "tiny_caps", "train_or_fetch", "accuracy_words", "gain_words", "seed_accuracies",
    "IGNORES_ALPHA", "L1_CHOICES", "form_fields", "sparsity_words", "uses_alpha", "uses_temperature",
]
