"""Unpacking a zip someone else made, safely: the one home of the zip guards.

Every entry is checked before anything is written (:func:`check_entries`): no symbolic links, no absolute or
``..`` names (zip-slip), nothing that resolves outside the target, no entry over its size limit, not too many
entries, not too many bytes in all; while copying, an entry that decompresses to more than its header declares
stops the unpack (a lying header: a zip bomb). The zip is unpacked only into a folder of the app's own cache
(:func:`unpack_atomic`: built beside, renamed into place, marked complete last), never into the folder the zip
lies in, which may be a visitor's or read-only.

Who unpacks gives its own limits and words (:class:`ZipRules`): MHIST's distributed zips
(:mod:`kdcore.data.mhist`) and a visitor's zip of an image folder (:mod:`kdcore.data.folder_upload`).
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

COMPLETE = ".complete"  # written last in a cache folder: its unpacking finished


@dataclass(frozen=True)
class ZipRules:
    """The limits a zip is held to and the words its refusals end with."""

    max_entries: int
    max_entry_bytes: int
    max_total_bytes: int
    error: type[Exception]  # raised with the message
    fix: str  # what to do instead of unpacking a refused zip ("use the zip from the MHIST site")
    reread: str  # what to do about a zip that cannot be read ("download it again from the MHIST site")
    entry_hint: str = ""  # what a usual entry weighs, said beside the per-file limit ("MHIST images are about 0.1 MB")


ZipSource = Path | bytes  # a zip file, or an upload's bytes (never written anywhere as a zip)


def _fail(rules: ZipRules, message: str, cause: BaseException | None = None) -> Exception:
    err = rules.error(message)
    err.__cause__ = cause
    return err


def open_zip(source: ZipSource, name: str, rules: ZipRules) -> zipfile.ZipFile:
    """``source`` opened as a zip; :attr:`ZipRules.error` naming ``name`` when it is not one."""
    try:
        return zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes | bytearray) else source)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise _fail(rules, f"{name} is not a readable zip ({e}); {rules.reread}", e) from e


def check_entries(zf: zipfile.ZipFile, target: Path, name: str, rules: ZipRules) -> list[zipfile.ZipInfo]:
    """Refuse the whole zip (before writing anything) if any entry could escape ``target`` or is too large."""
    infos = zf.infolist()
    if len(infos) > rules.max_entries:
        raise rules.error(f"{name} has {len(infos):,} entries (limit {rules.max_entries:,}); {rules.fix}")
    root = target.resolve()
    total = 0
    for info in infos:
        entry = info.filename.replace("\\", "/")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise rules.error(f"refusing to unpack {name}: entry {info.filename!r} is a symbolic link, which could "
                              f"point outside the data folder; {rules.fix}")
        if entry.startswith("/") or (len(entry) > 1 and entry[1] == ":") or ".." in PurePosixPath(entry).parts:
            raise rules.error(f"refusing to unpack {name}: entry {info.filename!r} would be written outside the data "
                              f"folder {target} (zip-slip); {rules.fix}")
        dest = (root / entry).resolve()
        if dest != root and not dest.is_relative_to(root):
            raise rules.error(f"refusing to unpack {name}: entry {info.filename!r} resolves outside the data folder "
                              f"{target}; {rules.fix}")
        if info.file_size > rules.max_entry_bytes:
            hint = f"{rules.entry_hint} — " if rules.entry_hint else ""
            raise rules.error(f"refusing to unpack {name}: entry {info.filename!r} would decompress to "
                              f"{info.file_size / 1e6:,.0f} MB (limit {rules.max_entry_bytes / 1e6:,.0f} MB per file); "
                              f"{hint}{rules.fix}")
        total += info.file_size
    if total > rules.max_total_bytes:
        raise rules.error(f"refusing to unpack {name}: it would decompress to {total / 1e9:,.2f} GB (limit "
                          f"{rules.max_total_bytes / 1e9:,.2f} GB); {rules.fix}")
    return infos


def inspect(source: ZipSource, name: str, target: Path, rules: ZipRules) -> list[zipfile.ZipInfo]:
    """Every refusal :func:`extract` would make, made now, writing nothing; the zip's entries."""
    with open_zip(source, name, rules) as zf:
        return check_entries(zf, target, name, rules)


def _merge_dirs(src: Path, dst: Path) -> None:
    for child in src.iterdir():
        final = dst / child.name
        if final.exists():
            if final.is_dir() and child.is_dir():
                _merge_dirs(child, final)
            continue
        child.rename(final)


def extract(source: ZipSource, name: str, target: Path, rules: ZipRules) -> None:
    """Unpack ``source`` into ``target`` (a folder of the app's cache, never the user's): checked first, written
    to a temp folder inside ``target``, then moved into place, so a refused or broken zip leaves nothing."""
    with open_zip(source, name, rules) as zf:
        infos = check_entries(zf, target, name, rules)
        tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target))
        try:
            for info in infos:
                dest = tmp / info.filename.replace("\\", "/")
                if info.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                written = 0  # counted while copying: the size the header declares could lie
                with zf.open(info) as src, open(dest, "wb") as out:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > max(info.file_size, 0) or written > rules.max_entry_bytes:
                            raise rules.error(f"refusing to unpack {name}: entry {info.filename!r} decompresses to "
                                              f"more than its header declares (zip bomb?); {rules.fix}")
                        out.write(chunk)
            _merge_dirs(tmp, target)  # into place: what is already there (an earlier unpack of it) is kept
        except (zipfile.BadZipFile, EOFError, zlib.error) as e:
            raise _fail(rules, f"{name} is corrupt ({e}); {rules.reread}", e) from e
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` is a finished unpack (its :data:`COMPLETE` mark is there)."""
    return (folder / COMPLETE).is_file()


def unpack_atomic(source: ZipSource, name: str, final: Path, rules: ZipRules, nested: bool = False,
                  into: str | None = None) -> Path:
    """Unpack ``source`` into the cache folder ``final``, atomically: every refusal first (nothing written), then
    built in a temp folder beside ``final``, renamed into place, marked complete last. ``nested``: zips found at
    the top (or one folder down) are unpacked in place too (MHIST's images.zip inside a zip of everything).
    ``into``: the entries go under ``final/into`` (a name the caller made safe). An already finished ``final`` is
    returned as it is."""
    if is_complete(final):
        return final
    inspect(source, name, final, rules)  # every refusal before anything, even the cache folder, is made
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    except OSError as e:
        raise _fail(rules, f"cannot unpack {name}: the app's cache {final.parent} is not writable ({e}); set "
                           "KD_DATA_DIR to a writable folder", e) from e
    try:
        dest = work / into if into else work
        dest.mkdir(parents=True, exist_ok=True)
        extract(source, name, dest, rules)
        if nested:
            for inner in sorted([*dest.glob("*.zip"), *dest.glob("*/*.zip")]):
                extract(inner, f"{name}: {inner.relative_to(dest)}", inner.parent, rules)
                inner.unlink()
        (work / COMPLETE).write_text(name, encoding="utf-8")
        if final.exists() and not is_complete(final):  # a killed unpack's leftover: replaced
            shutil.rmtree(final, ignore_errors=True)
        os.replace(work, final)
    except OSError as e:
        if is_complete(final):  # another process (a second click) finished the same zip first
            return final
        raise _fail(rules, f"cannot unpack {name} into the app's cache {final.parent} ({e}); free space or set "
                           "KD_DATA_DIR to a writable folder with room", e) from e
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


__all__ = ["COMPLETE", "ZipRules", "ZipSource", "check_entries", "extract", "inspect", "is_complete", "open_zip",
           "unpack_atomic"]
