"""The Distill lab's view: widgets → a validated :class:`JobConfig` → a trained (or stored) result.

What a method needs (its teacher arrangement, form defaults, MHIST note) is asked of its
:class:`~kdcore.methods.Method`; every job goes through the job runner (:func:`train_or_fetch`).

Tiny mode: with the environment variable ``KD_APP_TINY`` set (``1`` for the default caps, or
``TRAIN,TEST,EPOCHS`` such as ``256,128,1``) every job the app builds is capped to that many training
and test examples and epochs, teacher included. Tests and the browser end-to-end run use it so a
"train" click finishes in seconds; the page says when it is on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from kdcore.config import ConfigError, JobConfig
from kdcore.course import course_student, course_teacher
from kdcore.data.pairs import data_pair
from kdcore.methods import METHODS, get_method, validate
from kdcore.settings import settings
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
    """The caps of ``KD_APP_TINY`` (:mod:`kdcore.settings`; see the module docstring), or None when off."""
    caps = settings().app_tiny
    return TinyCaps(*caps) if caps is not None else None


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


DEFAULT_CNN_WIDTH = 8  # StudentCNN's default width

# The form's settings; picking a method applies its ``Method.form_defaults`` on top (the documented
# defaults its shipped results were measured with, so its first run is answered from the store at once).
FORM_DEFAULTS: dict[str, object] = {"student": "student_mlp", "hidden": "784,784", "width": DEFAULT_CNN_WIDTH,
                                    "T": 4.0, "alpha": 0.5, "epochs": 12}


def form_defaults(method: str) -> dict[str, object]:
    """The Distill lab form's settings for ``method`` (keys: student, hidden, width, T, alpha, epochs)."""
    chosen = get_method(method)
    paper = {{"temperature": "T"}.get(k, k): v for k, v in chosen.student_settings.items()}
    return {**FORM_DEFAULTS, **paper, **chosen.form_defaults}


def methods() -> list[tuple[str, str]]:
    """(name, title) of every registered method a student can be trained with, for the method picker."""
    return [(k, m.title) for k, m in METHODS.items() if m.in_picker]


def _cap(config: JobConfig, caps: TinyCaps | None, teacher: bool = False) -> JobConfig:
    if caps is None:
        return config
    if data_pair(config.dataset).transfer:  # two-stage schedule: caps apply to stage 1, no fine-tune
        # ... except for feature methods (FitNets, AT): their maps are trained only by fine-tuning
        stage2 = 1 if get_method(config.method).teacher_features else 0
        stage1 = max(TINY_TEACHER_EPOCHS, caps.epochs) if teacher else caps.epochs
        params = {**dict(config.method_params), "stage1_epochs": stage1, "stage2_epochs": stage2}
        return config.replace(train_limit=caps.train_limit, test_limit=caps.test_limit,
                              method_params=tuple(params.items()))
    epochs = max(TINY_TEACHER_EPOCHS, caps.epochs) if teacher else min(config.epochs, caps.epochs)
    return config.replace(train_limit=caps.train_limit, test_limit=caps.test_limit, epochs=epochs)


def lab_config(dataset: str, method: str, hidden_text: str = "784,784", student: str = "student_mlp",
               width: int = 8, temperature: float = 4.0, alpha: float = 0.5, epochs: int = 12,
               seed: int = 0) -> JobConfig:
    """The job of the lab's form, validated; the method's own teacher arrangement is applied (born-again:
    the teacher's architecture; subclass: a subclass teacher; TAKD: an assistant; early-stopped: a
    shorter teacher). Raises :class:`ConfigError` with the fix."""
    chosen = get_method(method)
    caps = tiny_caps()
    teacher = _cap(course_teacher(dataset, seed=seed), caps, teacher=True)
    params: dict = {}
    overrides: dict = {"epochs": int(epochs)}
    if student == "student_mlp":
        overrides["hidden"] = parse_hidden(hidden_text)
    elif student == "student_cnn" and int(width) != DEFAULT_CNN_WIDTH:  # the default stays implicit: one key
        params["width"] = int(width)
    base = course_student(dataset, "scratch", seed=seed, **overrides)
    if not data_pair(dataset).transfer:  # the MNIST-style pairs offer other students
        base = base.replace(arch=student)
    base = _cap(base.replace(temperature=float(temperature), alpha=float(alpha), method_params=tuple(params.items())),
                caps)
    config = chosen.job(teacher, base)
    if chosen.teacher_features:
        config = _cap(config, caps)  # again: on the MHIST pair the caps depend on the method
    return validate(config)


