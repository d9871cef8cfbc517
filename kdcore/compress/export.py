"""Take a stored model home: ONNX float32, ONNX int8 or safetensors, with a model card (Markdown + JSON).

Why here: the app and the CLI (``python -m kdcore export``) hand out the same files made the same way — the
network as its job stored it, the ONNX file written by :mod:`kdcore.compress.onnx_io` (the exporter path that
survives int8 quantisation), and a card that says where the model came from (data, metrics per seed, FLOPs,
bytes, latency, the teacher and compression chain) and which command makes it again.

A model whose weights were not kept in the store (most shipped results keep only their numbers) is retrained
through its own job first — through the one submit path, :func:`kdcore.jobs.submit.run_through_runner` — and
the card says so. Nothing here imports Streamlit.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from kdcore.config import ConfigError, JobConfig
from kdcore.data.pairs import data_pair

FORMATS = ("onnx", "onnx-int8", "safetensors")
CALIBRATION_IMAGES = 256  # static int8 (CNNs, MobileNetV2): calibrated on this many training images
KEY_PATTERN = re.compile(r"^[0-9a-f]{16,40}$")
ProgressFn = Callable[[dict], None]


@dataclasses.dataclass(frozen=True)
class Export:
    """What :func:`export_model` wrote: the model file, the two card files, and what the card says."""

    model_path: Path
    card_md: Path
    card_json: Path
    card: dict
    retrained: bool


class LogitsOnly(nn.Module):
    """The stored network as a plain ``images -> logits`` function: what an ONNX file (and its user) expects.

    The data set's own input transform (MHIST: ImageNet normalisation) is inside, so the exported file takes
    the images exactly as the data set stores them."""

    def __init__(self, model: nn.Module, transform: Callable[[torch.Tensor], torch.Tensor] | None) -> None:
        super().__init__()
        self.model = model
        self.transform = transform

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.transform is not None:
            x = self.transform(x)
        out = self.model(x)
        return out.logits if hasattr(out, "logits") else out


def check_format(fmt: str) -> str:
    """``fmt`` if it is one of :data:`FORMATS`; else a ConfigError naming them (before any work)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fmt


def resolve_target(text: str | JobConfig) -> str | JobConfig:
    """A store key, or the JobConfig in a JSON file (a config, a result, or a model card: all carry one)."""
    if isinstance(text, JobConfig):
        return text
    path = Path(text).expanduser()
    if path.is_file():
        try:
            d = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise ConfigError(f"{path} is not a readable JSON file ({e}); give a store key or a config file") from e
        d = d.get("config", d) if isinstance(d, dict) else d
        if not isinstance(d, dict):
            raise ConfigError(f"{path} holds no job config; give a store key (python -m kdcore list) or a config file")
        return JobConfig.from_dict(d)
    if KEY_PATTERN.match(text.strip()):
        return text.strip()
    raise ConfigError(f"{text!r} is neither a store key nor a config file; `python -m kdcore list` shows the keys, "
                      "and a model card's .json (or a result.json) is a config file")


def stored_result(target: str | JobConfig, progress: ProgressFn | None = None) -> tuple[dict, bool]:
    """The stored result of ``target`` WITH its weights, and whether it had to be (re)trained for them.

    A key not in the store is refused; a config not yet run runs; a result stored without weights is
    retrained through its own job (the one submit path, ``recompute``) — never a traceback."""
    from kdcore.jobs.submit import run_through_runner
    from kdcore.store import open_store

    store = open_store()
    if isinstance(target, str):
        result = store.get(target)
        if result is None:
            raise ConfigError(f"no stored model with key {target!r}; `python -m kdcore list` shows the stored keys")
        config = JobConfig.from_dict(result["config"])
    else:
        config = target
        result = run_through_runner(config, progress=progress)
    if store.get(result["key"], need_weights=True) is not None:
        return result, not result.get("cached", True)
    if progress is not None:
        progress({"stage": "retrain", "message": f"the weights of {result['name']} were not kept in the store: "
                                                 "retraining it through its own job first"})
    result = run_through_runner(config, progress=progress, recompute=True)
    if store.get(result["key"], need_weights=True) is None:
        raise ConfigError(f"{result['name']} was retrained but its job keeps no weights (an evaluation-only job); "
                          "export one of its members instead")
    return result, True


def load_network(result: dict) -> nn.Module:
    """The stored network of ``result`` (a compressed one as its compression job stored it: pruned hidden sizes
    included; an int8 result's float start network — its int8 graph is the stored ONNX file)."""
    from kdcore.compress.job import load_compressed
    from kdcore.store import open_store

    return load_compressed(result, open_store())


def example_inputs(result: dict, n: int) -> torch.Tensor:
    """The first ``n`` test images of the data ``result`` was scored on, as the data set stores them."""
    from kdcore.inference import load_data

    return load_data(result).x_test[:n].to("cpu").float()  # decoded where the images are files (MHIST, folders)


