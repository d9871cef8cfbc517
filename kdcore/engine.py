"""Which engine made a result, and whether what it says still holds for today's code.

Two numbers describe the engine a job ran on:

- :data:`CORE_ENGINE`: bump when a change alters the results of (nearly) every job — the training loop,
  model definitions, data splits, metrics. It is *not* part of the store key (every key would change and
  every shipped result would vanish at once); instead each record carries it, a record made by an older
  core is **stale**: the views mark it, and a job whose stored result is stale runs again
  (:func:`kdcore.train.job.run_job`) and ``precompute --only stale`` re-makes the shipped ones.
- ``Method.revision`` (:class:`kdcore.methods.Method`): bump when a change alters one method's results
  (its loss, its teacher arrangement, its defaults). The revisions of every method in a job's teacher
  chain are part of the job's store key (:func:`key_part`), so the old results of that method are simply
  never found again and ``precompute`` makes the new ones.

Records written before engines were versioned (2026-11-28) have no ``engine`` field: they were made by the
core current at their ``created`` time (:data:`CORE_HISTORY`) and by revision 1 of every method.
"""

from __future__ import annotations

from kdcore.config import JobConfig

# (core version, first moment results were made with it, what changed)
CORE_HISTORY: tuple[tuple[int, str, str], ...] = (
    (1, "", "the first engine"),
    (2, "2026-11-25T17:46:27+00:00", "conv nets train and evaluate channels-last (commit 9ac3ca8): teacher "
     "logits, and so every student distilled from them, moved by up to ~0.3 points"),
    (3, "2026-11-28T08:30:00+00:00", "the loop's Adam is fused (kdcore.train.loop.adam) and born-again / every "
     "job that loads its teacher keeps its own dropout stream: updates equal the old ones up to float rounding"),
)
CORE_ENGINE: int = CORE_HISTORY[-1][0]


def method_revisions(config: JobConfig) -> dict[str, int]:
    """``{method: revision}`` of every method in ``config``'s teacher chain whose revision is above 1."""
    from kdcore.methods import get_method

    out: dict[str, int] = {}
    c: JobConfig | None = config
    while c is not None:
        revision = get_method(c.method).revision
        if revision > 1:
            out[c.method] = revision
        c = c.teacher
    return out


def key_part(config: JobConfig) -> str:
    """What the store key adds for revised methods ("" while every method of the chain is at revision 1, so
    the keys of results made before revisions existed are unchanged)."""
    revisions = method_revisions(config)
    return ",".join(f"{m}.{r}" for m, r in sorted(revisions.items()))


def engine_version(config: JobConfig) -> str:
    """The engine a job of ``config`` runs on today, e.g. ``"2"`` or ``"2+subclass.2,subclass_teacher.2"``."""
    part = key_part(config)
    return f"{CORE_ENGINE}+{part}" if part else str(CORE_ENGINE)


def _core_at(created: str) -> int:
    core = CORE_HISTORY[0][0]
    for version, since, _why in CORE_HISTORY:
        if since and created >= since:
            core = version
    return core


def record_engine(record: dict) -> str:
    """The engine that made a stored result: its ``engine`` field, or for a record written before engines
    were versioned, the core current at its ``created`` time (and revision 1 of every method)."""
    if isinstance(record.get("engine"), str):
        return record["engine"]
    return str(_core_at(str(record.get("created", ""))))


def stale_reason(record: dict) -> str | None:
    """Why a stored result no longer says what today's engine would produce for its config (None: it does)."""
    made = record_engine(record)
    try:
        now = engine_version(JobConfig.from_dict(record["config"]))
    except Exception:  # an unknown method or a malformed config: not ours to judge here
        return None
    if made == now:
        return None
    core_made = int(made.split("+")[0]) if made.split("+")[0].isdigit() else 0
    if core_made < CORE_ENGINE:
        changes = "; ".join(why for version, _since, why in CORE_HISTORY if version > core_made)
        return f"made by engine {made}, today's is {now} (since then: {changes})"
    return f"made by engine {made}, today's is {now}"


def is_stale(record: dict) -> bool:
    """Whether ``record`` was made by an older engine than today's for its config (see :func:`stale_reason`)."""
    return stale_reason(record) is not None


__all__ = ["CORE_ENGINE", "CORE_HISTORY", "engine_version", "is_stale", "key_part", "method_revisions",
           "record_engine", "stale_reason"]
