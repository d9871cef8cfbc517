"""``python -m kdcore precompute``: make the results the app ships in ``assets/store``.

Every shipped number is an ordinary job result, trained here by ``run_job`` into the working
store (``KD_STORE_DIR``), then exported: ``result.json`` of every job (metrics, curves, config,
data source, seed, date, versions) and the weights of the few models the app needs to open
instantly (the default teacher and students of each dataset, for the playground).

Parts (``--only``): :data:`PARTS`, each with what it makes (``python -m kdcore precompute --list``); each is
idempotent (finished jobs are never recomputed). An unknown part name is refused before anything runs.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import shutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from kdcore.config import ConfigError, JobConfig
from kdcore.course import SEEDS, course_student, course_teacher, method_suite, pipeline_jobs
from kdcore.data.pairs import data_pair, datasets
from kdcore.methods import METHODS, get_method
from kdcore.settings import Settings, settings
from kdcore.store import SHIPPED_STORE, STAGING_DIR, ResultStore, read_entry

COURSE_T = data_pair("mnist").temperatures  # the course's T sweep
ALPHAS = (0.1, 0.5, 0.9)
GRID_T = (1.0, 4.0, 16.0)


def core_configs(dataset: str, seeds: Iterable[int] = SEEDS, **over: object) -> list[JobConfig]:
    out = []
    for s in seeds:
        t = course_teacher(dataset, seed=s, **over)
        out += [t, course_student(dataset, "scratch", seed=s, **over),
                course_student(dataset, "hinton", seed=s, teacher=t, **over)]
    return out


def mnist_configs(profile: str) -> list[JobConfig]:
    seeds = SEEDS if profile != "quick" else (0,)
    out = core_configs("mnist", seeds)
    for s in seeds:
        t = course_teacher("mnist", seed=s)
        out += [course_student("mnist", "hinton", seed=s, temperature=T, teacher=t) for T in COURSE_T]
        out += [course_student("mnist", "hinton", seed=s, temperature=T, alpha=a, teacher=t) for T in GRID_T for a in ALPHAS]
        # smaller students: what KD buys grows as the student shrinks
        for hidden in ((256,), (32,)):
            out += [course_student("mnist", "scratch", seed=s, hidden=hidden),
                    course_student("mnist", "hinton", seed=s, hidden=hidden, teacher=t)]
    return out


# Each issue-5 method with its documented defaults (the jobs behind the shipped method results): the job builder's
method_configs = method_suite


def subclass_binary_configs(seeds: Iterable[int] = SEEDS) -> list[JobConfig]:
    """The subclass-distillation paper's own demo on the course pair: MNIST collapsed to 0–4 vs 5–9, a subclass
    teacher with 5 subclasses per class (the course CNN, β = 1, temperature 1 — the authors' notebook), and the
    course MLP student trained from scratch, by Hinton KD from the course teacher, and by subclass distillation."""
    out: list[JobConfig] = []
    for s in seeds:
        t = course_teacher("mnist_binary", seed=s)
        mlp = course_student("mnist_binary", "scratch", seed=s)
        out += [t, mlp, course_student("mnist_binary", "hinton", seed=s, teacher=t), *get_method("subclass").jobs(t, mlp)]
    return out


def subclass_sweep_configs(datasets: Iterable[str] | None = None, seeds: Iterable[int] | None = None,
                           results: list[dict] | None = None) -> list[JobConfig]:
    """The subclass teacher's auxiliary-loss temperature sweeps (:data:`kdcore.methods.subclass.AUX_TEMPERATURE_SWEEPS`,
    each cell's temperature explicit; ``seeds`` replaces a sweep's own) on the course teacher; every teacher records
    how it splits each class (``subclass_shares``). A sweep with finalists: every temperature on its first seed, and,
    given the stored ``results`` of that screen, its finalists (:func:`kdcore.sweeps.sweep_finalists`) on the
    other seeds. They pick each data set's ``DataPair.subclass_aux_temperature``."""
    from kdcore.methods.subclass import AUX_TEMPERATURE_SWEEPS, subclass_configs
    from kdcore.sweeps import sweep_finalists

    def teacher(dataset: str, seed: int, t: float) -> JobConfig:
        return subclass_configs(course_teacher(dataset, seed=seed), course_student(dataset, "scratch", seed=seed),
                                aux_temperature=t)[0]

    out: list[JobConfig] = []
    for sweep in (AUX_TEMPERATURE_SWEEPS[d] for d in (datasets or AUX_TEMPERATURE_SWEEPS)):
        run_seeds = tuple(sweep.seeds if seeds is None else seeds)
        if sweep.finalists is None:
            out += [teacher(sweep.dataset, s, t) for s in run_seeds for t in sweep.temperatures]
            continue
        out += [teacher(sweep.dataset, run_seeds[0], t) for t in sweep.temperatures]
        if results is not None:
            finalists = sweep_finalists(sweep.dataset, results, screen_seed=run_seeds[0])
            out += [teacher(sweep.dataset, s, t) for s in run_seeds[1:] for t in finalists]
    return out