def train_or_fetch(config: JobConfig, progress: Callable[[dict], None] | None = None,
                   poll_s: float = 0.2) -> dict:
    """The lab's one way to a result: :func:`kdcore.jobs.submit.run_through_runner` (queue, de-duplication,
    memory guard, progress in the caller's thread, cancel when the caller stops waiting)."""
    from kdcore.jobs.submit import run_through_runner

    return run_through_runner(config, progress=progress, poll_s=poll_s)


def baselines(config: JobConfig, progress: Callable[[dict], None] | None = None) -> dict[str, dict]:
    """The course teacher and the scratch student of the same data, size, epochs and seed (stored
    after their first run): ``{"teacher": result, "scratch student": result}``."""
    caps = tiny_caps()
    teacher = _cap(course_teacher(config.dataset, seed=config.seed), caps, teacher=True)
    scratch = config.replace(method="scratch", teacher=None)
    if not get_method(config.method).scratch_baseline:  # born-again: its student is the teacher's arch
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


# What each method the MHIST page offers costs there beyond teacher → scratch → KD student (its
# ``Method.mhist_note``; the page shows it under the picker).
MHIST_METHOD_NOTES: dict[str, str] = {k: m.mhist_note for k, m in METHODS.items() if m.mhist_note}


def mhist_methods() -> list[tuple[str, str]]:
    """(name, title) of the KD methods the MHIST pipeline can run (``Method.mhist_note`` set), for its picker."""
    return [(k, m.title) for k, m in METHODS.items() if m.offered_on_mhist]


def pipeline_configs(dataset: str, seed: int = 0, method: str = "hinton") -> list[JobConfig]:
    """The course pipeline of one data set, the teacher first and the KD student trained with ``method``
    last (tiny caps apply): teacher, scratch student (unless the method's student has the teacher's
    architecture: born-again), then the method's own jobs (:meth:`kdcore.methods.Method.jobs`: an
    early-stopped teacher, an assistant, …). A method with its own teacher (subclass) puts that first.
    """
    chosen = get_method(method)
    caps = tiny_caps()
    over: dict = {}
    if dataset == "mhist_synthetic":
        from kdcore.train.transfer import STANDIN_SCHEDULE

        over["method_params"] = STANDIN_SCHEDULE
    for name, value in chosen.form_defaults.items():  # e.g. TAKD's student is smaller than its assistant
        if name == "hidden" and data_pair(dataset).student_hidden is not None:
            over["hidden"] = parse_hidden(str(value))
    teacher = _cap(course_teacher(dataset, seed=seed, **over), caps, teacher=True)
    scratch = _cap(course_student(dataset, "scratch", seed=seed, **over), caps)
    student = course_student(dataset, "scratch", seed=seed, **over).replace(method=method, **chosen.student_settings)
    jobs = chosen.jobs(teacher, _cap(student, caps))
    if chosen.own_teacher:
        jobs = [jobs[0], scratch, *jobs[1:]]
    else:
        jobs = [teacher, *([scratch] if chosen.scratch_baseline else []), *jobs]
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
    "FORM_DEFAULTS", "LabOutcome", "MHIST_METHOD_NOTES", "TinyCaps", "baselines", "comparison_frame", "form_defaults",
    "lab_config", "methods", "mhist_methods", "parse_hidden", "pipeline_configs", "run_lab", "tiny_caps",
    "train_or_fetch",
]
