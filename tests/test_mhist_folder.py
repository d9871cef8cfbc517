"""The MHIST folder a job is given is the one it reads — never ``KD_MHIST_DIR`` instead.

Two tiny folders in MHIST's format (made by the synthetic generator, which writes the real format):
A with 5 train / 3 test images, B with 8 / 4. ``KD_MHIST_DIR`` points at B throughout; everything
given A must train and test on A's 5 / 3.
"""

from __future__ import annotations

from pathlib import Path

import apphelpers
import pytest

from kdcore.course import course_student, course_teacher
from kdcore.data import DataError, load_dataset
from kdcore.data.mhist import MhistError
from kdcore.data.synthetic_mhist import make_synthetic_mhist
from kdcore.store import ResultStore, open_store
from kdcore.train.job import job_key, run_job
from kdcore.views.text import plain

A_SIZE, B_SIZE = (5, 3), (8, 4)
HEAD_ONLY = (("stage1_epochs", 1), ("stage2_epochs", 0))  # one head epoch on cached features: fast

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("mhist-folders")
    a = make_synthetic_mhist(root / "A", n_train=A_SIZE[0], n_test=A_SIZE[1], seed=1)
    b = make_synthetic_mhist(root / "B", n_train=B_SIZE[0], n_test=B_SIZE[1], seed=2)
    return a, b


