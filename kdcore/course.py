"""The one job builder: every :class:`~kdcore.config.JobConfig` the app, the CLI, precompute and the bench submit.

- the course's teacher and student per data set (:func:`course_teacher`, :func:`course_student`; handout +
  issue 2 defaults, read off the data set's :class:`~kdcore.data.pairs.DataPair`);
- a method's jobs with its teacher arrangement (:meth:`kdcore.methods.Method.jobs`), its student defaults
  (:class:`~kdcore.methods.StudentDefaults`) and its paper settings (``student_settings``);
- the Distill lab's form (:func:`lab_job`), the course pipeline of one data set (:func:`pipeline_jobs`: the MHIST
  page and precompute), the CLI's ``distill`` (:func:`distil_job`) and ``sweep`` (:func:`sweep_jobs`), the method
  suite behind the shipped method results (:func:`method_suite`);
- tiny mode (:func:`tiny_caps`): with ``KD_APP_TINY`` set (``1`` for the default caps, or ``TRAIN,TEST,EPOCHS`` such
  as ``256,128,1``) every job the app builds is capped to that many training and test examples and epochs, teacher
  included, so a "train" click in tests and the browser end-to-end run finishes in seconds.

Builders return configs; :func:`kdcore.jobs.submit.run_through_runner` validates and keys each once on its way in
(the lab's and the pipeline's are validated here too, so the page refuses a bad form before anything is queued).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kdcore.config import DEFAULT_ALPHA, DEFAULT_T, ConfigError, JobConfig, parse_hidden
from kdcore.data.pairs import data_pair, folder_root
from kdcore.methods import get_method, method_job, scratch_twin, validate
from kdcore.methods.base import COMMON_PARAMS
from kdcore.settings import settings

SEEDS = (0, 1, 2)
# What a student's overrides (the CLI's --data-source …) pass on to its course teacher: the same data. Its size
# and schedule stay the course's, so every student of a data set distils one teacher.
TEACHER_OVERRIDES = ("data_source",)
DEFAULT_CNN_WIDTH = 8  # StudentCNN's default width: left implicit in a job, so the default has one key


def course_teacher(dataset: str = "mnist", seed: int = 0, **overrides: Any) -> JobConfig:
    """The course's teacher job for ``dataset`` (MNIST-style CNN, or ResNetV2-50 for MHIST). A folder data set's
    jobs read its registered folder (:func:`kdcore.data.pairs.folder_root`)."""
    pair = data_pair(dataset)
    base = JobConfig(dataset=dataset, arch=pair.teacher_arch, method="scratch", seed=seed,
                     batch_size=pair.teacher_batch_size, lr=pair.teacher_lr, data_dir=folder_root(dataset))
    return base.replace(**overrides) if overrides else base


def course_student(
    dataset: str = "mnist",
    method: str = "scratch",
    seed: int = 0,
    temperature: float = DEFAULT_T,
    alpha: float = DEFAULT_ALPHA,
    teacher: JobConfig | None = None,
    **overrides: Any,
) -> JobConfig:
    """The course's student job; a KD method gets the matching course teacher unless given one."""
    pair = data_pair(dataset)
    extra_defaults: dict[str, Any] = {"batch_size": pair.student_batch_size, "lr": pair.student_lr}
    if get_method(method).needs_teacher and teacher is None:
        teacher = course_teacher(dataset, seed=seed)
    if not get_method(method).needs_teacher:
        teacher = None
    cfg = JobConfig(
        dataset=dataset, arch=pair.student_arch, method=method, seed=seed, temperature=temperature, alpha=alpha,
        teacher=teacher, data_dir=folder_root(dataset), **extra_defaults,
    )
    return cfg.replace(**overrides) if overrides else cfg


def method_student(dataset: str, method: str, seed: int = 0, **overrides: Any) -> JobConfig:
    """The student ``method``'s documented results use (before its arrangement): the course student with the
    method's :class:`~kdcore.methods.StudentDefaults` (on the MNIST-style pairs, where the students differ) and its
    paper settings (``student_settings``: born-again's T = 1, α = 1)."""
    chosen = get_method(method)
    student = course_student(dataset, "scratch", seed=seed, **overrides)
    if not data_pair(dataset).transfer:
        student = chosen.student_defaults.apply(student)
    return student.replace(**chosen.student_settings)


# ---- tiny mode (the app's) -----------------------------------------------------------------------
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


