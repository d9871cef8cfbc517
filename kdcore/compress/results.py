"""Stored compression results, found and named in one place: the Compress page (:mod:`kdcore.views.compress`),
Learn's lesson, the README table (``python -m kdcore.compress.results``) and the bench read them from here.

A compression result is one with ``compression`` (its chain of steps, family, start) and ``deploy`` (what its file
costs), and ``reference``: the uncompressed model it is measured against in the same job — the chain's root, or for
an L1-trained root its twin without the penalty (:func:`kdcore.compress.transforms.reference_config`).
"""

from __future__ import annotations

from kdcore.store import open_store


def compression_results(dataset: str | None = None, store: object | None = None) -> list[dict]:
    """Every stored compression result (one with ``compression`` and ``deploy``), of ``dataset`` if given,
    shipped ones included (open_store layers assets/store under the user's store)."""
    store = store or open_store()
    return [r for r in store.list()  # type: ignore[attr-defined]
            if isinstance(r.get("compression"), dict) and isinstance(r.get("deploy"), dict)
            and (dataset is None or r.get("dataset") == dataset)]


def _tune(step: dict) -> str:
    if not step.get("finetune_epochs"):
        return ""
    return f" + {step['finetune_epochs']}-ep fine-tune" + (" (KD)" if step.get("finetune_method") == "hinton" else "")


def step_label(step: dict) -> str:
    """One step of a chain in words: "prune 90% + 2-ep fine-tune (KD)", "int8 (dynamic)", "ONNX float32" …"""
    t = step.get("transform", "?")
    if t == "prune":
        return f"prune {step['sparsity']:.0%}" + _tune(step)
    if t == "prune_structured":
        return f"structured: keep {step['keep']:.0%} units" + _tune(step)
    if t == "share":
        return f"weight sharing {step['bits']}-bit"
    if t == "int8":
        return f"int8 ({step.get('mode', '')})".replace(" ()", "")
    if t == "onnx" and step.get("zero_below"):
        return f"|w| < {step['zero_below']:g} set to 0, ONNX float32"
    if t == "onnx":
        return "ONNX float32"
    return t


def chain_label(result: dict) -> str:
    """A compression result's chain in words, its L1 training first where its root had one:
    "L1 λ = 0.0001 training → |w| < 0.001 set to 0, ONNX float32", "prune 90% + 2-ep fine-tune → int8 (dynamic)"."""
    comp = result.get("compression") or {}
    words = [step_label(step) for step in comp.get("chain") or []]
    if comp.get("l1"):
        words.insert(0, f"L1 λ = {comp['l1']:g} training")
    return " → ".join(words)


def root_config(config: dict) -> dict:
    """The training job (as a dict) at the bottom of a compression chain: ``start_from`` followed to the end."""
    while config.get("start_from"):
        config = config["start_from"]
    return config


def start_label(result: dict) -> str:
    """Which course student a result starts from, without the L1 penalty (its twin is what it is measured against,
    and the chain says L1): "KD student (hinton)" or "scratch twin" — another method's name where it is not Hinton."""
    root = root_config(result.get("config") or {})
    method = str(root.get("method"))
    if method == "scratch" and not root.get("teacher"):
        return "scratch twin"
    return f"KD student ({method})"


def family_rows(dataset: str = "fashion_mnist", store: object | None = None) -> list[dict]:
    """One row per (start student, chain), averaged over the seeds stored: what each family buys, as ratios of the
    reference model measured in the same job (size ×, gzip'd size ×, ORT batch-1 latency ×, accuracy Δ in points;
    the share of Linear/Conv weights that are exactly 0 in the exported file)."""
    import statistics

    groups: dict[tuple[str, str], list[dict]] = {}
    for r in compression_results(dataset, store):
        groups.setdefault((start_label(r), chain_label(r)), []).append(r)
    rows = []
    for (start, label), rs in sorted(groups.items()):
        def mean(f, rs: list[dict] = rs) -> float:
            return statistics.fmean(f(r) for r in rs)
        rows.append({
            "start": start, "chain": label, "family": rs[0]["compression"]["family"],
            "seeds": sorted(r["seed"] for r in rs),
            "size_x": mean(lambda r: r["reference"]["onnx_bytes"] / r["deploy"]["onnx_bytes"]),
            "gzip_x": mean(lambda r: r["reference"]["onnx_gzip_bytes"] / r["deploy"]["onnx_gzip_bytes"]),
            "latency_x_b1": mean(lambda r: r["reference"]["ort_latency_us_b1"] / r["deploy"]["ort_latency_us_b1"]),
            "flops_x": mean(lambda r: r["reference"]["flops"] / r["deploy"]["flops"]),
            "accuracy_pct": mean(lambda r: 100 * r["metrics"]["accuracy"]),
            "accuracy_delta_points": mean(lambda r: 100 * (r["metrics"]["accuracy"]
                                                           - r["reference"]["metrics"]["accuracy"])),
            "weight_zero_pct": mean(lambda r: 100 * weight_zero_share(r["deploy"])),
        })
    return rows


def weight_zero_share(deploy: dict) -> float:
    """The share of Linear/Conv weights exactly 0 in a ``deploy`` record (older results: from the FLOPs a sparse
    kernel could skip, which scale with it; NaN where neither was recorded)."""
    if "weight_zero_share" in deploy:
        return float(deploy["weight_zero_share"])
    if deploy.get("flops") and "flops_if_sparse" in deploy:
        return 1.0 - deploy["flops_if_sparse"] / deploy["flops"]
    return float("nan")


def markdown(rows: list[dict]) -> str:
    """The README's table "what each family buys on the course student"."""
    lines = ["| start | transform(s) | family | seeds | weights = 0 % | size × | gzip'd × | ORT latency × (b1) "
             "| FLOPs × | accuracy % | Δ accuracy (points) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        chain = r["chain"].replace("|", "\\|")  # "|w| < 0.001" inside a table cell
        lines.append(f"| {r['start']} | {chain} | {r['family']} | {','.join(map(str, r['seeds']))} | "
                     f"{r['weight_zero_pct']:.1f} | {r['size_x']:.2f} | {r['gzip_x']:.2f} | {r['latency_x_b1']:.2f} | "
                     f"{r['flops_x']:.2f} | {r['accuracy_pct']:.2f} | {r['accuracy_delta_points']:+.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """``python -m kdcore.compress.results [DATASET …]``: the README table of each data set (default fashion_mnist)."""
    import sys

    for dataset in (argv if argv is not None else sys.argv[1:]) or ["fashion_mnist"]:
        print(f"{dataset}:\n\n{markdown(family_rows(dataset))}\n")


if __name__ == "__main__":
    main()
