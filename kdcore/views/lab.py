"""The Distill lab's engine: widgets → a validated :class:`JobConfig` → a trained (or stored) result.

:func:`train_or_fetch` is the single place the app starts training. Today it calls
:func:`kdcore.train.run_job` directly; when the job runner (``kdcore.jobs``, with its queue) lands,
only this function changes.

Tiny mode: with the environment variable ``KD_APP_TINY`` set (``1`` for the default caps, or
``TRAIN,TEST,EPOCHS`` such as ``256,128,1``) every job the app builds is capped to that many training
and test examples and epochs, teacher included. Tests and the browser end-to-end run use it so a
"train" click finishes in seconds; the page says when it is on.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from kdcore.config import ConfigError, JobConfig, course_student, course_teacher, validate
from kdcore.losses import LOSSES
from kdcore.store import open_store
from kdcore.views.results import confusion_frame, history_frame, result_row

TINY_DEFAULT = (256, 128, 1)
# Teachers in tiny mode get one more epoch than students (MHIST teachers: one more head epoch), so an
# early-stopped teacher (fewer epochs than the full one) still exists.
TINY_TEACHER_EPOCHS = 2


@dataclass(frozen=True)
class TinyCaps:
    train_limit: int
    test_limit: int
    epochs: int


def tiny_caps() -> TinyCaps | None:
    """The caps of ``KD_APP_TINY`` (see the module docstring), or None when it is unset/0."""
    raw = os.environ.get("KD_APP_TINY", "").strip()
    if raw in ("", "0", "false", "False"):
        return None
    if raw in ("1", "true", "True"):
        return TinyCaps(*TINY_DEFAULT)
    try:
        a, b, c = (int(v) for v in raw.split(","))
    except ValueError as e:
        raise ConfigError(f"KD_APP_TINY={raw!r}: use 1, or TRAIN,TEST,EPOCHS such as 256,128,1") from e
    return TinyCaps(a, b, c)


def parse_hidden(text: str) -> tuple[int, ...]:
    """``"784,784"`` → ``(784, 784)``; raises :class:`ConfigError` saying what a valid entry looks like."""
    parts = [p.strip() for p in str(text).replace(";", ",").replace("x", ",").split(",")]
    parts = [p for p in parts if p]
    if not parts:
        raise ConfigError("hidden sizes are empty: enter comma-separated layer widths, e.g. 784,784 or 32")
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError as e:
        raise ConfigError(f"hidden sizes {text!r} are not whole numbers: enter e.g. 784,784 or 128,64") from e
    if any(s < 1 or s > 8192 for s in sizes):
        raise ConfigError(f"hidden sizes must be between 1 and 8192 (got {list(sizes)}); e.g. 784,784")
    if len(sizes) > 8:
        raise ConfigError(f"at most 8 hidden layers (got {len(sizes)}); e.g. 784,784")
    return sizes


BAN_GENERATIONS = 2  # the lab's BAN ensemble: generations 1 and 2 (each a teacher-sized training)


DEFAULT_CNN_WIDTH = 8  # StudentCNN's default width

# The form's settings, and what picking a method changes in them: the documented defaults each method's
# shipped results were measured with (``python -m kdcore sweep --suite methods``), so the first run of a
# method with its own settings is answered from the store at once.
FORM_DEFAULTS: dict[str, object] = {"student": "student_mlp", "hidden": "784,784", "width": DEFAULT_CNN_WIDTH,
                                    "T": 4.0, "alpha": 0.5, "epochs": 12}
METHOD_FORM_DEFAULTS: dict[str, dict[str, object]] = {
    "fitnet": {"student": "student_cnn"},  # conv-feature hints; the MLP gets a vector hint
    "attention": {"student": "student_cnn", "alpha": 0.0},  # AT alone, as measured
    "born_again": {"T": 1.0, "alpha": 1.0},  # the paper: teacher outputs only
    "ban_ensemble": {"T": 1.0, "alpha": 1.0},
    "takd": {"hidden": "32"},  # an assistant (392 units) only helps a student smaller than itself
}


def form_defaults(method: str) -> dict[str, object]:
    """The Distill lab form's settings for ``method`` (keys: student, hidden, width, T, alpha, epochs)."""
    return {**FORM_DEFAULTS, **METHOD_FORM_DEFAULTS.get(method, {})}


def methods() -> list[tuple[str, str]]:
    """(name, title) of every registered method that trains a student, for the method picker."""
    return [(k, s.title) for k, s in LOSSES.items() if k != "subclass_teacher"]


