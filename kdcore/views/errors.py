"""What a page says when something fails: what went wrong and what to do, never Streamlit's generic box.

``app.py`` runs every page inside one boundary that draws :func:`page_error` of whatever the page raised;
pages that catch a failure themselves (a job that failed under a button) call it too, so one failure reads
alike everywhere. Known kinds name their own fix; anything else is a short message with the exception type
and a "report this" hint. Every message is escaped for markdown (:func:`kdcore.views.text.plain`): an
exception's text quotes user input (a folder, a name, a link's value).
"""

from __future__ import annotations

from kdcore.views.text import plain

# Words a failure's text carries when storage, not the model, is the cause (kdcore.store.write_failure's).
STORAGE_WORDS = ("the disk is full", "is read-only", "cannot write the result store", "cannot unpack")


def _kind(exc: BaseException) -> tuple[str, str] | None:
    """(what went wrong, what to do) for the failure kinds the engine raises on purpose; None for a bug."""
    from kdcore.config import ConfigError
    from kdcore.data.base import DataError
    from kdcore.jobs.runner import JobFailed, QueueFullError, RunnerError
    from kdcore.settings import SettingsError
    from kdcore.store import StoreError

    text = str(exc)
    if isinstance(exc, SettingsError):
        return "A setting of this app is malformed", "fix the variable named above and restart the app"
    if isinstance(exc, StoreError):
        return "The result store could not be used", ("free space or set KD_STORE_DIR to a writable folder "
                                                      "with room, then try again")
    if isinstance(exc, QueueFullError):
        return "The job queue is full", "wait for the jobs ahead to finish, then press the button again"
    if isinstance(exc, JobFailed):
        if any(w in text for w in STORAGE_WORDS):
            return "The job could not store its work", "do what the message says, then run it again (it resumes)"
        if "MemoryError" in text or "out of memory" in text.lower():
            return "The job ran out of memory", "try fewer hidden units, a smaller batch, or fewer jobs at once"
        return "The job failed", ("run it again; if it fails the same way, report this with the message above "
                                  "(finished jobs are kept in the store)")
    if isinstance(exc, RunnerError):
        return "The job runner refused this job", "do what the message says, then try again"
    if isinstance(exc, ConfigError):  # includes the memory guard's refusals: their text names the fix
        return "This setting cannot run", "change what the message names and try again"
    if isinstance(exc, (DataError, ValueError)) and type(exc).__module__.startswith("kdcore"):
        return "The data could not be read", "fix what the message names (or pick another data set)"
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return f"A file could not be read or written{where}", ("if it is under KD_DATA_DIR or KD_STORE_DIR, point "
                                                                "that variable at a folder you can write")
    return None


def page_error(exc: BaseException, doing: str = "") -> str:
    """The markdown-safe message a page shows for ``exc``: what went wrong (``doing``: while doing what) and
    what to do. An unknown kind: its type and a short message, and "report this"."""
    text = " ".join(str(exc).split())
    if len(text) > 600:
        text = text[:600] + " …"
    where = f" while {doing}" if doing else ""
    kind = _kind(exc)
    if kind is None:
        return (f"Something went wrong{plain(where)} ({type(exc).__name__}: {plain(text)}). Reload the page or "
                "try another setting; if it happens again, please report this (the page, what you did, and this "
                "message).")
    what, fix = kind
    return f"{plain(what + where)}: {plain(text)}. What to do: {plain(fix)}."


__all__ = ["STORAGE_WORDS", "page_error"]
