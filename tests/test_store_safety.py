"""Issue 12: the store touches only its own files, and serves only entries that verify.

Each test has its own store in tmp_path. Jobs are tiny (MNIST-5k, a few hundred examples, 1-2 epochs).
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import kdcore.store as store_module
from kdcore.cli import main as cli_main
from kdcore.course import course_student, course_teacher
from kdcore.store import SHIPPED_STORE, STAGING_DIR, ResultStore, StoreError, write_checkpoint
from kdcore.train import job_key, run_job

TINY = dict(epochs=1, train_limit=256, test_limit=200, data_source="mnist-5k")
DAY = 24 * 3600


def entry(store: ResultStore, key: str, i: int = 1) -> dict:
    return store.put(key, {"i": i}, {"weights": {"w": torch.full((4,), float(i))}})


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ResultStore:
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    return ResultStore(tmp_path / "store")


# ---- only its own files ---------------------------------------------------------------------------
def test_a_users_old_files_in_the_store_folder_and_its_tmp_survive_any_number_of_writes(tmp_path: Path) -> None:
    home = tmp_path / "home"  # KD_STORE_DIR=$HOME, with the user's own tmp/ and other files
    mine = {home / "tmp" / "draft.txt": "a", home / "tmp" / "k1.abc123" / "notes": "b",  # like an old staging name
            home / "tmp" / "k1.host.0.1.x" / "f": "c", home / "notes.txt": "d", home / "checkpoints.txt": "e"}
    for path, text in mine.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for path in [*mine, *(p.parent for p in mine)]:
        age(path, 30 * DAY)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "keep.txt").write_text("f")
    age(outside / "keep.txt", 30 * DAY)
    (home / "tmp" / "link").symlink_to(outside)
    store = ResultStore(home)
    for i in range(5):
        entry(store, f"k{i}", i)
        store.add_tensors(f"k{i}", "extra", {"e": torch.zeros(2)})
        store.put(f"k{i}", {"i": i}, replace=True)
    for path, text in mine.items():
        assert path.read_text() == text, path
    assert (outside / "keep.txt").read_text() == "f" and (home / "tmp" / "link").is_symlink()
    assert sorted(p.name for p in home.iterdir()) == sorted(["tmp", "notes.txt", "checkpoints.txt", "objects",
                                                            "locks", STAGING_DIR])


def test_store_folders_that_are_links_are_refused_and_nothing_is_written_through_them(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    for sub in ("objects", STAGING_DIR, "locks"):
        root = tmp_path / f"store-{sub}"
        root.mkdir()
        (root / sub).symlink_to(outside)
        with pytest.raises(StoreError, match="symbolic link"):
            entry(ResultStore(root), "k1")
        assert not any(outside.iterdir())
    file_root = tmp_path / "a-file"
    file_root.write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        entry(ResultStore(file_root), "k1")


def test_killed_checkpoint_writes_are_swept_but_a_users_look_alikes_are_not(tmp_path: Path) -> None:
    root = tmp_path / "store"
    ckpts = root / "checkpoints"
    ckpts.mkdir(parents=True)
    key = "0" * 24
    pid = dead_pid()
    ours_new = ckpts / f"{key}.pt.{store_module._HOST}.{store_module._BOOT}.{pid}.1a2b3c4d.kdtmp"
    ours_old = ckpts / f"{key}.stage1.{pid}.tmp"  # the temp name of older code
    live = ckpts / f"{key}.pt.{store_module._HOST}.{store_module._BOOT}.{os.getpid()}.1a2b3c4d.kdtmp"
    users = [ckpts / "notes.tmp", ckpts / f"{key}.pt.backup"]
    for p in (ours_new, ours_old, live, *users):
        p.write_bytes(b"x")
        age(p, 30 * DAY)
    entry(ResultStore(root), "k1")
    assert not ours_new.exists() and not ours_old.exists()
    assert live.exists() and all(p.exists() for p in users)


# ---- verified records -------------------------------------------------------------------------------
def test_an_edited_result_json_is_never_served_and_is_quarantined(tmp_path: Path) -> None:
    root = tmp_path / "store"
    entry(ResultStore(root), "k1", 5)
    meta = root / "objects" / "k1" / "result.json"
    meta.write_text(meta.read_text().replace('"i": 5', '"i": 999'))
    assert ResultStore(root, readonly=True).get("k1", verify=False) is None  # not served, even by a listing
    assert meta.exists()  # a read-only store changes nothing
    assert ResultStore(root).list() == []
    assert not (root / "objects" / "k1").exists()
    why = [p.read_text() for p in (root / "corrupt").glob("*.why.txt")]
    assert len(why) == 1 and "result.json changed" in why[0]


def test_an_entry_without_a_manifest_is_not_served(tmp_path: Path) -> None:
    root = tmp_path / "store"
    entry(ResultStore(root), "k1")
    (root / "objects" / "k1" / "MANIFEST.json").unlink()  # as older code wrote it
    assert ResultStore(root, readonly=True).get("k1") is None
    assert ResultStore(root).get("k1") is None and any((root / "corrupt").iterdir())


def test_an_entry_linked_outside_is_not_served_and_quarantine_moves_the_link_only(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "store", tmp_path / "elsewhere"
    entry(ResultStore(elsewhere), "k1", 7)
    entry(ResultStore(root), "k0")
    (root / "objects" / "k1").symlink_to(elsewhere / "objects" / "k1")
    before = sorted(p.name for p in (elsewhere / "objects" / "k1").iterdir())
    store = ResultStore(root)
    assert store.get("k1") is None and store.load_tensors("k1") is None
    assert [r["key"] for r in store.list()] == ["k0"]
    assert sorted(p.name for p in (elsewhere / "objects" / "k1").iterdir()) == before  # nothing written there
    moved = [p for p in (root / "corrupt").iterdir() if p.is_symlink()]
    assert len(moved) == 1 and ResultStore(elsewhere).get("k1")["i"] == 7
    # a file inside an entry that is a link is not read either
    (elsewhere / "secret.safetensors").write_bytes((root / "objects" / "k0" / "weights.safetensors").read_bytes())
    w = root / "objects" / "k0" / "weights.safetensors"
    w.unlink()
    w.symlink_to(elsewhere / "secret.safetensors")
    assert store.load_tensors("k0") is None and store.get("k0") is None


def test_put_replace_swaps_the_entry_and_without_it_keeps_the_first(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "store")
    entry(store, "k1", 1)
    assert store.put("k1", {"i": 2})["i"] == 1 and store.get("k1")["i"] == 1
    new = store.put("k1", {"i": 3}, {"weights": {"w": torch.zeros(4)}}, replace=True)
    assert new["i"] == 3 and store.get("k1")["i"] == 3 and float(store.load_tensors("k1")["w"].sum()) == 0.0
    assert not any((tmp_path / "store" / STAGING_DIR).iterdir())


def test_the_shipped_store_verifies_entry_by_entry() -> None:
    for root in (SHIPPED_STORE, SHIPPED_STORE / "artefacts"):
        names = [p.name for p in (root / "objects").iterdir()]
        shipped = ResultStore(root, readonly=True)
        failing = [k for k in names if shipped.get(k, verify=True) is None]
        assert names and not failing, f"{root}: {failing} (run python -m kdcore store-manifest)"


def test_update_result_keeps_the_entry_verified(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "store")
    entry(store, "k1")
    store.update_result("k1", {"shipped_weights": True})
    got = store.get("k1")
    assert got["shipped_weights"] is True and got["i"] == 1 and store.load_tensors("k1") is not None


# ---- through jobs and the CLI --------------------------------------------------------------------------
def test_a_hand_edited_result_is_never_printed_and_recompute_prints_the_new_figure(
        store: ResultStore, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["distill", "--method", "scratch", "--hidden", "16", "--epochs", "1", "--train-limit", "256",
            "--test-limit", "200", "--data-source", "mnist-5k"]
    assert cli_main(args) == 0
    first = re.search(r"test accuracy ([0-9.]+)%", capsys.readouterr().out).group(1)
    key = job_key(course_student("mnist", "scratch", hidden=(16,), **TINY))
    meta = store.root / "objects" / key / "result.json"
    record = json.loads(meta.read_text())
    record["metrics"]["accuracy"] = 0.999
    meta.write_text(json.dumps(record))
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "99.90%" not in out and f"test accuracy {first}%" in out and "(cached)" not in out
    # an entry that verifies but says something else (as an older engine's would): --recompute replaces it
    store.put(key, {k: v for k, v in record.items() if k not in ("key", "files")},
              {"weights": store.load_tensors(key)}, replace=True)
    assert cli_main(args) == 0 and "99.90%" in capsys.readouterr().out  # served: it verifies
    assert cli_main([*args, "--recompute"]) == 0
    out = capsys.readouterr().out
    assert "99.90%" not in out and f"test accuracy {first}%" in out
    assert store.get(key)["metrics"]["accuracy"] != 0.999
    assert cli_main(args) == 0 and "99.90%" not in capsys.readouterr().out


@pytest.mark.slow
def test_weights_that_do_not_fit_their_network_are_quarantined_and_the_teacher_retrained(store: ResultStore) -> None:
    teacher = course_teacher("mnist", **TINY)
    key = job_key(teacher)
    forged = {"name": "forged", "config": teacher.to_dict(), "num_outputs": 10, "metrics": {"accuracy": 0.5}}
    store.put(key, forged, {"weights": {"fc.weight": torch.zeros(3, 3)}})  # checksums fine, shapes wrong
    student = course_student("mnist", "hinton", teacher=teacher, hidden=(16,), **TINY)
    r = run_job(student, store=store)
    assert not r["cached"] and 0.0 <= r["metrics"]["accuracy"] <= 1.0
    t = store.get(key)
    assert t is not None and t["name"] != "forged" and any((store.root / "corrupt").iterdir())


def test_a_forged_or_foreign_checkpoint_is_ignored_with_a_message(store: ResultStore,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    cfg = course_student("mnist", "scratch", hidden=(16,), **{**TINY, "epochs": 2})
    key = job_key(cfg)
    ckpt = store.root / "checkpoints" / f"{key}.pt"
    ckpt.parent.mkdir(parents=True)
    fake_history = [{"epoch": e, "train_loss": 0.0, "train_acc": 1.0, "test_acc": 1.0} for e in (1, 2)]
    torch.save({"epoch": 5, "model": {}, "loss": {}, "opt": {}, "rng": torch.get_rng_state(),
                "history": fake_history}, ckpt)  # pickle-free, loads with weights_only=True
    with caplog.at_level(logging.WARNING):
        r = run_job(cfg, store=store)
    assert [row["epoch"] for row in r["history"]] == [1, 2] and r["history"][0]["train_loss"] > 0
    assert "ignoring the checkpoint" in caplog.text and not ckpt.exists()
    # another job's genuine checkpoint, copied under this job's name
    other = store.root / "checkpoints" / f"{'f' * 24}.pt"
    write_checkpoint(other, {"epoch": 1, "history": fake_history})
    os.replace(other, ckpt)
    os.replace(other.with_name(other.name + ".json"), ckpt.with_name(ckpt.name + ".json"))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        r2 = run_job(cfg, store=store, recompute=True)
    assert "written for another job" in caplog.text and r2["history"][0]["train_loss"] > 0


def test_a_nan_training_stores_nothing(store: ResultStore) -> None:
    """The last guard (settings are checked first: -T inf and --lr inf never start): a loss that became NaN."""
    from kdcore.data import load_dataset
    from kdcore.models import build_model
    from kdcore.train.common import TrainingDiverged, evaluate_and_store

    cfg = course_student("mnist", "scratch", hidden=(16,), **TINY)
    data = load_dataset("mnist", "mnist-5k")
    with pytest.raises(TrainingDiverged, match="diverged"):
        evaluate_and_store(cfg, "k1", data, store, build_model(cfg, 10), n_train=256, xte=data.x_test[:10],
                           yte=data.y_test[:10], history=[{"epoch": 1, "train_loss": float("nan")}],
                           teacher_result=None, train_s=0.0, t_start=0.0, progress=lambda e: None)
    assert store.get("k1") is None and not (store.root / "objects").exists()


def test_store_manifest_gives_legacy_entries_a_manifest_only_when_their_recorded_hashes_hold(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "shipped"
    for key in ("k1", "k2"):
        entry(ResultStore(root), key)
        d = root / "objects" / key
        manifest = json.loads((d / "MANIFEST.json").read_text())
        record = json.loads((d / "result.json").read_text())
        record["files"] = {n: h for n, h in manifest["files"].items() if n != "result.json"}  # the older format
        (d / "result.json").write_text(json.dumps(record))
        (d / "MANIFEST.json").unlink()
    (root / "objects" / "k2" / "weights.safetensors").write_bytes(b"tampered")
    assert ResultStore(root, readonly=True).get("k1") is None  # no manifest: not served
    assert cli_main(["store-manifest", str(root)]) == 2
    assert "1 manifests written, 1 entries refused" in capsys.readouterr().out
    shipped = ResultStore(root, readonly=True)
    assert shipped.get("k1")["i"] == 1 and shipped.load_tensors("k1") is not None and shipped.get("k2") is None
