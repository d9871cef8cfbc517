"""Finding compression results in a store (the page, the README table and the bench read them from here)."""

from __future__ import annotations

from kdcore.store import open_store


def compression_results(dataset: str | None = None, store: object | None = None) -> list[dict]:
    """Every stored compression result (one with ``compression`` and ``deploy``), of ``dataset`` if given,
    shipped ones included (open_store layers assets/store under the user's store)."""
    store = store or open_store()
    return [r for r in store.list()  # type: ignore[attr-defined]
            if "compression" in r and "deploy" in r and (dataset is None or r.get("dataset") == dataset)]


def _label(result: dict) -> str:
    parts = []
    for step in result["compression"]["chain"]:
        t = step["transform"]
        if t == "prune":
            parts.append(f"prune {step['sparsity']:.0%}" + (f" + {step['finetune_epochs']}-ep fine-tune" +
                                                            (" (KD)" if step.get("finetune_method") == "hinton" else "")
                                                            if step.get("finetune_epochs") else ""))
        elif t == "prune_structured":
            parts.append(f"structured: keep {step['keep']:.0%} units" +
                         (f" + {step['finetune_epochs']}-ep fine-tune" +
                          (" (KD)" if step.get("finetune_method") == "hinton" else "")
                          if step.get("finetune_epochs") else ""))
        elif t == "share":
            parts.append(f"weight sharing {step['bits']}-bit")
        elif t == "int8":
            parts.append(f"int8 ({step.get('mode', '')})")
        else:
            parts.append("ONNX float32")
    return " → ".join(parts)


def family_rows(dataset: str = "fashion_mnist", store: object | None = None) -> list[dict]:
    """One row per (start student, chain), averaged over the seeds stored: what each family buys, as ratios of the
    start model measured in the same job (size ×, gzip'd size ×, ORT batch-1 latency ×, accuracy Δ in points)."""
    import statistics

    groups: dict[tuple[str, str], list[dict]] = {}
    for r in compression_results(dataset, store):
        start = "KD student (hinton)" if (r["config"].get("start_from") or {}).get("teacher") or \
            _root_method(r) != "scratch" else "scratch twin"
        groups.setdefault((start, _label(r)), []).append(r)
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
        })
    return rows


def _root_method(result: dict) -> str:
    c = result["config"]
    while c.get("start_from"):
        c = c["start_from"]
    return str(c.get("method"))


def markdown(rows: list[dict]) -> str:
    """The README's table "what each family buys on the course student"."""
    lines = ["| start | transform(s) | family | seeds | size × | gzip'd × | ORT latency × (b1) | FLOPs × | accuracy % "
             "| Δ accuracy (points) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['start']} | {r['chain']} | {r['family']} | {','.join(map(str, r['seeds']))} | "
                     f"{r['size_x']:.2f} | {r['gzip_x']:.2f} | {r['latency_x_b1']:.2f} | {r['flops_x']:.2f} | "
                     f"{r['accuracy_pct']:.2f} | {r['accuracy_delta_points']:+.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m kdcore.compress.results: the README table from the store
    print(markdown(family_rows()))
