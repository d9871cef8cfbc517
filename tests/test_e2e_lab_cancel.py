"""Cancel in a real browser: a long lab run is announced with its estimate, Cancel stops the running job (in its
worker process) within seconds, and nothing of it is stored. Needs Chromium and a served app: slow."""

from __future__ import annotations

import time
from pathlib import Path

import browser_support
import psutil
import pytest

pytestmark = browser_support.MARKS


# a 300-epoch teacher on 512 images: minutes of training, so there is time to cancel it
@pytest.mark.parametrize("server", [{"KD_APP_TINY": "512,64,300", "KD_CHECKPOINT_EVERY_S": "0"}], indirect=True)
def test_cancel_stops_the_running_job_and_stores_nothing(server, tmp_path: Path) -> None:
    base, proc = server
    store = tmp_path / "store"
    with browser_support.sync_playwright() as p:
        browser = browser_support.launch(p)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{base}/distill_lab", wait_until="domcontentloaded")
        page.get_by_label("MLP hidden sizes", exact=True).fill("16")
        page.get_by_role("button", name="Train").click()
        page.get_by_text("expected to take about").first.wait_for(timeout=90_000)  # asked before it starts
        page.get_by_role("button", name="Start anyway").click()
        page.get_by_text("stage 1 of 3: teacher — epoch 2/").first.wait_for(timeout=120_000)
        assert list((store / "checkpoints").glob("*.pt")), "a half-made teacher has a checkpoint"
        t0 = time.monotonic()
        page.get_by_role("button", name="Cancel").click()
        page.get_by_text("Cancelled at stage 1 of 3: teacher").first.wait_for(timeout=15_000)
        waited = time.monotonic() - t0
        workers = psutil.Process(proc.pid).children(recursive=True)
        time.sleep(1.0)
        busy = [w.cpu_percent(interval=1.0) for w in workers if w.is_running()]
        browser.close()
    assert waited < 10, f"Cancel took {waited:.1f} s"
    assert all(b < 30 for b in busy), f"a worker still trains after Cancel: {busy}% CPU"
    assert not [p for p in (store / "checkpoints").glob("*") if p.is_file()]  # no resume checkpoint
    assert not list(store.glob("objects/*/result.json"))  # no result of the cancelled teacher
