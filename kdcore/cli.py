"""``python -m kdcore …``: train teachers, distil students, sweep T × α × seeds, list, benchmark.

Every command builds a :class:`kdcore.config.JobConfig` — a method's jobs as its
:class:`~kdcore.methods.Method` arranges them, exactly as the Distill lab does — and submits it to the
job runner (:mod:`kdcore.jobs.submit`), so CLI and app share one store, one queue and one memory guard.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from kdcore.config import DATASETS, DEFAULT_ALPHA, DEFAULT_T, ConfigError, JobConfig, parse_hidden
from kdcore.course import course_teacher, distil_job, sweep_jobs
from kdcore.data import DataError
from kdcore.data.pairs import COURSE_TEMPERATURES, data_pair

# ``sweep_configs``: the sweep's jobs, built by the one job builder (kdcore.course)
sweep_configs = sweep_jobs


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(s) for s in text.split(",") if s.strip())
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from e


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from e


def _params(items: Sequence[str]) -> tuple[tuple[str, float | int | str], ...]:
    """``--param NAME=VALUE`` items; whether the method reads NAME is checked by its Method (validate)."""
    out = []
    for item in items or ():
        k, eq, v = item.partition("=")
        if not eq or not k.strip() or not v.strip():
            raise ConfigError(f"--param takes NAME=VALUE (e.g. --param dkd_beta=8), got {item!r}; "
                              "python -m kdcore methods lists each method's settings")
        k, v = k.strip(), v.strip()
        val: float | int | str
        try:
            val = int(v)
        except ValueError:
            try:
                val = float(v)
            except ValueError:
                val = v
        out.append((k, val))
    return tuple(out)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="mnist", choices=DATASETS)
    p.add_argument("--data-source", default="auto", help="auto | mnist-60k | mnist-5k | fashion-60k | mhist-full | mhist-200")
    p.add_argument("--mhist-dir", default=None, help="your MHIST folder (annotations.csv + images); default: $KD_MHIST_DIR")
    p.add_argument("--data-dir", default=None,
                   help="a folder of your own images, <folder>/<class>/<image> (optionally train/ and test/ inside): "
                        "a data set of its own (replaces --dataset)")
    p.add_argument("--positive-class", default=None,
                   help="with --data-dir on two classes: the class F1/AUC score (default: the rarer one)")
    p.add_argument("--epochs", type=int, default=None, help="default: 12 (course)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--train-limit", type=int, default=None, help="use only the first N training examples")
    p.add_argument("--test-limit", type=int, default=None)
    p.add_argument("--recompute", action="store_true", help="ignore a stored result and train again")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _in_folder(config: JobConfig, a: argparse.Namespace) -> JobConfig:
    """``config`` (and its teacher chain) reading the ``--mhist-dir`` folder, when one is given: the folder
    is part of the job (its key, its record), so a worker process reads exactly this folder."""
    folder = getattr(a, "mhist_dir", None)
    return config.with_data_dir(os.path.abspath(os.path.expanduser(folder))) if folder else config


def _overrides(a: argparse.Namespace) -> dict:
    """The job fields the command's flags set (``--data-source``, limits, ``--epochs`` …; a student's ``--hidden``,
    ``--arch`` and ``--param`` too): what the job builder (:mod:`kdcore.course`) puts on the course's jobs."""
    o = {"data_source": a.data_source, "train_limit": a.train_limit, "test_limit": a.test_limit}
    for name in ("epochs", "batch_size", "lr", "arch"):
        if getattr(a, name, None) is not None:
            o[name] = getattr(a, name)
    if getattr(a, "hidden", None) is not None:  # the lab's parser and limits; a bad entry: the one error boundary
        o["hidden"] = parse_hidden(a.hidden)
    if getattr(a, "param", None):
        o["method_params"] = _params(a.param)
    if getattr(a, "l1", None):  # 0 or absent: no penalty, and the job keeps the key it always had
        o["l1"] = a.l1
    return o


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m kdcore", description="Knowledge-distillation engine of Distillation Lab")
    p.add_argument("--debug", action="store_true",
                   help="show the traceback of a failure (it may also follow the command: … distill --debug)")
    sub = p.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train-teacher", help="train (or fetch) the course teacher")
    _common(t)
    t.add_argument("--seed", type=int, default=0)

    d = sub.add_parser("distill", help="train (or fetch) a student, with KD from the course teacher or from scratch")
    _common(d)
    d.add_argument("--method", default="hinton", help="a registered method (python -m kdcore methods); 'scratch' = labels only")
    d.add_argument("--arch", default=None, help="student architecture (student_mlp, student_cnn, mobilenet_v2 …)")
    d.add_argument("--hidden", default=None, help="student hidden sizes, e.g. 784,784 or 32")
    d.add_argument("-T", "--temperature", type=float, default=None,
                   help=f"default: the method's own (born-again: 1), else {DEFAULT_T:g}")
    d.add_argument("--alpha", type=float, default=None,
                   help="weight of the KD (soft-target) term in [0,1]; cross-entropy gets 1-alpha. "
                        f"Default: the method's own (born-again: 1), else {DEFAULT_ALPHA:g}")
    d.add_argument("--dry-run", action="store_true",
                   help="print the job (name, store key, its teacher's key) without running it")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a setting of the method, e.g. dkd_beta=8 (python -m kdcore methods lists them)")
    d.add_argument("--teacher-epochs", type=int, default=None)
    d.add_argument("--l1", type=float, default=None, metavar="LAMBDA",
                   help="sparse regularisation: add LAMBDA x sum|w| over the student's Linear/Conv weights to its loss "
                        "(e.g. 1e-4; the result reports the share of weights below 1e-3)")

    s = sub.add_parser("sweep", help="grid over T x alpha x seeds (plus teacher and scratch baselines)")
    _common(s)
    s.add_argument("--method", default="hinton", help="a registered method; its own teacher arrangement applies")
    s.add_argument("--arch", default=None, help="student architecture (student_mlp, student_cnn …)")
    s.add_argument("--hidden", default=None, help="student hidden sizes, e.g. 784,784 or 32")
    s.add_argument("--temperatures", type=_floats, default=None,
                   help="default: the data set's course grid (" + ",".join(f"{t:g}" for t in COURSE_TEMPERATURES) + ")")
    s.add_argument("--alphas", type=_floats, default=(DEFAULT_ALPHA,))
    s.add_argument("--seeds", type=_ints, default=(0, 1, 2))
    s.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    s.add_argument("--l1", type=float, default=None, metavar="LAMBDA",
                   help="an L1 penalty LAMBDA x sum|w| on every student of the sweep (its scratch twin too)")
    s.add_argument("--suite", default=None, choices=("methods",),
                   help="instead of a T x alpha grid: every issue-5 method with its documented defaults and teacher "
                        "arrangement (the jobs behind the shipped method results; see kdcore/precompute.py)")
    s.add_argument("--dry-run", action="store_true", help="list the jobs (name and store key) without running them")
    s.add_argument("--executor", default="local", choices=("local", "ray"))
    s.add_argument("--address", default=None, help="Ray cluster address (default: start a local Ray)")

    sub.add_parser("list", help="list stored results").add_argument("--json", action="store_true")
    sub.add_parser("methods", help="list the registered KD methods and their settings")
    sm = sub.add_parser("store-manifest", help="give the entries of a store folder that have none a MANIFEST.json "
                        "(default: the shipped store, assets/store; run after re-exporting it)")
    sm.add_argument("roots", nargs="*", help="store folders (default: assets/store and assets/store/artefacts)")

    b = sub.add_parser("bench", help="speed/memory benchmark; writes bench.json and prints a table")
    b.add_argument("--quick", action="store_true", help="MNIST-5k instead of full Fashion-MNIST")
    b.add_argument("--out", default="bench.json")
    from kdcore.bench import SECTIONS  # the section registry (imports nothing heavy)

    b.add_argument("--only", default="", help=f"comma-separated sections: {','.join(SECTIONS)} (default: all)")

    rp = sub.add_parser("report", help="the stored results as the README's markdown tables (mean ± std over seeds)")
    rp.add_argument("--datasets", default="fashion_mnist,mnist,mnist_binary", help="comma-separated data sets")

    ex = sub.add_parser("export", help="take a stored model home: ONNX float32, ONNX int8 or safetensors, with a "
                        "model card (a model stored without weights is retrained through its own job first)")
    ex.add_argument("target", help="a store key (python -m kdcore list) or a config file (a model card's .json, a "
                    "result.json)")
    from kdcore.compress.export import FORMATS

    ex.add_argument("--format", default="onnx", choices=FORMATS)
    ex.add_argument("--out", default="export", help="folder for the model file and its card (made if absent)")

    pc = sub.add_parser("precompute", help="(re)make the shipped results in assets/ (see assets/README.md)")
    pc.add_argument("--profile", default="default", help="default | quick")
    from kdcore.precompute import PARTS  # the part registry

    pc.add_argument("--only", default="", help=f"comma-separated parts of {','.join(PARTS)} (default: those "
                    "--list marks default)")
    pc.add_argument("--list", action="store_true", help="list the parts (name, whether the default run makes it, what)")
    return p