@pytest.fixture
def env_b(mhist_env: None, folders, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    a, b = folders
    monkeypatch.setenv("KD_MHIST_DIR", str(b))
    return a, b


def test_load_dataset_reads_the_given_folder_not_the_env(env_b) -> None:
    a, b = env_b
    from_a = load_dataset("mhist", data_dir=a)
    from_env = load_dataset("mhist")
    assert (len(from_a.x_train), len(from_a.x_test)) == A_SIZE
    assert (len(from_env.x_train), len(from_env.x_test)) == B_SIZE
    assert Path(from_a.extra["root"]).resolve() == a.resolve()
    assert Path(from_env.extra["root"]).resolve() == b.resolve()
    assert from_a.source_id != from_env.source_id  # different annotations: never one store key
    assert from_a.source_id.startswith("mhist-standin-")  # the generator's marker: not shown as MHIST
    # memoised per folder: the same folder answers from the cache, B's entry is not A's
    assert load_dataset("mhist", data_dir=str(a)) is from_a
    assert load_dataset("mhist", data_dir=b) is from_env
    # blank means "no folder given"
    assert load_dataset("mhist", data_dir="  ") is from_env


def test_a_folder_that_holds_no_mhist_never_falls_back_to_the_env(env_b, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"MHIST folder {tmp_path / 'nowhere'} does not exist") as e:
        load_dataset("mhist", data_dir=tmp_path / "nowhere")
    assert isinstance(e.value, MhistError)  # the MHIST page catches these


def test_only_mhist_reads_a_folder_of_ones_own(env_b) -> None:
    a, _ = env_b
    with pytest.raises(DataError, match="not read from a folder"):
        load_dataset("mnist", "mnist-5k", data_dir=a)
    with pytest.raises(DataError, match="not read from a folder"):
        load_dataset("mhist_synthetic", "mhist-synthetic-6-4", data_dir=a)


def test_synthetic_source_id_unchanged(env_b) -> None:
    assert load_dataset("mhist_synthetic", "mhist-synthetic-6-4").source_id == "mhist-synthetic-v2-6-4-s0"


def test_jobs_differing_only_in_data_dir_have_other_keys_and_read_other_data(env_b, tmp_path: Path) -> None:
    a, b = env_b
    base = course_student("mhist", "scratch", method_params=HEAD_ONLY)
    on_a, on_b = base.with_data_dir(str(a)), base.with_data_dir(str(b))
    assert len({base.key(), on_a.key(), on_b.key()}) == 3
    assert len({job_key(base), job_key(on_a), job_key(on_b)}) == 3
    # a KD chain: the folder goes to the teacher too, so the chain validates and reads one data set
    teacher = course_teacher("mhist", method_params=HEAD_ONLY)
    kd = course_student("mhist", "hinton", teacher=teacher, method_params=HEAD_ONLY).with_data_dir(str(a))
    assert kd.teacher.data_dir == str(a) and kd.teacher.key() != teacher.key()
    store = ResultStore(tmp_path / "store")
    ra, rb = run_job(on_a, store=store), run_job(on_b, store=store)
    assert (ra["n_train"], ra["n_test"]) == A_SIZE and (rb["n_train"], rb["n_test"]) == B_SIZE
    assert ra["data_source_id"] != rb["data_source_id"]
    assert ra["config"]["data_dir"] == str(a) and ra["key"] != rb["key"]


@pytest.mark.slow
def test_mhist_page_trains_and_tests_on_the_typed_folder(env_b, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         fresh_app_caches: None) -> None:
    """KD_MHIST_DIR = B; the user types A and presses Run: every job of the pipeline reads A."""
    a, b = env_b
    monkeypatch.setenv("KD_APP_TINY", "1")
    monkeypatch.setenv("KD_RUNNER_MODE", "thread")
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setattr("kdcore.store.SHIPPED_STORE", tmp_path / "no-shipped-results")
    at = apphelpers.open_page("app_pages/mhist.py", 180)
    at.text_input(key="mh_folder").set_value(str(a)).run()
    assert not at.exception
    assert any(plain(str(a)) in s.value for s in at.success), [s.value for s in at.success]  # escaped (issue 23)
    at.selectbox(key="mh_dataset").set_value("mhist")
    at.selectbox(key="mh_method").set_value("hinton")
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    want_id = load_dataset("mhist", data_dir=a).source_id
    results = [r for r in open_store().list() if r["dataset"] == "mhist"]
    assert {r["config"]["method"] for r in results} == {"scratch", "hinton"}  # teacher, scratch and KD student
    assert len(results) == 3
    for r in results:
        assert (r["n_train"], r["n_test"]) == A_SIZE, r["name"]
        assert r["data_source_id"] == want_id
        assert Path(r["config"]["data_dir"]).resolve() == a.resolve()
    # the results table names the folder they read
    assert set(at.dataframe[0].value["data folder"]) == {str(a.resolve())}


# ---- one description per data set (kdcore.data.pairs) ---------------------------------------------
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "mhist", "mhist_synthetic"])
def test_data_pair_matches_what_the_engine_uses(name: str) -> None:
    """The pair's facts equal the engine's own defaults, until those read them from the pair."""
    from kdcore.data import DATASET_TITLES, data_pair
    from kdcore.methods.attention import at_layers
    from kdcore.methods.fitnet import hint_layers

    pair = data_pair(name)
    teacher, student = course_teacher(name), course_student(name, "scratch")
    assert (pair.teacher_arch, pair.teacher_batch_size, pair.teacher_lr) == (teacher.arch, teacher.batch_size,
                                                                             teacher.lr)
    assert (pair.student_arch, pair.student_batch_size, pair.student_lr) == (student.arch, student.batch_size,
                                                                             student.lr)
    assert pair.student_hidden in (None, student.hidden)
    assert pair.hint_layers == hint_layers(student) and pair.at_layers == at_layers(student)
    assert pair.micro_batch == (4 if pair.transfer else None)
    assert pair.title == DATASET_TITLES[name] and pair.num_classes == len(pair.classes)
    if pair.family == "mhist":
        assert pair.classes == ("HP", "SSA") and pair.positive_class == "SSA" and pair.positive_index == 1
    else:
        assert pair.num_classes == 10 and pair.positive_class is None and pair.positive_index is None


@pytest.mark.slow
def test_data_pair_unknown_name_and_no_heavy_imports() -> None:
    import subprocess
    import sys

    from kdcore.data.pairs import UnknownDataset, data_pair

    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        data_pair("cifar")
    assert issubclass(UnknownDataset, KeyError)
    code = "import sys, kdcore.data.pairs; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() \
        == "False"
