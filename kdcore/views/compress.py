"""What the Compress page draws: the accuracy–size and accuracy–speed-up trade-off (speed-up: against the
uncompressed start timed in the same run), the start-model picker,
the transform settings (checked before any work), the submit, and the take-home files.

Why a views module: the page stays widgets + charts; every number comes from stored results (a compression
job's ``deploy`` and ``reference`` figures, measured by the engine in one process) and every file from
:mod:`kdcore.compress.export`. No torch model runs here: building and exporting are the engine's.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from kdcore.compress.results import weight_zero_share
from kdcore.config import ConfigError, JobConfig

# The five families of the handout (plus stacks of them), in the order the page and Learn name them.
FAMILIES = ("distillation", "quantisation", "pruning", "weight sharing", "sparse regularisation", "stack")
REFERENCE = "uncompressed"
FAMILY_ANCHOR = {f: f"family-{f.replace(' ', '-')}" for f in FAMILIES}  # Learn's links land on these
MAX_BITS = 8


def compression_results(store: object | None = None) -> list[dict]:
    """Every stored compression result (the engine's finder, :func:`kdcore.compress.results.compression_results`)."""
    from kdcore.compress.results import compression_results as stored

    return stored(store=store)


def _twin_words(config: dict) -> str | None:
    """The name of a KD student's scratch twin (same network, data, schedule and seed, labels only), in words."""
    from kdcore.config import JobConfig
    from kdcore.methods import scratch_twin
    from kdcore.views.groups import run_label

    if config.get("teacher") is None:
        return None
    return run_label(scratch_twin(JobConfig.from_dict(config)).to_dict())  # the engine's twin, named by the one rule


def _row(r: dict, deploy: dict, metrics: dict, *, label: str, family: str, start: str, reference: bool,
         ref: dict | None = None, twin: str | None = None) -> dict:
    ref = ref or {}
    ref_metrics = ref.get("metrics", ref)
    return {
        "model": label, "family": family, "start": start, "reference": reference, "twin": twin,
        "dataset": r.get("dataset"), "data_source": r.get("data_source"),
        "seed": (r.get("config") or {}).get("seed", r.get("seed")), "key": r.get("key"),
        "accuracy": 100.0 * float(metrics.get("accuracy", float("nan"))),
        "onnx_bytes": deploy.get("onnx_bytes"), "gzip_bytes": deploy.get("onnx_gzip_bytes"),
        "latency_us_b1": deploy.get("ort_latency_us_b1"), "latency_us_b64": deploy.get("ort_latency_us_b64"),
        "params": deploy.get("params"), "nonzero_params": deploy.get("nonzero_params"),
        "flops": deploy.get("flops"), "flops_effective": deploy.get("flops_effective"),
        # its uncompressed start, measured in the same job: the like-with-like ratios
        "ref_accuracy": 100.0 * float(ref_metrics.get("accuracy", float("nan"))),
        "ref_onnx_bytes": ref.get("onnx_bytes"), "ref_gzip_bytes": ref.get("onnx_gzip_bytes"),
        "ref_latency_us_b1": ref.get("ort_latency_us_b1"),
        "weights_zero_pct": 100.0 * weight_zero_share(deploy) if deploy else None,
    }


def rows(results: list[dict]) -> pd.DataFrame:
    """One row per model and seed: each compressed model (with its uncompressed start as measured in the same
    job), and the uncompressed starts themselves — their export-only job where one is stored, else the start
    as a compression job measured it."""
    from kdcore.compress.results import root_config
    from kdcore.views.groups import run_label  # the one naming rule: the start in words, then each step

    out, starts_with_own_row, refs = [], set(), {}
    for r in results:
        comp = r["compression"]
        family = comp.get("family") or "stack"
        root = root_config(r.get("config") or {})
        start = run_label(root)
        own = family in ("distillation", "reference")  # the start exported as it is (sparse training is a family)
        if own:
            starts_with_own_row.add(comp.get("start_key"))
            family = "distillation" if family == "distillation" else REFERENCE
        label = f"{start} (uncompressed)" if own else run_label(r.get("config") or {})
        ref = r.get("reference") if isinstance(r.get("reference"), dict) else None
        out.append(_row(r, r["deploy"], r.get("metrics", {}), label=label, family=family, start=start,
                        reference=own, ref=ref, twin=_twin_words(root)))
        if ref is not None:  # the model it was measured against (an L1 student's: its twin without the penalty)
            ref_key = ref.get("key") or comp.get("start_key")
            plain_root = {k: v for k, v in root.items() if k != "l1"}
            refs.setdefault(ref_key, (r, ref, run_label(plain_root), _twin_words(plain_root)))
    for ref_key, (r, ref, start, twin) in refs.items():
        if ref_key not in starts_with_own_row:
            out.append(_row({**r, "key": ref_key}, ref, ref.get("metrics", ref), label=f"{start} (uncompressed)",
                            family=REFERENCE, start=start, reference=True, ref=ref, twin=twin))
    cols = list(_row({}, {}, {}, label="", family="", start="", reference=False))
    return pd.DataFrame(out, columns=cols)


@dataclasses.dataclass(frozen=True)
class TradeOff:
    """The page's frames for one data set: per-seed rows, their seed means (the chart), and words."""

    datasets: list[str]
    points: pd.DataFrame
    runs: pd.DataFrame
    caption: str


def tradeoff(dataset: str | None = None, store: object | None = None) -> TradeOff:
    """The trade-off of ``dataset`` (default: the one with most compression results). Like with like: one data
    set and one data source per chart; every size and latency is the engine's ONNX Runtime figure (one thread),
    measured beside the model's uncompressed twin."""
    results = compression_results(store)
    frame = rows(results)
    # most results first; a tie by name, so the page (and Learn's words) open on the same data set every time
    datasets = sorted(frame["dataset"].dropna().unique(), key=lambda d: (-int((frame["dataset"] == d).sum()), d))
    if not datasets:
        return TradeOff([], frame, frame, "")
    dataset = dataset if dataset in datasets else datasets[0]
    runs = frame[frame["dataset"] == dataset]
    source = runs["data_source"].mode().iloc[0]
    runs = runs[runs["data_source"] == source].copy()
    num = ["accuracy", "onnx_bytes", "gzip_bytes", "latency_us_b1", "latency_us_b64", "params", "nonzero_params",
           "flops", "flops_effective", "ref_accuracy", "ref_onnx_bytes", "ref_gzip_bytes", "ref_latency_us_b1",
           "weights_zero_pct"]
    runs[num] = runs[num].apply(pd.to_numeric, errors="coerce")
    g = runs.groupby(["model", "family", "start", "reference", "twin"], as_index=False, dropna=False)
    points = g[num].mean()
    points["accuracy_std"] = g["accuracy"].std()["accuracy"].fillna(0.0)
    points["seeds"] = g["seed"].nunique()["seed"]
    points["size_x"] = points["ref_onnx_bytes"] / points["onnx_bytes"]  # seed means of same-job figures
    points["gzip_x"] = points["ref_gzip_bytes"] / points["gzip_bytes"]
    points["speed_x"] = points["ref_latency_us_b1"] / points["latency_us_b1"]
    points["accuracy_delta"] = points["accuracy"] - points["ref_accuracy"]
    points["size_kb"] = points["onnx_bytes"] / 1000.0
    points["gzip_kb"] = points["gzip_bytes"] / 1000.0
    from kdcore.data import DATASET_TITLES

    caption = (f"{DATASET_TITLES.get(dataset, dataset)} — {source}. Each point: a model, averaged over its seeds (n in "
               "the tooltip). Bytes: the "
               "ONNX file on disk; speed-up: ONNX Runtime, one CPU thread, median µs per image at batch 1, as a ratio to "
               "the model's uncompressed start timed in the same run (the squares, at 1×): µs timed in different runs "
               "are not comparable on a shared machine.")
    sparse = [r for r in results if r.get("dataset") == dataset and r["compression"].get("sparsity")]
    if sparse:
        thresholds = sorted({r["compression"]["sparsity"]["threshold"] for r in sparse})
        caption += (" Sparse regularisation: a student trained with an L1 penalty λ·Σ|w| on its weights, exported with "
                    f"every weight |w| < {' / '.join(f'{t:g}' for t in thresholds)} set to exactly 0 (weights_zero_pct:"
                    " the share of zeros), measured against the same student trained without the penalty; a dense "
                    "ONNX file keeps its zeros, so it pays in the gzip'd size (gzip_x), not on disk or in latency.")
    return TradeOff(datasets, points, runs, caption)


# ---- what the user asks for ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Settings:
    """The page's transform widgets, as numbers (checked by :func:`check_settings` before any work)."""

    start_key: str
    sparsity: float = 0.0  # unstructured global magnitude pruning; 0 = none
    structured: bool = False  # prune hidden units / channels instead of single weights
    share: bool = False  # weight sharing: each layer's weights clustered into 2^bits shared values
    bits: int = 4
    int8: bool = False
    finetune_epochs: int = 0
    with_teacher: bool = False  # the fine-tune distils from the start model's teacher ("prune, then distil")


def check_settings(s: Settings, store: object | None = None) -> dict:
    """The start model's stored result if ``s`` can run; else a ConfigError naming the setting and the fix."""
    from kdcore.store import open_store

    if not 0.0 <= s.sparsity < 1.0:
        raise ConfigError(f"sparsity {s.sparsity:g} is outside [0, 1): 1.0 would remove every weight; choose e.g. 0.5 "
                          "or 0.9 (0 = no pruning)")
    if s.share and not 1 <= s.bits <= MAX_BITS:
        raise ConfigError(f"weight sharing needs 1–{MAX_BITS} bits (2^bits shared values per layer), got {s.bits}; "
                          "choose e.g. 4 bits, or untick weight sharing")
    if s.finetune_epochs < 0:
        raise ConfigError(f"fine-tune epochs must be 0 or more, got {s.finetune_epochs}")
    start = (store or open_store()).get(s.start_key) if s.start_key else None
    if start is None:
        raise ConfigError(f"unknown model {s.start_key!r}: pick a stored student or teacher from the list "
                          "(or train one in the Distill lab)")
    if not (s.sparsity or s.share or s.int8 or start["config"].get("l1")):
        raise ConfigError("choose at least one transform: a sparsity above 0, weight-sharing bits, or int8 (a student "
                          "trained with an L1 penalty needs none: it is exported with its near-zero weights set to 0)")
    if s.with_teacher and not s.finetune_epochs:
        raise ConfigError("'fine-tune with the teacher' needs fine-tune epochs above 0")
    return start


def chain(s: Settings) -> list[dict]:
    """The transforms in the order they apply — prune (+ fine-tune) → share → int8 — as the engine's job builder
    (:func:`kdcore.course.compression_chain`) takes them."""
    out: list[dict] = []
    tune = {"finetune_epochs": s.finetune_epochs, "finetune": "kd" if s.with_teacher else "labels"}
    if s.sparsity:
        out.append({"transform": "prune_structured", "keep": round(1.0 - s.sparsity, 6), **tune} if s.structured
                   else {"transform": "prune", "sparsity": s.sparsity, **tune})
    if s.share:
        out.append({"transform": "share", "bits": s.bits})
    if s.int8:
        out.append({"transform": "int8"})
    return out


def compression_job(s: Settings, store: object | None = None) -> JobConfig:
    """The compression job of ``s`` as the engine's job builder makes it (the page's checks first, then the
    engine's own: both before anything is queued)."""
    from kdcore.course import compression_chain

    start = JobConfig.from_dict(check_settings(s, store)["config"])
    steps = chain(s)
    if not steps:  # an L1-trained student alone (check_settings): exported with its weights below the threshold at 0
        from kdcore.metrics import ZERO_THRESHOLD

        steps = [{"transform": "onnx", "zero_below": ZERO_THRESHOLD}]
    return compression_chain(start, steps)


def run_compression(s: Settings, progress: Callable[[dict], None] | None = None,
                    heartbeat: Callable[[], None] | None = None) -> dict:
    """Check, build and run the compression job through the one submit path."""
    from kdcore.jobs.submit import run_through_runner

    return run_through_runner(compression_job(s), progress=progress, heartbeat=heartbeat)


def _start_results(store: object | None = None) -> list[dict]:
    """Every stored uncompressed student or teacher (a model a compression job can start from)."""
    from kdcore.store import open_store

    return [r for r in (store or open_store()).list() if not r.get("compression") and not r.get("deploy")]


def start_datasets(first: Sequence[str] = (), store: object | None = None) -> list[str]:
    """The data sets with a stored model to start from (the "Compress a model" picker; a folder of your own images
    once a model is trained on it): those in ``first`` (the trade-off's, in its order), then the rest by name."""
    found = {str(r.get("dataset")) for r in _start_results(store) if r.get("dataset")}
    return [d for d in first if d in found] + sorted(found - set(first))


def start_models(dataset: str, store: object | None = None) -> list[tuple[str, str]]:
    """(key, label) of every stored uncompressed student or teacher of ``dataset``: the page's picker."""
    out = []
    for r in _start_results(store):
        if r.get("dataset") != dataset:
            continue
        kept = "weights kept" if "weights.safetensors" in (r.get("files") or {}) else "retrained first"
        out.append((r["key"], f"{r['name']} — {100 * r['metrics']['accuracy']:.2f}% ({kept})"))
    return out


# ---- take it home -------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Download:
    file_name: str
    data: bytes
    card_name: str
    card: bytes
    retrained: bool


def download(key: str, fmt: str, progress: Callable[[dict], None] | None = None) -> Download:
    """The model file and its Markdown card as bytes (the engine's export, in a scratch folder)."""
    from kdcore.compress.export import export_model

    with tempfile.TemporaryDirectory(prefix="kd-export-") as tmp:
        done = export_model(key, fmt, Path(tmp), progress=progress)
        return Download(done.model_path.name, done.model_path.read_bytes(), done.card_md.name,
                        done.card_md.read_bytes(), done.retrained)


def family_results(store: object | None = None) -> list[tuple[str, str]]:
    """(family, what its stored results buy in words) for each of the five families, for Learn's links: size ×,
    latency × and accuracy Δ against the uncompressed start measured in the same job (seed means); the family's
    smallest model where it has several."""
    view = tradeoff(store=store)
    p = view.points
    out = []
    for fam in FAMILIES[:5]:
        mine = p[(p["family"] == fam) & ~p["reference"]].dropna(subset=["size_x"]) if len(p) else p
        if fam == "distillation" and len(p):  # KD's own gain: the distilled student against its scratch twin
            words = _distillation_words(p, view.datasets[0])
            out.append((fam, words or "no stored result yet: compress a model on the page"))
            continue
        if not len(mine):
            out.append((fam, "no stored result yet: compress a model on the page"))
            continue
        gzip_only = fam in ("sparse regularisation", "weight sharing")  # they pay only once the file is compressed
        r = mine.sort_values("gzip_x" if gzip_only else "size_x").iloc[-1]
        size = f"{r['gzip_x']:.1f}× smaller gzip'd" if gzip_only else f"{r['size_x']:.1f}× smaller"
        words = (f"{size}, {r['speed_x']:.1f}× faster at batch 1, {r['accuracy_delta']:+.2f} "
                 f"accuracy points ({r['model']}; {_title(view.datasets[0])}, {int(r['seeds'])} seeds)")
        out.append((fam, words))
    return out


def _title(dataset: str) -> str:
    from kdcore.data import DATASET_TITLES

    return DATASET_TITLES.get(dataset, dataset)


def _distillation_words(points: pd.DataFrame, dataset: str) -> str | None:
    """What distillation buys, as the page measures it: the distilled student's accuracy against the same network
    trained from scratch (its twin: same size, same ONNX file size and latency), seed means."""
    kd = points[(points["family"] == "distillation") & points["reference"]]
    for _, r in kd.iterrows():
        twin = points[points["reference"] & (points["start"] == r["twin"])]
        if len(twin):
            t = twin.iloc[0]
            return (f"{r['accuracy'] - t['accuracy']:+.2f} accuracy points over the same network trained from scratch, "
                    f"at the same size ({r['size_kb']:,.0f} kB) and speed ({r['start']}: {r['accuracy']:.2f} % vs "
                    f"{t['accuracy']:.2f} %; {_title(dataset)}, {int(min(r['seeds'], t['seeds']))} seeds)")
    return None


def linked_family(params: dict) -> tuple[str | None, str | None]:
    """The family a Learn link asks for (``?family=pruning``), and a note when the link's value is not one."""
    raw = str(params.get("family", "") or "").strip().replace("-", " ")
    if not raw:
        return None, None
    if raw in FAMILIES:
        return raw, None
    from kdcore.views.links import shown

    return None, f"this link asks for family {shown(raw)}, which the page does not have; showing them all"


def family_link(family: str) -> str:
    """The Compress page's URL for ``family`` (what Learn's "Why compress a model?" links to)."""
    return f"/compress?family={family.replace(' ', '-')}"


def format_label(fmt: str) -> str:
    return {"onnx": "ONNX float32", "onnx-int8": "ONNX int8", "safetensors": "safetensors (PyTorch weights)"}[fmt]


__all__ = ["FAMILIES", "FAMILY_ANCHOR", "REFERENCE", "Download", "Settings", "TradeOff", "chain", "check_settings",
           "compression_job", "compression_results", "download", "family_link", "family_results", "format_label", "linked_family",
           "rows", "run_compression", "start_datasets", "start_models", "tradeoff"]
