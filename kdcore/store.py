"""Content-addressed result store.

Layout (one folder per finished job)::

    <root>/objects/<key>/result.json        config, metrics, curves, provenance, file hashes
    <root>/objects/<key>/weights.safetensors
    <root>/objects/<key>/<name>.safetensors extra tensors (e.g. the teacher's training-set logits)
    <root>/locks/<key>.lock                 inter-process lock: one computation per key
    <root>/locks/<key>.entry.lock           held for seconds: while add_tensors changes an entry

``key`` = sha256(config + data source + CODE_VERSION) (see :func:`store_key`). Writes are atomic:
an entry is built in ``<root>/tmp/`` and renamed into place, an extra file is staged there too and
``os.replace``d into the entry. A reader verifies each file's sha256 recorded in ``result.json``; a
corrupt or truncated entry is moved to ``<root>/corrupt/`` and reported as missing, so the job is
recomputed instead of crashing. Weights use safetensors: loading them runs no pickle.

Re-adding a tensor file replaces it, then ``result.json``: a reader in between would see the new file
with the old hash. So add_tensors makes both replacements under the entry lock, and a reader that
finds an entry inconsistent looks again under that lock before it quarantines anything. add_tensors
first puts the next manifest beside the old one (``.result.next.json``); a writer killed between
the two replacements leaves it, and the reader rolls the entry forward instead of discarding it.

A write killed half-way (kill -9, the out-of-memory killer) never gets to remove its staging folder,
so each staging name records its writer (``<key>.<host>.<boot id>.<pid>.<random>``) and every write
first sweeps ``<root>/tmp/``: a folder whose writer is gone (same host, and an earlier boot or a pid
that no longer exists) is removed; one a live writer may still own never is, and one whose writer
cannot be checked (another host, an old name) only after :data:`STALE_STAGING_S`.

Stores can be layered: a writable user store in front of read-only shipped results
(``assets/store``), so the app opens on precomputed numbers and new jobs go to the user store.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psutil
import torch
from filelock import FileLock, Timeout
from safetensors.torch import load_file, save_file

from kdcore import CODE_VERSION
from kdcore.config import JobConfig
from kdcore.settings import settings

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_STORE = REPO_ROOT / "assets" / "store"
# A write takes seconds; a staging folder whose writer cannot be checked is garbage after a day.
STALE_STAGING_S = 24 * 3600
ENTRY_LOCK_TIMEOUT_S = 60.0  # the entry lock is held for a few file replacements
NEXT_MANIFEST = ".result.next.json"  # add_tensors' next result.json, until it is in place
T = TypeVar("T")


def _boot_id() -> str:
    """This boot of this machine (Linux), so a pid recorded before a reboot is not taken for a live one."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:12] or "0"
    except OSError:
        return "0"


_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
_BOOT = _boot_id()


def _staging_owner_gone(name: str, mtime: float) -> bool:
    """True when the writer of staging entry ``name`` is certainly gone, or it is older than
    :data:`STALE_STAGING_S` and its writer cannot be checked (another host, a name from older code)."""
    parts = name.rsplit(".", 4)  # <key>.<host>.<boot>.<pid>.<random>
    if len(parts) == 5 and parts[1] == _HOST and parts[3].isdigit():
        return parts[2] != _BOOT or not psutil.pid_exists(int(parts[3]))
    return time.time() - mtime > STALE_STAGING_S


def default_store_dir() -> Path:
    """``KD_STORE_DIR`` or ``~/.cache/distillation-lab/store``."""
    return settings().store_dir or Path.home() / ".cache" / "distillation-lab" / "store"


