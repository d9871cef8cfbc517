"""Every page of the Streamlit app, driven with AppTest: change widgets, check what is shown.

Jobs are tiny (``KD_APP_TINY=1``: 256 train / 128 test images, 1 epoch; teachers 2 epochs) and
live in a temporary store; the shipped store is hidden so "empty store" states are reachable.
"""

from __future__ import annotations

import re
from pathlib import Path

import apphelpers
import pytest
from streamlit.testing.v1 import AppTest

from kdcore import course
from kdcore.config import JobConfig
from kdcore.course import pipeline_jobs
from kdcore.methods import METHODS
from kdcore.store import open_store
from kdcore.views import lab, playground
from kdcore.views import results as kd_results

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 120  # seconds per script run: a tiny job on 2 busy cores


@pytest.fixture(scope="module")
def tiny_store(tiny_course_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the tiny MNIST course pipeline (teacher, scratch student, Hinton student s0/s1): a copy
    of the session's tiny course, plus the second seed."""
    root = apphelpers.copy_tiny_course(tiny_course_template, tmp_path_factory.mktemp("app-store") / "store")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KD_STORE_DIR", str(root))
        mp.setenv("KD_APP_TINY", "1")
        mp.setattr("kdcore.store.SHIPPED_STORE", root / "no-shipped-results")
        kd = pipeline_jobs("mnist")[2]
        lab.train_or_fetch(kd.replace(seed=1))
    return root


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_app_caches: None):
    """Tiny mode, no shipped results, fresh caches; yields a function that points the app at a store."""
    monkeypatch.setenv("KD_APP_TINY", "1")
    monkeypatch.setattr("kdcore.store.SHIPPED_STORE", tmp_path / "no-shipped-results")

    def use_store(root: Path) -> None:
        monkeypatch.setenv("KD_STORE_DIR", str(root))

    use_store(tmp_path / "empty-store")
    return use_store


def open_page(page: str) -> AppTest:
    return apphelpers.open_page(page, TIMEOUT)


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "warning", "error", "success", "subheader", "title")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


PAGES = [f"app_pages/{name}.py" for name in ("learn", "lesson", "temperature", "distill_lab", "own_images",
                                              "student_learned", "compare", "compress", "mhist", "class_board")]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_an_empty_store(app_env, page: str) -> None:
    at = open_page(page)
    assert at.title, "every page has a title"
    assert not at.error, [e.value for e in at.error]
    shown = texts(at)
    if page in ("app_pages/temperature.py", "app_pages/compare.py", "app_pages/student_learned.py"):
        assert "precompute" in shown  # the empty state says how to get results
    if page == "app_pages/mhist.py":
        assert "bmirds.github.io/MHIST" in shown and "KD_MHIST_DIR" in shown


def test_router_title_and_default_page(app_env) -> None:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    assert at.title[0].value.startswith("Learn")


def test_learn_shows_course_methods_registry_and_live_demo(app_env, tiny_store: Path) -> None:
    app_env(tiny_store)
    at = open_page("app_pages/learn.py")
    shown = texts(at)
    for cite in ("1503.02531", "Romero", "Zagoruyko", "Müller", "Furlanello", "Bagherinezhad"):
        assert cite in shown, cite
    assert len(at.get("latex")) >= 10
    # every registered method is on the page: course ones under their section, the rest by registry title
    heads = " ".join(h.value for h in at.subheader)
    for key, spec in METHODS.items():
        assert key in {"hinton", "fitnet", "attention", "subclass", "born_again"} or spec.title in heads, key
    # the real loss code beside its equation (show_code) and the live softmax-at-T chart of the stored teacher
    assert any("class HintonKD" in c.value for c in at.code)
    assert len(at.get("vega_lite_chart")) >= 1
    assert "live" in shown.lower()


