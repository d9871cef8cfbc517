"""Section ``mhist`` of ``python -m kdcore bench``: CPU figures of the MHIST pair's two-stage schedule."""

from __future__ import annotations

import time

import torch

from kdcore.bench import Target
from kdcore.bench.child import call_in_child
from kdcore.data import ArrayDataset, load_dataset
from kdcore.losses.scratch import CrossEntropy
from kdcore.models.mhist import ARCHS as MHIST_ARCHS
from kdcore.train.loop import FitSpec, fit
from kdcore.train.transfer import PooledHead, pooled_features

MHIST_TRAIN, MHIST_TEST = 2175, 977


def _bench_pipeline(n: int, stage2_epochs: int, chain: tuple[str, ...]) -> dict:
    """Child process of :func:`bench_mhist`: teacher → students on the stand-in **repeated to MHIST's
    size** (2,175 + 977 image files, held as a real run holds them), training on the first ``n``.
    Returns its peak RSS and each job's timings. Peak memory is per batch, so ``n`` does not change it."""
    import resource
    import tempfile

    import kdcore.data as kdata
    from kdcore.course import course_student, course_teacher
    from kdcore.data.images import ImageFiles
    from kdcore.data.pairs import data_pair
    from kdcore.jobs.heap import return_freed_memory_to_os, trim_heap
    from kdcore.store import ResultStore
    from kdcore.train.job import run_job

    return_freed_memory_to_os()  # as the job runner's workers and the CLI do
    small = load_dataset("mhist_synthetic")

    def repeated(x: ImageFiles, n_images: int) -> ImageFiles:
        return ImageFiles([x.paths[i % len(x)] for i in range(n_images)], x.size)

    big = ArrayDataset(
        name="mhist_synthetic", source=small.source + " (repeated to MHIST size: memory benchmark)",
        source_id="bench-mhist-size", x_train=repeated(small.x_train, MHIST_TRAIN),
        y_train=small.y_train[torch.arange(MHIST_TRAIN) % len(small.y_train)],
        x_test=repeated(small.x_test, MHIST_TEST),
        y_test=small.y_test[torch.arange(MHIST_TEST) % len(small.y_test)], classes=small.classes, is_standin=True)
    kdata._cache[("mhist_synthetic", "bench-mhist-size")] = big
    common = dict(data_source="bench-mhist-size", train_limit=n, test_limit=n,
                  method_params=(("stage1_epochs", data_pair("mhist_synthetic").stage_epochs[0]),  # the course's
                                 ("stage2_epochs", stage2_epochs)))
    teacher = course_teacher("mhist_synthetic", **common)
    jobs = {"teacher": teacher, "scratch": course_student("mhist_synthetic", "scratch", **common),
            "hinton": course_student("mhist_synthetic", "hinton", teacher=teacher, **common)}
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = ResultStore(tmp)
        for name in chain:
            r = run_job(jobs[name], store=store)
            trim_heap()  # as the job runner's workers do after each job
            s2 = [h for h in r["history"] if h["stage"] == "stage2"]
            out[name] = {**r["timings"], "stage2_train_s_per_img": min(h["train_s"] for h in s2) / n,
                         "pretrained_source": r["pretrained_source"]}
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def bench_mhist(quick: bool) -> dict:
    """CPU figures of the MHIST pair (``python -m kdcore bench``); see the keys for what was measured.

    - ``features_img_s_<arch>``: backbone + pool throughput at 224×224, batch 32 (16 quick), after a warm-up batch.
    - ``stage1_ratio_<arch>``: (one feature pass over 2,175 + 977 images, from that throughput, + 10 head
      epochs measured on MHIST-sized random features) ÷ the feature pass. Goal ≤ 1.1.
    - ``finetune_epoch_s_<arch>``: one stage-2 epoch on MHIST, **extrapolated** from a measured stage-2
      epoch on ``n`` stand-in images (per image × 2,175, + the test pass: 977 / throughput).
    - ``peak_rss_mb_full_size_run``: peak RSS of a child process running teacher → KD student (quick) or
      teacher → scratch → KD (full) with the data held at MHIST size (3,152 files, decoded per batch). Goal ≤ 2,048.
    - ``standin_pipeline_est_s``: the default stand-in (96/48) with the course schedule (10 + 25 epochs),
      per model and stage, from the figures above.
    """

    from kdcore.models.mhist import build_backbone_model

    out: dict = {"mhist_data": "synthetic stand-in — not MHIST (timings are per image: MHIST-sized)"}
    ds = load_dataset("mhist_synthetic")
    bs, batches = (16, 2) if quick else (32, 3)
    head_s: dict[str, float] = {}
    for arch in MHIST_ARCHS:
        torch.manual_seed(0)
        model = build_backbone_model(arch, 2).freeze_backbone(True)
        idx = torch.arange(bs * batches + 8) % len(ds.x_train)
        pooled_features(model, ds.x_train[idx[:8]], 8)  # warm-up
        t0 = time.perf_counter()
        pooled_features(model, ds.x_train[idx[8:]], bs)
        thr = bs * batches / (time.perf_counter() - t0)
        out[f"features_img_s_{arch}"] = thr
        feats = torch.randn(MHIST_TRAIN + MHIST_TEST, model.num_features)
        y = torch.randint(0, 2, (MHIST_TRAIN + MHIST_TEST,))
        t0 = time.perf_counter()
        fit(PooledHead(model), CrossEntropy(), feats[:MHIST_TRAIN], y[:MHIST_TRAIN], feats[MHIST_TRAIN:],
            y[MHIST_TRAIN:], FitSpec(epochs=10, batch_size=32, lr=1e-3, seed=0, device=torch.device("cpu")))
        head_s[arch] = time.perf_counter() - t0
        pass_s = (MHIST_TRAIN + MHIST_TEST) / thr
        out[f"stage1_10_head_epochs_s_{arch}"] = head_s[arch]
        out[f"stage1_ratio_{arch}"] = (pass_s + head_s[arch]) / pass_s
        del model
    n, chain = (16, ("teacher", "hinton")) if quick else (48, ("teacher", "scratch", "hinton"))
    child = call_in_child("kdcore.bench.mhist", "_bench_pipeline", 3600, "MHIST full-size run", n=n, stage2_epochs=1,
                          chain=chain)
    out["peak_rss_mb_full_size_run"] = child["peak_rss_mb"]
    out["rss_run_jobs"] = "+".join(chain) + f" (train on {n} images, data held at MHIST size)"
    est: dict[str, float] = {}
    for name in chain:
        arch = "resnetv2_50" if name == "teacher" else "mobilenet_v2"
        thr = out[f"features_img_s_{arch}"]
        per_img = child[name]["stage2_train_s_per_img"]
        out[f"stage2_train_s_per_img_{arch}"] = per_img
        out[f"finetune_epoch_s_{arch}"] = per_img * MHIST_TRAIN + MHIST_TEST / thr
        n_tr, n_te = 96, 48
        est[f"{name}_features_s"] = (n_tr + n_te) / thr
        est[f"{name}_stage1_s"] = head_s[arch] * n_tr / MHIST_TRAIN
        est[f"{name}_stage2_s"] = 25 * (per_img * n_tr + n_te / thr)
    if "hinton" in chain:
        est["hinton_teacher_logits_s"] = 96 / out["features_img_s_resnetv2_50"]
    out["standin_pipeline_est_s"] = {k: round(v, 1) for k, v in est.items()}
    out["standin_pipeline_est_total_s"] = round(sum(est.values()), 1)
    out["pretrained"] = {k: child[k]["pretrained_source"] for k in chain}
    return out


# (label, figure, test), checked in the table (kdcore.bench.markdown_table)
TARGETS: list[Target] = [
    ("MHIST stage 1 (ResNetV2-50) <= 1.1 x one feature pass", "stage1_ratio_resnetv2_50", lambda v: v <= 1.1),
    ("MHIST stage 1 (MobileNetV2) <= 1.1 x one feature pass", "stage1_ratio_mobilenet_v2", lambda v: v <= 1.1),
    ("MHIST full-size run peak RSS <= 2,048 MB", "peak_rss_mb_full_size_run", lambda v: v <= 2048),
]

run = bench_mhist
