"""Class boards: who in a class tried which setting, for the Class board page.

A run is *labelled* with a person's name and a class code; the label lives here, beside the store, and
never in the job's config (its key): two students who try the same setting share one computation and
both appear on the board. Layout, in the store folder (``KD_STORE_DIR``)::

    <root>/boards/<code>.jsonl    one line per labelled run: name, result key, created (append-only)
    <root>/boards/CURRENT         the class code new visitors join (the lecturer's latest class)

Every write holds ``<root>/boards/<code>.lock`` and replaces the whole file (written beside, then
``os.replace``): a reader sees the old index or the new one, never half a line. A fresh class is a new
code and a new file; nothing is deleted, so every earlier class and every result stays.

Starting a fresh class changes the class every new visitor joins, so it needs the lecturer's code
(:func:`lecturer_code`: ``KD_LECTURER_CODE``, or a random one made at start and printed once to the server log).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import sys
import tempfile
from pathlib import Path

from filelock import FileLock

from kdcore.config import ConfigError
from kdcore.settings import settings
from kdcore.store import default_store_dir

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
MAX_NAME = 40
DEFAULT_CODE = "class"


def _dir(root: str | Path | None) -> Path:
    return Path(root) if root is not None else default_store_dir()


def check_code(code: str) -> str:
    """``code`` stripped, or :class:`ConfigError` naming the rule."""
    code = (code or "").strip()
    if not CODE_RE.match(code):
        raise ConfigError(f"class code {code!r}: use 1–32 letters, digits, '-' or '_' (e.g. 'ece1512-w3')")
    return code


def check_name(name: str) -> str:
    """A person's display name, stripped, or :class:`ConfigError` saying what to type."""
    name = " ".join((name or "").split())
    if not name:
        raise ConfigError("type your name (or a nickname) first: your runs are labelled with it on the class board")
    if len(name) > MAX_NAME:
        raise ConfigError(f"a name of at most {MAX_NAME} characters, please (got {len(name)})")
    return name


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def current_class(root: str | Path | None = None) -> str:
    """The class code new visitors join: the lecturer's latest, else :data:`DEFAULT_CODE`."""
    try:
        return check_code((_dir(root) / "boards" / "CURRENT").read_text())
    except (OSError, ConfigError):
        return DEFAULT_CODE


_random_code: str | None = None


def lecturer_code() -> str:
    """The code that lets a lecturer start a fresh class: ``KD_LECTURER_CODE`` when set, else one random code per
    server process, printed to the server log the first time it is asked for (the app asks at start)."""
    global _random_code
    if (code := settings().lecturer_code) is not None:
        return code
    if _random_code is None:
        _random_code = secrets.token_urlsafe(9)
        # printed, not logged: no logging configuration may swallow the one place the code is told
        print(f"Class board: the lecturer's code for starting a fresh class is {_random_code} (this run of the "
              "server only; set KD_LECTURER_CODE to choose one)", file=sys.stderr, flush=True)
    return _random_code


def check_lecturer(given: str) -> None:
    """Refuse (:class:`ConfigError`, saying where the code is) unless ``given`` is :func:`lecturer_code`."""
    if not secrets.compare_digest((given or "").strip().encode(), lecturer_code().encode()):
        where = ("KD_LECTURER_CODE" if settings().lecturer_code is not None
                 else "printed in the server log when the app started")
        raise ConfigError(f"that is not the lecturer's code ({where}): the class stays {current_class()!r}")


def start_class(lecturer: str, root: str | Path | None = None, code: str | None = None) -> str:
    """Make ``code`` (or a new random one) the current class, given the lecturer's code (:func:`check_lecturer`:
    refused otherwise, nothing changed); earlier classes and results stay. Returns the new class code."""
    check_lecturer(lecturer)
    code = check_code(code) if code else f"class-{secrets.token_hex(3)}"
    boards = _dir(root) / "boards"
    boards.mkdir(parents=True, exist_ok=True)
    with FileLock(str(boards / "CURRENT.lock"), timeout=30):
        _write_atomic(boards / "CURRENT", code)
    return code


_KEY_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a store key (kdcore.store.KEY_RE)


def _why_bad(entry: object) -> str | None:
    """Why a parsed line is not a labelled run (a name, a store key and a time, all text), or None."""
    if not isinstance(entry, dict):
        return "not an object"
    for field in ("name", "key", "created"):
        if not isinstance(entry.get(field), str) or not entry[field]:
            return f"no text {field!r}"
    if not _KEY_RE.fullmatch(entry["key"]):
        return "its key is not a store key"
    return None


def read_board(code: str, root: str | Path | None = None) -> tuple[list[dict], list[str]]:
    """The labelled runs of class ``code``, oldest first, and a note for each line skipped (one that does not
    parse, or is not a labelled run): a damaged line costs that line, never the board."""
    path = _dir(root) / "boards" / f"{check_code(code)}.jsonl"
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return [], []
    out, notes = [], []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            why = _why_bad(entry)
        except ValueError:
            why = "not JSON"
        if why is None:
            out.append(entry)
        else:
            notes.append(f"line {i} of the board file {path.name} was skipped ({why}); the other runs are shown")
    return out, notes


def board_entries(code: str, root: str | Path | None = None) -> list[dict]:
    """The labelled runs of class ``code``, oldest first (lines that are not labelled runs are skipped:
    :func:`read_board` says which)."""
    return read_board(code, root)[0]


def label_run(code: str, name: str, result: dict, root: str | Path | None = None) -> dict:
    """Label the stored result ``result`` with ``name`` on class ``code``'s board (once per name and result)."""
    code, name = check_code(code), check_name(name)
    boards = _dir(root) / "boards"
    boards.mkdir(parents=True, exist_ok=True)
    entry = {"name": name, "key": result["key"], "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    path = boards / f"{code}.jsonl"
    with FileLock(str(boards / f"{code}.lock"), timeout=30):
        entries = board_entries(code, root)
        if any(e["name"] == name and e["key"] == entry["key"] for e in entries):
            return entry
        text = path.read_text() if path.exists() else ""
        if text and not text.endswith("\n"):
            text += "\n"
        _write_atomic(path, text + json.dumps(entry) + "\n")
    return entry


__all__ = ["DEFAULT_CODE", "board_entries", "check_code", "check_lecturer", "check_name", "current_class", "label_run",
           "lecturer_code", "read_board", "start_class"]
