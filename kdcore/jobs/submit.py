"""One way into every job: submit it to the job runner and wait, with progress in the caller's thread.

The Distill lab, the MHIST page and the CLI's ``train-teacher`` / ``distill`` all call
:func:`run_through_runner`, so the queue, the de-duplication of identical jobs, the memory guard
(a job that cannot fit is refused before anything trains) and cancellation happen in one place.
"""

from __future__ import annotations

from collections.abc import Callable

from kdcore.config import JobConfig
from kdcore.jobs.runner import get_runner
from kdcore.methods import validate
from kdcore.store import open_store


def run_through_runner(config: JobConfig, progress: Callable[[dict], None] | None = None, poll_s: float = 0.2,
                       recompute: bool = False, heartbeat: Callable[[], None] | None = None) -> dict:
    """Run ``config`` through the job runner (or return its stored result at once: ``result["cached"]``).

    The one way into a job, for the app and the CLI alike. Every request goes through :func:`kdcore.jobs.get_runner`:
    a bounded queue, so thirty people pressing *Train* wait their turn instead of exhausting the
    host, and identical requests share one computation. ``progress`` is called **in the caller's
    thread** (Streamlit elements can only be updated from the script thread) with the loop's
    events and, while queued, ``{"stage": "queue", "message": "queued: your job is 3rd in the queue",
    "position": 3}`` (position None once it runs).
    If the caller stops waiting (a Streamlit rerun interrupts the script), the request is cancelled;
    the computation stops only when no one else waits for it. ``heartbeat`` is called every ``poll_s`` without an
    event: a long epoch sends none, and a Streamlit script only notices a click (Cancel) at its next element
    update, so the page's heartbeat touches one; whatever it raises stops the wait (and so cancels the job).

    A stored result answers even without its weights (most shipped results carry none): the pages
    only show it. A job that later *distils from* it trains the weights it needs (``run_job``).
    """
    import queue

    from kdcore.train import job_key

    validate(config)  # here, once: the runner and the worker take the validated config and its key from here
    store = open_store()
    key = job_key(config)
    if not recompute and (stored := store.get(key)) is not None:
        return {**stored, "cached": True}
    store.check_writable()  # a store folder that is a file, read-only or a link: refused before anything queues
    handle = get_runner().submit(config, recompute=recompute, key=key)
    events: queue.Queue[dict] = queue.Queue()
    unsubscribe = handle.subscribe(events.put)
    finished = False
    try:
        if progress is not None and not handle.done():
            progress({"stage": "queue", "message": handle.status().describe(), "position": handle.position()})
        while not handle.done():
            try:
                event = events.get(timeout=poll_s)
            except queue.Empty:
                if heartbeat is not None:
                    heartbeat()
                continue
            if progress is None:
                continue
            if event.get("stage") in ("queue", "state"):
                progress({"stage": "queue", "message": handle.status().describe(), "position": handle.position()})
            else:
                progress(event)
        result = handle.result()
        finished = True
        return result
    finally:
        unsubscribe()
        if not finished and not handle.done():
            handle.cancel()