def cap(config: JobConfig, caps: TinyCaps | None, teacher: bool = False) -> JobConfig:
    """``config`` within the tiny caps (unchanged when ``caps`` is None); ``teacher``: one more epoch."""
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


def app_teacher(dataset: str, seed: int = 0) -> JobConfig:
    """The course teacher as the app builds it (tiny caps apply): the lab's baseline and its stages' "teacher"."""
    return cap(course_teacher(dataset, seed=seed), tiny_caps(), teacher=True)


# ---- the app's jobs ------------------------------------------------------------------------------
def lab_job(dataset: str, method: str, hidden_text: str = "784,784", student: str = "student_mlp",
            width: int = 8, temperature: float = 4.0, alpha: float = 0.5, epochs: int = 12,
            seed: int = 0, l1: float = 0.0) -> JobConfig:
    """The job of the Distill lab's form, validated; the method's own teacher arrangement is applied (born-again:
    the teacher's architecture; subclass: a subclass teacher; TAKD: an assistant; early-stopped: a
    shorter teacher). ``l1``: the student's L1 penalty λ (sparse regularisation; its scratch twin keeps it, the
    teacher never has one). Raises :class:`ConfigError` with the fix."""
    chosen = get_method(method)
    caps = tiny_caps()
    teacher = cap(course_teacher(dataset, seed=seed), caps, teacher=True)
    params: dict = {}
    overrides: dict = {"epochs": int(epochs)}
    transfer = data_pair(dataset).transfer  # its student is the pair's own (MobileNetV2): the MLP/CNN fields do nothing
    if student == "student_mlp" and not transfer:
        overrides["hidden"] = parse_hidden(hidden_text)
    elif student == "student_cnn" and not transfer and int(width) != DEFAULT_CNN_WIDTH:  # the default stays implicit
        params["width"] = int(width)
    base = course_student(dataset, "scratch", seed=seed, **overrides)
    if not transfer:  # the MNIST-style pairs offer other students
        base = base.replace(arch=student)
    base = cap(base.replace(temperature=float(temperature), alpha=float(alpha), method_params=tuple(params.items()),
                            l1=float(l1)), caps)
    config = chosen.job(teacher, base)
    if chosen.teacher_features:
        config = cap(config, caps)  # again: on the MHIST pair the caps depend on the method
    return validate(config)


def pipeline_jobs(dataset: str, seed: int = 0, method: str = "hinton") -> list[JobConfig]:
    """The course pipeline of one data set, the teacher first and the KD student trained with ``method``
    last (tiny caps apply), validated: teacher, scratch student (unless the method's student has the teacher's
    architecture: born-again), then the method's own jobs (:meth:`kdcore.methods.Method.jobs`: an
    early-stopped teacher, an assistant, …). A method with its own teacher (subclass) puts that first.
    Every job carries the data set's ``DataPair.pipeline_params`` (the stand-in's short schedule).
    """
    chosen = get_method(method)
    pair = data_pair(dataset)
    caps = tiny_caps()
    over: dict = {}
    if pair.pipeline_params:
        over["method_params"] = pair.pipeline_params
    if chosen.student_defaults.hidden is not None and pair.student_hidden is not None:
        over["hidden"] = tuple(chosen.student_defaults.hidden)  # e.g. TAKD's student is smaller than its assistant
    teacher = cap(course_teacher(dataset, seed=seed, **over), caps, teacher=True)
    scratch = cap(course_student(dataset, "scratch", seed=seed, **over), caps)
    student = course_student(dataset, "scratch", seed=seed, **over).replace(method=method, **chosen.student_settings)
    jobs = chosen.jobs(teacher, cap(student, caps))
    if chosen.own_teacher:
        jobs = [jobs[0], scratch, *jobs[1:]]
    else:
        jobs = [teacher, *([scratch] if chosen.scratch_baseline else []), *jobs]
    return [validate(c) for c in jobs]


