"""Section ``app`` of ``python -m kdcore bench``: the app's figures.

- ``playground_response_ms``: engine time of one temperature-slider move (the page's one kdcore
  call, caches warm), median over the course's temperatures, in a child process loaded like the app's
  (:data:`kdcore.bench.child.APP_PRELUDE`: the bench never imports the views); target <= 300 ms.
- ``server_health_s`` / ``first_page_s``: ``streamlit run app.py`` started in a subprocess, time to
  its health endpoint and (when Playwright and Debian's Chromium are present) to the first page
  rendered in headless Chromium; target <= 5 s after imports.
- ``server_peak_rss_mb``: the server's largest RSS over visits of every page (without a browser: its
  RSS after start-up); target <= 1.5 GB.

kdcore never imports Streamlit: the app runs in its own processes here.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

from kdcore.bench import Target
from kdcore.settings import settings
from kdcore.store import REPO_ROOT

PAGES = ("", "temperature", "distill_lab", "compare", "mhist")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


# Runs in a child process (kdcore.bench.child.run_in_child) that plays the app's process: the bench stands below the
# views and never imports them itself. The first view loads the models and logits; then one slider move each.
_PLAYGROUND_TIMING = """
import json, statistics, time
from kdcore.views.playground import playground_datasets, playground_view
datasets = playground_datasets()
if not datasets:
    out = {"playground_response_ms": None, "playground_note": "no stored teacher: run python -m kdcore precompute"}
else:
    ds = datasets[0]
    t0 = time.perf_counter()
    playground_view(ds, 4.0, index=0)
    first = (time.perf_counter() - t0) * 1000
    times = []
    for temp in (1.0, 2.0, 4.0, 16.0, 32.0, 64.0):
        t0 = time.perf_counter()
        playground_view(ds, temp, index=3)
        times.append((time.perf_counter() - t0) * 1000)
    out = {"playground_dataset": ds, "playground_first_view_ms": first,
           "playground_response_ms": statistics.median(times)}
print("BENCH" + json.dumps(out))
"""


def playground_response_ms() -> dict:
    from kdcore.bench.child import run_in_child

    return run_in_child(_PLAYGROUND_TIMING, 600, "playground")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_health(port: int, timeout_s: float) -> float | None:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout_s:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    return time.perf_counter() - t0
        except OSError:
            time.sleep(0.1)
    return None


def server_figures(timeout_s: float = 60.0) -> dict:
    port = _free_port()
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        store_dir = settings().store_dir or Path(tmp) / "store"
        env = {**os.environ, "KD_OFFLINE": "1", "KD_STORE_DIR": str(store_dir)}
        log = open(Path(tmp) / "server.log", "w")  # noqa: SIM115 - closed in finally
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
             "--browser.gatherUsageStats", "false"], cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            out["server_health_s"] = _wait_health(port, timeout_s)
            peak = 0
            if out["server_health_s"] is not None and Path(CHROMIUM).exists():
                try:
                    from playwright.sync_api import sync_playwright
                except ImportError:
                    out["first_page_note"] = "playwright not installed"
                else:
                    with sync_playwright() as p:
                        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                        page = browser.new_page()
                        t0 = time.perf_counter()
                        page.goto(f"http://127.0.0.1:{port}/", timeout=timeout_s * 1000)
                        page.get_by_text("Learn: knowledge distillation").first.wait_for(timeout=timeout_s * 1000)
                        out["first_page_s"] = time.perf_counter() - t0
                        for name in PAGES[1:]:
                            t0 = time.perf_counter()
                            page.goto(f"http://127.0.0.1:{port}/{name}", timeout=timeout_s * 1000)
                            page.wait_for_selector("[data-testid='stMain']", timeout=timeout_s * 1000)
                            page.wait_for_timeout(1500)
                            out[f"page_{name}_s"] = time.perf_counter() - t0
                            peak = max(peak, psutil.Process(proc.pid).memory_info().rss)
                        browser.close()
            out["server_peak_rss_mb"] = max(peak, psutil.Process(proc.pid).memory_info().rss) / 2**20
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
    return out


def bench_app(quick: bool = False) -> dict:
    return {**playground_response_ms(), **server_figures()}


run = bench_app

# (label, figure, test), checked in the table (kdcore.bench.markdown_table)
TARGETS: list[Target] = [
    ("app: first page <= 5 s after health", "first_page_s", lambda v: v <= 5),
    ("app: playground response <= 300 ms", "playground_response_ms", lambda v: v <= 300),
]
