"""Issue 26 in the app: the "Your own images" page turns a folder path or an uploaded zip of a folder of labelled
images into a data set; the Distill lab offers it and trains on it through its usual submit path, and the result
reaches Compare and What the student learned. Every bad folder (tests/test_folder_data.py's BAD), a file that is
not a zip, a corrupt zip, a zip-slip zip, a zip with a link, a zip bomb and a zip over the size cap are refused
on the page with the problem and the fix; nothing is written inside the user's folder, and a refused zip leaves
nothing in the app's cache."""

from __future__ import annotations

import io
import re
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest
from test_folder_data import BAD, bad_folder, write_digits

from kdcore.data import clear_cache, folder_upload
from kdcore.data import folder as folder_mod
from kdcore.data.folder import tree_snapshot
from kdcore.data.pairs import DATA_PAIRS, FOLDER_PREFIX
from kdcore.store import open_store
from kdcore.views.own_images import folder_datasets

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 120
FIX_WORDS = ("add", "remove", "rename", "resize", "replace", "copy", "use", "zip the", "make the zip", "upload",
             "give the folder")


@pytest.fixture
def own_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_app_caches: None) -> Path:
    """Tiny mode, an empty store of its own, no shipped results, a data folder of its own (the folder registry,
    the upload cache); in-process data caches cleared and folder pairs of earlier tests forgotten."""
    monkeypatch.setenv("KD_APP_TINY", "1")
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("KD_DATA_DIR", str(tmp_path / "kd-data"))
    monkeypatch.setattr("kdcore.store.SHIPPED_STORE", tmp_path / "no-shipped-results")
    for name in [n for n in dict.keys(DATA_PAIRS) if n.startswith(FOLDER_PREFIX)]:
        dict.pop(DATA_PAIRS, name)
    clear_cache()
    yield tmp_path
    clear_cache()


def page(name: str) -> AppTest:
    """The app (router first) on page ``name``, no exception."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page(f"app_pages/{name}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def unescaped(text: str) -> str:
    """A page's text as read (kdcore.views.text.plain backslash-escapes markdown characters)."""
    return re.sub(r"\\(.)", r"\1", text).replace("\u200b", "")


def said(at: AppTest, kind: str) -> list[str]:
    return [unescaped(str(e.value)) for e in getattr(at, kind)]


