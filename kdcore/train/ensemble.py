"""Evaluation-only jobs: the born-again ensemble (BAN-E), scored from its members' stored networks.

Furlanello et al. (ICML 2018) average the class probabilities of born-again generations 1..k
(:func:`kdcore.losses.born_again.ban_ensemble_logits`). Each member is an ordinary job, trained (or
found in the store) through :func:`kdcore.train.job.run_job`; this module only predicts the test set
with each and scores the average, so an ensemble result costs minutes even where its members cost
hours, and it is stored like any result (no weights: it has none of its own).
"""

from __future__ import annotations

import time

import torch

from kdcore.config import JobConfig
from kdcore.data import ArrayDataset
from kdcore.data.pairs import data_pair
from kdcore.losses.born_again import ban_ensemble_logits
from kdcore.methods.born_again import ensemble_members
from kdcore.metrics import classification_metrics
from kdcore.train.common import RunTeacher, class_logits_fn, eval_logits, load_model, result_record, subset
from kdcore.train.loop import ProgressFn, pick_device


def _test_logits(result: dict, xte: torch.Tensor, store: object) -> torch.Tensor:
    config = JobConfig.from_dict(result["config"])
    logits = eval_logits(load_model(result, store), xte, config)  # type: ignore[arg-type]
    to_class = class_logits_fn(config)
    return to_class(logits) if to_class is not None else logits


def compute_ban_ensemble(config: JobConfig, key: str, data: ArrayDataset, store: object, progress: ProgressFn,
                         cancel: object | None, run_teacher: RunTeacher) -> dict:
    """Run (or fetch) every generation of ``config``'s chain, average their test probabilities, store the score."""
    t_start = time.perf_counter()
    members = ensemble_members(config)
    _, _, xte, yte = subset(data, config)
    logits, results = [], []
    for k, member in enumerate(members, start=1):
        progress({"stage": "teacher", "message": f"generation {k} of {len(members)}: {member.short_name()}"})
        r = run_teacher(member, f"generation {k}")
        results.append(r)
        logits.append(_test_logits(r, xte, store))
    progress({"stage": "eval", "message": f"averaging {len(members)} generations"})
    probs = torch.softmax(ban_ensemble_logits(logits), 1)
    positive = data_pair(config.dataset).positive_index
    metrics = classification_metrics(yte, probs, positive=positive)
    # the ensemble runs every member at test time: its cost is the members' costs added up
    first = results[0]["complexity"]
    cx = {name: (sum(r["complexity"][name] for r in results) if isinstance(v, (int, float)) else v)
          for name, v in first.items()}
    result = result_record(config, data, n_train=results[0]["n_train"], n_test=len(xte),
                           num_outputs=results[0]["num_outputs"], history=[], metrics=metrics, complexity=cx,
                           teacher_result=results[-1], train_s=0.0, wall_s=time.perf_counter() - t_start,
                           device=pick_device())
    result["members"] = [r["key"] for r in results]
    result["member_metrics"] = [r["metrics"] for r in results]
    stored = store.put(key, result, replace=True)  # type: ignore[attr-defined]
    progress({"stage": "done", "message": "done"})
    return stored
