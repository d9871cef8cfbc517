"""Per-example test predictions for results stored before jobs stored them (:mod:`kdcore.predictions`).

:func:`recompute_predictions` evaluates a stored result's weights exactly as its job did and refuses when
the recomputed accuracy is not the stored one (the weights would not be the ones that scored it).
:func:`backfill` does it for a list of results and, for results stored without weights, either reports
them (``retrain=False``) or retrains each in a scratch store and keeps the retrain's predictions only if it
reproduces the stored accuracy exactly (same config, data and seed), else reports the difference and
writes nothing. ``python -m kdcore precompute --only predictions`` / ``predictions-retrain`` run it for the
course pairs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable

import torch

from kdcore.config import JobConfig
from kdcore.predictions import GROUP, check_accuracy, prediction_tensors
from kdcore.store import ResultStore
from kdcore.train.common import AnyStore, class_logits_fn, eval_logits, load_model, subset


def recompute_predictions(result: dict, store: AnyStore) -> dict[str, torch.Tensor]:
    """The predictions of a stored result from its stored weights, evaluated as its job evaluated (its test
    slice, its data source, :func:`kdcore.train.common.eval_logits`). Raises ``ValueError`` when the
    recomputed accuracy differs from the stored one, ``FileNotFoundError`` when the weights are missing."""
    from kdcore.data import DataError, load_dataset

    config = JobConfig.from_dict(result["config"])
    try:
        data = load_dataset(config.dataset, result.get("data_source_id") or "auto", config.data_dir)
    except DataError:
        data = load_dataset(config.dataset, "auto", config.data_dir)
    if data.source_id != result.get("data_source_id"):
        raise ValueError(f"{result['name']}: its data ({result.get('data_source_id')}) is not available here "
                         f"(got {data.source_id})")
    model = load_model(result, store)
    _, _, xte, yte = subset(data, config)
    with torch.no_grad():
        logits = eval_logits(model, xte, config)
    to_class = class_logits_fn(config)
    if to_class is not None:
        logits = to_class(logits)
    tensors = prediction_tensors(logits, yte)
    check_accuracy(result, tensors)
    return tensors



def backfill(results: Iterable[dict], read: AnyStore, writes: Iterable[ResultStore], retrain: bool = False) -> list[str]:
    """Add predictions to every result in ``results`` that lacks them, in each store of ``writes`` holding
    the entry; ``read`` is where weights are looked up. Returns one line per result saying what happened
    (added, already there, needs retraining, or why it was refused)."""
    writes = list(writes)
    report = []
    for r in results:
        targets = [s for s in writes if (e := s.get(r["key"])) is not None
                   and f"{GROUP}.safetensors" not in e.get("files", {})]
        if not targets:
            report.append(f"{r['name']}: predictions already stored")
            continue
        try:
            if (tensors := read.load_tensors(r["key"], GROUP)) is not None:  # e.g. the working store has them
                check_accuracy(r, tensors)
                how = "copied from the store that has them"
            elif read.load_tensors(r["key"], "weights") is not None:
                tensors, how = recompute_predictions(r, read), "from its stored weights"
            elif retrain:
                tensors, how = _from_a_retrain(r, read), "from a retrain that reproduced its stored accuracy exactly"
            else:
                report.append(f"{r['name']}: no weights stored; needs retraining "
                              "(python -m kdcore precompute --only predictions-retrain)")
                continue
        except (ValueError, FileNotFoundError) as e:
            report.append(f"{r['name']}: refused: {e}")
            continue
        for store in targets:
            store.add_tensors(r["key"], GROUP, tensors)
        report.append(f"{r['name']}: predictions added {how} ({len(targets)} store(s))")
    return report


def _from_a_retrain(result: dict, read: AnyStore) -> dict[str, torch.Tensor]:
    """Retrain ``result``'s job into a scratch store in front of ``read`` (so the stored teacher it learns
    from is used, not retrained); its predictions, if it scored exactly the stored accuracy."""
    from kdcore.store import LayeredStore
    from kdcore.train.job import run_job

    with tempfile.TemporaryDirectory(prefix="kd-retrain-") as tmp:
        scratch = ResultStore(tmp)
        below = read.layers if isinstance(read, LayeredStore) else (read,)
        again = run_job(JobConfig.from_dict(result["config"]), store=LayeredStore(scratch, *below), recompute=True)
        tensors = scratch.load_tensors(again["key"], GROUP)
        if tensors is None:
            raise ValueError(f"{result['name']}: the retrain stored no predictions")
        check_accuracy(result, tensors)
        return {k: v.clone() for k, v in tensors.items()}


def course_pair_predictions(work: ResultStore, retrain: bool = False, seeds: tuple[int, ...] = (0,)) -> list[str]:
    """:func:`backfill` for the course pairs (teacher, scratch student, Hinton KD student) of MNIST and
    Fashion-MNIST, ``seeds``: their entries in the shipped store (assets/store) and in ``work`` get the file."""
    from kdcore.course import course_student, course_teacher
    from kdcore.store import SHIPPED_STORE, LayeredStore

    wanted = {c.key() for ds in ("mnist", "fashion_mnist") for s in seeds
              for c in (course_teacher(ds, seed=s), course_student(ds, "scratch", seed=s), course_student(ds, "hinton", seed=s))}
    shipped = ResultStore(SHIPPED_STORE)
    read = LayeredStore(work, shipped)
    results = [r for r in read.list() if r.get("config_key") in wanted]
    try:
        return backfill(results, read, (shipped, work), retrain=retrain)
    finally:  # as export leaves it: no staging or lock folders in assets/
        import shutil

        shutil.rmtree(SHIPPED_STORE / "tmp", ignore_errors=True)
        shutil.rmtree(SHIPPED_STORE / "locks", ignore_errors=True)


__all__ = ["backfill", "course_pair_predictions", "prediction_tensors", "recompute_predictions"]
