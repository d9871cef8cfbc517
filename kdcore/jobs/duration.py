"""How long a job will train on *this* machine, said before it starts: measured, not guessed.

A stored result's ``train_s`` says how long it took on the machine that made it (the shipped ones partly on a
GPU box), so it cannot predict a run here. Instead :func:`estimate_duration` times a few real training steps of
the job's network on this machine's device (once per architecture and process, a fraction of a second) and
scales them by the job's batches and epochs, plus the per-epoch test pass and, for a KD student whose teacher's
logits are not stored yet, the one teacher pass over the training images. A running job then corrects the
estimate with its own measured epochs (:class:`kdcore.views.lab.LabProgress`).

MNIST-style pairs only: a transfer-learning (MHIST) job's cost is dominated by its backbone stages, which
``python -m kdcore bench`` measures instead (:mod:`kdcore.bench_mhist`); for those this returns None.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field

from kdcore.config import JobConfig
from kdcore.data.pairs import data_pair
from kdcore.jobs.memory import _examples, _outputs
from kdcore.methods import get_method

EVAL_BATCH = 1024  # the loop's test-pass batch (kdcore.train.loop.predict_logits)


@dataclass(frozen=True)
class Duration:
    """A job's expected seconds on this machine, by part (``parts``: train, test passes, teacher logits)."""

    parts: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return float(sum(self.parts.values()))


def _network_key(config: JobConfig) -> JobConfig:
    """What the step time depends on (the network, its batch, its data set's shape): seeds, T, α, epochs and
    limits do not change it, nor a logit loss (a few operations on 10 numbers per example), so one measurement
    serves every job of that network; a teacher run on every batch is timed with it (:func:`_timings`)."""
    return config.replace(seed=0, temperature=4.0, alpha=0.5, epochs=1, train_limit=None, test_limit=None,
                          teacher=None, method="scratch")


STEPS = 4  # training steps timed: enough to average the loop's per-batch work, a fraction of a second


@functools.lru_cache(maxsize=64)
def _timings(net: JobConfig, teacher: JobConfig | None) -> tuple[float, float]:
    """(seconds per training step of ``net`` — with ``teacher``'s forward on each batch when given —, seconds per
    test example of ``net``), measured here by the real loop (:func:`kdcore.train.loop.fit`) on random inputs of
    the data set's shape: a step of a small MLP is mostly the loop's own per-batch work, not the network's."""
    import torch

    from kdcore.models import build_model
    from kdcore.train.loop import FitSpec, fit, predict_logits

    shape, n_out = data_pair(net.dataset).input_shape, _outputs(net)
    torch.manual_seed(0)
    model = build_model(net, n_out)
    t_model = build_model(teacher, _outputs(teacher)).eval() if teacher is not None else None
    loss = get_method("scratch").loss(net, model, None)
    n = STEPS * net.batch_size
    x, y = torch.rand(n, *shape), torch.randint(0, n_out, (n,))
    xe = torch.rand(EVAL_BATCH, *shape)

    def train_s(steps: int) -> float:
        t0 = time.perf_counter()
        fit(model, loss, x[: steps * net.batch_size], y[: steps * net.batch_size], xe[:1], y[:1],
            FitSpec(epochs=1, batch_size=net.batch_size, lr=1e-3, seed=0, teacher=t_model, eval_every_epoch=False))
        return time.perf_counter() - t0

    first = train_s(1)  # the first steps pay one-off costs (allocation, kernel choice, thread pool start)
    if first > 0.25:  # a big network (a teacher CNN on a CPU): one more step is measure enough
        step_s = train_s(1)
    else:  # a small one: the best of two short runs (the machine may be busy with others' jobs)
        step_s = min(train_s(STEPS) for _ in range(2)) / STEPS
    predict_logits(model, xe[:64])
    t0 = time.perf_counter()
    predict_logits(model, xe)
    return step_s, (time.perf_counter() - t0) / EVAL_BATCH


def estimate_duration(config: JobConfig, n_train: int | None = None, n_test: int | None = None,
                      teacher_logits_stored: bool = True) -> Duration | None:
    """The expected seconds of training ``config`` here (its teacher chain not included: each job of a chain is
    estimated on its own). ``n_train``/``n_test``: the examples it will see (default: its data set's size as the
    memory guard counts it, capped by the job's limits). ``teacher_logits_stored`` False adds the one teacher pass
    over the training images a logit-reading KD student makes first. None for transfer-learning (MHIST) jobs and
    for evaluation-only ones (the BAN ensemble trains nothing)."""
    method = get_method(config.method)
    if data_pair(config.dataset).transfer or not method.trains:
        return None
    full_train, full_test = _examples(config)
    n_train = n_train if n_train is not None else min(full_train, config.train_limit or full_train)
    n_test = n_test if n_test is not None else min(full_test, config.test_limit or full_test)
    per_batch_teacher = config.teacher is not None and method.teacher_features
    teacher_net = _network_key(config.teacher) if config.teacher is not None else None
    step_s, test_s = _timings(_network_key(config), teacher_net if per_batch_teacher else None)
    parts = {"train": config.epochs * math.ceil(n_train / config.batch_size) * step_s,
             "test passes": config.epochs * n_test * test_s}
    if config.teacher is not None and not per_batch_teacher and not teacher_logits_stored:
        assert teacher_net is not None
        parts["teacher logits"] = n_train * _timings(teacher_net, None)[1]
    return Duration(parts)


def duration_words(seconds: float) -> str:
    """``"45 s"``, ``"3 min"``, ``"1 h 20 min"``: how a person reads an estimate (never false precision)."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 90 else f"{minutes // 60} h {minutes % 60} min"


__all__ = ["Duration", "duration_words", "estimate_duration"]
