"""Helpers the AppTest files share (pytest puts tests/ on sys.path: `from apphelpers import open_page`)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def open_page(page: str, timeout: float = 180) -> AppTest:
    """Run the app as a visitor does (router first), switch to ``page``, and fail on any exception."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def copy_tiny_course(template: Path, to: Path) -> Path:
    """A private copy of the tiny course store (a copy of files: no training)."""
    import shutil

    shutil.copytree(template, to, ignore=shutil.ignore_patterns("locks", ".staging-kdcore"))
    return to