def dkd_sweep_configs(seeds: Iterable[int] = SEEDS, dataset: str = "fashion_mnist") -> list[JobConfig]:
    """DKD's β × warm-up sweep on the course pair (:data:`kdcore.methods.dkd.SWEEP_BETAS` × ``SWEEP_WARMUPS``), each
    cell's settings explicit; the course teacher and scratch student of each seed first."""
    from kdcore.methods.dkd import SWEEP_BETAS, SWEEP_WARMUPS, sweep_params

    dkd = get_method("dkd")
    out: list[JobConfig] = []
    for s in seeds:
        t, mlp = course_teacher(dataset, seed=s), course_student(dataset, "scratch", seed=s)
        out += [t, mlp]
        out += [dkd.job(t, mlp.replace(method_params=sweep_params(b, w))) for w in SWEEP_WARMUPS for b in SWEEP_BETAS]
    return out


def stale_configs(store: ResultStore | None = None) -> list[JobConfig]:
    """The configs of the shipped results an older engine made (:func:`kdcore.engine.is_stale`), teachers first."""
    from kdcore.engine import is_stale

    store = store or ResultStore(SHIPPED_STORE, readonly=True)
    configs = [JobConfig.from_dict(r["config"]) for r in store.list() if is_stale(r)]

    def depth(c: JobConfig) -> int:
        return 0 if c.teacher is None else 1 + depth(c.teacher)

    return sorted(configs, key=depth)


def method_cost_rank(c: JobConfig) -> int:
    """Cost/priority class of a method job on full Fashion-MNIST (``Method.cost_rank``, this CPU, 1 thread
    per job): 0 reads the teacher's cached logits (~1-2 min); 1 FitNets/AT with the CNN student, teacher
    run on every batch (~8 min); 2 early-stopped teacher (a 3-epoch teacher, ~5 min); 3 subclass teacher +
    student (~17 min); 4 a born-again generation (a teacher-sized net, ~15 min; generation 2 waits for 1;
    the BAN ensemble of generations 1-2 after them, ~1 min); 5 the fully connected FitNets variant
    (teacher every batch, ~8 min; FitNets is measured on the CNN student in class 1 already)."""
    return get_method(c.method).cost_rank(c)


def fashion_method_configs(seeds: Iterable[int] = SEEDS, classes: Iterable[int] = range(6)) -> list[JobConfig]:
    """The issue-5 methods on full Fashion-MNIST, in :func:`method_cost_rank` order (cheapest and
    most wanted first), so an interrupted run has finished the most results; ``classes`` picks
    which cost classes to run (two processes can take disjoint classes)."""
    wanted = set(classes)
    configs = [c for c in method_configs("fashion_mnist", seeds) if method_cost_rank(c) in wanted]

    def generation(c: JobConfig) -> int:  # born-again generation k after every seed's k-1, the ensemble last
        return 0 if c.teacher is None or c.method not in ("born_again", "ban_ensemble") else 1 + generation(c.teacher)

    return sorted(configs, key=lambda c: (method_cost_rank(c), generation(c)))  # stable: seeds keep order