def _print_result(r: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps({k: v for k, v in r.items() if k != "history"}, indent=1, default=str))
        return
    m, c = r["metrics"], r["complexity"]
    from kdcore.engine import stale_reason

    tag = " (cached)" if r.get("cached") else ""
    if r.get("cached") and (why := stale_reason(r)):
        tag += f" [stale: {why}; --recompute makes it again]"
    auc = m.get("auc")
    print(
        f"{r['name']}{tag}\n  data: {r['data_source']}{'  [stand-in]' if r.get('is_standin') else ''}\n"
        f"  test accuracy {m['accuracy'] * 100:.2f}%  macro-F1 {m['macro_f1']:.4f}  AUC {auc if auc is None else f'{auc:.4f}'}\n"
        f"  params {c['params']:,}  FLOPs {c['flops']:,} (2 x MACs)  latency {c['latency_ms']:.3f} ms/img (CPU)\n"
        f"  wall {r['wall_s']:.1f} s  key {r['key']}"
    )
    if (sp := r.get("sparsity")) is not None:  # an L1-trained student
        print(f"  L1 λ = {sp['l1']:g}: {100 * sp['share_below_threshold']:.1f}% of its Linear/Conv weights have "
              f"|w| < {sp['threshold']:g} (its deploy figures, those weights set to 0: the Compress page with no "
              "transform ticked)")