def calibration_inputs(result: dict, n: int = CALIBRATION_IMAGES) -> torch.Tensor:
    """The engine's calibration set (:func:`kdcore.compress.job.calibration_images`: the first training images)."""
    from kdcore.compress.job import calibration_images
    from kdcore.inference import load_data

    return calibration_images(JobConfig.from_dict(result["config"]), load_data(result), n).float()


def int8_is_static(dataset: str, arch: str) -> bool:
    """Static (QDQ, calibrated) int8 for the conv nets; dynamic int8 for the MLP (issue 25's recipe)."""
    return arch != "student_mlp" or data_pair(dataset).transfer


def teacher_chain(config: JobConfig) -> list[str]:
    chain, t = [], config.teacher
    while t is not None:
        chain.append(t.short_name())
        t = t.teacher
    return chain


def seed_metrics(result: dict) -> list[dict]:
    """Test metrics of every stored seed of this job (everything else equal): the card's "metrics with seeds"."""
    from kdcore.store import open_store
    from kdcore.train import job_key

    store = open_store()
    config = JobConfig.from_dict(result["config"])
    rows = []
    for seed in sorted({config.seed, 0, 1, 2}):
        try:
            r = result if seed == config.seed else store.get(job_key(config.replace(seed=seed)))
        except Exception:  # noqa: BLE001 - a sibling that cannot be keyed here is just not listed
            r = None
        if r is not None:
            rows.append({"seed": seed, "key": r["key"], **{k: v for k, v in r["metrics"].items()
                                                         if isinstance(v, (int, float)) and v is not None}})
    return rows


def reproduce_command(fmt: str, config_file: str) -> str:
    return f"python -m kdcore export {config_file} --format {fmt} --out DIR"


def model_card(result: dict, fmt: str, model_path: Path, retrained: bool, measured: dict) -> dict:
    """The card's facts (the JSON; :func:`card_markdown` writes them in words)."""
    config = JobConfig.from_dict(result["config"])
    m = result.get("metrics", {})
    comp = result.get("compression")
    return {
        "name": result["name"],
        "key": result["key"],
        "format": fmt,
        "file": model_path.name,
        "file_bytes": model_path.stat().st_size,
        "dataset": result["dataset"],
        "data_source": result.get("data_source"),
        "data_source_id": result.get("data_source_id"),
        "is_standin": result.get("is_standin", False),
        "classes": result.get("classes"),
        "input": measured.get("input"),
        "metrics": {k: v for k, v in m.items() if isinstance(v, (int, float))},
        "seeds": seed_metrics(result),
        "complexity": result.get("complexity"),
        "deploy": result.get("deploy"),
        "measured_here": measured,
        "teacher_chain": teacher_chain(config),
        "compression_chain": (comp or {}).get("chain", []),
        "compression_start": (comp or {}).get("start"),
        "retrained_for_export": retrained,
        "engine": result.get("engine"),
        "versions": result.get("versions"),
        "config": result["config"],
        "reproduce": reproduce_command(fmt, f"{model_path.stem}.card.json"),
    }


def card_markdown(card: dict) -> str:
    m = card["metrics"]
    lines = [f"# Model card: {card['name']}", "",
             f"- File: `{card['file']}` ({card['format']}, {card['file_bytes']:,} bytes)",
             f"- Store key: `{card['key']}`",
             f"- Data: {card['dataset']} — {card['data_source']}" + (" (synthetic stand-in)" if card["is_standin"] else ""),
             f"- Input: {card['input']}" if card.get("input") else "- Input: see config",
             f"- Test accuracy: {m.get('accuracy', float('nan')) * 100:.2f}%"
             + (f", macro-F1 {m['macro_f1']:.4f}" if "macro_f1" in m else "")
             + (f", AUC {m['auc']:.4f}" if m.get("auc") is not None else ""), ""]
    lines += ["## Metrics by seed", "", "| seed | accuracy | key |", "|---|---|---|"]
    lines += [f"| {s['seed']} | {s.get('accuracy', float('nan')) * 100:.2f}% | `{s['key']}` |" for s in card["seeds"]]
    c = card.get("complexity") or {}
    h = card["measured_here"]
    lines += ["", "## Size and speed", "",
              f"- Parameters: {c.get('params', 0):,}; FLOPs: {c.get('flops', 0):,} (2 × MACs)",
              f"- Bytes on disk: {card['file_bytes']:,}"]
    if h.get("ort_latency_us_b1") is not None:
        lines.append(f"- ONNX Runtime latency (1 thread, median µs per image, measured at export): batch 1 "
                     f"{h['ort_latency_us_b1']:.1f}, batch 64 {h['ort_latency_us_b64']:.1f}")
    if h.get("same_predictions") is not None:
        lines.append(f"- Agreement with the stored PyTorch model on {h['checked_images']} test images: "
                     f"same predictions {h['same_predictions']}, max |Δ logit| {h['max_abs_logit_diff']:.2e}")
    if card.get("deploy"):
        lines.append(f"- Recorded by its compression job: {json.dumps(card['deploy'], default=str)}")
    lines += ["", "## How it was made", ""]
    chain = " ← ".join(card["teacher_chain"]) if card["teacher_chain"] else "none (trained on labels)"
    lines.append(f"- Teacher chain: {chain}")
    if card["compression_chain"]:
        lines.append(f"- Compression chain from {card['compression_start']}: "
                     + " → ".join(json.dumps(t, sort_keys=True) for t in card["compression_chain"]))
    if card["retrained_for_export"]:
        lines.append("- Its weights were not kept in the store: it was retrained through its own job for this export.")
    lines += [f"- Engine: {card.get('engine')}", "", "## Reproduce", "", "```", card["reproduce"], "```",
              "", "(the `.card.json` beside this file holds the job config; the command trains it through the "
                  "job runner when the store lacks it)"]
    return "\n".join(lines) + "\n"