def test_temperature_playground_slider_and_images(app_env, tiny_store: Path) -> None:
    app_env(tiny_store)
    at = open_page("app_pages/temperature.py")
    assert len(at.get("vega_lite_chart")) >= 3  # teacher bars, student bars, entropy line (+ heatmap)
    at.select_slider(key="pg_T").set_value("16").run()
    assert not at.exception
    line = next(m.value for m in at.markdown if m.value.startswith("**teacher**"))
    shown_h = float(re.search(r"entropy at T = 16: ([0-9.]+) bits", line).group(1))
    # the page's number is the engine's: entropy of the teacher's softmax(z/16) on test image 0
    teacher, _ = playground.pick_models("mnist")
    z, _, _ = playground.test_logits(teacher)
    expected = float(playground.entropy_bits(playground.soften(z[0], 16.0)))
    assert shown_h == pytest.approx(expected, abs=0.006)
    at.select_slider(key="pg_T").set_value("1").run()
    low = next(m.value for m in at.markdown if m.value.startswith("**teacher**"))
    assert float(re.search(r"entropy at T = 1: ([0-9.]+) bits", low).group(1)) < shown_h  # softer at higher T
    at.number_input(key="pg_index").set_value(7).run()
    _, labels, _ = playground.test_logits(teacher)
    assert not at.exception
    assert at.get("image")[0].proto.imgs[0].caption == f"true label: {int(labels[7])}"
    at.toggle(key="pg_hide_diag").set_value(False).run()
    assert at.number_input(key="pg_index").max == playground.test_image_count("mnist") - 1  # bounded by the set
    at.toggle(key="pg_log").set_value(True).run()  # probabilities on a log scale
    assert not at.exception
    at.radio(key="pg_source").set_value("Draw").run()  # nothing drawn (no browser): a hint, and no test image
    assert not at.exception and not at.error
    assert any("upload" in i.value.lower() for i in at.info) or "Draw one digit" in texts(at)
    assert not at.get("image"), "an empty canvas must not show test image 0"
    assert not any(m.value.startswith("**teacher**") for m in at.markdown)


def test_distill_lab_trains_a_tiny_job_then_fetches_it(app_env, tiny_store: Path) -> None:
    app_env(tiny_store)
    at = open_page("app_pages/distill_lab.py")
    assert any("Tiny mode" in i.value for i in at.info)
    at.text_input(key="lab_hidden").set_value("32")
    at.slider(key="lab_alpha").set_value(0.7)
    at.slider(key="lab_T").set_value(8.0)
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    stored = [r for r in open_store().list() if r["name"] == "mnist/student_mlp[32]/hinton T=8 a=0.7 s0"]
    assert len(stored) == 1
    assert metrics["Test accuracy"] == f"{100 * stored[0]['metrics']['accuracy']:.2f}%"
    assert metrics["Parameters"] == f"{stored[0]['complexity']['params']:,}"
    table = at.dataframe[0].value
    assert list(table["model"]) == ["this run", "teacher", "scratch student"]
    assert "(from the store)" not in at.subheader[0].value
    at.button[0].click().run()  # the same job again: answered from the store
    assert "(from the store)" in at.subheader[0].value


def test_distill_lab_trains_an_l1_student_and_its_twin_with_the_same_penalty(app_env, tiny_store: Path) -> None:
    """The lab's L1 penalty (sparse regularisation) is a setting of the student and of its scratch twin (like with
    like), never of the teacher; the page says what share of the weights it drove below the stated threshold."""
    app_env(tiny_store)
    at = open_page("app_pages/distill_lab.py")
    at.text_input(key="lab_hidden").set_value("32")
    at.select_slider(key="lab_l1").set_value(1e-4)
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    stored = {r["name"]: r for r in open_store().list()}
    kd, twin = stored["mnist/student_mlp[32]/hinton T=4 a=0.5 +L1=0.0001 s0"], \
        stored["mnist/student_mlp[32]/scratch +L1=0.0001 s0"]
    assert JobConfig.from_dict(kd["config"]).teacher.l1 == 0.0
    share = 100 * kd["sparsity"]["share_below_threshold"]
    [note] = [c.value for c in at.caption if c.value.startswith("L1 penalty λ = 0.0001")]
    assert f"{share:.1f} % of the student's" in note and "below 0.001" in note
    assert f"with the same penalty: {100 * twin['sparsity']['share_below_threshold']:.1f} %" in note


@pytest.mark.slow
def test_distill_lab_ban_ensemble_shows_its_generations(app_env, tiny_store: Path) -> None:
    app_env(tiny_store)
    at = open_page("app_pages/distill_lab.py")
    at.selectbox(key="lab_method").set_value("ban_ensemble")
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value.set_index("model")
    assert list(table.index) == ["this run", "generation 1", "generation 2", "teacher"]
    (ens,) = [r for r in open_store().list() if r["config"]["method"] == "ban_ensemble"]
    assert table.loc["this run", "accuracy %"] == pytest.approx(round(100 * ens["metrics"]["accuracy"], 2))
    assert table.loc["this run", "params"] == 2 * table.loc["generation 1", "params"]
    assert any("averages the class probabilities" in i.value for i in at.info)


def _lab_form_config(dataset: str, method: str):
    f = lab.form_defaults(method)
    return course.lab_job(dataset, method, str(f["hidden"]), str(f["student"]), int(f["width"]), float(f["T"]),
                          float(f["alpha"]), int(f["epochs"]))


@pytest.mark.parametrize("method", [m for m, _ in lab.methods()])
def test_each_lab_method_with_its_form_defaults_is_a_shipped_result(shipped_env: pytest.MonkeyPatch, method: str) -> None:
    from kdcore.train import job_key

    config = _lab_form_config("mnist", method)
    assert open_store().get(job_key(config), need_weights=False) is not None, (
        f"{config.short_name()}: the lab's settings for {method!r} are not shipped; "
        "see the Method's student_defaults in kdcore/methods/ and python -m kdcore sweep --suite methods")


