"""Content-addressed result store: it touches only what it made, and serves only what it verified.

Layout (one folder per finished job)::

    <root>/objects/<key>/result.json          config, metrics, curves, provenance
    <root>/objects/<key>/weights.safetensors
    <root>/objects/<key>/<name>.safetensors   extra tensors (e.g. the teacher's training-set logits)
    <root>/objects/<key>/MANIFEST.json        {"key", "files": {name: sha256}}: every file above, written last
    <root>/locks/<key>.lock                   inter-process lock: one computation per key
    <root>/locks/<key>.entry.lock             held for seconds: while add_tensors/update_result change an entry
    <root>/.staging-kdcore/                   the store's own staging area (entries are built here, then renamed)
    <root>/corrupt/<key>.<time>.<rand>        quarantined entries, each with a ``.why.txt`` beside it
    <root>/checkpoints/<key>[.stageN].pt      resume files, each bound to its job by ``<name>.json``

``key`` = sha256(config + data source + CODE_VERSION) (see :func:`store_key`).

**Only its own paths.** The store creates the folders above and nothing else; it deletes only its own
staging folders (in ``.staging-kdcore/``, named after their writer) and its own temporary files
(``*.kdtmp``, and the old ``<key>.<pid>.tmp`` checkpoint names), and only when their writer is gone. It
never follows a symbolic link below ``<root>``: a store folder that is a link is refused, an entry or a
file that is a link is not read (and quarantine moves the link itself, never what it points to). Anything
else a user keeps in the folder (a ``tmp/`` of their own, say) is never read, moved or removed.

**Verified records.** A reader checks every file of an entry against ``MANIFEST.json`` (``result.json``
included, so a hand-edited result is never served); ``verify=False`` (listings) hashes the JSON only and
checks the other files exist. An entry that fails (edited, truncated, a file missing, no manifest, a link)
is moved to ``corrupt/`` and reported as missing, so its job is computed again; a read-only store (the
shipped results) is never changed: its failing entries are just not served. Weights use safetensors: loading
them runs no pickle. Entries written before manifests existed have none: in a writable store they are
quarantined and recomputed; the shipped store got its manifests from ``python -m kdcore store-manifest``.

Writes are atomic: an entry is built in ``.staging-kdcore/`` and renamed into place; ``put(replace=True)``
(``--recompute``) swaps the new entry for the old one in one ``renameat2(RENAME_EXCHANGE)`` on Linux (two
renames elsewhere). add_tensors/update_result put the next manifest beside the old one
(``.MANIFEST.next.json``), replace the file, then the manifest, all under the entry lock; a reader that
finds an entry inconsistent looks again under that lock, and a writer killed between the replacements
leaves the next manifest, which the reader rolls forward instead of discarding the entry.

A write killed half-way never removes its staging folder, so each staging name records its writer
(``<key>.<host>.<boot id>.<pid>.<random>``) and every write first sweeps ``.staging-kdcore/`` (and the
temporary files of checkpoints): what a gone writer left (same host, and an earlier boot or a pid that no
longer exists) is removed; what a live writer may own never is; another host's only after
:data:`STALE_STAGING_S`.

Stores can be layered: a writable user store in front of read-only shipped results
(``assets/store``), so the app opens on precomputed numbers and new jobs go to the user store.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import io
import json
import logging
import os
import re
import shutil
import socket
import stat
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
from safetensors.torch import load as load_safetensors
from safetensors.torch import save_file

from kdcore import CODE_VERSION
from kdcore.config import JobConfig
from kdcore.settings import settings

log = logging.getLogger("kdcore.store")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_STORE = REPO_ROOT / "assets" / "store"
# A write takes seconds; a staging folder whose writer cannot be checked is garbage after a day.
STALE_STAGING_S = 24 * 3600
ENTRY_LOCK_TIMEOUT_S = 60.0  # the entry lock is held for a few file replacements
MANIFEST = "MANIFEST.json"
NEXT_MANIFEST = ".MANIFEST.next.json"  # add_tensors' / update_result's next manifest, until it is in place
RESULT = "result.json"
STAGING_DIR = ".staging-kdcore"
OWN_DIRS = ("objects", "locks", STAGING_DIR)  # made by check_writable; corrupt/ and checkpoints/ when first needed
TEMP_SUFFIX = ".kdtmp"
KEY_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FILE_RE = re.compile(r"[A-Za-z0-9_-]{1,64}\.(safetensors|json)")
# <key>.<host>.<boot>.<pid>.<random>: a staging folder (mkdtemp's random part)
_STAGING_RE = re.compile(r"(?P<key>[A-Za-z0-9_-]{1,64})\.(?P<host>[A-Za-z0-9-]+)\.(?P<boot>[0-9a-f]+)\.(?P<pid>\d+)\."
                         r"[A-Za-z0-9_]+")
# <file name>.<host>.<boot>.<pid>.<random>.kdtmp: a temporary file of a checkpoint or cache write
_TEMP_RE = re.compile(r".+\.(?P<host>[A-Za-z0-9-]+)\.(?P<boot>[0-9a-f]+)\.(?P<pid>\d+)\.[0-9a-f]+\.kdtmp")
# the checkpoint temp names of older code: <key>[.stageN].<pid>.tmp
_LEGACY_TEMP_RE = re.compile(r"[0-9a-f]{20,64}(\.stage[12])?\.(?P<pid>\d+)\.tmp")
LEGACY_TEMP_MIN_AGE_S = 600  # no host in those names: a pid alone is trusted only for a file this old
T = TypeVar("T")


def _boot_id() -> str:
    """This boot of this machine (Linux), so a pid recorded before a reboot is not taken for a live one."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:12] or "0"
    except OSError:
        return "0"