def _tqdm_progress(desc: str):  # noqa: ANN202 - returns (callback, closer)
    """A tqdm bar over a job's epochs, opened at its first training event (a refused or cached job shows none)."""
    from tqdm import tqdm

    bars: list = []

    def cb(event: dict) -> None:
        if event.get("resumed_from"):  # a job interrupted earlier goes on from its checkpoint: say so
            print(f"{desc}: {event.get('message')}", file=sys.stderr)
        if event.get("stage", "").endswith(("train", "stage1", "stage2")) and event.get("epochs"):
            if not bars:
                bars.append(tqdm(total=None, desc=desc, unit="epoch", leave=False, file=sys.stderr))
            bar = bars[0]
            bar.total = event["epochs"]
            bar.set_description(f"{desc} [{event['stage']}]")
            bar.n = event.get("epoch", 0)
            row = event.get("row") or {}
            if "test_acc" in row:
                bar.set_postfix(loss=f"{row['train_loss']:.4f}", test_acc=f"{row['test_acc']:.4f}")
            bar.refresh()

    def close() -> None:
        for bar in bars:
            bar.close()

    return cb, close


def _run(config: JobConfig, recompute: bool = False) -> dict:
    from kdcore.jobs.submit import run_through_runner

    cb, close = _tqdm_progress(config.short_name())
    try:
        return run_through_runner(config, progress=cb, recompute=recompute)
    finally:
        close()