def mhist_configs() -> list[JobConfig]:
    """The MHIST page's pipeline for each method it offers (Hinton first: the page's default), each job once."""
    from kdcore.data.mhist import find_mhist_dir

    real, standin = (next(n for n in datasets("mhist") if data_pair(n).is_standin is fake) for fake in (False, True))
    dataset = real if find_mhist_dir() is not None else standin  # the real release when its folder is found
    out: list[JobConfig] = []
    for method in (name for name, m in METHODS.items() if m.offered_on_mhist):
        out += [c for c in pipeline_jobs(dataset, method=method) if c not in out]
    return out


LOGIT_DATASETS = ("mnist", "fashion_mnist")
LOGIT_NAMES = ("train_logits", "test_logits")


def teacher_logit_configs(seeds: Iterable[int] = SEEDS) -> list[JobConfig]:
    """The course teachers whose logits ship (:data:`LOGIT_DATASETS`, each seed)."""
    return [course_teacher(ds, seed=s) for ds in LOGIT_DATASETS for s in seeds]


def make_teacher_logits(work: ResultStore, seeds: Iterable[int] = SEEDS) -> int:
    """Store each course teacher's train and test logits in the working store (trained first, through the
    runner, where its weights are neither there nor shipped). Returns how many teachers have them."""
    from kdcore.data import load_dataset
    from kdcore.jobs.runner import get_runner
    from kdcore.store import open_store
    from kdcore.train.common import teacher_logits
    from kdcore.train.job import job_key

    store = open_store(work.root)
    made = 0
    for cfg in teacher_logit_configs(seeds):
        try:
            data = load_dataset(cfg.dataset, cfg.data_source)
            result = store.get(job_key(cfg, data), need_weights=True) or get_runner().submit(cfg).result()
            for name, x in zip(LOGIT_NAMES, (data.x_train, data.x_test), strict=True):
                teacher_logits(result, x, store, name)
            made += 1
        except Exception as e:  # one teacher's failure must not stop the rest; it is reported
            print(f"FAILED logits of {cfg.short_name()}: {type(e).__name__}: {e}", file=sys.stderr)
    return made


def export_teacher_logits(src: ResultStore, dst: ResultStore) -> int:
    """Add the course teachers' logits to their shipped entries — only where the working store's teacher is
    the shipped one (same metrics): logits of a retrained, different model are never filed under it."""
    n = 0
    for key in {r["key"] for r in src.list() if r.get("config_key") in {c.key() for c in teacher_logit_configs()}}:
        mine, shipped = src.get(key), dst.get(key)
        if mine is None or shipped is None:
            continue
        if mine.get("metrics") != shipped.get("metrics"):
            print(f"not shipping logits of {mine['name']}: the working store's teacher is not the shipped one "
                  "(retrained by a newer engine?): rerun precompute for it and export", file=sys.stderr)
            continue
        for name in LOGIT_NAMES:
            tensors = src.load_tensors(key, name)
            if tensors is not None and f"{name}.safetensors" not in shipped.get("files", {}):
                dst.add_tensors(key, name, tensors)
                n += 1
    return n


def _run_all(configs: list[JobConfig], label: str, recompute: bool = False) -> list[dict]:
    """Run each job through the runner; a stored result an older engine made (:func:`kdcore.engine.is_stale`) is
    made again, a current one is kept (so every part is idempotent)."""
    from tqdm import tqdm

    from kdcore.engine import is_stale
    from kdcore.jobs.submit import run_through_runner
    from kdcore.store import open_store
    from kdcore.train import job_key

    results = []
    for cfg in tqdm(configs, desc=label, unit="job", file=sys.stderr):
        try:
            stored = None if recompute else open_store().get(job_key(cfg))
            results.append(run_through_runner(cfg, recompute=recompute or (stored is not None and is_stale(stored))))
        except Exception as e:  # one method's failure must not stop the rest; it is reported
            print(f"FAILED {cfg.short_name()}: {type(e).__name__}: {e}", file=sys.stderr)
    return results


