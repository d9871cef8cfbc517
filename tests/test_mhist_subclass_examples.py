"""Subclass examples on MHIST (issue 5: the binary task subclass distillation was made for): the tiles a
ResNetV2-50 subclass teacher puts into each of its invented subclasses, and the MHIST page's section.

Tiny: random-init backbones, the 6/4-image synthetic stand-in capped at 4/4 images, one head epoch and
one fine-tuning epoch; one store, so the subclass teacher trains once for the engine and page tests.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kdcore.course import course_student, course_teacher
from kdcore.data import load_dataset
from kdcore.methods.subclass import subclass_configs
from kdcore.models.mhist import imagenet_normalize
from kdcore.store import LayeredStore, ResultStore
from kdcore.subclass_examples import MHIST_TILE, artefact_key, artefact_store, compute_subclass_examples
from kdcore.train.job import load_model, run_job
from kdcore.train.loop import predict_logits

TINY = "mhist-synthetic-6-4"
ONE_EACH = (("stage1_epochs", 1), ("stage2_epochs", 1))
NONE = (("pretrained", "none"),)  # random init: no weight files read, the same offline and online
LIMITS = dict(data_source=TINY, method_params=ONE_EACH, train_limit=4, test_limit=4, extra=NONE)

pytestmark = pytest.mark.usefixtures("mhist_env", "one_torch_thread")


def _pipeline(dataset: str = "mhist_synthetic", seed: int = 0, method: str = "hinton"):
    """The MHIST page's subclass pipeline at test size: subclass teacher (s = 2), its KD student."""
    teacher, student = subclass_configs(course_teacher("mhist_synthetic", **LIMITS),
                                        course_student("mhist_synthetic", "hinton", **LIMITS), subclasses=2)
    return [teacher, student.replace(teacher=teacher)]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ResultStore:
    return ResultStore(tmp_path_factory.mktemp("mhist-subclass"))


@pytest.fixture
def teacher(store: ResultStore) -> dict:
    return run_job(_pipeline()[0], store=store)  # trained by the first test, fetched after


@pytest.mark.slow
def test_mhist_examples_are_the_teachers_own_split(store: ResultStore, teacher: dict) -> None:
    ex = compute_subclass_examples(teacher, store, per_subclass=3)
    data = load_dataset("mhist_synthetic", TINY)
    x, y = data.x_test[:4].materialize(), data.y_test[:4]
    assert ex.images.shape == (2, 2, 3, MHIST_TILE, MHIST_TILE, 3) and ex.images.dtype == np.uint8
    assert ex.classes == tuple(data.classes) and ex.meta["n_test"] == 4  # the job's test_limit
    per_class = np.bincount(y.numpy(), minlength=2)
    assert (ex.counts.sum(axis=1) == per_class).all()
    np.testing.assert_allclose(ex.shares[per_class > 0].sum(axis=1), 1.0)
    # independent: the teacher's 4 outputs as its job evaluates it (ImageNet-normalised), argmax within the class
    z = predict_logits(load_model(teacher, store), x, batch_size=2, transform=imagenet_normalize)
    sub = z.view(4, 2, 2)[torch.arange(4), y].argmax(dim=1)
    for c in range(2):
        assert [int(((y == c) & (sub == k)).sum()) for k in range(2)] == ex.counts[c].tolist()
        for k in range(2):
            shown = np.flatnonzero(ex.indices[c, k] >= 0)
            assert len(shown) == min(3, per_class[c])
            for i in shown:
                idx = int(ex.indices[c, k, i])
                assert int(y[idx]) == c and bool(sub[idx] == k) == bool(ex.assigned[c, k, i])
                half = torch.nn.functional.avg_pool2d(x[idx].float(), 2)  # 224 → 112: "area" = 2×2 means
                np.testing.assert_allclose(ex.images[c, k, i], half.permute(1, 2, 0).numpy(), atol=0.51)
    tile = ex.tile(int(np.argmax(per_class)), 0, columns=2)
    assert tile.ndim == 3 and tile.shape[2] == 3 and tile.shape[1] in (MHIST_TILE, 2 * MHIST_TILE + 2)
    assert "stand-in data" in ex.caption() and "random init" in ex.caption() and ex.summary()