def main(argv: Sequence[str] | None = None) -> int:
    """The command line, with one error boundary: an expected failure (a bad setting, missing data, an
    unusable store folder, a failed job, an OS error) prints one paragraph and exits 2; anything else is a
    bug and exits 1. ``--debug`` adds the traceback."""
    from kdcore.jobs.heap import return_freed_memory_to_os

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]  # accepted before or after the command
    return_freed_memory_to_os()  # jobs may run in this process (see kdcore/jobs/heap.py)
    from kdcore.train.loop import flush_denormals

    flush_denormals()  # before any parallel op, so every OpenMP thread of this process inherits it
    args = build_parser().parse_args(argv)
    try:
        from kdcore.settings import settings

        settings()  # every KD_* variable checked once, before any work: a malformed one is named here
        return _dispatch(args)
    except KeyboardInterrupt:
        print("interrupted; the last checkpoint (saved every KD_CHECKPOINT_EVERY_S seconds of training) is kept — rerun "
              "the same command to resume", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the one boundary: no traceback unless --debug
        expected = _expected_error(e)
        if debug:
            traceback.print_exc()
        if expected is not None:
            print(f"error: {expected}", file=sys.stderr)
            return 2
        print(f"error: unexpected {type(e).__name__}: {_paragraph(str(e))}. This is a bug in kdcore: rerun with "
              "--debug for the traceback and report it.", file=sys.stderr)
        return 1


def _paragraph(text: str) -> str:
    return " ".join(text.split())


def _expected_error(e: BaseException) -> str | None:
    """The one-paragraph message of an expected failure, or None for a bug."""
    from kdcore.jobs.runner import RunnerError
    from kdcore.store import StoreError

    if isinstance(e, (ConfigError, DataError, StoreError, RunnerError)):
        return _paragraph(str(e))
    if isinstance(e, OSError):
        where = f" ({e.filename})" if e.filename else ""
        return _paragraph(f"{e.strerror or e}{where}. If that is under KD_DATA_DIR or KD_STORE_DIR, point the "
                          "variable at a folder you can write (e.g. export KD_DATA_DIR=~/kd-data)")
    return None


def _methods(a: argparse.Namespace) -> int:
    from kdcore.methods import COMMON_PARAMS, METHODS

    for name, method in METHODS.items():
        print(f"{name:16s} {method.title}: {method.summary}")
        if method.params:
            print(f"{'':16s}   settings (--param NAME=VALUE): {', '.join(method.params)}")
    print(f"every method also takes: {', '.join(COMMON_PARAMS)}")
    return 0


def _store_manifest(a: argparse.Namespace) -> int:
    from kdcore.store import SHIPPED_STORE, write_manifests

    refused_all = []
    for root in a.roots or [SHIPPED_STORE, SHIPPED_STORE / "artefacts"]:
        written, refused = write_manifests(root)
        print(f"{root}: {written} manifests written, {len(refused)} entries refused")
        refused_all += refused
    if refused_all:
        raise ConfigError("entries whose files do not match what their result.json records were left without a "
                          "manifest (they are not served): " + "; ".join(refused_all[:5]))
    return 0


def _list(a: argparse.Namespace) -> int:
    from kdcore.store import open_store

    rows = open_store().list()
    if a.json:
        print(json.dumps([{k: v for k, v in r.items() if k != "history"} for r in rows], indent=1, default=str))
        return 0
    from kdcore.engine import is_stale

    print(f"{'key':24s}  {'acc%':>6s}  {'data':28s}  name")
    for r in rows:
        mark = "  [stale: older engine]" if is_stale(r) else ""
        print(f"{r['key']:24s}  {r['metrics']['accuracy'] * 100:6.2f}  {r.get('data_source', '?')[:28]:28s}  "
              f"{r['name']}{mark}")
    print(f"{len(rows)} results")
    return 0


def _report(a: argparse.Namespace) -> int:
    from kdcore.data.pairs import UnknownDataset, data_pair
    from kdcore.views.report import report

    names = tuple(d for d in a.datasets.split(",") if d)
    try:
        [data_pair(d) for d in names]
    except UnknownDataset as e:
        raise ConfigError(f"--datasets: {e}") from None
    print(report(names))
    return 0


def _bench(a: argparse.Namespace) -> int:
    from kdcore.bench import run_bench

    run_bench(quick=a.quick, out=a.out, only=[s for s in a.only.split(",") if s])  # an unknown section is refused
    return 0


def _precompute(a: argparse.Namespace) -> int:
    from kdcore.precompute import PARTS, precompute

    if a.list:
        for part in PARTS.values():
            print(f"{part.name:18s} {'default' if part.default else 'on ask':8s} {part.summary}")
        return 0
    precompute(profile=a.profile, only=[s for s in a.only.split(",") if s])  # an unknown part is refused
    return 0


def _export(a: argparse.Namespace) -> int:
    from kdcore.compress.export import check_format, export_model, resolve_target

    check_format(a.format)
    resolve_target(a.target)  # a bad key or file is refused before the store is touched
    cb, close = _tqdm_progress(f"export {a.target}")

    def progress(event: dict) -> None:
        if event.get("stage") == "retrain":
            print(event["message"], file=sys.stderr)
        cb(event)

    try:
        done = export_model(a.target, a.format, a.out, progress=progress)
    finally:
        close()
    h = done.card["measured_here"]
    print(f"{done.card['name']}\n  wrote {done.model_path} ({done.card['file_bytes']:,} bytes)\n"
          f"  card  {done.card_md}\n  card  {done.card_json}")
    if "same_predictions" in h:
        print(f"  onnxruntime: same predictions as the stored model on {h['checked_images']} test images: "
              f"{h['same_predictions']} (agreement {h['agreement']:.4f}); {h['ort_latency_us_b1']:.1f} µs/image at batch 1")
    if done.retrained:
        print("  (its weights were not kept in the store: it was retrained through its own job first)")
    return 0


def _job_overrides(a: argparse.Namespace) -> dict:
    """The overrides every job command takes (``--epochs`` …), after checking the store can take the result."""
    o = _overrides(a)
    if not getattr(a, "dry_run", False) and a.cmd not in ("distill", "train-teacher"):
        from kdcore.store import open_store

        open_store().check_writable()  # a KD_STORE_DIR that is a file or read-only: refused before any work
    # distill / train-teacher: a job already stored is served even from a read-only store; one that must be
    # computed is refused by run_through_runner before anything queues (the same message)
    from kdcore.train.loop import device_note

    if (note := device_note()) is not None:
        print(f"warning: {note}", file=sys.stderr)
    return o


def _train_teacher(a: argparse.Namespace) -> int:
    o = _job_overrides(a)
    _print_result(_run(_in_folder(course_teacher(a.dataset, seed=a.seed, **o), a), a.recompute), a.json)
    return 0


def _distill(a: argparse.Namespace) -> int:
    o = _job_overrides(a)
    # the method's jobs as the job builder makes them (its teacher arrangement: early-stopped, assistant …)
    cfg = _in_folder(distil_job(a.dataset, a.method, seed=a.seed, temperature=a.temperature, alpha=a.alpha,
                                teacher_epochs=a.teacher_epochs, **o), a)
    if a.dry_run:
        from kdcore.methods import validate
        from kdcore.train import job_key

        validate(cfg)
        teacher_key = job_key(cfg.teacher) if cfg.teacher is not None else None
        print(f"{cfg.short_name()}\t{job_key(cfg)}\tteacher={teacher_key}")
        return 0
    _print_result(_run(cfg, a.recompute), a.json)
    return 0


def _sweep_command(a: argparse.Namespace) -> int:
    return _sweep(a, _job_overrides(a))


# Every subcommand's handler, by the name build_parser gives it: the one table _dispatch reads.
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train-teacher": _train_teacher,
    "distill": _distill,
    "sweep": _sweep_command,
    "list": _list,
    "methods": _methods,
    "store-manifest": _store_manifest,
    "bench": _bench,
    "report": _report,
    "precompute": _precompute,
    "export": _export,
}