# Models whose weights ship: the playground's teacher and KD student per data set (seed 0), so it
# opens instantly, and the Learn page's attention-transfer comparison (the seed-0 MNIST CNN students
# trained with AT and from scratch, ~80 KB each); everything else ships as JSON (about 9 MB of
# weights per data set).
@functools.lru_cache(maxsize=1)
def _wanted_config_keys() -> frozenset[str]:
    """Config keys whose weights ship; built once (method_configs builds a few dozen configs)."""
    wanted = set()
    for ds in ("mnist", "fashion_mnist"):
        wanted |= {course_teacher(ds).key(), course_student(ds, "hinton").key()}
    wanted |= {c.key() for c in method_configs("mnist", (0,))
               if c.arch == "student_cnn" and c.method in ("attention", "scratch")}
    return frozenset(wanted)


def _weights_wanted(result: dict) -> bool:
    return result.get("config_key") in _wanted_config_keys()


def _add_shipped_weights(src: ResultStore, dst: ResultStore, key: str) -> bool:
    """Give an entry already shipped as JSON only the weights it is now wanted with; True if added.

    The rule of :func:`_weights_wanted` grows over time, and an entry once exported is never re-put
    (its key is taken). ``add_tensors`` adds the file and its hash atomically; then ``update_result``
    makes ``result.json`` say ``shipped_weights: true`` (its manifest follows, atomically).
    """
    weights = src.load_tensors(key, "weights")
    if not weights:
        return False
    dst.add_tensors(key, "weights", weights)
    dst.update_result(key, {"shipped_weights": True})
    return True


def _remove_entry(store: ResultStore, key: str) -> None:
    """Delete one entry of the shipped store (export only: a folder this repo's command made, never a link)."""
    entry = store.root / "objects" / key
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry)


def superseded(record: dict) -> bool:
    """A shipped result of an older *revision* of one of its methods (:func:`kdcore.engine.key_part`), or of an
    older version of the generated stand-in data: its key is never asked for again, so export drops it. (A result
    of an older *core* engine keeps its key: it stays, marked stale, until ``precompute --only stale`` makes it
    again.)"""
    from kdcore.data.mhist_adapter import older_standin_source
    from kdcore.engine import key_part, record_engine

    if "config" not in record:  # not a job result (nothing to compare with)
        return False
    if older_standin_source(str(record.get("data_source_id") or "")):
        return True
    try:
        now = key_part(JobConfig.from_dict(record["config"]))
    except Exception:  # a method that no longer exists
        return True
    made = record_engine(record).partition("+")[2]
    return made != now