@pytest.mark.slow
def test_distill_lab_picking_a_method_sets_its_settings_and_answers_from_the_store(
        shipped_env: pytest.MonkeyPatch) -> None:
    at = open_page("app_pages/distill_lab.py")
    at.slider(key="lab_T").set_value(16.0).run()
    at.selectbox(key="lab_method").set_value("born_again").run()
    assert (at.slider(key="lab_T").value, at.slider(key="lab_alpha").value) == (1.0, 1.0)  # the paper's settings
    at.selectbox(key="lab_method").set_value("attention").run()
    assert at.radio(key="lab_student").value == "student_cnn" and at.slider(key="lab_alpha").value == 0.0
    # only what applies: the CNN's width, not the MLP's sizes; no T for attention transfer at α = 0
    shown = {w.key for kind in ("slider", "number_input", "text_input") for w in at.get(kind)}
    assert {"lab_width", "lab_alpha"} <= shown and not {"lab_T", "lab_hidden"} & shown
    assert at.session_state["lab_T"] == 4.0 and "T does nothing here" in " ".join(c.value for c in at.caption)
    at.selectbox(key="lab_dataset").set_value("mnist")  # the lab opens on full Fashion-MNIST where it is shipped
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.subheader[0].value == "small CNN student · attention transfer, α = 0 · seed 0  (from the store)"
    assert list(at.dataframe[0].value["model"]) == ["this run", "teacher", "scratch student"]
    at.selectbox(key="lab_method").set_value("dkd").run()  # shipped as JSON only: shown, not retrained
    shown = {w.key for kind in ("slider", "number_input", "text_input") for w in at.get(kind)}
    assert {"lab_T", "lab_hidden"} <= shown and "lab_alpha" not in shown and "lab_width" not in shown  # DKD: no α
    at.button[0].click().run()
    assert at.subheader[0].value == "MLP 784-784 student · DKD, T = 4, β = 1, warm-up 6 (default) · seed 0  (from the store)"


def test_distill_lab_rejects_bad_hidden_sizes(app_env, tiny_store: Path) -> None:
    app_env(tiny_store)
    at = open_page("app_pages/distill_lab.py")
    at.text_input(key="lab_hidden").set_value("784,abc")
    at.button[0].click().run()
    assert not at.exception
    assert any("hidden sizes" in e.value for e in at.error)
    assert not at.metric


def test_compare_table_charts_and_csv(app_env, tiny_store: Path) -> None:
    app_env(tiny_store)
    at = open_page("app_pages/compare.py")
    table = at.dataframe[0].value
    assert set(table["role"]) == {"teacher", "scratch student", "KD student"}
    # other tests of this module may add their own runs to the shared tiny store: look at the Hinton pair
    two_seeds = table[(table["seeds"] == "0, 1") & table["model"].str.contains("Hinton KD, T = 4, α = 0.5")]
    assert len(two_seeds) == 1 and "±" in two_seeds["accuracy %"].iloc[0], table.to_string()
    runs = kd_results.load_runs()
    kd4 = runs[runs["model"] == two_seeds["model"].iloc[0]].sort_values("seed")["accuracy"]  # that row's runs
    assert two_seeds["accuracy %"].iloc[0] == f"{100 * kd4.mean():.2f} ± {100 * kd4.std():.2f}"
    assert len(at.get("vega_lite_chart")) >= 3  # Pareto, T sweep, α×T heatmap
    assert len(at.get("download_button")) == 1
    if runs["is_standin"].any():
        assert "stand-in" in texts(at)
    at.selectbox(key="cmp_metric").set_value("auc").run()
    assert not at.exception
    at.multiselect(key="cmp_datasets").set_value(at.multiselect(key="cmp_datasets").options[:1]).run()
    assert not at.exception


def test_mhist_page_status_and_folder(app_env, tiny_store: Path, tmp_path: Path) -> None:
    app_env(tiny_store)
    at = open_page("app_pages/mhist.py")
    assert "KD_MHIST_DIR" in texts(at)
    # the pipeline's KD method is chosen from the methods that fit ResNetV2-50 → MobileNetV2
    assert at.selectbox(key="mh_method").options == [title for _, title in lab.mhist_methods()]
    at.text_input(key="mh_folder").set_value(str(tmp_path / "nowhere")).run()
    assert not at.exception
    # the loader's own check and message, as the CLI prints it
    from kdcore.views.text import plain  # the folder is user text: shown escaped (issue 23)

    assert any(plain(f"MHIST folder {tmp_path / 'nowhere'} does not exist") in w.value for w in at.warning)