_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
_BOOT = _boot_id()


def _writer_gone(host: str, boot: str, pid: str, mtime: float) -> bool:
    """True when the writer recorded in a staging/temp name is certainly gone, or the name is older than
    :data:`STALE_STAGING_S` and its writer cannot be checked (another host)."""
    if host == _HOST:
        return boot != _BOOT or not psutil.pid_exists(int(pid))
    return time.time() - mtime > STALE_STAGING_S


def temp_path(path: Path) -> Path:
    """A temporary name beside ``path`` for an atomic write (write it, then ``os.replace``), named after its
    writer so the store's sweep removes it once that writer is gone (a killed write cannot)."""
    return path.with_name(f"{path.name}.{_HOST}.{_BOOT}.{os.getpid()}.{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}")


def default_store_dir() -> Path:
    """``KD_STORE_DIR`` or ``~/.cache/distillation-lab/store``."""
    return settings().store_dir or Path.home() / ".cache" / "distillation-lab" / "store"


def store_key(config: JobConfig, source_id: str) -> str:
    """The key of ``config`` run on data ``source_id`` with this engine version."""
    payload = json.dumps({"config": config.key(), "data": source_id, "code": CODE_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


class StoreError(RuntimeError):
    """The store cannot be used as asked (a folder that is a file, read-only, a link); the message says what to do."""


class BrokenEntry(StoreError):
    """A stored entry passed its checksums but cannot be used (its weights do not fit its network); it has
    been quarantined (in a writable store), so running the job again recomputes it."""


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
# How a full disk reads when the writer is not Python's own I/O: torch.save's zip writer ("[enforce fail at
# inline_container.cc:672] . unexpected pos …", "PytorchStreamWriter failed writing file"), safetensors' Rust
# I/O ("No space left on device (os error 28)").
_NO_SPACE_WORDS = ("unexpected pos", "failed writing file", "no space left", "os error 28", "disk quota")


def _free_bytes(folder: Path) -> int | None:
    for p in (folder, *folder.parents):
        try:
            return shutil.disk_usage(p).free
        except OSError:
            continue
    return None


def write_failure(folder: Path, exc: BaseException, what: str) -> StoreError | None:
    """A :class:`StoreError` naming the cause and the fix when writing ``what`` into ``folder`` failed because
    its disk is full or it is read-only; None for any other failure (it is not a storage problem)."""
    text = str(exc).lower()
    if (isinstance(exc, OSError) and exc.errno in _NO_SPACE) or any(w in text for w in _NO_SPACE_WORDS):
        free = _free_bytes(folder)
        room = f"{free / 1e6:,.0f} MB free" if free is not None else "free space unknown"
        return StoreError(f"the disk is full: writing {what} into {folder} failed ({room}); free space there or "
                          "set KD_STORE_DIR to a folder on a disk with room, then run the job again (it resumes "
                          "from its last checkpoint)")
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StoreError(f"cannot write {what} into {folder}: the folder is read-only ({exc.strerror or exc}); "
                          "set KD_STORE_DIR to a writable folder")
    return None


@contextmanager
def _writing(folder: Path, what: str) -> Iterator[None]:
    """Turn a full disk or a read-only folder met while writing into a :class:`StoreError` naming both."""
    try:
        yield
    except StoreError:
        raise
    except Exception as e:  # OSError, torch's RuntimeError, safetensors' SafetensorError (neither of those)
        translated = write_failure(folder, e, what)
        if translated is None:
            raise
        raise translated from e


def _open_nofollow(path: Path) -> io.BufferedReader:
    """``path`` opened for reading, refusing a symbolic link (and anything but a regular file)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise StoreError(f"{path.name} is not a regular file")
    return os.fdopen(fd, "rb")


def _read_nofollow(path: Path) -> bytes:
    with _open_nofollow(path) as f:
        return f.read()


def _sha256(path: Path) -> str:
    with _open_nofollow(path) as f:
        return _sha256_of(f)


def _sha256_of(f: io.BufferedReader) -> str:
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
    return h.hexdigest()


def _write_new(path: Path, data: bytes | str) -> None:
    """Create ``path`` (it must not exist, and is never a link followed) and write ``data``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _rename_exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    return fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _remove_own(path: str) -> None:
    """Remove a staging folder or temp file the store made; a link is unlinked, never followed."""
    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass  # another sweeper removed it first; a sweep never fails a write


# ---- checkpoints (resume files) -----------------------------------------------------------------
def _binding(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def write_checkpoint(path: Path, state: dict) -> None:
    """Save a resume file atomically, bound to its job: ``<name>.json`` records the file it belongs to (its
    name carries the job key) and the sha256 of its contents. Loadable with ``weights_only=True``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not _is_real_dir(path.parent):
        raise StoreError(f"{path.parent} is not a folder of the store (a symbolic link?); remove it")
    tmp, btmp = temp_path(path), temp_path(_binding(path))
    try:
        with _writing(path.parent, f"the resume checkpoint {path.name}"):
            torch.save({**state, "for": path.name}, tmp)
            binding = {"for": path.name, "sha256": _sha256(tmp)}
            _write_new(btmp, json.dumps(binding))
            os.replace(tmp, path)
            os.replace(btmp, _binding(path))
    finally:
        for p in (tmp, btmp):
            if os.path.lexists(p):
                os.unlink(p)


def read_checkpoint(path: Path) -> dict | None:
    """The resume state saved by :func:`write_checkpoint` at ``path``, or None (absent). A file not bound to
    this job (no record, another job's, contents changed, a link, unreadable) is ignored with a warning."""
    if not os.path.lexists(path):
        return None
    why = ""
    try:
        binding = json.loads(_read_nofollow(_binding(path)))
        with _open_nofollow(path) as f:
            if not isinstance(binding, dict) or binding.get("for") != path.name:
                why = "it was written for another job"
            elif binding.get("sha256") != _sha256_of(f):
                why = "its contents differ from what its job wrote"
            else:
                f.seek(0)
                state = torch.load(f, weights_only=True, map_location="cpu")
                if isinstance(state, dict) and state.get("for") == path.name:
                    return state
                why = "it was written for another job"
    except FileNotFoundError:
        why = "no record says which job wrote it"
    except Exception as e:  # noqa: BLE001 - a foreign file of any kind: ignore it
        why = f"it cannot be read ({type(e).__name__})"
    log.warning("ignoring the checkpoint %s: %s; this job trains from its first epoch", path, why)
    return None


def remove_checkpoint(path: Path) -> None:
    """Remove a resume file and its binding (links are unlinked, never followed)."""
    for p in (path, _binding(path)):
        with contextlib.suppress(OSError):
            os.unlink(p)


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
        if not KEY_RE.fullmatch(key):
            raise StoreError(f"{key!r} is not a store key (letters, digits, _ and - only)")
        return self.root / "objects" / key

    def _own_dir(self, name: str) -> Path:
        """``<root>/<name>``, created if absent; a link or a file there is refused, never used."""
        path = self.root / name
        try:
            path.mkdir(exist_ok=True)
        except FileExistsError:
            pass  # a file of that name: refused below
        if not _is_real_dir(path):
            kind = "a symbolic link" if path.is_symlink() else "not a folder"
            raise StoreError(f"{path} is {kind}; the result store only uses folders it made and never follows links. "
                             "Remove or rename it, or set KD_STORE_DIR to another folder")
        return path

    def check_writable(self) -> None:
        """Make the store's folders (only its own) and check it can write there; a StoreError naming the fix."""
        if self.readonly:
            raise StoreError(f"store {self.root} is read-only")
        root = self.root
        if root.exists() and not root.is_dir():
            raise StoreError(f"the result store {root} is a file, not a folder; set KD_STORE_DIR to a folder "
                             "(it is made if missing)")
        try:
            root.mkdir(parents=True, exist_ok=True)
            for sub in OWN_DIRS:
                self._own_dir(sub)
            probe = temp_path(root / STAGING_DIR / "probe")
            _write_new(probe, b"")
            os.unlink(probe)
        except OSError as e:
            raise StoreError(
                f"cannot write the result store at {root} ({e.strerror or e}); set KD_STORE_DIR to a writable folder"
            ) from e

    _ensure_writable = check_writable

    def _staging(self, key: str) -> Path:
        """A new staging folder in ``.staging-kdcore/``, named after its writer (see the module docstring)."""
        prefix = f"{key}.{_HOST}.{_BOOT}.{os.getpid()}."
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.root / STAGING_DIR))

    def _sweep(self) -> None:
        """Remove what killed writers left: their staging folders and temp files, nothing else."""
        staging = self.root / STAGING_DIR
        for e in _scan(staging):
            m = _TEMP_RE.fullmatch(e.name) or _STAGING_RE.fullmatch(e.name)  # check_writable's probes too
            if m and _writer_gone(m["host"], m["boot"], m["pid"], _mtime(e)):
                _remove_own(e.path)
        for folder in (self.root / "checkpoints", self.root / "cache" / "features"):
            for e in _scan(folder):
                if e.is_dir(follow_symlinks=False):
                    continue
                m = _TEMP_RE.fullmatch(e.name)
                if m and _writer_gone(m["host"], m["boot"], m["pid"], _mtime(e)):
                    _remove_own(e.path)
                elif (m := _LEGACY_TEMP_RE.fullmatch(e.name)) and not psutil.pid_exists(int(m["pid"])) \
                        and time.time() - _mtime(e) > LEGACY_TEMP_MIN_AGE_S:
                    _remove_own(e.path)

    _sweep_staging = _sweep

    def _entry_lock(self, key: str) -> FileLock:
        """Held while add_tensors/update_result change an entry's files, and by a reader re-checking an entry
        that looked inconsistent. Not :meth:`lock`: that one is held for a whole computation."""
        self._ensure_writable()
        self._obj(key)  # a valid key: the lock file's name is made from it
        return FileLock(str(self.root / "locks" / f"{key}.entry.lock"), timeout=ENTRY_LOCK_TIMEOUT_S)

    @contextmanager
    def lock(self, key: str, timeout_s: float = -1) -> Iterator[None]:
        """Hold the inter-process lock for ``key`` (so two processes never compute one job)."""
        self._ensure_writable()
        self._obj(key)
        with FileLock(str(self.root / "locks" / f"{key}.lock"), timeout=timeout_s):
            yield

    # ---- reading -------------------------------------------------------------------------
    def get(self, key: str, need_weights: bool = False, verify: bool = True) -> dict | None:
        """The verified result dict for ``key``, or None when absent or failing its check.

        ``verify=False`` hashes ``result.json`` and the manifest only and checks that the other files exist
        (listing hundreds of results must not re-hash every weights file); :meth:`load_tensors` always
        verifies what it reads.
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
        """Tensors saved under ``name`` (safetensors; no pickle), or None if absent or failing its check.
        The bytes loaded are the bytes hashed."""
        fname = f"{name}.safetensors"

        def load() -> dict[str, torch.Tensor] | None:
            result = self._read(key, verify=False)
            if result is None or fname not in result.get("files", {}):
                return None
            raw = _read_nofollow(self._obj(key) / fname)
            if hashlib.sha256(raw).hexdigest() != result["files"][fname]:
                raise StoreError(f"{fname} changed since it was written")
            return load_safetensors(raw)

        try:
            return load()
        except Exception:  # changed under us (see _recheck), truncated, a link, or not safetensors
            return self._recheck(key, load)

    def _read(self, key: str, verify: bool = True) -> dict | None:
        """The result of ``key`` checked against its manifest; None when absent, an exception when it fails."""
        d = self._obj(key)
        if not _is_real_dir(self.root / "objects"):
            return None  # no objects folder, or one that is a link: nothing is read through it
        try:
            mode = os.lstat(d).st_mode
        except FileNotFoundError:
            return None
        if not stat.S_ISDIR(mode):
            raise StoreError("the entry is a symbolic link" if stat.S_ISLNK(mode) else "the entry is not a folder")
        try:
            manifest = json.loads(_read_nofollow(d / MANIFEST))
        except FileNotFoundError:
            if os.path.lexists(d / RESULT):
                raise StoreError("the entry has no MANIFEST.json (written by older code, or changed by hand)") from None
            return None  # an empty folder, or not an entry of this store: not served, not touched
        files = manifest.get("files") if isinstance(manifest, dict) else None
        if manifest.get("key") != key or not isinstance(files, dict) or RESULT not in files:
            raise StoreError("MANIFEST.json does not describe this entry")
        if any(not isinstance(n, str) or not _FILE_RE.fullmatch(n) for n in files):
            raise StoreError("MANIFEST.json names a file outside the entry")
        raw = _read_nofollow(d / RESULT)
        if hashlib.sha256(raw).hexdigest() != files[RESULT]:
            raise StoreError("result.json changed since it was written")
        result = json.loads(raw)
        if not isinstance(result, dict) or result.get("key", key) != key:
            raise StoreError("result.json belongs to another key")
        for name, digest in files.items():
            if name == RESULT:
                continue
            if verify:
                if _sha256(d / name) != digest:
                    raise StoreError(f"{name} changed since it was written")
            elif not stat.S_ISREG(os.lstat(d / name).st_mode):
                raise StoreError(f"{name} is not a regular file")
        result["key"] = key
        result["files"] = {n: h for n, h in files.items() if n != RESULT}
        return result

    def _recheck(self, key: str, attempt: Callable[[], T]) -> T | None:
        """Run a read that failed once more under the entry lock; quarantine only if it fails there too.

        The first failure may be a reader caught between add_tensors' replacements; with the lock held no
        writer is half-way, so what still fails is corrupt, unless a killed writer left its next manifest,
        which is rolled forward first.
        """
        if self.readonly or not KEY_RE.fullmatch(key):
            return None
        try:
            with self._entry_lock(key):
                for last in (False, True):
                    try:
                        return attempt()
                    except Exception as e:
                        if last or not self._roll_forward(key):
                            self._quarantine(key, str(e) or type(e).__name__)
                            return None
        except (OSError, StoreError, Timeout):
            pass  # cannot take the lock (no write access, a stuck writer): missing this time, not quarantined
        return None

    def _roll_forward(self, key: str) -> bool:
        """Install the next manifest a killed writer left, if every file it names has its hash. Entry lock held."""
        d = self._obj(key)
        try:
            if not _is_real_dir(d):
                return False
            manifest = json.loads(_read_nofollow(d / NEXT_MANIFEST))
            files = manifest.get("files", {})
            if manifest.get("key") != key or RESULT not in files or any(
                    not _FILE_RE.fullmatch(n) or _sha256(d / n) != h for n, h in files.items()):
                return False
            os.replace(d / NEXT_MANIFEST, d / MANIFEST)
        except (OSError, ValueError, AttributeError, StoreError):
            return False
        return True

    def list(self) -> list[dict]:
        """Every readable result in this store, newest first."""
        out = []
        for e in _scan(self.root / "objects") if _is_real_dir(self.root / "objects") else []:
            if KEY_RE.fullmatch(e.name):
                r = self.get(e.name, verify=False)
                if r is not None:
                    out.append(r)
        out.sort(key=lambda r: r.get("created", ""), reverse=True)
        return out

    # ---- writing -------------------------------------------------------------------------
    def put(self, key: str, result: dict, tensors: dict[str, dict[str, torch.Tensor]] | None = None,
            replace: bool = False) -> dict:
        """Atomically store ``result`` and named tensor groups (e.g. ``{"weights": state_dict}``).

        If a valid entry is stored under ``key`` already (another process stored it first), it is kept and
        returned, unless ``replace`` (a recomputation): then the new entry takes its place in one step.
        A full disk or a read-only folder is a :class:`StoreError` naming the folder, its free space and the fix.
        """
        with _writing(self.root, f"the result {key}"):
            return self._put(key, result, tensors, replace)

    def _put(self, key: str, result: dict, tensors: dict[str, dict[str, torch.Tensor]] | None,
             replace: bool) -> dict:
        self._ensure_writable()
        self._sweep()
        target = self._obj(key)
        staging = self._staging(key)
        try:
            files = {}
            for name, group in (tensors or {}).items():
                if not KEY_RE.fullmatch(name):
                    raise StoreError(f"{name!r} is not a tensor file name (letters, digits, _ and - only)")
                path = staging / f"{name}.safetensors"
                save_file({k: v.detach().cpu().contiguous() for k, v in group.items()}, str(path))
                files[path.name] = _sha256(path)
            record = {k: v for k, v in result.items() if k not in ("files", "cached")}
            record["key"] = key
            raw = json.dumps(record, indent=1, default=_json_default).encode()
            _write_new(staging / RESULT, raw)
            files[RESULT] = hashlib.sha256(raw).hexdigest()
            _write_new(staging / MANIFEST, json.dumps({"key": key, "files": files}, indent=1))  # written last
            out = {**record, "files": {n: h for n, h in files.items() if n != RESULT}}
            if os.path.lexists(target):
                try:
                    existing = self._read(key)
                except (OSError, ValueError, StoreError) as e:  # a broken leftover: moved aside, never deleted
                    existing = None
                    self._quarantine(key, f"found broken when a new entry was written: {e}")
                if existing is not None and not replace:
                    return existing
                if existing is not None and _rename_exchange(staging, target):
                    return out  # the old entry is now in the staging folder, removed below
                if existing is not None:  # no exchange on this system: the old entry steps aside first
                    os.rename(target, staging.with_name(staging.name + "_old"))
            try:
                os.rename(staging, target)
            except OSError:  # another writer renamed its (equal) entry into place first
                existing = self.get(key)
                if existing is None:
                    raise
                return existing
            return out
        finally:
            for leftover in (staging, staging.with_name(staging.name + "_old")):
                if os.path.lexists(leftover):
                    _remove_own(str(leftover))

    def add_tensors(self, key: str, name: str, tensors: dict[str, torch.Tensor]) -> None:
        """Add (or replace) a tensor file of an existing entry (see :meth:`_amend`)."""
        if not KEY_RE.fullmatch(name):
            raise StoreError(f"{name!r} is not a tensor file name (letters, digits, _ and - only)")
        self._ensure_writable()
        self._sweep()
        if self.get(key) is None:
            raise StoreError(f"no entry {key} to add {name} to")
        staging = self._staging(key)  # not in the entry's folder: a killed write leaves nothing there
        try:
            fname = f"{name}.safetensors"
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(staging / fname))
            self._amend(key, staging, {fname: staging / fname})
        finally:
            _remove_own(str(staging))

    def update_result(self, key: str, changes: dict) -> dict:
        """Set fields of an existing entry's ``result.json`` (its manifest follows; see :meth:`_amend`)."""
        self._ensure_writable()
        if self.get(key) is None:
            raise StoreError(f"no entry {key} to update")
        staging = self._staging(key)
        try:
            def new_result(current: dict) -> Path:
                record = {k: v for k, v in current.items() if k not in ("files", "cached")}
                record.update(changes)
                _write_new(staging / RESULT, json.dumps(record, indent=1, default=_json_default))
                return staging / RESULT

            self._amend(key, staging, {}, new_result)
        finally:
            _remove_own(str(staging))
        return self.get(key) or {}

    def _amend(self, key: str, staging: Path, staged: dict[str, Path],
               make_result: Callable[[dict], Path] | None = None) -> None:
        """Under the entry lock: the next manifest goes beside the entry, the staged files replace the old
        ones, then the manifest replaces ``MANIFEST.json``. Readers never quarantine the entry for the moment
        between (see :meth:`_recheck`); a writer killed there leaves the next manifest to roll forward."""
        d = self._obj(key)
        with self._entry_lock(key):
            try:  # the manifest as it is now: another writer may have added a file meanwhile
                current = self._read(key, verify=False)
            except (OSError, ValueError, StoreError):
                current = None
            if current is None or not _is_real_dir(d):
                raise StoreError(f"entry {key} vanished or broke while it was being changed")
            if make_result is not None:
                staged = {**staged, RESULT: make_result(current)}
            files = {**current["files"], RESULT: _sha256(d / RESULT)}
            files.update({n: _sha256(p) for n, p in staged.items()})
            _write_new(staging / MANIFEST, json.dumps({"key": key, "files": files}, indent=1))
            os.replace(staging / MANIFEST, d / NEXT_MANIFEST)
            for n, p in staged.items():
                os.replace(p, d / n)
            os.replace(d / NEXT_MANIFEST, d / MANIFEST)

    def quarantine(self, key: str, why: str) -> None:
        """Move a failing entry aside (a writable store; a read-only one is left as it is)."""
        self._quarantine(key, why)

    def _quarantine(self, key: str, why: str) -> None:
        if self.readonly or not KEY_RE.fullmatch(key):
            return
        src = self._obj(key)
        if not os.path.lexists(src):
            return
        name = f"{key}.{int(time.time())}.{uuid.uuid4().hex[:6]}"
        try:
            dst = self._own_dir("corrupt") / name
            os.rename(src, dst)  # moves the entry, or a link itself: never what a link points to
            _write_new(dst.with_name(name + ".why.txt"), why + "\n")
        except (OSError, StoreError):
            return  # another reader moved it already, or there is no safe place to move it to
        log.warning("store entry %s failed its check (%s): moved to %s; its job runs again when asked", key, why, dst)


def _scan(folder: Path) -> list[os.DirEntry]:
    if not _is_real_dir(folder):
        return []
    try:
        with os.scandir(folder) as it:
            return list(it)
    except OSError:
        return []


def _mtime(e: os.DirEntry) -> float:
    try:
        return e.stat(follow_symlinks=False).st_mtime
    except OSError:
        return time.time()


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

    def check_writable(self) -> None:
        self.writable.check_writable()

    def quarantine(self, key: str, why: str) -> None:
        self.writable.quarantine(key, why)

    def put(self, key: str, result: dict, tensors: dict | None = None, replace: bool = False) -> dict:
        return self.writable.put(key, result, tensors, replace=replace)

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


# ---- one store, named by its layers (memoised readers: the app's pages, kdcore.inference) ---------------------------
_stores: dict[tuple, LayeredStore] = {}


def store_id(store: LayeredStore | None = None) -> tuple:
    """A hashable id of ``store`` (its layer folders), remembered so cached functions can reach it."""
    store = store or open_store()
    sid = tuple(str(layer.root) for layer in store.layers)
    _stores[sid] = store
    return sid


def store_listing(store: LayeredStore) -> tuple:
    """A cheap fingerprint of the store's contents (entry names per layer): new results change it."""
    names = []
    for layer in store.layers:
        objects = Path(layer.root) / "objects"
        names.append(tuple(sorted(os.listdir(objects))) if objects.is_dir() else ())
    return tuple(names)


def store_from_id(sid: tuple) -> LayeredStore:
    """The store a :func:`store_id` came from (in this process)."""
    return _stores[sid]


def forget_store_ids() -> None:
    """Forget the stores :func:`store_id` remembered (tests; after a store folder was replaced)."""
    _stores.clear()


def write_manifests(root: str | Path) -> tuple[int, list[str]]:
    """Give every entry of the store at ``root`` that has none a ``MANIFEST.json`` (the shipped store's
    entries from before manifests: ``python -m kdcore store-manifest``). An entry is given one only if
    the file hashes its ``result.json`` recorded (the older format) still match; the others are listed,
    not changed. Returns (manifests written, entries refused)."""
    written, refused = 0, []
    for e in _scan(Path(root) / "objects"):
        d = Path(e.path)
        if not KEY_RE.fullmatch(e.name) or not _is_real_dir(d) or os.path.lexists(d / MANIFEST):
            continue
        try:
            raw = _read_nofollow(d / RESULT)
            result = json.loads(raw)
            files = dict(result.get("files", {}))
            if result.get("key") != e.name or any(not _FILE_RE.fullmatch(n) or _sha256(d / n) != h
                                                  for n, h in files.items()):
                raise StoreError("its files do not match the hashes result.json records")
            unlisted = sorted(p.name for p in d.glob("*.safetensors") if p.name not in files)
            if unlisted:
                raise StoreError(f"result.json records no hash for {', '.join(unlisted)}")
        except (OSError, ValueError, AttributeError, StoreError) as err:
            refused.append(f"{e.name}: {err}")
            continue
        files[RESULT] = hashlib.sha256(raw).hexdigest()
        tmp = temp_path(d / MANIFEST)
        _write_new(tmp, json.dumps({"key": e.name, "files": files}, indent=1))
        os.replace(tmp, d / MANIFEST)
        written += 1
    return written, refused


def _json_default(o: Any) -> Any:
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")