def export(src: ResultStore, dst_root: Path = SHIPPED_STORE) -> int:
    """Copy every result (JSON) and the selected weights into ``dst_root``, atomically per entry; an entry
    shipped earlier without weights that the rule now wants gets them added; a shipped entry an older engine
    made is replaced by ``src``'s newer one; entries of superseded method revisions are dropped (with the
    subclass pictures of dropped teachers). Returns what changed."""
    from kdcore.engine import is_stale

    dst = ResultStore(dst_root)
    n = 0
    for r in dst.list():
        if superseded(r):
            _remove_entry(dst, r["key"])
            n += 1
    for r in src.list():
        if superseded(r):
            continue
        shipped = dst.get(r["key"])
        if shipped is not None and is_stale(shipped) and not is_stale(r):
            _remove_entry(dst, r["key"])  # made again by today's engine: the new one replaces it
            shipped = None
        if shipped is not None:
            if _weights_wanted(r) and "weights.safetensors" not in shipped.get("files", {}):
                n += _add_shipped_weights(src, dst, r["key"])
            continue
        # ship the weights the playground needs; never the teacher's cached training-set logits
        entry = read_entry(src, r["key"]) if _weights_wanted(r) else None
        tensors = {"weights": entry[1]["weights"]} if entry and "weights" in entry[1] else {}
        meta = {k: v for k, v in r.items() if k not in ("key", "files", "cached")}
        meta["shipped_weights"] = bool(tensors)
        dst.put(r["key"], meta, tensors)
        n += 1
    n += export_teacher_logits(src, dst)
    from kdcore.subclass_examples import export_artefacts

    n += export_artefacts(src, dst_root)
    from kdcore.subclass_examples import artefact_store

    kept, arts = {r["key"] for r in dst.list()}, artefact_store(dst)
    for a in arts.list():  # pictures of a teacher that is no longer shipped
        if a.get("teacher_key") not in kept:
            _remove_entry(arts, a["key"])
            n += 1
    # the store's own working folders: nothing in them is shipped (a user's own files are never there)
    for own in (STAGING_DIR, "locks"):
        shutil.rmtree(dst_root / own, ignore_errors=True)
    (dst_root / "PROVENANCE.md").write_text(
        "# Shipped results\n\n"
        "Made by `python -m kdcore precompute` (see kdcore/precompute.py for the exact job list).\n"
        "Each `objects/<key>/result.json` records its config, data source, seed, date, library versions and the\n"
        "engine that made it (`engine`; kdcore/engine.py: results of an older engine are marked stale in the app and\n"
        "remade by `python -m kdcore precompute --only stale,export`);\n"
        "`weights.safetensors` ships only for the models the app needs to open instantly (playground teacher and\n"
        "KD student; the Learn page's attention-transfer and scratch CNN students). The course teachers' entries\n"
        "carry `train_logits`/`test_logits.safetensors` (float16; `precompute --only teacher-logits,export`) so KD\n"
        "jobs on the course pair run no teacher pass.\n"
        "Reproduce one: `python -m kdcore distill …` with the config in its result.json, or rerun precompute.\n"
        "`artefacts/objects/<key>/` holds derived pictures (subclass examples: `precompute --only subclass-examples`);\n"
        "each result.json names the stored result it was computed from and how.\n\n"
        f"Last export: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}, {len(dst.list())} results.\n"
    )
    return n


@dataclass(frozen=True)
class Part:
    """One part of ``precompute``: its ``--only`` name, whether the default run makes it, and what it makes."""

    name: str
    run: Callable[[_Run], None]
    summary: str
    default: bool = True


@dataclass(frozen=True)
class _Run:
    """What every part reads: the profile, the working store, the settings and every part asked for."""

    profile: str
    work: ResultStore
    env: Settings
    parts: tuple[str, ...]

    def seeds(self, default: Iterable[int] = SEEDS) -> tuple[int, ...]:
        return tuple(default) if self.profile != "quick" else (0,)


def _part_mnist(r: _Run) -> None:
    _run_all(mnist_configs(r.profile), "mnist")


def _part_fashion(r: _Run) -> None:
    _run_all(core_configs("fashion_mnist", r.seeds()), "fashion")


def _part_methods(r: _Run) -> None:
    _run_all(method_configs("mnist", r.seeds()), "methods")


def _part_fashion_methods(r: _Run) -> None:
    classes, seeds = r.env.cost_classes, r.env.seeds or SEEDS
    _run_all(fashion_method_configs(r.seeds(seeds), classes), "fashion-methods")


def _part_subclass_binary(r: _Run) -> None:
    _run_all(subclass_binary_configs(r.seeds()), "subclass-binary")


def _part_subclass_sweep(r: _Run) -> None:
    seeds = r.env.seeds if r.profile != "quick" else (0,)
    _run_all(subclass_sweep_configs(seeds=seeds), "subclass-sweep")  # a sweep with finalists: its screen
    _run_all(subclass_sweep_configs(seeds=seeds, results=r.work.list()), "subclass-sweep finalists")


def _part_dkd_sweep(r: _Run) -> None:
    _run_all(dkd_sweep_configs(r.seeds(r.env.seeds or SEEDS)), "dkd-sweep")


def _part_stale(r: _Run) -> None:  # results an older engine made: made again (teachers first)
    _run_all(stale_configs(), "stale", recompute=True)