@pytest.mark.slow
def test_page_engine_finds_the_pipelines_teacher_and_computes_once(store: ResultStore, teacher: dict,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from kdcore.views import mhist_view

    layered = LayeredStore(store)
    assert mhist_view.subclass_teacher("mhist_synthetic", layered) is None  # the default pipeline is not stored
    monkeypatch.setattr("kdcore.course.pipeline_jobs", _pipeline)  # the builder the page asks
    found = mhist_view.subclass_teacher("mhist_synthetic", layered)
    assert found is not None and found["key"] == teacher["key"]
    ex = mhist_view.subclass_examples(found, layered)
    assert artefact_store(store).get(artefact_key(teacher["key"], ex.images.shape[2])) is not None
    assert [r["key"] for r in store.list()] == [teacher["key"]], "the artefact is not listed as a job"
    monkeypatch.setattr("kdcore.subclass_examples.compute_subclass_examples",
                        lambda *a, **k: pytest.fail("computed again"))
    again = mhist_view.subclass_examples(found, layered)
    np.testing.assert_array_equal(again.images, ex.images)
    np.testing.assert_array_equal(again.assigned, ex.assigned)
    assert "means nothing" in mhist_view.subclass_note(again)


@pytest.mark.slow
def test_mhist_page_shows_the_subclass_tiles(store: ResultStore, teacher: dict, monkeypatch: pytest.MonkeyPatch,
                                             tmp_path, fresh_app_caches) -> None:
    """The page runs the (test-size) subclass pipeline's teacher through the job runner (fetched from the
    store the tests above trained it in), then shows each class's subclasses with their shares."""
    from apphelpers import open_page

    from kdcore.subclass_examples import teacher_examples

    monkeypatch.setenv("KD_APP_TINY", "1")
    monkeypatch.setenv("KD_STORE_DIR", str(store.root))
    monkeypatch.setattr("kdcore.store.SHIPPED_STORE", tmp_path / "no-shipped-results")
    monkeypatch.setattr("kdcore.course.pipeline_jobs", lambda *a, **k: _pipeline()[:1])  # no student: keep it fast
    at = open_page("app_pages/mhist.py", 180)
    at.selectbox(key="mh_dataset").set_value("mhist_synthetic")
    at.selectbox(key="mh_method").set_value("subclass")
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    ex = teacher_examples(teacher, LayeredStore(store))
    captions = [img.caption for el in at.get("image") for img in el.proto.imgs]
    assert captions == [ex.label(c, k) for c in range(2) for k in range(2)]
    assert any("Subclasses the teacher invented" in h.value for h in at.subheader)
    notes = " ".join(c.value for c in at.caption)
    assert "means nothing" in notes and ex.summary() in notes


@pytest.mark.slow
def test_mhist_page_answers_the_shipped_subclass_pipeline_without_training(shipped_env: pytest.MonkeyPatch) -> None:
    """Offline first run: the stand-in subclass pipeline and its teacher's tiles come from assets/store
    (results without weights + the precomputed artefact), so nothing trains and the pictures show."""
    from apphelpers import open_page

    from kdcore.jobs import runner

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the shipped pipeline must not be trained again")

    shipped_env.setattr(runner.JobRunner, "submit", no_training)
    at = open_page("app_pages/mhist.py", 180)
    at.selectbox(key="mh_dataset").set_value("mhist_synthetic")
    at.selectbox(key="mh_method").set_value("subclass")
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    captions = [img.caption for el in at.get("image") for img in el.proto.imgs]
    assert len(captions) == 4 and all(c.startswith("subclass ") for c in captions)
    assert any("Subclasses the teacher invented" in h.value for h in at.subheader)


def test_the_mhist_pipelines_subclass_teacher_is_its_default() -> None:
    # precompute's subclass-examples makes pictures of default teachers only; the MHIST pipeline's teacher carries
    # stage epochs beside its subclass settings, and is still the default one (its pictures must be made)
    from kdcore.course import pipeline_jobs as pipeline_configs
    from kdcore.subclass_examples import is_default_teacher

    [teacher] = [c for c in pipeline_configs("mhist_synthetic", method="subclass") if c.method == "subclass_teacher"]
    assert is_default_teacher(teacher.to_dict())
    assert not is_default_teacher(teacher.replace(method_params=(*teacher.method_params, ("aux_temperature", 0.5))).to_dict())
