"""What every real-browser test shares: the Chromium it drives, how it starts, and a served app.

The ``server`` fixture (tests/conftest.py) starts ``streamlit run app.py`` on a free port; test files
add their own settings by indirect parametrisation. Import as ``import browser_support``.
"""

from __future__ import annotations

import socket
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "artifacts" / "screenshots"
EXCEPTION = '[data-testid="stException"]'
# The flags this workplace's closed network needs (background fetches are refused and slow start-up).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

# Marks for a browser test module: `pytestmark = browser_support.MARKS`.
MARKS = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} missing (apt-get install chromium)"),
    pytest.mark.skipif(sync_playwright is None, reason="the playwright Python package is missing (pip install playwright)"),
]


def launch(p):  # noqa: ANN001, ANN201 - playwright objects
    """Debian's Chromium, headless, never a downloaded browser."""
    return p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc, timeout_s: float = 60.0) -> None:  # noqa: ANN001 - a Popen
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s")


def rss_mb(pid: int) -> float:
    import psutil

    try:
        return psutil.Process(pid).memory_info().rss / 2**20
    except psutil.Error:
        return 0.0
