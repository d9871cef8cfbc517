"""Issue 26: the folder loader reads what the built-in loader reads. Fashion-MNIST (Debian's dataset-fashion-mnist,
read by kdcore.data.mnist) is written out as an ImageFolder with its own train/ and test/ split — the first
images of each, file names by index so the folder's order (sorted file names) is the built-in order, class folders
``<label>-<name>`` so their sorted order is the label order — and one course KD job (the lab's builder, the same
seed, tiny caps = exactly the images written) runs through both loaders: the same tensors, the same accuracy."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from kdcore import course
from kdcore.data import DataError, clear_cache, load_dataset
from kdcore.data.folder import register_folder, tree_snapshot
from kdcore.data.pairs import FASHION_CLASSES
from kdcore.views import lab

N_TRAIN, N_TEST = 1_500, 400  # the first images of each split: every class on both sides


def class_folder(label: int) -> str:
    """``3-Dress``: sorts in label order (one digit first), no "/" (``T-shirt/top`` → ``T-shirt-top``)."""
    return f"{label}-{re.sub(r'[^A-Za-z0-9]+', '-', FASHION_CLASSES[label])}"


def _builtin():  # noqa: ANN202 - an ArrayDataset
    try:
        return load_dataset("fashion_mnist")
    except DataError as e:
        pytest.skip(f"Fashion-MNIST is not here ({e})")


@pytest.fixture(scope="module")
def fashion_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first N_TRAIN / N_TEST Fashion-MNIST images as ``root/{train,test}/<label>-<name>/<index>.png``."""
    data = _builtin()
    root = tmp_path_factory.mktemp("fashion") / "fashion-mnist"
    for split, x, y, n in (("train", data.x_train, data.y_train, N_TRAIN), ("test", data.x_test, data.y_test, N_TEST)):
        pixels = (x[:n, 0] * 255.0).round().to(torch.uint8).numpy()  # the loader's x / 255, undone exactly
        for i in range(n):
            path = root / split / class_folder(int(y[i])) / f"{i:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.ascontiguousarray(pixels[i]), "L").save(path)
    return root


@pytest.mark.slow
def test_fashion_mnist_as_an_image_folder_gives_the_built_in_loaders_accuracy(
        fashion_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("KD_DATA_DIR", str(tmp_path / "kd-data"))  # the folder registry; Debian's files for the built-in
    monkeypatch.setattr("kdcore.store.SHIPPED_STORE", tmp_path / "no-shipped-results")
    monkeypatch.setenv("KD_APP_TINY", f"{N_TRAIN},{N_TEST},1")  # both jobs read exactly the images written
    clear_cache()
    before = tree_snapshot(fashion_folder)
    builtin = _builtin()
    pair = register_folder(fashion_folder)
    mine = load_dataset(pair.name, "auto", str(fashion_folder))
    assert pair.family == "mnist" and pair.input_shape == (1, 28, 28) and mine.extra["split"] == "folder"
    assert pair.classes == tuple(class_folder(i) for i in range(10))
    # the same images in the same order, pixel for pixel, with the same labels
    assert torch.equal(mine.x_train, builtin.x_train[:N_TRAIN]) and torch.equal(mine.y_train, builtin.y_train[:N_TRAIN])
    assert torch.equal(mine.x_test, builtin.x_test[:N_TEST]) and torch.equal(mine.y_test, builtin.y_test[:N_TEST])

    jobs = {ds: course.lab_job(ds, "hinton", "64", epochs=1, seed=3) for ds in ("fashion_mnist", pair.name)}
    theirs, ours = jobs["fashion_mnist"], jobs[pair.name]
    assert ours.data_dir == str(fashion_folder.resolve()) and ours.teacher.data_dir == ours.data_dir
    # one job: everything but the data set's name and folder equal (teacher chain included)
    assert ours.replace(dataset="fashion_mnist", teacher=ours.teacher.replace(dataset="fashion_mnist")) \
        .with_data_dir(None) == theirs
    results = {ds: lab.train_or_fetch(job) for ds, job in jobs.items()}
    a, b = results["fashion_mnist"], results[pair.name]
    assert a["key"] != b["key"]  # two results, not one served twice
    assert (a["n_train"], a["n_test"]) == (b["n_train"], b["n_test"]) == (N_TRAIN, N_TEST)
    assert b["metrics"]["accuracy"] == a["metrics"]["accuracy"]
    teachers = [lab.train_or_fetch(job.teacher) for job in jobs.values()]
    assert teachers[0]["metrics"]["accuracy"] == teachers[1]["metrics"]["accuracy"]
    assert 0.1 < a["metrics"]["accuracy"] < 1.0  # trained, not a constant answer
    assert tree_snapshot(fashion_folder) == before
    clear_cache()