def _cap(config: JobConfig, caps: TinyCaps | None, teacher: bool = False) -> JobConfig:
    if caps is None:
        return config
    if config.dataset.startswith("mhist"):  # two-stage schedule: caps apply to stage 1, no fine-tune
        # ... except for feature methods (FitNets, AT): their maps are trained only by fine-tuning
        stage2 = 1 if LOSSES[config.method].teacher_features else 0
        stage1 = max(TINY_TEACHER_EPOCHS, caps.epochs) if teacher else caps.epochs
        params = {**dict(config.method_params), "stage1_epochs": stage1, "stage2_epochs": stage2}
        return config.replace(train_limit=caps.train_limit, test_limit=caps.test_limit,
                              method_params=tuple(params.items()))
    epochs = max(TINY_TEACHER_EPOCHS, caps.epochs) if teacher else min(config.epochs, caps.epochs)
    return config.replace(train_limit=caps.train_limit, test_limit=caps.test_limit, epochs=epochs)


def method_job(method: str, teacher: JobConfig, student: JobConfig) -> JobConfig:
    """``student`` (a config carrying the student's data, architecture, size, T, α and settings) as a
    ``method`` job, with the method's own teacher arrangement: born-again and its ensemble take the
    teacher's architecture, subclass distillation a subclass teacher, TAKD an assistant, the
    early-stopped method a shorter teacher (:func:`default_stop_epochs`); every other KD method
    distils ``teacher`` directly. Used by the Distill lab and ``python -m kdcore sweep``."""
    if method not in LOSSES:
        raise ConfigError(f"unknown method {method!r}; choose one of {', '.join(sorted(LOSSES))}")
    temperature, alpha = student.temperature, student.alpha
    if not LOSSES[method].needs_teacher:
        return student.replace(method=method, teacher=None)
    if method in ("born_again", "ban_ensemble"):
        from kdcore.losses.born_again import ban_ensemble_config, born_again_configs

        generations = born_again_configs(teacher, 1 if method == "born_again" else BAN_GENERATIONS,
                                         alpha=alpha, temperature=temperature)
        return generations[0] if method == "born_again" else ban_ensemble_config(generations[-1])
    if method == "subclass":
        from kdcore.losses.subclass import subclass_configs

        return subclass_configs(teacher, student)[1]
    if method == "takd":
        from kdcore.losses.takd import teacher_assistant_configs

        return teacher_assistant_configs(teacher, student=student)[1]
    if method == "early_stopped":
        from kdcore.losses.early_stop import default_stop_epochs, early_stopped_teacher

        return student.replace(method=method, teacher=early_stopped_teacher(teacher, default_stop_epochs(teacher)))
    return student.replace(method=method, teacher=teacher)


def lab_config(dataset: str, method: str, hidden_text: str = "784,784", student: str = "student_mlp",
               width: int = 8, temperature: float = 4.0, alpha: float = 0.5, epochs: int = 12,
               seed: int = 0) -> JobConfig:
    """The job of the lab's form, validated; the method's own teacher arrangement is applied (born-again:
    the teacher's architecture; subclass: a subclass teacher; TAKD: an assistant; early-stopped: a
    shorter teacher). Raises :class:`ConfigError` with the fix."""
    if method not in LOSSES:
        raise ConfigError(f"unknown method {method!r}; choose one of {', '.join(sorted(LOSSES))}")
    caps = tiny_caps()
    teacher = _cap(course_teacher(dataset, seed=seed), caps, teacher=True)
    params: dict = {}
    overrides: dict = {"epochs": int(epochs)}
    if student == "student_mlp":
        overrides["hidden"] = parse_hidden(hidden_text)
    elif student == "student_cnn" and int(width) != DEFAULT_CNN_WIDTH:  # the default stays implicit: one key
        params["width"] = int(width)
    if method == "fitnet" and student == "student_mlp" and not dataset.startswith("mhist"):
        params.update(hint_layer="fc", guided_layer="fc1")  # no feature maps in an MLP: a vector hint
    base = course_student(dataset, "scratch", seed=seed, **overrides)
    if not dataset.startswith("mhist"):
        base = base.replace(arch=student)
    base = _cap(base.replace(temperature=float(temperature), alpha=float(alpha), method_params=tuple(params.items())),
                caps)
    config = method_job(method, teacher, base)
    if LOSSES[method].teacher_features:
        config = _cap(config, caps)  # again: on the MHIST pair the caps depend on the method
    return validate(config)