def _part_mhist(r: _Run) -> None:
    _run_all(mhist_configs(), "mhist")


def _part_subclass_examples(r: _Run) -> None:
    from kdcore.subclass_examples import MHIST_PER_SUBCLASS, make_subclass_examples

    made = make_subclass_examples(r.work)  # MNIST-style: the Learn page's pictures
    # the MHIST page's subclass pipeline teacher (stand-in offline), so its pictures show without training
    made += make_subclass_examples(r.work, (mhist_configs()[0].dataset,), MHIST_PER_SUBCLASS)
    print(f"subclass examples: {made or 'no subclass teacher stored'}", file=sys.stderr)


def _part_teacher_logits(r: _Run) -> None:
    print(f"teacher logits: {make_teacher_logits(r.work, r.seeds(r.env.seeds or SEEDS))} teachers", file=sys.stderr)


def compress_configs(seeds: Iterable[int] = SEEDS, dataset: str = "fashion_mnist") -> list[JobConfig]:
    """Issue 25's compression suite (kdcore.course.compression_suite), seed by seed (each seed's start models are
    trained, or found stored, before its transforms run)."""
    from kdcore.course import compression_suite

    return [c for seed in seeds for c in compression_suite(dataset, (seed,))]


# The data sets the compression suite ships for: the course pair on full Fashion-MNIST and on MNIST (offline: the
# 5k subset, as every shipped MNIST result; the source each ran on is in its record and its key).
COMPRESS_DATASETS = ("fashion_mnist", "mnist")


def _part_compress(r: _Run) -> None:
    seeds = r.env.seeds or r.seeds()
    for dataset in COMPRESS_DATASETS:
        _run_all(compress_configs(seeds, dataset), f"compress {dataset}")


def _part_export(r: _Run) -> None:
    print(f"exported {export(r.work)} new results to {SHIPPED_STORE}", file=sys.stderr)


def _part_predictions(r: _Run, retrain: bool = False) -> None:
    from kdcore.train.backfill import course_pair_predictions

    if not retrain and "predictions-retrain" in r.parts:
        return  # the retraining part makes these too
    for line in course_pair_predictions(r.work, retrain=retrain, seeds=SEEDS):
        print(line, file=sys.stderr)


