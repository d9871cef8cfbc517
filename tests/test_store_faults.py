"""The result store under faults: writers killed half-way, readers racing a writer.

No training here: entries are small hand-made results, each test with its own store in tmp_path.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

import kdcore.store as store_module
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


@pytest.mark.slow
def test_a_killed_writers_staging_folder_is_removed_and_a_live_ones_kept(tmp_path: Path) -> None:
    root = tmp_path / "store"
    staging = root / store_module.STAGING_DIR
    writer = subprocess.Popen([sys.executable, "-c", STALLED_WRITER, str(root)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "staging"
        staged = list(staging.iterdir())
        assert len(staged) == 1
        # a name that is not the store's own pattern is never removed, however old
        foreign = staging / "notes.abc123"
        foreign.mkdir()
        old = time.time() - 7 * 24 * 3600  # older than any write takes (the store's STALE_STAGING_S)
        os.utime(foreign, (old, old))
        entry(ResultStore(root), "kfirst")  # a write sweeps: the stalled writer is alive, so its folder stays
        assert sorted(staging.iterdir()) == sorted([*staged, foreign])
        writer.kill()  # kill -9 in the middle of put
        writer.wait(30)
        assert staged[0].exists()  # a killed write never cleans up after itself
        entry(ResultStore(root), "ksecond")
        assert list(staging.iterdir()) == [foreign]
        reader = ResultStore(root, readonly=True)  # a read-only store never sweeps (never writes)
        dead = staging / f"kdead.{staged[0].name.split('.', 1)[1]}"
        dead.mkdir()
        assert reader.get("kfirst") is not None and len(reader.list()) == 2
        assert dead.exists()
        assert [r["i"] for r in ResultStore(root).list()] == [1, 1]
    finally:
        if writer.poll() is None:
            writer.send_signal(signal.SIGKILL)
            writer.wait(30)


# ---- a tensor file re-added while others read the entry ------------------------------------------
def test_a_reader_between_a_re_adds_two_steps_gets_the_entry_not_a_quarantine(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """add_tensors replaces the file, then result.json: a reader in between sees the new file with
    the old hash. The writer is held there until the reader has hashed that file."""
    root = tmp_path / "store"
    entry(ResultStore(root), "k1")
    ResultStore(root).add_tensors("k1", "extra", {"e": torch.zeros(8)})
    swapped, reader_looked = threading.Event(), threading.Event()
    real_replace, real_sha = os.replace, store_module._sha256

    def replace(src: object, dst: object) -> None:
        real_replace(src, dst)
        if threading.current_thread() is writer and str(dst).endswith("extra.safetensors"):
            swapped.set()
            reader_looked.wait(30)  # between the new file and the new manifest

    def sha(path: Path) -> str:
        digest = real_sha(path)
        if threading.current_thread() is threading.main_thread() and path.name == "extra.safetensors":
            reader_looked.set()
        return digest

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(store_module, "_sha256", sha)
    errors: list[BaseException] = []

    def re_add() -> None:
        try:
            ResultStore(root).add_tensors("k1", "extra", {"e": torch.ones(8)})
        except BaseException as e:
            errors.append(e)

    writer = threading.Thread(target=re_add)
    writer.start()
    assert swapped.wait(30)
    got = ResultStore(root).get("k1")
    writer.join(30)
    assert got is not None and not (root / "corrupt").exists() and errors == []
    assert got["files"]["extra.safetensors"] == real_sha(root / "objects" / "k1" / "extra.safetensors")
    assert bool(ResultStore(root).load_tensors("k1", "extra")["e"].eq(1).all())


KILLED_RE_ADD = r"""
import os, signal, sys
import torch
from kdcore.store import ResultStore

real = os.replace

def replace(src, dst):
    real(src, dst)
    if str(dst).endswith("extra.safetensors"):
        os.kill(os.getpid(), signal.SIGKILL)  # the new file is in place, the new manifest not yet

os.replace = replace
ResultStore(sys.argv[1]).add_tensors("k1", "extra", {"e": torch.ones(8)})
"""


@pytest.mark.slow
def test_a_re_add_killed_between_its_two_steps_leaves_a_valid_entry(tmp_path: Path) -> None:
    root = tmp_path / "store"
    entry(ResultStore(root), "k1")
    ResultStore(root).add_tensors("k1", "extra", {"e": torch.zeros(8)})
    child = subprocess.run([sys.executable, "-c", KILLED_RE_ADD, str(root)], cwd=REPO, timeout=120)
    assert child.returncode == -signal.SIGKILL
    store = ResultStore(root)
    assert store.get("k1") is not None and not (root / "corrupt").exists()
    assert bool(store.load_tensors("k1", "extra")["e"].eq(1).all())  # the killed write is finished by the reader
    assert store.load_tensors("k1", "weights") is not None


def test_a_really_corrupt_entry_is_still_quarantined_and_a_read_only_one_left_alone(tmp_path: Path) -> None:
    root = tmp_path / "store"
    entry(ResultStore(root), "k1")
    ResultStore(root).add_tensors("k1", "extra", {"e": torch.zeros(8)})
    extra = root / "objects" / "k1" / "extra.safetensors"
    extra.write_bytes(extra.read_bytes()[:-4])  # truncated, and no writer anywhere
    assert ResultStore(root, readonly=True).get("k1") is None and extra.exists()
    assert ResultStore(root).load_tensors("k1", "extra") is None
    assert not (root / "objects" / "k1").exists() and len([p for p in (root / "corrupt").iterdir() if p.is_dir()]) == 1