def train_or_fetch(config: JobConfig, progress: Callable[[dict], None] | None = None,
                   poll_s: float = 0.2) -> dict:
    """Run ``config`` through the job runner (or return its stored result at once: ``result["cached"]``).

    The one place the app starts a job. Every request goes through :func:`kdcore.jobs.get_runner`:
    a bounded queue, so thirty people pressing *Train* wait their turn instead of exhausting the
    host, and identical requests share one computation. ``progress`` is called **in the caller's
    thread** (Streamlit elements can only be updated from the script thread) with the loop's
    events and, while queued, ``{"stage": "queue", "message": "queued: your job is 3rd in the queue"}``.
    If the caller stops waiting (a Streamlit rerun interrupts the script), the request is cancelled;
    the computation stops only when no one else waits for it.

    A stored result answers even without its weights (most shipped results carry none): the pages
    only show it. A job that later *distils from* it trains the weights it needs (``run_job``).
    """
    import queue

    from kdcore.jobs import get_runner
    from kdcore.train import job_key

    validate(config)
    if (stored := open_store().get(job_key(config))) is not None:
        return {**stored, "cached": True}
    handle = get_runner().submit(config)
    events: queue.Queue[dict] = queue.Queue()
    unsubscribe = handle.subscribe(events.put)
    finished = False
    try:
        if progress is not None and not handle.done():
            progress({"stage": "queue", "message": handle.status().describe()})
        while not handle.done():
            try:
                event = events.get(timeout=poll_s)
            except queue.Empty:
                continue
            if progress is None:
                continue
            if event.get("stage") in ("queue", "state"):
                progress({"stage": "queue", "message": handle.status().describe()})
            else:
                progress(event)
        result = handle.result()
        finished = True
        return result
    finally:
        unsubscribe()
        if not finished and not handle.done():
            handle.cancel()


def baselines(config: JobConfig, progress: Callable[[dict], None] | None = None) -> dict[str, dict]:
    """The course teacher and the scratch student of the same data, size, epochs and seed (stored
    after their first run): ``{"teacher": result, "scratch student": result}``."""
    caps = tiny_caps()
    teacher = _cap(course_teacher(config.dataset, seed=config.seed), caps, teacher=True)
    scratch = config.replace(method="scratch", teacher=None)
    if scratch.arch in ("teacher_cnn", "resnetv2_50"):  # born-again: its student is the teacher's arch
        scratch = teacher
    out = {"teacher": train_or_fetch(teacher, progress)}
    if scratch != teacher:
        out["scratch student"] = train_or_fetch(scratch, progress)
    return out


def comparison_frame(results: dict[str, dict]) -> pd.DataFrame:
    """Side-by-side table (one row per model) of the lab's result and its baselines."""
    rows = []
    for label, r in results.items():
        row = result_row(r)
        rows.append({
            "model": label, "setting": row["model"], "accuracy %": 100 * row["accuracy"],
            "F1 %": 100 * row["f1"] if row["f1"] is not None else None,
            "AUC %": 100 * row["auc"] if row["auc"] is not None else None,
            "MFLOPs": row["flops"] / 1e6 if row["flops"] is not None else None, "params": row["params"],
            "latency ms": row["latency_ms"], "size MB": (row["weights_bytes"] or 0) / 1e6,
            "train/test": f"{row['n_train']}/{row['n_test']}", "data": row["data"],
        })
    return pd.DataFrame(rows).round({"accuracy %": 2, "F1 %": 2, "AUC %": 2, "MFLOPs": 3, "latency ms": 3,
                                     "size MB": 2})


# KD methods the MHIST page offers for ResNetV2-50 → MobileNetV2 (issue 5: every method on both pairs).
# Three differ from the MNIST pair in how the pipeline is built (:func:`pipeline_configs`): the
# early-stopped teacher stops inside the two-stage schedule (``early_stopped_teacher`` counts head, then
# fine-tuning epochs), the born-again student is a second ResNetV2-50, and teacher-assistant KD puts a
# ResNet-18 between teacher and student. Not offered: the BAN ensemble (two more ResNetV2-50 trainings).
MHIST_METHODS: tuple[str, ...] = ("hinton", "dkd", "attention", "fitnet", "subclass", "early_stopped", "born_again",
                                  "takd")
# What a method costs beyond the teacher → scratch → KD student pipeline (one sentence each, shown by the page).
MHIST_METHOD_NOTES: dict[str, str] = {
    "attention": "Attention transfer runs the teacher on every fine-tuning batch (about twice the time).",
    "fitnet": "FitNets runs the teacher on every fine-tuning batch (about twice the time).",
    "subclass": "Subclass distillation trains its own ResNetV2-50 subclass teacher first.",
    "early_stopped": "The early-stopped teacher is a second ResNetV2-50 run that stops halfway through "
                     "fine-tuning (or through the head epochs when there is none).",
    "born_again": "The born-again student is a second ResNetV2-50 (23.5M parameters, as slow as the teacher on "
                  "CPU) distilled from the first at T = 1, α = 1; the teacher itself is its from-scratch baseline.",
    "takd": "Teacher-assistant KD trains an extra network, a ResNet-18 assistant (11.2M parameters) distilled from "
            "the teacher, then distils the MobileNetV2 from the assistant.",
}