# ---- the command line's jobs ---------------------------------------------------------------------
def distil_job(dataset: str, method: str, seed: int = 0, temperature: float | None = None,
               alpha: float | None = None, teacher_epochs: int | None = None, **overrides: Any) -> JobConfig:
    """One ``method`` student (``python -m kdcore distill``), its teacher chain included: the course student with
    ``overrides`` (hidden, arch, epochs, limits, method_params …) and the method's paper settings unless T / α are
    given, arranged by the method from the course teacher (its data source as asked; ``teacher_epochs``)."""
    chosen = get_method(method)  # an unknown name is refused here, with the known ones
    teacher_over = {k: v for k, v in overrides.items() if k in TEACHER_OVERRIDES}
    if teacher_epochs is not None:
        teacher_over["epochs"] = teacher_epochs
    teacher = course_teacher(dataset, seed=seed, **teacher_over)
    asked = {"temperature": DEFAULT_T, "alpha": DEFAULT_ALPHA, **chosen.student_settings}
    for name, value in (("temperature", temperature), ("alpha", alpha)):
        if value is not None:
            asked[name] = value
    student = course_student(dataset, "scratch", seed=seed, **asked, **overrides)
    return chosen.job(teacher, student)  # its teacher arrangement: early-stopped, assistant …


def sweep_jobs(dataset: str, method: str, temperatures: Sequence[float], alphas: Sequence[float],
               seeds: Sequence[int], **overrides: object) -> list[JobConfig]:
    """Teacher + scratch student per seed, then one ``method`` job per (T, alpha, seed), with the method's
    teacher arrangement (:meth:`kdcore.methods.Method.job`: born-again, subclass, TAKD, early-stopped)."""
    student_over = dict(overrides)
    teacher_over = {k: v for k, v in overrides.items() if k in TEACHER_OVERRIDES}
    configs: list[JobConfig] = []
    for seed in seeds:
        configs.append(course_teacher(dataset, seed=seed, **teacher_over))
        # the from-scratch baseline keeps the settings every job takes (a CNN's width), not the method's own
        configs.append(scratch_twin(course_student(dataset, "scratch", seed=seed, **student_over)))

    for seed, t, al in itertools.product(seeds, temperatures, alphas):
        student = course_student(dataset, "scratch", seed=seed, temperature=t, alpha=al, **student_over)
        configs.append(method_job(method, course_teacher(dataset, seed=seed, **teacher_over), student))
    return configs


def method_suite(dataset: str, seeds: Iterable[int] = SEEDS) -> list[JobConfig]:
    """Each issue-5 method with its documented defaults, on the pair it applies to: each method's jobs as
    its :class:`~kdcore.methods.Method` arranges them from its own student (:func:`method_student`: the same jobs
    the Distill lab builds), plus the from-scratch students they are compared with and two comparisons of the
    suite's own: Hinton KD on the CNN and on the small (32-unit) student, FitNets' vector hint on the MLP."""
    from kdcore.config import ConfigError
    from kdcore.methods.fitnet import VECTOR_HINT

    if data_pair(dataset).transfer:
        raise ConfigError(f"the method suite runs on the MNIST-style data sets (its CNN and MLP students); {dataset} "
                          "has the MHIST page's pipeline instead: python -m kdcore precompute --only mhist")
    out: list[JobConfig] = []
    for s in seeds:
        t = course_teacher(dataset, seed=s)
        mlp = course_student(dataset, "scratch", seed=s)
        cnn = mlp.replace(arch="student_cnn")
        small = method_student(dataset, "takd", seed=s)  # TAKD's: an assistant (392 units) helps a smaller student

        def jobs(name: str, student: JobConfig | None = None, t: JobConfig = t, s: int = s) -> list[JobConfig]:
            method = get_method(name)
            if student is None:
                return method.jobs(t, method_student(dataset, name, seed=s))
            return method.jobs(t, student.replace(**method.student_settings))

        out += [cnn, *jobs("hinton", cnn), *jobs("fitnet"), *jobs("attention"),
                *jobs("dkd"), *jobs("fitnet", mlp.replace(method_params=VECTOR_HINT)),
                *jobs("early_stopped"), *jobs("ban_ensemble"),
                small, *jobs("hinton", small), *jobs("takd"), *jobs("subclass")]
    return out


# ---- compression jobs (kdcore.compress) -------------------------------------------------------------------------
# The fine-tune after pruning in the suite: short, the course student's batch and learning rate.
SUITE_FINETUNE_EPOCHS = 2