def _dispatch(a: argparse.Namespace) -> int:
    handler = COMMANDS.get(a.cmd)
    if handler is None:  # a parser entry without a handler: refused, naming the commands there are
        raise ConfigError(f"unknown command {a.cmd!r}; the commands are {', '.join(COMMANDS)}")
    _image_folder(a)
    return handler(a)


def _image_folder(a: argparse.Namespace) -> None:
    """``--data-dir``: the folder checked and registered as a data set (kdcore.data.folder); its name replaces
    ``--dataset`` and the folder is the jobs' ``data_dir`` (in their keys, read by the workers)."""
    folder = getattr(a, "data_dir", None)
    if folder is None:
        if getattr(a, "positive_class", None):
            raise ConfigError("--positive-class is for a folder of your own images: give --data-dir too")
        return
    if getattr(a, "mhist_dir", None):
        raise ConfigError("give --data-dir (a folder of class folders) or --mhist-dir (MHIST), not both")
    from kdcore.data.folder import register_folder

    pair = register_folder(folder, positive=a.positive_class)
    a.dataset = pair.name
    a.mhist_dir = str(pair_root(pair.name))
    n_train, n_test = pair.examples[None]
    print(f"data set {pair.name}: {pair.title}, {len(pair.classes)} classes, {n_train:,}/{n_test:,} train/test, "
          f"{'course CNN → MLP at 28×28' if not pair.transfer else 'ImageNet backbone → MobileNetV2 at 224×224'}",
          file=sys.stderr)


