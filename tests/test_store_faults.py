"""The result store under faults: writers killed half-way, readers racing a writer.

No training here: entries are small hand-made results, each test with its own store in tmp_path.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from kdcore.store import ResultStore

REPO = Path(__file__).resolve().parents[1]


def entry(store: ResultStore, key: str, i: int = 1) -> dict:
    return store.put(key, {"i": i}, {"weights": {"w": torch.full((4,), float(i))}})


# ---- staging folders of killed writers ------------------------------------------------------------
STALLED_WRITER = r"""
import sys, time
import torch
import kdcore.store as store

def stall(*args, **kwargs):  # the staging folder exists: say so, then hang until killed
    print("staging", flush=True)
    time.sleep(600)

store.save_file = stall
store.ResultStore(sys.argv[1]).put("kstalled", {"i": 0}, {"weights": {"w": torch.zeros(4)}})
"""


def test_a_killed_writers_staging_folder_is_removed_and_a_live_ones_kept(tmp_path: Path) -> None:
    root = tmp_path / "store"
    writer = subprocess.Popen([sys.executable, "-c", STALLED_WRITER, str(root)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "staging"
        staged = list((root / "tmp").iterdir())
        assert len(staged) == 1
        # a legacy staging name (no owner recorded): kept while recent, removed once old
        legacy_new, legacy_old = root / "tmp" / "knew.abc123", root / "tmp" / "kold.def456"
        legacy_new.mkdir(), legacy_old.mkdir()
        old = time.time() - 7 * 24 * 3600  # older than any write takes (the store's STALE_STAGING_S)
        os.utime(legacy_old, (old, old))
        entry(ResultStore(root), "kfirst")  # a write sweeps: the stalled writer is alive, so its folder stays
        assert sorted((root / "tmp").iterdir()) == sorted([*staged, legacy_new])
        writer.kill()  # kill -9 in the middle of put
        writer.wait(30)
        assert staged[0].exists()  # a killed write never cleans up after itself
        entry(ResultStore(root), "ksecond")
        assert list((root / "tmp").iterdir()) == [legacy_new]
        reader = ResultStore(root, readonly=True)  # a read-only store never sweeps (never writes)
        dead = root / "tmp" / f"kdead.{staged[0].name.split('.', 1)[1]}"
        dead.mkdir()
        assert reader.get("kfirst") is not None and len(reader.list()) == 2
        assert dead.exists()
        assert [r["i"] for r in ResultStore(root).list()] == [1, 1]
    finally:
        if writer.poll() is None:
            writer.send_signal(signal.SIGKILL)
            writer.wait(30)