def store_key(config: JobConfig, source_id: str) -> str:
    """The key of ``config`` run on data ``source_id`` with this engine version."""
    payload = json.dumps({"config": config.key(), "data": source_id, "code": CODE_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class StoreError(RuntimeError):
    pass


def read_entry(store: ResultStore | LayeredStore, key: str) -> tuple[dict, dict[str, dict[str, torch.Tensor]]] | None:
    """An entry as ``put`` takes it: (result without key/files/cached, {group name: tensors}); None if absent.

    Used to copy an entry between stores (shipping results, Ray workers, read-only layers).
    """
    result = store.get(key)
    if result is None:
        return None
    groups = {}
    for fname in result.get("files", {}):
        name = fname.removesuffix(".safetensors")
        tensors = store.load_tensors(key, name)
        if tensors is not None:
            groups[name] = tensors
    return {k: v for k, v in result.items() if k not in ("key", "files", "cached")}, groups


class ResultStore:
    """One store folder. ``readonly`` stores (shipped assets) are never written."""

    def __init__(self, root: str | Path | None = None, readonly: bool = False) -> None:
        self.root = Path(root) if root is not None else default_store_dir()
        self.readonly = readonly

    # ---- paths ---------------------------------------------------------------------------
    def _obj(self, key: str) -> Path:
        return self.root / "objects" / key

    def _ensure_writable(self) -> None:
        if self.readonly:
            raise StoreError(f"store {self.root} is read-only")
        try:
            for sub in ("objects", "tmp", "locks"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(
                f"cannot write the result store at {self.root} ({e.strerror or e}); "
                "set KD_STORE_DIR to a writable folder"
            ) from e

    def _staging(self, key: str) -> Path:
        """A new staging folder in ``<root>/tmp/``, named after its writer (see the module docstring)."""
        prefix = f"{key}.{_HOST}.{_BOOT}.{os.getpid()}."
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.root / "tmp"))

    def _sweep_staging(self) -> None:
        """Remove the staging folders of writers that are gone (a killed write cannot clean up after itself)."""
        try:
            entries = list(os.scandir(self.root / "tmp"))
        except OSError:
            return
        for e in entries:
            try:
                if not _staging_owner_gone(e.name, e.stat(follow_symlinks=False).st_mtime):
                    continue
                if e.is_dir(follow_symlinks=False):
                    shutil.rmtree(e.path, ignore_errors=True)
                else:
                    os.unlink(e.path)
            except OSError:
                pass  # another sweeper removed it first; a sweep never fails a write

    def _entry_lock(self, key: str) -> FileLock:
        """Held while add_tensors changes an entry's files, and by a reader re-checking an entry that
        looked inconsistent. Not :meth:`lock`: that one is held for a whole computation."""
        self._ensure_writable()
        return FileLock(str(self.root / "locks" / f"{key}.entry.lock"), timeout=ENTRY_LOCK_TIMEOUT_S)

    @contextmanager
    def lock(self, key: str, timeout_s: float = -1) -> Iterator[None]:
        """Hold the inter-process lock for ``key`` (so two processes never compute one job)."""
        self._ensure_writable()
        with FileLock(str(self.root / "locks" / f"{key}.lock"), timeout=timeout_s):
            yield

    # ---- reading -------------------------------------------------------------------------
    def get(self, key: str, need_weights: bool = False, verify: bool = True) -> dict | None:
        """The verified result dict for ``key``, or None when absent or corrupt.

        ``verify=False`` checks only that the files exist (listing hundreds of results must not
        re-hash every weights file); :meth:`load_tensors` always verifies what it reads.
        """
        try:
            result = self._read(key, verify)
        except (OSError, ValueError, StoreError):
            result = self._recheck(key, lambda: self._read(key, verify))
        if result is None:
            return None
        if need_weights and "weights.safetensors" not in result.get("files", {}):
            return None
        return result

    def load_tensors(self, key: str, name: str = "weights") -> dict[str, torch.Tensor] | None:
        """Tensors saved under ``name`` (safetensors; no pickle), or None if absent/corrupt."""
        fname = f"{name}.safetensors"

        def load() -> dict[str, torch.Tensor] | None:
            result = self._read(key)
            if result is None or fname not in result.get("files", {}):
                return None
            return load_file(str(self._obj(key) / fname))

        try:
            return load()
        except Exception:  # changed under us (see _recheck), truncated, or not safetensors
            return self._recheck(key, load)

    def _read(self, key: str, verify: bool = True) -> dict | None:
        """The result of ``key`` with its files checked; None when absent, an exception when inconsistent."""
        d = self._obj(key)
        meta = d / "result.json"
        if not meta.exists():
            return None
        result = json.loads(meta.read_text())
        if result.get("key") != key:
            raise StoreError("key mismatch")
        for name, digest in result.get("files", {}).items():
            f = d / name
            if not f.exists() or (verify and _sha256(f) != digest):
                raise StoreError(f"{name} missing or changed")
        return result

    def _recheck(self, key: str, attempt: Callable[[], T]) -> T | None:
        """Run a read that failed once more under the entry lock; quarantine only if it fails there too.

        The first failure may be a reader caught between add_tensors' two replacements; with the lock
        held no writer is half-way, so what still fails is corrupt, unless a killed writer left its next
        manifest, which is rolled forward first.
        """
        if self.readonly:
            return None
        try:
            with self._entry_lock(key):
                for last in (False, True):
                    try:
                        return attempt()
                    except Exception as e:
                        if last or not self._roll_forward(key):
                            self._quarantine(key, str(e))
                            return None
        except (OSError, StoreError, Timeout):
            pass  # cannot take the lock (no write access, a stuck writer): missing this time, not quarantined
        return None

    def _roll_forward(self, key: str) -> bool:
        """Install the next manifest a killed add_tensors left, if every file it names has its hash.
        Entry lock held."""
        d = self._obj(key)
        try:
            result = json.loads((d / NEXT_MANIFEST).read_text())
            if result.get("key") != key or any(_sha256(d / n) != h for n, h in result.get("files", {}).items()):
                return False
            os.replace(d / NEXT_MANIFEST, d / "result.json")
        except (OSError, ValueError):
            return False
        return True

    def list(self) -> list[dict]:
        """Every readable result in this store, newest first."""
        out = []
        objects = self.root / "objects"
        if not objects.is_dir():
            return out
        for d in objects.iterdir():
            r = self.get(d.name, verify=False)
            if r is not None:
                out.append(r)
        out.sort(key=lambda r: r.get("created", ""), reverse=True)
        return out

    # ---- writing -------------------------------------------------------------------------
    def put(self, key: str, result: dict, tensors: dict[str, dict[str, torch.Tensor]] | None = None) -> dict:
        """Atomically store ``result`` and named tensor groups (e.g. ``{"weights": state_dict}``).

        If another process stored the key first, its (equal) entry is kept and returned.
        """
        self._ensure_writable()
        self._sweep_staging()
        staging = self._staging(key)
        try:
            files = {}
            for name, group in (tensors or {}).items():
                path = staging / f"{name}.safetensors"
                save_file({k: v.detach().cpu().contiguous() for k, v in group.items()}, str(path))
                files[path.name] = _sha256(path)
            result = {**result, "key": key, "files": files}
            (staging / "result.json").write_text(json.dumps(result, indent=1, default=_json_default))
            target = self._obj(key)
            if target.exists() and self.get(key) is not None:
                return self.get(key) or result
            if target.exists():  # corrupt leftover: get() quarantined it, or it vanished
                shutil.rmtree(target, ignore_errors=True)
            try:
                os.rename(staging, target)
            except OSError:  # another writer renamed its (equal) entry into place first
                existing = self.get(key)
                if existing is None:
                    raise
                return existing
            return result
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def add_tensors(self, key: str, name: str, tensors: dict[str, torch.Tensor]) -> None:
        """Add (or replace) a tensor file of an existing entry.

        The file is written and hashed in a staging folder; then, under the entry lock, the next
        manifest goes beside the entry, the file replaces the old one and the manifest replaces
        ``result.json``. Readers never quarantine the entry for the moment between (see :meth:`_recheck`).
        """
        self._ensure_writable()
        self._sweep_staging()
        d = self._obj(key)
        if self.get(key) is None:
            raise StoreError(f"no entry {key} to add {name} to")
        fname = f"{name}.safetensors"
        staging = self._staging(key)  # not in the entry's folder: a killed write leaves nothing there
        try:
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(staging / fname))
            digest = _sha256(staging / fname)
            with self._entry_lock(key):
                try:  # the manifest as it is now: another add_tensors may have added a file meanwhile
                    result = self._read(key, verify=False)
                except (OSError, ValueError, StoreError):
                    result = None
                if result is None:
                    raise StoreError(f"entry {key} vanished or broke while adding {name} to it")
                result["files"][fname] = digest
                (staging / "result.json").write_text(json.dumps(result, indent=1, default=_json_default))
                os.replace(staging / "result.json", d / NEXT_MANIFEST)
                os.replace(staging / fname, d / fname)
                os.replace(d / NEXT_MANIFEST, d / "result.json")
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _quarantine(self, key: str, why: str) -> None:
        if self.readonly:
            return
        src = self._obj(key)
        dst = self.root / "corrupt" / f"{key}.{int(time.time())}.{uuid.uuid4().hex[:6]}"
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.rename(src, dst)
            (dst / "WHY.txt").write_text(why + "\n")
        except OSError:
            pass  # another reader moved it already