def pair_root(name: str) -> str:
    """The folder a registered folder data set was read from (its JSON description)."""
    from kdcore.data.folder import registered_record

    record = registered_record(name)
    if record is None:
        raise ConfigError(f"{name} is not a registered folder data set; give its folder with --data-dir")
    return record["root"]


def _sweep(a: argparse.Namespace, extra: dict) -> int:
    if a.suite == "methods":
        from kdcore.course import method_suite as method_configs

        changed = [f"--{k.replace('_', '-')}" for k, v in extra.items() if v is not None and (k, v) != ("data_source", "auto")]
        if changed:
            raise ConfigError(f"--suite methods runs each method's documented defaults; drop {', '.join(changed)} "
                              "(or sweep one method with --method)")
        configs = method_configs(a.dataset, a.seeds)
    else:
        temperatures = a.temperatures if a.temperatures is not None else data_pair(a.dataset).temperatures
        configs = sweep_jobs(a.dataset, a.method, temperatures, a.alphas, a.seeds, **extra)
    configs = [_in_folder(c, a) for c in configs]
    from kdcore.methods import validate

    for cfg in configs:  # every job of the grid, before the first one runs: a bad one stops the sweep empty-handed
        validate(cfg)
    if a.dry_run:
        from kdcore.train import job_key

        for cfg in configs:
            print(f"{cfg.short_name()}\t{job_key(cfg)}")
        return 0
    results = run_many(configs, executor=a.executor, address=a.address)
    for r in results:
        _print_result(r, False)
    return 0


def run_many(configs: Sequence[JobConfig], executor: str = "local", address: str | None = None) -> list[dict]:
    """Run configs through the job runner (local pool, or Ray tasks), with a tqdm bar over the jobs."""
    from tqdm import tqdm

    from kdcore.jobs import run_configs  # the job runner (bounded pool, de-dup, memory guard; or Ray)

    bar = tqdm(total=len(configs), desc=f"sweep ({executor})", unit="job", file=sys.stderr)

    def on_event(event: dict) -> None:
        if event.get("stage") == "done":  # a top-level job finished (nested teachers say "teacher:done")
            bar.update(1)

    try:
        return run_configs(list(configs), executor=executor, address=address, progress=on_event)
    finally:
        bar.n = len(configs)
        bar.close()