def _write_atomic(path: Path, data: str | bytes) -> None:
    from kdcore.store import temp_path

    tmp = temp_path(path)
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    tmp.replace(path)


def export_model(target: str | JobConfig, fmt: str, out_dir: str | Path, progress: ProgressFn | None = None,
                 check_images: int = 256) -> Export:
    """Write ``target``'s model as ``fmt`` into ``out_dir`` with its model card; return what was written.

    Settings are checked first (format, target), so a bad one costs nothing. ONNX files are checked against
    the stored PyTorch model on ``check_images`` test images (float32: same predictions) in a fresh
    onnxruntime session, and their latency is measured in that session."""
    check_format(fmt)
    target = resolve_target(target)
    result, retrained = stored_result(target, progress)
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    net = load_network(result).eval()
    from kdcore.inference import input_transform

    wrapped = LogitsOnly(net, input_transform(result["dataset"])).eval()
    x = example_inputs(result, check_images)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", result["name"]).strip("_") + (".int8" if fmt == "onnx-int8" else "")
    measured: dict = {"input": f"float32 tensor [batch, {', '.join(map(str, x.shape[1:]))}]"}
    if fmt == "safetensors":
        from safetensors.torch import save

        path = out / f"{stem}.safetensors"
        _write_atomic(path, save({k: v.contiguous() for k, v in net.state_dict().items()},
                                 metadata={"key": result["key"], "config": json.dumps(result["config"])}))
    else:
        path = _export_onnx(result, wrapped, x, out / f"{stem}.onnx", int8=fmt == "onnx-int8", measured=measured)
    card = model_card(result, fmt, path, retrained, measured)
    card_json = out / f"{path.stem}.card.json"
    card_md = out / f"{path.stem}.card.md"
    card["reproduce"] = reproduce_command(fmt, card_json.name)
    _write_atomic(card_json, json.dumps(card, indent=1, default=str))
    _write_atomic(card_md, card_markdown(card))
    return Export(path, card_md, card_json, card, retrained)


def _export_onnx(result: dict, wrapped: nn.Module, x: torch.Tensor, path: Path, int8: bool, measured: dict) -> Path:
    """The ONNX file (A's exporter path), checked and timed in a fresh onnxruntime session."""
    try:
        from kdcore.compress import onnx_io
    except ImportError as e:  # the engine half of issue 25 is not in this checkout
        raise ConfigError("ONNX export needs kdcore.compress.onnx_io (the compression engine); "
                          "use --format safetensors meanwhile") from e
    from kdcore.compress.job import onnx_bytes
    from kdcore.store import open_store

    fp32 = path if not int8 else path.with_name(path.stem.removesuffix(".int8") + ".fp32.onnx")
    stored_fmt = (result.get("deploy") or {}).get("format")
    kept = onnx_bytes(result, open_store()) if stored_fmt == ("onnx-int8" if int8 else "onnx-fp32") else None
    if kept is not None and getattr(wrapped, "transform", None) is None:
        # the very file its compression job measured (same inputs: this data set needs no input transform)
        _write_atomic(path, kept)
        measured["source"] = "the ONNX file its compression job stored and measured"
        int8 = False  # already the requested graph
    else:
        onnx_io.export_onnx(wrapped, x[:1], fp32)
    if int8:
        static = int8_is_static(result["dataset"], JobConfig.from_dict(result["config"]).arch)
        onnx_io.quantize_int8(fp32, path, calibration=calibration_inputs(result) if static else None)
        measured["int8"] = f"static QDQ, calibrated on the first {CALIBRATION_IMAGES} training images" if static \
            else "dynamic (weights int8, activations quantised at run time)"
        fp32.unlink(missing_ok=True)
    session = onnx_io.ort_session(path, threads=1)
    with torch.no_grad():
        ref = wrapped(x)
    got = onnx_io.ort_logits(session, x)
    measured.update({
        "checked_images": len(x),
        "same_predictions": bool((got.argmax(1) == ref.argmax(1)).all()),
        "agreement": float((got.argmax(1) == ref.argmax(1)).float().mean()),
        "max_abs_logit_diff": float((got - ref).abs().max()),
        "ort_latency_us_b1": onnx_io.ort_latency_us(session, x[:1], batch=1, repeats=50),
        "ort_latency_us_b64": onnx_io.ort_latency_us(session, x[:64], batch=64, repeats=5),
        "threads": 1,
    })
    return path
