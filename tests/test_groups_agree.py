"""One rule names and groups results (kdcore.views.groups), so every page says the same about a group.

On the shipped store: every group Compare, ``python -m kdcore report``, the Guided lesson and the lab show has the
same mean ± std and the same seeds on each of them; no shown group mixes settings (its members' configs are equal
but for their seeds, on one data source); no two groups of a data set share a name. Plus the labels on built
configs: each sweep cell, schedule and teacher reads differently."""

from __future__ import annotations

import json

import pytest

from kdcore.course import course_student, course_teacher
from kdcore.latency import Latency
from kdcore.methods import get_method
from kdcore.methods.dkd import DEFAULT_BETA, DEFAULT_WARMUP, sweep_params
from kdcore.views import groups, lab, lesson, report
from kdcore.views.results import compare_view, data_label, stored_results


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The shipped results under an empty user store."""
    mp = pytest.MonkeyPatch()
    from kdcore.views.results import clear_caches

    mp.setenv("KD_STORE_DIR", str(tmp_path_factory.mktemp("user-store")))
    clear_caches()
    yield stored_results()
    clear_caches()
    mp.undo()


@pytest.fixture(scope="module")
def compare_rows(shipped: list[dict]) -> dict[tuple[str, str], tuple[str, str]]:
    """Compare's table, every data set chosen: (data, model) -> (accuracy %, seeds)."""
    mp = pytest.MonkeyPatch()
    # latency is measured per network on this machine; what is checked here is the grouping, not the timing
    mp.setattr("kdcore.latency.latency_here", lambda cfg: Latency(None, "test"))
    everything = compare_view()
    table = compare_view(everything.datasets).table
    mp.undo()
    rows = list(zip(table["data"], table["model"], strict=True))
    assert len(rows) == len(set(rows)), "two Compare rows share a data set and a name"
    return {(d, m): (a, s) for d, m, a, s in zip(table["data"], table["model"], table["accuracy %"], table["seeds"],
                                                 strict=True)}


def test_no_group_mixes_settings_and_names_are_unique(shipped: list[dict]) -> None:
    shown = groups.group_results(shipped)
    assert len(shown) > 50
    for g in shown:
        configs = {json.dumps(groups.strip_seeds(r["config"]), sort_keys=True) for r in g.results}
        assert len(configs) == 1, f"{g.label}: members differ in more than their seed"
        assert len({r.get("data_source_id") for r in g.results}) == 1, f"{g.label}: several data sources"
        assert len(set(g.seeds)) == len(g.seeds)
    names = [(data_label(g.results[0]), g.label) for g in shown]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_report_prints_what_compare_prints(shipped: list[dict], compare_rows: dict) -> None:
    seen = 0
    for ds in sorted({r["dataset"] for r in shipped}):
        table = report.settings_table(ds, shipped)
        for _, row in table.iterrows():
            assert compare_rows[(row["data"], row["model"])] == (row["accuracy %"], row["seeds"]), row["model"]
            seen += 1
    assert seen == len(compare_rows)


def test_the_lessons_method_table_and_answers_agree_with_compare(shipped: list[dict], compare_rows: dict) -> None:
    for ds in lesson.LESSON_DATASETS:
        shown = lesson.method_groups(ds)
        table = lesson.method_table(ds)
        assert len(table) == len(shown) > 0
        by_name = {(groups.network_words(g.config), g.label.split(" · ", 1)[-1] if " · " in g.label else "from scratch"): g
                   for g in shown}
        for _, row in table.iterrows():
            g = by_name[(row["student"], row["method"])]
            words, seeds = compare_rows[(data_label(g.results[0]), g.label)]
            assert seeds == row["seeds"]
            mean, std, n = g.stat("accuracy")
            assert words == (f"{row['accuracy %']:.2f} ± {row['±']:.2f}" if n > 1 else f"{row['accuracy %']:.2f} (one run)")
            # the lesson shows each method at its defaults: one cell of DKD's sweep, one subclass teacher, ...
            assert groups.is_default(g.config)
        assert table.groupby(["student", "method"]).size().max() == 1
        # step 3's and step 4's course figures: the course groups as Compare has them
        course = lesson.course_results(ds)
        for role, by_seed in course.items():
            g = groups.group_results(list(by_seed.values()))
            assert len(g) == 1, f"{role}: the lesson pools several settings or sources"
            words, seeds = compare_rows[(data_label(g[0].results[0]), g[0].label)]
            assert (words, seeds) == (g[0].words(), ", ".join(map(str, g[0].seeds)))
            assert f"{words} %" in lesson.reveal("compress", ds).answer or role == "KD student"