def zip_of(root: Path, top: str | None = None) -> bytes:
    """``root`` zipped as a visitor would (``zip -r``: folders as entries too), under ``top/`` when given."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(root.rglob("*")):
            rel = p.relative_to(root).as_posix()
            z.write(p, f"{top}/{rel}" if top else rel)
    return buf.getvalue()


def upload(at: AppTest, file_name: str, data: bytes) -> AppTest:
    at.file_uploader(key="oi_zip").set_value((file_name, data, "application/zip"))
    at.button(key="oi_use_zip").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def use_path(at: AppTest, path: Path) -> AppTest:
    at.text_input(key="oi_path").set_value(str(path))
    at.button(key="oi_use_path").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def nothing_registered(env: Path) -> None:
    assert folder_datasets() == []
    assert not any((env / "kd-data" / "folders").glob("*.json"))
    assert not any(n.startswith(FOLDER_PREFIX) for n in dict.keys(DATA_PAIRS))


def cache_empty(env: Path) -> None:
    """No unpacked copy, finished or half-made, left in the upload cache."""
    cache = env / "kd-data" / "cache" / "folder-uploads"
    assert not cache.exists() or not any(cache.iterdir()), sorted(p.name for p in cache.iterdir())


# ---- a good folder -----------------------------------------------------------------------------------------
def test_an_uploaded_zip_is_distilled_in_the_lab_and_shown_in_compare_and_what_the_student_learned(
        own_env: Path, tmp_path: Path) -> None:
    folder = write_digits(tmp_path / "mine" / "digits", limit=150)  # real handwritten digits, 10 classes
    before = tree_snapshot(folder)
    at = upload(page("own_images"), "digits.zip", zip_of(folder, top="digits"))
    assert not at.error, said(at, "error")
    text = " ".join(said(at, "success"))
    assert "digits" in text and "150 images in 10 classes" in text and "120 to train on and 30 to test on" in text
    [name] = folder_datasets()
    title = DATA_PAIRS[name].title
    assert title == "digits (your images, 150)"
    assert at.dataframe[0].value["data set"].tolist() == [title]
    root = Path(folder_mod.registered_record(name)["root"])
    assert root.is_relative_to(own_env / "kd-data" / "cache" / "folder-uploads") and root.name == "digits"

    at.switch_page("app_pages/distill_lab.py").run()  # the lab opens on it (the page asked it to)
    assert not at.exception, [e.value for e in at.exception]
    picker = at.selectbox(key="lab_dataset")
    assert title in picker.options and picker.value == name  # options: as shown
    at.text_input(key="lab_hidden").set_value("32")
    next(b for b in at.button if b.label == "Train").click().run()
    assert not at.exception and not at.error, said(at, "error")
    stored = [r for r in open_store().list() if r.get("dataset") == name and r["config"]["method"] == "hinton"]
    assert len(stored) == 1 and stored[0]["config"]["data_dir"] == str(root)
    assert {m.label: m.value for m in at.metric}["Test accuracy"] == f"{100 * stored[0]['metrics']['accuracy']:.2f}%"
    assert any("digits" in c and "150 images" in c for c in said(at, "caption"))  # "Data: image folder 'digits' …"

    at.switch_page("app_pages/compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert title in at.multiselect(key="cmp_datasets").options
    table = at.dataframe[0].value
    mine = table[table["data"] == title]
    assert {"teacher", "scratch student", "KD student"} <= set(mine["role"])
    kd = mine[mine["role"] == "KD student"]["accuracy %"].iloc[0]
    assert kd.startswith(f"{100 * stored[0]['metrics']['accuracy']:.2f}")

    at.switch_page("app_pages/student_learned.py").run()
    assert not at.exception and not at.error, said(at, "error")
    assert title in at.selectbox(key="sl_dataset").options
    at.selectbox(key="sl_dataset").set_value(name).run()
    assert not at.exception
    assert any("30 test images" in c and title in c for c in said(at, "caption"))
    assert sum(int(m.value.replace(",", "")) for m in at.metric) == 30  # the four outcomes cover the test set

    at.switch_page("app_pages/compress.py").run()  # its models can be compressed too
    assert not at.exception and not at.error, said(at, "error")
    assert title in at.selectbox(key="cps_start_dataset").options
    at.selectbox(key="cps_start_dataset").set_value(name).run()
    assert any(o.startswith(stored[0]["name"]) for o in at.selectbox(key="cps_start").options)
    assert tree_snapshot(folder) == before


def test_a_typed_folder_becomes_a_lab_data_set_and_nothing_is_written_in_it(own_env: Path, tmp_path: Path) -> None:
    folder = write_digits(tmp_path / "my images", limit=60)
    before = tree_snapshot(folder)
    at = use_path(page("own_images"), folder)
    assert not at.error, said(at, "error")
    assert "my images: 60 images in 10 classes" in " ".join(said(at, "success"))
    [name] = folder_datasets()
    assert folder_mod.registered_record(name)["root"] == str(folder.resolve())
    at.switch_page("app_pages/distill_lab.py").run()
    assert at.selectbox(key="lab_dataset").value == name
    assert {"MNIST", "Fashion-MNIST", "my images (your images, 60)"} <= set(at.selectbox(key="lab_dataset").options)
    assert tree_snapshot(folder) == before
    assert not (own_env / "kd-data" / "cache" / "folder-uploads").exists()  # a typed folder is read where it is


def test_dkd_on_a_two_class_folder_is_explained_under_the_lab_picker(own_env: Path, tmp_path: Path) -> None:
    """A method that means something else on two classes is explained, not silently run (DKD: NCKD is zero)."""
    from kdcore.methods import get_method

    folder = tmp_path / "two"
    for cls, value in (("dark", 20), ("light", 220)):
        (folder / cls).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((8, 8), value + i, np.uint8), "L").save(folder / cls / f"{i}.png")
    at = use_path(page("own_images"), folder)
    assert not at.error, said(at, "error")
    at.switch_page("app_pages/distill_lab.py").run()
    at.selectbox(key="lab_method").set_value("dkd").run()
    assert get_method("dkd").two_class_note in [c.value for c in at.caption]
    at.selectbox(key="lab_method").set_value("hinton").run()
    assert get_method("dkd").two_class_note not in [c.value for c in at.caption]


# ---- bad input, through the page ------------------------------------------------------------------------------
def _refused(at: AppTest, needle: str) -> str:
    errors = said(at, "error")
    assert len(errors) == 1 and re.search(needle, errors[0]), errors
    assert any(w in errors[0] for w in FIX_WORDS), errors[0]  # the fix, not only the problem
    assert not at.success
    return errors[0]


@pytest.mark.parametrize("case", list(BAD))
def test_each_bad_folder_is_refused_on_the_page(case: str, own_env: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    root, needle, before = bad_folder(case, tmp_path, monkeypatch)
    at = use_path(page("own_images"), root)
    _refused(at, needle)
    assert tree_snapshot(root) == before  # nothing written inside the user's folder
    nothing_registered(own_env)
    at.switch_page("app_pages/distill_lab.py").run()
    assert not any("your images" in o for o in at.selectbox(key="lab_dataset").options)


# The BAD folders a zip can carry (a zip has no links to follow, and names in a zip are decoded, never raw bytes):
ZIPPABLE = [c for c in BAD if c not in ("not UTF-8", "link leaving the folder")]


@pytest.mark.parametrize("case", ZIPPABLE)
def test_each_bad_folder_in_a_zip_is_refused_and_leaves_nothing_in_the_cache(
        case: str, own_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make, needle = BAD[case]
    root = tmp_path / "imgs"
    root.mkdir()
    make(root)
    monkeypatch.setattr(folder_mod, "MAX_IMAGES", 5 if case == "too many images" else folder_mod.MAX_IMAGES)
    at = upload(page("own_images"), "imgs.zip", zip_of(root, top="imgs"))
    _refused(at, needle)
    nothing_registered(own_env)
    cache_empty(own_env)


def _not_a_zip() -> bytes:
    return b"these are not the bytes of a zip file\n" * 10


def _corrupt_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for cls in ("a", "b"):
            for i in range(3):
                z.writestr(f"{cls}/{i}.png", bytes(range(256)) * 40)
    data = bytearray(buf.getvalue())
    start = data.index(b"PK\x03\x04", 10)  # the second entry's header: its compressed bytes are garbled
    data[start + 40: start + 140] = b"\xff" * 100
    return bytes(data)


def _zip_slip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("imgs/a/0.png", b"x")
        z.writestr("../../escaped.png", b"pwned")
    return buf.getvalue()


def _zip_link() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("imgs/a/0.png", b"x")
        info = zipfile.ZipInfo("imgs/a/link.png")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, "/etc/passwd")
    return buf.getvalue()


def _zip_bomb() -> bytes:  # 2 MB of zeros in ~2 kB: over the (lowered) 1 MB per-file limit
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("imgs/a/0.png", b"\0" * (2 * 1024**2))
    return buf.getvalue()


def _too_large() -> bytes:  # over the (lowered) 1 MB cap on an upload
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("imgs/a/0.png", bytes(range(256)) * (5 * 1024))
    return buf.getvalue()


ZIP_CASES = {
    "not a zip": (_not_a_zip, r"is not a readable zip"),
    "corrupt zip": (_corrupt_zip, r"is corrupt|is not a readable zip"),
    "zip-slip": (_zip_slip, r"zip-slip"),
    "zip with a link": (_zip_link, r"symbolic link"),
    "zip bomb": (_zip_bomb, r"would decompress to 2 MB \(limit 1 MB per file\)"),
    "over the size cap": (_too_large, r"is 1\.\d MB; the limit for an uploaded zip is 1 MB"),
}


@pytest.mark.parametrize("case", list(ZIP_CASES))
def test_each_bad_zip_is_refused_on_the_page_and_leaves_nothing(case: str, own_env: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    make, needle = ZIP_CASES[case]
    monkeypatch.setattr(folder_upload, "MAX_ENTRY_BYTES", 1024**2)
    monkeypatch.setattr(folder_upload, "MAX_UPLOAD_BYTES", 1024**2)
    at = upload(page("own_images"), "imgs.zip", make())
    message = _refused(at, needle)
    assert "imgs.zip" in message  # the upload is named
    nothing_registered(own_env)
    cache_empty(own_env)
    assert not (tmp_path / "escaped.png").exists() and not (own_env / "kd-data" / "escaped.png").exists()
    assert not any(p.name == "escaped.png" for p in tmp_path.rglob("*"))


def test_the_uploaders_cap_is_the_engines_and_is_named_on_the_page(own_env: Path) -> None:
    at = page("own_images")
    widget = at.file_uploader(key="oi_zip")
    assert widget.proto.max_upload_size_mb == folder_upload.MAX_UPLOAD_MB  # the browser refuses a larger file
    assert f"at most {folder_upload.MAX_UPLOAD_MB} MB" in widget.label
    assert folder_upload.MAX_UPLOAD_BYTES == folder_upload.MAX_UPLOAD_MB * 1024**2
    import tomllib

    config = tomllib.loads((Path(APP).parent / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] >= folder_upload.MAX_UPLOAD_MB  # the server lets such a zip through
    at.button(key="oi_use_zip").click().run()  # no zip chosen yet
    assert any("no zip chosen" in e for e in said(at, "error"))


def test_a_folders_and_its_classes_names_are_shown_as_text_never_as_markdown(own_env: Path, tmp_path: Path) -> None:
    from kdcore.views.text import plain

    hostile = "[x](javascript:alert(1)) # **big**"
    root = tmp_path / hostile
    for cls in ("![p](http:evil.example)", "`b`"):
        (root / cls).mkdir(parents=True)
        write_digits(tmp_path / "src", limit=20)
        for i, p in enumerate(sorted((tmp_path / "src" / "3").iterdir())[:3]):
            (root / cls / f"{i}.png").write_bytes(p.read_bytes())
    at = use_path(page("own_images"), root)
    assert not at.error, said(at, "error")
    raw = at.success[0].value  # the markdown the page sent
    assert plain(hostile) in raw and "[x](javascript" not in raw and "![p](" not in raw and "**big**" not in raw
    assert hostile in unescaped(raw) and "![p](http:evil.example)" in unescaped(raw)  # read as typed