class LayeredStore:
    """A writable store in front of read-only ones: reads fall through, writes go to the first."""

    def __init__(self, writable: ResultStore, *readonly: ResultStore) -> None:
        self.writable = writable
        self.layers = (writable, *readonly)

    @property
    def root(self) -> Path:
        return self.writable.root

    def get(self, key: str, need_weights: bool = False) -> dict | None:
        for s in self.layers:
            r = s.get(key, need_weights=need_weights)
            if r is not None:
                return r
        return None

    def load_tensors(self, key: str, name: str = "weights") -> dict[str, torch.Tensor] | None:
        for s in self.layers:
            t = s.load_tensors(key, name)
            if t is not None:
                return t
        return None

    def list(self) -> list[dict]:
        seen: dict[str, dict] = {}
        for s in self.layers:
            for r in s.list():
                seen.setdefault(r["key"], r)
        return sorted(seen.values(), key=lambda r: r.get("created", ""), reverse=True)

    def lock(self, key: str, timeout_s: float = -1):  # noqa: ANN201 - context manager
        return self.writable.lock(key, timeout_s)

    def put(self, key: str, result: dict, tensors: dict | None = None) -> dict:
        return self.writable.put(key, result, tensors)

    def add_tensors(self, key: str, name: str, tensors: dict[str, torch.Tensor]) -> None:
        if self.writable.get(key) is None:
            # the entry lives in a read-only layer: copy it up before adding a file
            entry = read_entry(self, key)
            if entry is None:
                raise StoreError(f"no entry {key}")
            self.writable.put(key, *entry)
        self.writable.add_tensors(key, name, tensors)


def open_store(root: str | Path | None = None, shipped: bool = True) -> LayeredStore:
    """The store jobs use: the user store (``KD_STORE_DIR``) over the shipped results in assets/."""
    layers = [ResultStore(SHIPPED_STORE, readonly=True)] if shipped and SHIPPED_STORE.is_dir() else []
    return LayeredStore(ResultStore(root), *layers)


def _json_default(o: Any) -> Any:
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")
