"""Issue 12: a corpus of broken MHIST folders, each run through the CLI and the MHIST page's check.

Both must refuse it with the same message (the CLI prints it after ``error:``), naming the path; the page
never says "found" for a folder a job would refuse, except where it says what it has not checked yet (the
pixel data of each image: a truncated PNG). Folders are made from a 12-image synthetic set (8 train / 4 test).
"""

from __future__ import annotations

import csv
import os
import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from mhist_support import zip_release
from PIL import Image

from kdcore.cli import main as cli_main
from kdcore.data import clear_cache
from kdcore.data import mhist as mhist_module
from kdcore.data.mhist import COLUMNS, STANDIN_MARKER, UNCHECKED, check_mhist_folder, mhist_label
from kdcore.data.synthetic_mhist import make_synthetic_mhist
from kdcore.views.mhist_view import mhist_status
from kdcore.views.text import plain


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = make_synthetic_mhist(tmp_path_factory.mktemp("tpl") / "set", n_train=8, n_test=4, seed=3)
    (d / STANDIN_MARKER).unlink()
    return d


def rows(d: Path) -> list[dict]:
    with open(d / "annotations.csv", newline="") as f:
        return list(csv.DictReader(f))


def write(d: Path, table: list[dict], header: tuple[str, ...] = COLUMNS) -> None:
    with open(d / "annotations.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(header), extrasaction="ignore")
        w.writeheader()
        w.writerows(table)


def edit_row(column: str, value: str, index: int = 0) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        table = rows(d)
        table[index][column] = value
        write(d, table)
        return d
    return make


def first_image(d: Path) -> Path:
    return d / "images" / rows(d)[0]["Image Name"]


def png_header_only(w: int, h: int) -> bytes:
    def chunk(t: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _plain_file(d: Path) -> Path:
    f = d.parent / "mhist.txt"
    f.write_text("not a folder")
    shutil.rmtree(d)
    return f


def _empty(d: Path) -> Path:
    shutil.rmtree(d)
    d.mkdir()
    return d


def _no_csv(d: Path) -> Path:
    (d / "annotations.csv").unlink()
    return d


def _csv_is_a_folder(d: Path) -> Path:
    (d / "annotations.csv").unlink()
    (d / "annotations.csv").mkdir()
    return d


def _missing_columns(d: Path) -> Path:
    write(d, rows(d), header=COLUMNS[:2])
    return d


def _header_only(d: Path) -> Path:
    write(d, [])
    return d


def _binary_csv(d: Path) -> Path:
    (d / "annotations.csv").write_bytes(b"\xff\xfe\x00\x81" * 50)
    return d


def _duplicate(d: Path) -> Path:
    table = rows(d)
    write(d, [*table, table[0]])
    return d


def _no_test_rows(d: Path) -> Path:
    write(d, [r for r in rows(d) if r["Partition"] == "train"])
    return d


def _one_image_missing(d: Path) -> Path:
    first_image(d).unlink()
    return d


def _no_images(d: Path) -> Path:
    shutil.rmtree(d / "images")
    (d / "images").mkdir()
    return d


def _images_is_a_file(d: Path) -> Path:
    shutil.rmtree(d / "images")
    (d / "images").write_text("x")
    return d


def _wrong_size(d: Path) -> Path:
    Image.new("RGB", (100, 80), "pink").save(first_image(d))
    return d


def _sixteen_bit(d: Path) -> Path:  # grayscale, RGBA and palette images are converted (issue 23); this is not
    Image.new("I;16", (224, 224), 128).save(first_image(d))
    return d


def _not_a_png(d: Path) -> Path:
    first_image(d).write_bytes(b"GIF? no: just text")
    return d


def _bomb(d: Path) -> Path:
    first_image(d).write_bytes(png_header_only(60000, 60000))
    return d


def _zip_slip(d: Path) -> Path:
    shutil.rmtree(d / "images")
    with zipfile.ZipFile(d / "images.zip", "w") as z:
        z.writestr("../escaped.png", b"x")
    return d


def _zip_symlink(d: Path) -> Path:
    shutil.rmtree(d / "images")
    info = zipfile.ZipInfo("images/link.png")
    info.external_attr = (0o120777 << 16)
    with zipfile.ZipFile(d / "images.zip", "w") as z:
        z.writestr(info, "/etc/passwd")
    return d


def _not_a_zip(d: Path) -> Path:
    shutil.rmtree(d / "images")
    (d / "images.zip").write_bytes(b"PK but not really a zip")
    return d


def _image_dir_only(d: Path) -> Path:
    (d / "annotations.csv").unlink()
    return d / "images"


def _bad_vote_range(d: Path) -> Path:
    return edit_row("Number of Annotators who Selected SSA (Out of 7)", "9")(d)


# (case, how to break a copy of the template, words the message must contain; "{path}" is the path given)
CORPUS: list[tuple[str, Callable[[Path], Path], str]] = [
    ("missing folder", lambda d: d.parent / "nope", "does not exist"),
    ("plain file", _plain_file, "is a file, not a folder"),
    ("empty folder", _empty, "is not an MHIST folder: it has no annotations.csv"),
    ("no csv", _no_csv, "annotations.csv is missing in"),
    ("csv is a folder", _csv_is_a_folder, "annotations.csv is missing in"),
    ("images folder given", _image_dir_only, "annotations.csv"),
    ("missing columns", _missing_columns, "lacks column(s)"),
    ("header only", _header_only, "has a header but no rows"),
    ("binary csv", _binary_csv, "annotations.csv"),
    ("bad label", edit_row("Majority Vote Label", "MAYBE"), "unknown label(s)"),
    ("bad partition", edit_row("Partition", "validation"), "unknown partition(s)"),
    ("votes out of range", _bad_vote_range, "bad annotator count(s)"),
    ("votes not a number", edit_row("Number of Annotators who Selected SSA (Out of 7)", "many"), "bad annotator"),
    ("name with a folder", edit_row("Image Name", "../secret.png"), "bad file name(s)"),
    ("empty name", edit_row("Image Name", ""), "bad file name(s)"),
    ("duplicate row", _duplicate, "listed more than once"),
    ("no test rows", _no_test_rows, "the 'test' partition is empty"),
    ("one image missing", _one_image_missing, "image file(s) listed in annotations.csv are missing"),
    ("no images", _no_images, "none of the 12 images"),
    ("images is a file", _images_is_a_file, "none of the 12 images"),
    ("wrong size", _wrong_size, "are not 224×224"),
    ("16-bit", _sixteen_bit, "no faithful 8-bit RGB conversion"),
    ("not a png", _not_a_png, "corrupt or not PNG"),
    ("decompression bomb", _bomb, "decompression bomb"),
    ("zip slip", _zip_slip, "zip-slip"),
    ("zip with a link", _zip_symlink, "symbolic link"),
    ("not a zip", _not_a_zip, "is not a readable zip"),
]


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.delenv("KD_MHIST_DIR", raising=False)
    mhist_module._checks.clear()
    clear_cache()
    yield
    clear_cache()


@pytest.mark.parametrize(("case", "breaker", "needle"), CORPUS, ids=[c[0] for c in CORPUS])
def test_each_broken_folder_is_refused_alike_by_the_cli_and_the_page(
        case: str, breaker: Callable[[Path], Path], needle: str, template: Path, tmp_path: Path, isolated: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "mhist"
    shutil.copytree(template, d)
    path = breaker(d)
    code = cli_main(["train-teacher", "--dataset", "mhist", "--mhist-dir", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err, err
    cli_message = err.removeprefix("error: ").strip()
    assert needle in cli_message and (str(path) in cli_message or str(path.resolve()) in cli_message), cli_message
    check = check_mhist_folder(path)
    assert not check.ok and " ".join(check.message.split()) == cli_message
    status = mhist_status(str(path))
    assert not status.found and status.message == check.message and status.data_dir is None
    assert not (tmp_path / "escaped.png").exists()


def test_what_the_page_cannot_check_it_says_and_the_cli_refuses(template: Path, tmp_path: Path, isolated: None,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "mhist"
    shutil.copytree(template, d)
    img = first_image(d)
    img.write_bytes(img.read_bytes()[:400])  # a valid header, truncated pixel data
    status = mhist_status(str(d))
    assert status.found and UNCHECKED in status.message and "MHIST-format folder (12 images)" in status.message
    assert cli_main(["train-teacher", "--dataset", "mhist", "--mhist-dir", str(d)]) == 2
    err = capsys.readouterr().err
    assert "corrupt or not PNG" in err and img.name in err and "Traceback" not in err


def test_a_good_folder_is_found_under_its_honest_name(template: Path, tmp_path: Path, isolated: None) -> None:
    d = tmp_path / "mhist"
    shutil.copytree(template, d)
    status = mhist_status(str(d))
    assert status.found and status.data_dir == str(d.resolve())
    assert status.message.startswith("MHIST-format folder (12 images) found: ") and "MHIST (Wei" not in status.message


def test_only_the_released_split_is_called_mhist() -> None:
    def table(train: int, test: int, ssa: int) -> list:
        out = [mhist_module._Row(f"{i}.png", int(i < ssa), 7 * int(i < ssa), "train" if i < train else "test")
               for i in range(train + test)]
        return out

    assert mhist_label(table(2175, 977, 990)) == "MHIST (Wei et al. 2021)"
    assert mhist_label(table(2175, 976, 990)) == "MHIST-format folder (3,151 images)"
    assert mhist_label(table(20, 10, 5)) == "MHIST-format folder (30 images)"


def test_the_env_folder_is_checked_and_named_too(tmp_path: Path, isolated: None, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("KD_MHIST_DIR", str(empty))
    assert cli_main(["train-teacher", "--dataset", "mhist"]) == 2
    err = capsys.readouterr().err
    assert str(empty) in err and "is not an MHIST folder" in err
    assert not mhist_status(None).found and str(empty) in mhist_status(None).message
    assert os.environ["KD_MHIST_DIR"] == str(empty)


# ---- issue 23: zips are unpacked into our own cache, only on the page's button -----------------------------
def _tree(d: Path) -> dict[str, int]:
    return {str(p.relative_to(d)): p.stat().st_size for p in sorted(d.rglob("*"))}


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KD_DATA_DIR", str(tmp_path / "kd-data"))
    return tmp_path / "kd-data" / "cache" / "mhist-unpacked"


def test_a_page_view_never_unpacks_an_unrelated_zip(tmp_path: Path, isolated: None, own_cache: Path) -> None:
    d = tmp_path / "visitor"
    d.mkdir()
    with zipfile.ZipFile(d / "holiday_photos.zip", "w") as z:
        z.writestr("holiday/readme.txt", "sun")
        z.writestr("annotations.csv", "not, ours\n")
    before = _tree(d)
    status = mhist_status(str(d))
    assert not status.found and status.pending and "holiday_photos.zip" in status.pending[0]
    assert _tree(d) == before and not own_cache.exists()  # looked at, nothing written anywhere


def test_a_read_only_zipped_folder_is_unpacked_into_our_cache_on_the_button(
        template: Path, tmp_path: Path, isolated: None, own_cache: Path, monkeypatch: pytest.MonkeyPatch,
        fresh_app_caches: None) -> None:
    import apphelpers

    d = zip_release(template, tmp_path / "mhist-ro")
    zipped = (d / "images.zip").stat().st_size
    for p in (d / "annotations.csv", d / "images.zip", d):
        p.chmod(0o555 if p.is_dir() else 0o444)  # read-only (root writes through it: the tree check is the test)
    before = _tree(d)
    monkeypatch.setattr("kdcore.store.SHIPPED_STORE", tmp_path / "no-shipped-results")
    try:
        at = apphelpers.open_page("app_pages/mhist.py", 180)
        at.text_input(key="mh_folder").set_value(str(d)).run()
        assert not at.exception and not at.error, [e.value for e in at.error]  # no "could not read the result store"
        shown = " ".join(t.value for t in at.text)
        assert f"images.zip: {zipped / 1e6:,.1f} MB, unpacks to" in shown and "(12 entries)" in shown
        assert str(own_cache) in shown and not own_cache.exists() and _tree(d) == before  # sizes first, no writes
        at.button(key="mh_unpack").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        found = plain("MHIST-format folder (12 images) found")  # shown escaped: the folder path is user text
        assert any(found in s.value for s in at.success), [s.value for s in at.success]
        assert _tree(d) == before  # the visitor's folder is never written
        cached = [p for p in own_cache.iterdir() if not p.name.startswith(".")]
        assert len(cached) == 1 and len(list((cached[0] / "images").iterdir())) == 12
        status = mhist_status(str(d))
        assert status.found and status.data_dir == str(d.resolve()) and not status.pending
    finally:
        d.chmod(0o755)