def test_the_lessons_mhist_models_have_one_name_each(shipped: list[dict], compare_rows: dict) -> None:
    table = lesson.mhist_table()
    assert len(table) == table["model"].nunique() > 1  # two models never share a bar
    for _, row in table.iterrows():
        words, seeds = compare_rows[(row["data"], row["model"])]
        assert seeds == row["seeds"] and words.startswith(f"{row['accuracy %']:.2f}")


def test_the_labs_seed_figures_are_the_groups(shipped: list[dict], compare_rows: dict) -> None:
    for g in groups.group_results(shipped):
        words, seeds = compare_rows[(data_label(g.results[0]), g.label)]
        said = lab.accuracy_words(g.results[-1])
        if len(g.results) > 1:
            assert said == f"{words} % (seeds {seeds})"
        else:
            assert said == f"{words.replace(' (one run)', '')} % (one run, seed {seeds})"


def _label(job) -> str:
    return groups.run_label(job.to_dict())


def test_labels_name_what_differs_from_the_methods_defaults() -> None:
    teacher, student = course_teacher("fashion_mnist"), course_student("fashion_mnist", "scratch")
    dkd = get_method("dkd")
    default = dkd.job(teacher, student)
    cells = {_label(dkd.job(teacher, student.replace(method_params=sweep_params(b, w)))) for b in (1.0, 8.0)
             for w in (1, 6)}
    assert len(cells) == 4  # every sweep cell has its own name
    assert _label(default) == f"MLP 784-784 student · DKD, T = 4, β = {DEFAULT_BETA:g}, warm-up {DEFAULT_WARMUP} (default)"
    assert "(default)" not in _label(dkd.job(teacher, student.replace(method_params=sweep_params(8.0, 1))))
    # the course teacher and a shorter one; the small CNN student's width only when it is not the default
    assert _label(teacher) == "teacher CNN" and _label(teacher.replace(epochs=3)) == "teacher CNN, 3 epochs"
    cnn = student.replace(arch="student_cnn")
    assert _label(cnn) == "small CNN student · from scratch"
    assert "width 16" in _label(cnn.replace(method_params=(("width", 16),)))
    # a subclass student names its teacher's swept setting; two MHIST teachers of different schedules differ
    sub = get_method("subclass").job(teacher, student)
    assert "aux temperature 0.3" in _label(sub)
    mt = course_teacher("mhist_synthetic", method_params=(("stage1_epochs", 10), ("stage2_epochs", 2)))
    short = mt.replace(method_params=(("stage1_epochs", 10), ("stage2_epochs", 1)))
    assert _label(mt) != _label(short) and "1 fine-tuning epoch" in _label(short)
    # no code names in any label
    for job in (default, teacher, cnn, sub, mt):
        assert not any(code in _label(job) for code in ("student_mlp", "student_cnn", "teacher_cnn", "resnetv2_50"))


def test_a_group_is_never_pooled_across_data_sources() -> None:
    cfg = course_student("mnist", "hinton").to_dict()
    a = {"config": cfg, "data_source_id": "mnist-5k", "seed": 0, "metrics": {"accuracy": 0.9}, "engine": "3"}
    b = {**a, "data_source_id": "mnist-60k", "metrics": {"accuracy": 0.99}}
    c = {**a, "config": {**cfg, "seed": 1}, "seed": 1}
    made = groups.group_results([a, b, c])
    assert sorted(len(g.results) for g in made) == [1, 2]
    assert {g.words() for g in made} == {"99.00 (one run)", groups.stat_words([90.0, 90.0])}
