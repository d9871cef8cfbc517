"""Compare compares like with like: one student per sweep point, seeds as mean ± std, stand-ins off unless
chosen, accuracy in %. Synthetic result records (no training): the numbers are chosen so that mixing
students would visibly change the course student's sweep."""

from __future__ import annotations

import json
from pathlib import Path

import apphelpers
import pandas as pd
import pyarrow as pa
import pytest

from kdcore.course import course_student, course_teacher
from kdcore.store import open_store
from kdcore.views import results as kd_results

MNIST_5K = ("MNIST-5k subset", "mnist-5k", True)
FASHION = ("Fashion-MNIST 60k/10k", "fashion-mnist-60k", False)
SYNTH = ("synthetic stand-in — not MHIST", "mhist-synthetic-test", True)


def record(cfg, accuracy: float, source: tuple[str, str, bool]) -> dict:
    """A stored result as the engine writes one (the fields the views read)."""
    return {"name": cfg.short_name(), "config": cfg.to_dict(), "dataset": cfg.dataset, "data_source": source[0],
            "data_source_id": source[1], "is_standin": source[2], "n_train": 4000, "n_test": 1000,
            "metrics": {"accuracy": accuracy, "f1": accuracy, "auc": accuracy}, "complexity": {"flops": 1e6},
            "seed": cfg.seed, "key": cfg.key(), "created": "2026-01-01T00:00:00+00:00"}


# course MLP accuracy per (T, seed) at α = 0.5, and a weaker student at T = 4 only (as the shipped store has)
COURSE = {(1.0, 0): 0.944, (1.0, 1): 0.946, (4.0, 0): 0.944, (4.0, 1): 0.948, (4.0, 2): 0.946, (16.0, 0): 0.943}
SMALL = {0: 0.80, 1: 0.82}


def mnist_records() -> list[dict]:
    recs = [record(course_teacher("mnist", seed=0), 0.965, MNIST_5K),
            record(course_student("mnist", "scratch", seed=0), 0.940, MNIST_5K),
            record(course_student("mnist", "scratch", seed=0, hidden=(32,)), 0.85, MNIST_5K)]
    recs += [record(course_student("mnist", "hinton", seed=s, temperature=t), acc, MNIST_5K)
             for (t, s), acc in COURSE.items()]
    recs += [record(course_student("mnist", "hinton", seed=s, temperature=4.0, hidden=(32,)), acc, MNIST_5K)
             for s, acc in SMALL.items()]
    recs += [record(course_student("mnist", "hinton", seed=0, temperature=4.0, arch="student_cnn"), 0.92, MNIST_5K)]
    return recs


def all_records() -> list[dict]:
    return mnist_records() + [
        record(course_teacher("fashion_mnist"), 0.91, FASHION),
        record(course_student("fashion_mnist", "hinton", temperature=4.0), 0.89, FASHION),
        record(course_student("mhist_synthetic", "hinton", temperature=4.0), 2 / 3, SYNTH),
    ]


def test_the_course_students_sweep_is_the_mean_of_its_own_records_only() -> None:
    runs = kd_results.results_frame(all_records())
    cells = kd_results.kd_cells(runs)  # course student by default
    mnist = cells[cells["dataset"] == "mnist"].set_index("T")
    assert set(mnist["student"]) == {"MLP 784-784 student"}
    for t in (1.0, 4.0, 16.0):
        own = [acc for (tt, _), acc in COURSE.items() if tt == t]
        assert mnist.loc[t, "mean"] == pytest.approx(100 * sum(own) / len(own))  # in %, the course MLP only
        assert mnist.loc[t, "seeds"] == len(own)
        assert mnist.loc[t, "std"] == pytest.approx(100 * pd.Series(own).std() if len(own) > 1 else 0.0)
    # no dip at T = 4: the weaker students stored there are not in the course MLP's point
    assert mnist.loc[4.0, "mean"] >= mnist.loc[1.0, "mean"]
    assert mnist.loc[4.0, "lo"] == pytest.approx(mnist.loc[4.0, "mean"] - mnist.loc[4.0, "std"])
    # each data set's course student: Fashion-MNIST's MLP, the stand-in MHIST's MobileNetV2
    assert set(cells["student"]) == {"MLP 784-784 student", "MobileNetV2"}
    # the other students are one pick away, each on its own
    assert kd_results.kd_students(runs) == ["course student", "MLP 32 student", "MLP 784-784 student", "MobileNetV2",
                                            "small CNN student"]
    small = kd_results.kd_cells(runs, student="MLP 32 student")
    assert small["mean"].tolist() == pytest.approx([81.0]) and small["seeds"].tolist() == [2]


