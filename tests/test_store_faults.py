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


# ---- issue 23: a full disk or a read-only folder is named with the fix ------------------------------------
def test_a_full_disk_while_writing_a_checkpoint_names_the_folder_its_free_space_and_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: object, **kwargs: object) -> None:  # what torch.save says when the disk fills mid-write
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 4160 vs 4054")

    monkeypatch.setattr(store_module.torch, "save", full)
    path = tmp_path / "store" / "checkpoints" / "k1.pt"
    with pytest.raises(store_module.StoreError) as e:
        store_module.write_checkpoint(path, {"epoch": 0})
    msg = str(e.value)
    assert "the disk is full" in msg and str(path.parent) in msg and "MB free" in msg
    assert "free space there or set KD_STORE_DIR" in msg
    assert not [p for p in path.parent.iterdir()]  # no temp file left behind


def test_a_full_disk_or_a_read_only_folder_while_storing_a_result_is_named(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    store = ResultStore(tmp_path / "store")
    entry(store, "k0")

    def fails(code: int) -> object:
        def save(*args: object, **kwargs: object) -> None:
            raise OSError(code, os.strerror(code))
        return save

    monkeypatch.setattr(store_module, "save_file", fails(errno.ENOSPC))
    with pytest.raises(store_module.StoreError, match=r"the disk is full: writing the result k1 into .*MB free"):
        entry(store, "k1")
    monkeypatch.setattr(store_module, "save_file", fails(errno.EROFS))
    with pytest.raises(store_module.StoreError, match="is read-only .* set KD_STORE_DIR to a writable folder"):
        entry(store, "k1")
    monkeypatch.setattr(store_module, "save_file", fails(errno.EIO))  # not a storage-room problem: left as it is
    with pytest.raises(OSError) as e:
        entry(store, "k1")
    assert not isinstance(e.value, store_module.StoreError)
    assert store.get("k1") is None and store.get("k0") is not None


def test_a_disk_full_job_failure_never_says_to_try_fewer_hidden_units() -> None:
    from kdcore.jobs.runner import JobFailed, QueueFullError
    from kdcore.views.errors import page_error

    full = JobFailed("StoreError: the disk is full: writing the result abc into /srv/store failed (0 MB free); "
                     "free space there or set KD_STORE_DIR to a folder on a disk with room")
    msg = page_error(full, "training")
    assert "hidden units" not in msg and "The job could not store its work" in msg and "KD\\_STORE\\_DIR" in msg
    assert "What to do" in page_error(QueueFullError("the training queue is full"))
    odd = page_error(KeyError("[x](https://evil.example)"))
    assert "KeyError" in odd and "report this" in odd and "[x](https" not in odd


def test_a_shipped_model_failing_verification_is_skipped_and_the_playground_still_works(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_app_caches: None) -> None:
    """The shipped store is read-only, so a damaged entry is never quarantined: the playground skips it with a
    note (it crashed with AttributeError 'NoneType' has no attribute 'get')."""
    import shutil

    import apphelpers

    from kdcore.views import playground

    shipped = tmp_path / "shipped"
    shutil.copytree(store_module.SHIPPED_STORE, shipped)
    monkeypatch.setattr(store_module, "SHIPPED_STORE", shipped)
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "user-store"))
    teacher, _ = playground.pick_models("mnist")
    assert teacher is not None
    weights = shipped / "objects" / teacher["key"] / "weights.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-8:] = b"\0" * 8  # damaged: its hash no longer matches the manifest
    weights.chmod(0o644)
    weights.write_bytes(bytes(raw))
    playground.clear_caches()
    from kdcore.views.results import clear_caches

    clear_caches()
    at = apphelpers.open_page("app_pages/temperature.py", 180)  # fails on any exception
    assert not at.error, [e.value for e in at.error]
    picked, _ = playground.pick_models("mnist")
    assert picked is None or picked["key"] != teacher["key"]
    if picked is None:  # mnist's only teacher: the data set is no longer offered
        assert "mnist" not in at.selectbox(key="pg_dataset").options
        return
    at.selectbox(key="pg_dataset").set_value("mnist").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    notes = " ".join(c.value for c in at.caption)
    assert teacher["key"] in notes and "fail verification" in notes