def mhist_methods() -> list[tuple[str, str]]:
    """(name, title) of the KD methods the MHIST pipeline can run, for its method picker."""
    return [(k, LOSSES[k].title) for k in MHIST_METHODS]


def pipeline_configs(dataset: str, seed: int = 0, method: str = "hinton") -> list[JobConfig]:
    """The course pipeline of one data set, the teacher first and the KD student trained with ``method``
    last (tiny caps apply); the jobs between are its baselines and intermediate networks:

    - most methods: teacher, scratch student, KD student.
    - ``subclass``: the teacher is a subclass teacher (2 subclasses per class: the binary task the
      method was made for) and the student distils its subclass logits.
    - ``early_stopped`` (Cho & Hariharan 2019): teacher, scratch student, the same teacher stopped
      early (:func:`~kdcore.losses.early_stop.default_stop_epochs`), the student distilled from it.
    - ``born_again`` (Furlanello et al. 2018): teacher and generation 1 only; the student has the
      teacher's architecture, so the label-trained teacher *is* its scratch baseline (as in :func:`baselines`).
    - ``takd`` (Mirzadeh et al. 2020): teacher, scratch student, the assistant distilled from the teacher
      (ResNet-18 on MHIST; a 392-unit MLP on MNIST, whose student then has 32 hidden units, as in
      ``kdcore.precompute.method_configs``), the student distilled from the assistant.
    """
    caps = tiny_caps()
    over: dict = {}
    if dataset == "mhist_synthetic":
        from kdcore.train.transfer import STANDIN_SCHEDULE

        over["method_params"] = STANDIN_SCHEDULE
    teacher = course_teacher(dataset, seed=seed, **over)
    scratch = _cap(course_student(dataset, "scratch", seed=seed, **over), caps)
    if method == "subclass":
        from kdcore.losses.subclass import subclass_configs

        teacher, kd = subclass_configs(teacher, course_student(dataset, "hinton", seed=seed, teacher=teacher, **over))
        teacher = _cap(teacher, caps, teacher=True)
        kd = _cap(kd.replace(teacher=teacher), caps)
        jobs = [teacher, scratch, kd]
    elif method == "born_again":
        from kdcore.losses.born_again import born_again_configs

        teacher = _cap(teacher, caps, teacher=True)
        jobs = [teacher, born_again_configs(teacher, 1)[0]]  # generation 1 keeps the teacher's schedule and caps
    elif method == "early_stopped":
        from kdcore.losses.early_stop import default_stop_epochs, early_stopped_teacher

        teacher = _cap(teacher, caps, teacher=True)
        early = early_stopped_teacher(teacher, default_stop_epochs(teacher))
        jobs = [teacher, scratch, early, _cap(course_student(dataset, method, seed=seed, teacher=early, **over), caps)]
    elif method == "takd":
        from kdcore.losses.takd import teacher_assistant_configs

        if not dataset.startswith("mhist"):  # the MNIST student must be smaller than the 392-unit assistant
            over["hidden"] = (32,)
            scratch = _cap(course_student(dataset, "scratch", seed=seed, **over), caps)
        teacher = _cap(teacher, caps, teacher=True)
        student = _cap(course_student(dataset, method, seed=seed, teacher=teacher, **over), caps)
        jobs = [teacher, scratch, *teacher_assistant_configs(teacher, student=student)]
    else:
        teacher = _cap(teacher, caps, teacher=True)
        kd = _cap(course_student(dataset, method, seed=seed, teacher=teacher, **over), caps)
        jobs = [teacher, scratch, kd]
    return [validate(c) for c in jobs]


@dataclass
class LabOutcome:
    """What the lab page draws after a run."""

    result: dict
    table: pd.DataFrame
    confusion: pd.DataFrame
    history: pd.DataFrame
    cached: bool


def run_lab(config: JobConfig, progress: Callable[[dict], None] | None = None) -> LabOutcome:
    """Train or fetch ``config`` and its baselines; return the frames the page draws."""
    result = train_or_fetch(config, progress)
    base = baselines(config, progress)
    # a BAN ensemble trains nothing itself: its generations' rows say what the averaging added
    store = open_store()
    members = {f"generation {k}": m for k, key in enumerate(result.get("members", []), start=1)
               if (m := store.get(key)) is not None}
    table = comparison_frame({"this run": result, **members, **base})
    return LabOutcome(result=result, table=table, confusion=confusion_frame(result),
                      history=history_frame(result.get("history", [])), cached=bool(result.get("cached")))


__all__ = [
    "LabOutcome", "TinyCaps", "baselines", "comparison_frame", "lab_config", "methods", "parse_hidden",
    "mhist_methods",
    "pipeline_configs",
    "run_lab", "tiny_caps", "train_or_fetch",
]