def compress_job(start: JobConfig, transform: str, *, finetune: str = "labels", teacher: JobConfig | None = None,
                 **settings: Any) -> JobConfig:
    """The job that applies ``transform`` (a key of :data:`kdcore.compress.transforms.TRANSFORMS`) with
    ``settings`` (e.g. ``sparsity=0.5, finetune_epochs=2``) to the model of ``start`` (a training job or another
    compression job: chains nest). ``finetune``: "labels" (cross-entropy) or "kd" (Hinton KD from ``teacher``, by
    default the start's own teacher or the course teacher: "prune, then distil"). Validated here (ConfigError names
    the fix) so a page refuses bad settings before anything is queued."""
    if finetune not in ("labels", "kd"):
        raise ConfigError(f"finetune must be 'labels' or 'kd' (got {finetune!r})")
    from kdcore.compress.transforms import chain_root

    epochs = settings.get("finetune_epochs", 0)
    root = chain_root(start)  # the training job the chain starts from
    method, kd_teacher = "scratch", None
    if finetune == "kd" and epochs:
        method = "hinton"
        kd_teacher = teacher or root.teacher or course_teacher(start.dataset, seed=start.seed)
    # a fine-tune of an L1-trained start keeps its penalty; a job without one carries none (one key, no noise)
    job = start.replace(method=method, teacher=kd_teacher, start_from=start,
                        compress=(("transform", transform), *settings.items()),
                        method_params=tuple((k, v) for k, v in start.method_params if k in COMMON_PARAMS),
                        l1=root.l1 if epochs else 0.0)
    if method == "scratch":
        job = job.replace(temperature=DEFAULT_T, alpha=DEFAULT_ALPHA)
    validate(job)
    return job


def compression_chain(start: JobConfig, steps: Sequence[dict]) -> JobConfig:
    """``start`` → each of ``steps`` in turn (``{"transform": "prune", "sparsity": 0.9, "finetune_epochs": 2,
    "finetune": "kd"}``): the last step's job (its ``start_from`` chain holds the others)."""
    job = start
    for step in steps:
        step = dict(step)
        name = step.pop("transform")
        job = compress_job(job, name, **step)
    return job


def compression_suite(dataset: str = "fashion_mnist", seeds: Iterable[int] = SEEDS,
                      finetune_epochs: int = SUITE_FINETUNE_EPOCHS, l1: float | None = None,
                      **overrides: Any) -> list[JobConfig]:
    """Issue 25's comparison, for the course KD student (hinton) and its scratch twin, per seed: reference (ONNX
    float32), int8; 50 % and 90 % unstructured pruning + fine-tune (the KD student's with KD: prune, then distil);
    structured pruning to half the hidden units + fine-tune; 4-bit weight sharing; KD + 90 % pruning + int8; and
    sparse regularisation: each student trained with an L1 penalty of weight ``l1`` (default: the data set's
    ``DataPair.l1_weight``) and exported with the weights below :data:`kdcore.metrics.ZERO_THRESHOLD` set to 0
    (measured against its twin without the penalty).
    ``overrides`` (train_limit, epochs …) apply to the start models (tests)."""
    from kdcore.metrics import ZERO_THRESHOLD

    l1 = data_pair(dataset).l1_weight if l1 is None else float(l1)
    jobs = []
    for seed in seeds:
        kd = course_student(dataset, "hinton", seed=seed)
        kd = kd.replace(**overrides, teacher=kd.teacher.replace(**overrides)) if overrides else kd
        for start in (kd, scratch_twin(kd)):
            tune = "kd" if start.teacher is not None else "labels"
            ft = {"finetune_epochs": finetune_epochs, "finetune": tune}
            jobs += [
                compress_job(start, "onnx"),
                compress_job(start, "int8"),
                compress_job(start, "prune", sparsity=0.5, **ft),
                compress_job(start, "prune", sparsity=0.9, **ft),
                compress_job(start, "prune_structured", keep=0.5, **ft),
                compress_job(start, "share", bits=4),
                compression_chain(start, [{"transform": "prune", "sparsity": 0.9, **ft}, {"transform": "int8"}]),
                compress_job(start.replace(l1=l1), "onnx", zero_below=ZERO_THRESHOLD),
            ]
    return list(dict.fromkeys(jobs))


__all__ = ["SUITE_FINETUNE_EPOCHS", "compress_job", "compression_chain", "compression_suite",
           "DEFAULT_CNN_WIDTH", "SEEDS", "TEACHER_OVERRIDES", "TINY_DEFAULT", "TINY_TEACHER_EPOCHS", "TinyCaps",
           "app_teacher", "cap", "course_student", "course_teacher", "distil_job", "lab_job", "method_student",
           "method_suite", "pipeline_jobs", "sweep_jobs", "tiny_caps"]