def test_baselines_are_the_panels_own_teacher_and_scratch_student() -> None:
    runs = kd_results.results_frame(mnist_records())
    cells = kd_results.kd_cells(runs)
    base = kd_results.kd_baselines(runs, cells).set_index("role")
    assert base.loc["teacher", "mean"] == pytest.approx(96.5)
    assert base.loc["scratch student", "mean"] == pytest.approx(94.0)  # the 784x784 one, not the 32-unit MLP
    small = kd_results.kd_cells(runs, student="MLP 32 student")
    assert kd_results.kd_baselines(runs, small).set_index("role").loc["scratch student", "mean"] == pytest.approx(85.0)


def test_a_different_schedule_of_the_same_student_is_a_separate_line() -> None:
    recs = mnist_records() + [record(course_student("mnist", "hinton", temperature=4.0, epochs=1), 0.5, MNIST_5K)]
    cells = kd_results.kd_cells(kd_results.results_frame(recs))
    assert cells["facet"].nunique() == 2 and "1 ep" in " ".join(cells["facet"])
    twelve = cells[cells["facet"].str.contains("12 ep")].set_index("T")
    assert twelve.loc[4.0, "mean"] == pytest.approx(94.6)


def test_synthetic_data_is_off_unless_chosen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kdcore.store.SHIPPED_STORE", tmp_path / "no-shipped")
    store = open_store(tmp_path / "store", shipped=False)
    for r in all_records():
        store.put(r["key"], r)
    kd_results.clear_caches()
    view = kd_results.compare_view(store=store)
    # the generated MHIST stand-in is off; the real MNIST-5k subset stays on (labelled as a subset)
    mnist = next(d for d in view.datasets if d.startswith("MNIST"))
    assert sorted(view.default_datasets) == sorted(["Fashion-MNIST", mnist]) and len(view.datasets) == 3
    assert set(view.runs["dataset"]) == {"fashion_mnist", "mnist"}
    assert not any(d.startswith("MHIST") for d in view.default_datasets)
    view = kd_results.compare_view([mnist], store=store)
    assert set(view.sweep["dataset"]) == {"mnist"} and view.metric_title == "accuracy %"
    assert view.points["y"].max() == pytest.approx(96.5)  # the cost/quality chart in % too


@pytest.fixture
def synthetic_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_app_caches: None) -> Path:
    monkeypatch.setattr("kdcore.store.SHIPPED_STORE", tmp_path / "no-shipped")
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    store = open_store()
    for r in all_records():
        store.put(r["key"], r)
    return tmp_path / "store"


def _sweep_values(at) -> dict[float, float]:
    """T → plotted mean of the sweep chart's KD points (from the chart's own data)."""
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        if "facet" in spec and spec.get("columns") == 2:
            rows = pa.ipc.open_stream(chart.proto.datasets[0].data.data).read_pandas()
            kd = rows[rows["role"] == "KD student"]
            return dict(zip(kd["T"], kd["mean"], strict=True))
    raise AssertionError("no temperature sweep chart on the page")


def test_compare_page_shows_the_course_students_own_sweep(synthetic_store: Path) -> None:
    at = apphelpers.open_page("app_pages/compare.py")
    mnist = next(o for o in at.multiselect(key="cmp_datasets").options if o.startswith("MNIST"))
    assert sorted(at.multiselect(key="cmp_datasets").value) == sorted(["Fashion-MNIST", mnist])
    assert "off unless you choose" in " ".join(c.value for c in at.caption)
    at.multiselect(key="cmp_datasets").set_value([mnist]).run()
    assert not at.exception
    sweep = _sweep_values(at)
    assert sweep[4.0] == pytest.approx(100 * (0.944 + 0.948 + 0.946) / 3)
    assert sweep[4.0] >= sweep[1.0]  # no dip from the 32-unit MLP and the CNN stored at T = 4
    assert "n = 1–3 seeds" in " ".join(c.value for c in at.caption)
    at.selectbox(key="cmp_student").set_value("MLP 32 student").run()
    assert not at.exception
    assert _sweep_values(at) == {4.0: pytest.approx(81.0)}
