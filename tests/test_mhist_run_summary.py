"""The MHIST page's Run keeps its summary after the page reloads its table ("Done" is not wiped), and "Curves for"
opens on the most informative result (not a model that answers HP for every tile)."""

from __future__ import annotations

from pathlib import Path

import apphelpers
import pytest
from test_mhist_scoring import COLLAPSED_STUDENT, COLLAPSED_TEACHER, GOOD_STUDENT

from kdcore.store import open_store
from kdcore.views.mhist_view import answers_one_class, mhist_view


@pytest.fixture
def three_results(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_app_caches: None) -> None:
    monkeypatch.setattr("kdcore.store.SHIPPED_STORE", tmp_path / "no-shipped")
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    store = open_store()
    for r in (COLLAPSED_TEACHER, COLLAPSED_STUDENT, GOOD_STUDENT):
        store.put(r["key"], r)


def test_curves_open_on_a_model_that_does_not_answer_one_class(three_results: None) -> None:
    assert answers_one_class(COLLAPSED_STUDENT) and not answers_one_class(GOOD_STUDENT)
    at = apphelpers.open_page("app_pages/mhist.py")
    results = mhist_view().results
    assert len(results) == 3
    assert results[at.selectbox(key="mh_result").value]["key"] == GOOD_STUDENT["key"]


def test_a_run_keeps_its_summary_and_opens_on_its_own_result(three_results: None,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from kdcore.views import lab

    answers = iter([COLLAPSED_TEACHER, GOOD_STUDENT, COLLAPSED_STUDENT, COLLAPSED_STUDENT])
    monkeypatch.setattr(lab, "train_or_fetch", lambda cfg, progress=None: {**next(answers), "cached": True})
    at = apphelpers.open_page("app_pages/mhist.py", 120)
    results = mhist_view().results
    collapsed = next(k for k, r in results.items() if r["key"] == COLLAPSED_STUDENT["key"])
    at.selectbox(key="mh_result").set_value(collapsed).run()
    at.selectbox(key="mh_dataset").set_value("mhist_synthetic")
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    done = [s.value for s in at.success if s.value.startswith("Done: ")]
    assert len(done) == 1 and done[0].count("from the store") >= 2, done  # the summary stays after the rerun
    # the run's informative result, not the one picked before, nor its KD student answering HP everywhere
    assert results[at.selectbox(key="mh_result").value]["key"] == GOOD_STUDENT["key"]
    at.text_input(key="mh_folder").set_value("").run()  # another widget: the summary is still there
    assert any(s.value.startswith("Done: ") for s in at.success)
