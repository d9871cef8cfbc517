"""Folder data sets (kdcore.data.folder): real images no one here made (scikit-learn's 1,797 handwritten digits,
written out as an ImageFolder), distilled through the CLI; the folder's content in every key; each bad input
refused with a message naming the problem and the fix, through the engine and the CLI, nothing written inside
the user's folder."""

from __future__ import annotations

import os
import re
import shutil
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kdcore.cli import main as cli_main
from kdcore.data import clear_cache, load_dataset
from kdcore.data import folder as folder_mod
from kdcore.data.folder import FolderError, register_folder, tree_snapshot
from kdcore.data.pairs import DATA_PAIRS, data_pair


def write_digits(root: Path, limit: int | None = None) -> Path:
    """scikit-learn's load_digits (8×8, values 0..16) as root/<digit>/<index>.png (grey, scaled to 0..255)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    n = len(d.target) if limit is None else limit
    for i, (img, y) in enumerate(zip(d.images[:n], d.target[:n], strict=True)):
        p = root / str(y) / f"{i:04d}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((img * 255 / 16).astype(np.uint8), "L").save(p)
    return root


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_digits(tmp_path_factory.mktemp("digits") / "digits")


@pytest.fixture
def folder_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("KD_OFFLINE", "1")
    monkeypatch.setenv("KD_DEVICE", "cpu")
    clear_cache()
    yield tmp_path
    clear_cache()


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli_main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


TINY = ["--epochs", "1", "--teacher-epochs", "1", "--train-limit", "200", "--test-limit", "100"]


def test_digits_folder_distils_through_the_cli_and_an_edited_image_gets_new_keys(
        digits_dir: Path, folder_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = tree_snapshot(digits_dir)
    code, out, err = run_cli(["distill", "--data-dir", str(digits_dir), "--method", "hinton", *TINY], capsys)
    assert code == 0, err
    pair = register_folder(digits_dir)
    assert pair.name.startswith("folder-digits-") and pair.classes == tuple(str(i) for i in range(10))
    assert pair.family == "mnist" and pair.input_shape == (1, 28, 28)  # 8×8 grey → the course pair
    assert "1,797 images" in out
    code, dry, err = run_cli(["distill", "--data-dir", str(digits_dir), "--method", "hinton", "--dry-run", *TINY],
                             capsys)
    assert code == 0, err
    student_key, teacher_key = dry.split("\t")[1], dry.split("teacher=")[1].strip()
    from kdcore.store import open_store

    store = open_store()
    student, teacher = store.get(student_key), store.get(teacher_key)
    assert student is not None and teacher is not None
    assert student["dataset"] == pair.name and teacher["dataset"] == pair.name
    assert tree_snapshot(digits_dir) == before  # nothing written inside the user's folder

    edited = shutil.copytree(digits_dir, tmp_path / "digits")
    one = edited / "3" / "0003.png"
    arr = np.asarray(Image.open(one)).copy()
    arr[0, 0] = 255 - arr[0, 0]
    Image.fromarray(arr, "L").save(one)
    code, dry2, err = run_cli(["distill", "--data-dir", str(edited), "--method", "hinton", "--dry-run", *TINY], capsys)
    assert code == 0, err
    assert dry2.split("\t")[1] != student_key and dry2.split("teacher=")[1].strip() != teacher_key
    assert register_folder(edited).name != pair.name


def test_a_worker_process_finds_the_pair_from_its_description(digits_dir: Path, folder_env: Path) -> None:
    pair = register_folder(digits_dir)
    dict.pop(DATA_PAIRS, pair.name)  # as a fresh process: only the JSON under KD_DATA_DIR/folders
    assert data_pair(pair.name) == pair
    assert not any((digits_dir / n).exists() for n in ("folders", ".kd"))
    data = load_dataset(pair.name, "auto", str(digits_dir))
    assert data.source_id.startswith("folder-") and data.extra["images"] == 1_797
    assert len(data.x_train) + len(data.x_test) == 1_797 and tuple(data.x_train.shape[1:]) == (1, 28, 28)
    # the stratified split: every class on both sides
    assert set(data.y_test.tolist()) == set(range(10))


def test_two_class_colour_folder_gets_the_transfer_pair_and_the_rarer_positive(folder_env: Path,
                                                                               tmp_path: Path) -> None:
    root = tmp_path / "parts"
    rng = np.random.default_rng(0)
    for cls, n in (("good", 6), ("scratch", 3)):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8), "RGB").save(root / cls / f"{i}.jpg")
    pair = register_folder(root)
    assert pair.transfer and pair.input_shape == (3, 224, 224) and pair.positive_class == "scratch"
    assert register_folder(root, positive="good").positive_class == "good"
    data = load_dataset(pair.name, "auto", str(root))
    assert tuple(data.x_train[0:2][0].shape) == (3, 224, 224)  # resized when decoded
    # the lab's MLP / CNN fields do nothing to the transfer pair's student: one job, one key, whatever they say
    from kdcore.course import lab_job

    job = lab_job(pair.name, "hinton", "64")
    assert job.arch == "mobilenet_v2" and job == lab_job(pair.name, "hinton", student="student_cnn", width=16)


# ---- bad input ---------------------------------------------------------------------------------------------
def _png_header(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
            + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND")))


def _two_classes(root: Path, n: int = 3) -> Path:
    return write_digits(root, limit=None) if n is None else _small(root, n)


def _small(root: Path, n: int) -> Path:
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(np.full((8, 8), 40 * i, np.uint8), "L").save(root / cls / f"{i}.png")
    return root


def _empty_class(root: Path) -> None:
    _small(root, 3)
    (root / "c").mkdir()


def _one_class(root: Path) -> None:
    _small(root, 3)
    shutil.rmtree(root / "b")


def _truncated(root: Path) -> None:
    _small(root, 3)
    data = (root / "a" / "1.png").read_bytes()
    (root / "a" / "1.png").write_bytes(data[: len(data) // 2])


def _single_image_class(root: Path) -> None:
    _small(root, 3)
    for p in sorted((root / "b").iterdir())[1:]:
        p.unlink()


def _huge(root: Path) -> None:
    _small(root, 3)
    (root / "a" / "huge.png").write_bytes(_png_header(20_000, 20_000))


def _not_utf8(root: Path) -> None:
    _small(root, 3)
    shutil.copy(root / "a" / "0.png", os.fsdecode(bytes(root / "a") + b"/caf\xe9.png"))


def _link_out(root: Path) -> None:
    _small(root, 3)
    outside = root.parent / "outside.png"
    shutil.copy(root / "a" / "0.png", outside)
    os.symlink(outside, root / "a" / "linked.png")


def _too_many(root: Path) -> None:
    _small(root, 4)  # 8 images, over the patched cap of 5


BAD: dict[str, tuple[Callable[[Path], None], str]] = {
    "empty class folder": (_empty_class, "holds no images"),
    "one class only": (_one_class, "one class only"),
    "truncated image": (_truncated, "not a readable image|cannot be decoded"),
    "class with one image": (_single_image_class, "has 1 image"),
    "20,000² pixels": (_huge, "too large"),
    "not UTF-8": (_not_utf8, "not valid UTF-8"),
    "link leaving the folder": (_link_out, "outside the data folder"),
    "too many images": (_too_many, "MAX_IMAGES"),
}


def bad_folder(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str, object]:
    """The folder of BAD's ``case`` under ``tmp_path`` (the image cap lowered for "too many images"): (folder, the
    words its refusal must contain, its file tree as made — nothing may be written into it)."""
    make, needle = BAD[case]
    root = tmp_path / "imgs"
    root.mkdir()
    make(root)
    monkeypatch.setattr(folder_mod, "MAX_IMAGES", 5 if case == "too many images" else folder_mod.MAX_IMAGES)
    return root, needle, tree_snapshot(root)


@pytest.mark.parametrize("case", list(BAD))
def test_bad_folders_are_refused_by_the_engine_and_the_cli(case: str, folder_env: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    root, needle, before = bad_folder(case, tmp_path, monkeypatch)
    with pytest.raises(FolderError, match=needle) as err:
        register_folder(root)
        load_dataset(register_folder(root).name, "auto", str(root))
    assert any(w in str(err.value) for w in ("add", "remove", "rename", "resize", "replace", "copy", "use"))
    code, _, stderr = run_cli(["distill", "--data-dir", str(root), "--method", "hinton", *TINY], capsys)
    assert code != 0 and re.search(needle, stderr)
    assert tree_snapshot(root) == before
    assert not (folder_env / "store").exists() or not any((folder_env / "store").rglob("result.json"))


def test_non_image_files_are_ignored_with_a_note(folder_env: Path, tmp_path: Path) -> None:
    root = _small(tmp_path / "imgs", 3)
    (root / "a" / "notes.txt").write_text("not an image")
    (root / "README.md").write_text("about these images")
    pair = register_folder(root)
    data = load_dataset(pair.name, "auto", str(root))
    assert data.notice is not None and "ignored 2 file(s)" in data.notice and "notes.txt" in data.notice