# Every part, in the order a run makes them (a part may read what an earlier one stored): the one list of names
# that ``--only``, ``--list`` and the default run read.
PARTS: dict[str, Part] = {part.name: part for part in (
    Part("mnist", _part_mnist, "MNIST (best available source; offline: the 5k subset): teacher / scratch / KD, "
         "3 seeds, the course's T sweep (T in 1,2,4,16,32,64) and an alpha x T grid."),
    Part("fashion", _part_fashion, "full Fashion-MNIST 60k/10k: teacher / scratch / KD (T=4, alpha=0.5), 3 seeds."),
    Part("methods", _part_methods, "issue-5 methods on MNIST, 3 seeds (CNN student where a method needs feature "
         "maps)."),
    Part("fashion-methods", _part_fashion_methods, "the issue-5 methods on full Fashion-MNIST, 3 seeds, cheapest "
         "first (hours of CPU; KD_COST_CLASSES=1,2 runs only those classes of method_cost_rank; KD_SEEDS=0,1 only "
         "those seeds, so two processes can split the work over two cores)."),
    Part("subclass-binary", _part_subclass_binary, "the subclass-distillation paper's demo: MNIST 0–4 vs 5–9, a "
         "5-subclass teacher, the course MLP from scratch / Hinton KD / subclass distillation, 3 seeds."),
    Part("subclass-sweep", _part_subclass_sweep, "the subclass teacher's auxiliary-loss temperature on MNIST "
         "(offline: the 5k subset; 5 temperatures, 3 seeds) and full Fashion-MNIST (3 temperatures on seed 0, the "
         "best 2 on seeds 0-2; ~90 CPU minutes); picks each data set's DataPair.subclass_aux_temperature "
         "(kdcore/methods/subclass.py)."),
    Part("dkd-sweep", _part_dkd_sweep, "DKD's beta x warm-up sweep on full Fashion-MNIST, 3 seeds (picks DKD's "
         "defaults: kdcore/methods/dkd.py)."),
    Part("stale", _part_stale, "every shipped result an older engine made (kdcore/engine.py), made again (teachers "
         "first).", default=False),
    Part("mhist", _part_mhist, "the MHIST page's pipeline of every method it offers, on the synthetic stand-in (or "
         "real MHIST when KD_MHIST_DIR is set)."),
    Part("subclass-examples", _part_subclass_examples, "example test images per (class, subclass) of the first "
         "stored subclass teacher of each MNIST-style data set (made by methods), an artefact of ~100 KB for the "
         "Learn page, and of the MHIST page's subclass teacher (made by mhist, ~600 KB; see "
         "kdcore/subclass_examples.py); each result.json says which teacher, data and rule."),
    Part("teacher-logits", _part_teacher_logits, "the course teachers' training- and test-set logits (float16, with "
         "a check of the inputs they were computed on) for MNIST (offline: the 5k subset) and full Fashion-MNIST, "
         "each seed, so a KD job on the course pair runs no teacher pass (kdcore.train.common.teacher_logits); a "
         "teacher whose weights are not here is trained first (MNIST-5k: ~1 min; Fashion-MNIST: ~15 min a seed)."),
    Part("compress", _part_compress, "issue 25: the course KD student (hinton) and its scratch twin on full "
         "Fashion-MNIST, then on MNIST (offline: the 5k subset), 3 seeds (KD_SEEDS=0 only that seed), each exported "
         "to ONNX and measured (bytes, gzip'd bytes, ONNX Runtime latency at batch 1 and 64 on one thread, FLOPs, "
         "accuracy) with int8, 50 % / 90 % pruning + 2-epoch fine-tune (KD from the teacher for the KD student), "
         "half the hidden units + fine-tune, 4-bit weight sharing, 90 % pruning + int8, and sparse regularisation "
         "(each student trained with an L1 penalty, its weights below kdcore.metrics.ZERO_THRESHOLD set to 0; "
         "measured against its twin without the penalty) "
         "(kdcore.course.compression_suite). Export ships the results as JSON (no ONNX files, no weights)."),
    Part("export", _part_export, "copy results (+ selected weights) and artefacts into assets/store and write "
         "assets/store/PROVENANCE.md."),
    Part("predictions", _part_predictions, "per-example test predictions (kdcore/predictions.py) for the course "
         "pairs' seed-0 entries (teacher, scratch and KD student; MNIST and Fashion-MNIST), added in assets/store "
         "and the working store, recomputed from stored weights; entries without weights are listed.",
         default=False),
    Part("predictions-retrain", functools.partial(_part_predictions, retrain=True), "the same, and entries without "
         "weights are retrained in a scratch store: kept only if the retrain reproduces the stored accuracy "
         "exactly (minutes of CPU per MLP on 60k images).", default=False),
)}


def check_parts(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` (none: the default run's parts), each a known part, else a ConfigError naming the known ones."""
    names = tuple(names)
    unknown = [n for n in names if n not in PARTS]
    if unknown:
        raise ConfigError(f"unknown precompute part(s) {', '.join(map(repr, unknown))}; the parts are "
                          f"{', '.join(PARTS)} (python -m kdcore precompute --list says what each makes)")
    return names or tuple(name for name, part in PARTS.items() if part.default)


def precompute(profile: str = "default", only: list[str] | None = None) -> None:
    parts = check_parts(only or ())  # refused before the working store is even opened
    env = settings()
    work = ResultStore(env.store_dir or Path.home() / ".cache" / "distillation-lab" / "precompute")
    os.environ.setdefault("KD_STORE_DIR", str(work.root))
    print(f"working store: {work.root}", file=sys.stderr)
    run = _Run(profile, work, env, parts)
    for name, part in PARTS.items():  # the registry's order, whatever order --only gave
        if name in parts:
            part.run(run)
