"""The guided lesson: every step renders on the shipped store, its answer is built from stored results (the
option it marks follows the numbers), presenter mode steps through with next/previous, and links carry the step."""

from __future__ import annotations

import apphelpers
import pytest
from streamlit.testing.v1 import AppTest

from kdcore.views import lesson

PAGE = "app_pages/lesson.py"


def _texts(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "caption", "info", "warning", "success", "header")
                     for e in getattr(at, kind))


@pytest.mark.slow
def test_every_step_walked_in_apptest_with_answers_from_the_store(shipped_env: pytest.MonkeyPatch) -> None:
    at = apphelpers.open_page(PAGE, 180)
    assert at.selectbox(key="ls_dataset").value == "fashion_mnist"  # leads with full Fashion-MNIST where shipped
    for i, step in enumerate(lesson.STEPS):
        assert at.header[0].value.startswith(f"{i + 1} / {len(lesson.STEPS)}"), at.header[0].value
        assert not at.exception and not at.error, [e.value for e in at.error]
        if i == 0:
            assert at.button(key="ls_prev").disabled
        at.radio(key=f"ls_guess_{step.key}").set_value(step.options[0]).run()
        at.toggle(key=f"ls_reveal_{step.key}").set_value(True).run()
        assert not at.exception
        shown = _texts(at)
        answer = lesson.reveal(step.key, "fashion_mnist", 0)
        assert answer.correct in step.options, step.key  # the shipped store answers every step
        assert answer.answer in shown and answer.source in shown and step.takeaway in shown
        assert "seed" in answer.source and "Data:" in answer.source
        verdict = at.success if step.options[0] == answer.correct else at.warning
        assert any(f"the stored results say “{answer.correct}”" in v.value for v in verdict)
        if i < len(lesson.STEPS) - 1:
            at.button(key="ls_next").click().run()
    assert at.button(key="ls_next").disabled
    assert at.query_params["step"] == str(len(lesson.STEPS))
    at.button(key="ls_prev").click().run()
    assert at.header[0].value.startswith(f"{len(lesson.STEPS) - 1} /")


def test_presenter_mode_and_a_shared_step(shipped_env: pytest.MonkeyPatch) -> None:
    at = AppTest.from_file(apphelpers.APP, default_timeout=180)
    at.query_params.update({"step": "3", "dataset": "mnist"})
    at.switch_page(PAGE)
    at.run()
    assert not at.exception
    assert at.header[0].value.startswith("3 /") and at.selectbox(key="ls_dataset").value == "mnist"
    at.toggle(key="ls_presenter").set_value(True).run()
    assert not at.title and not at.dataframe  # one step per screen: no page title, no side tables
    at.button(key="ls_next").click().run()
    assert at.header[0].value.startswith("4 /")
    at.toggle(key="ls_reveal_compare").set_value(True).run()
    assert "no measurable gain" in _texts(at)


def test_answers_follow_the_numbers_not_the_text(shipped_env: pytest.MonkeyPatch) -> None:
    """The marked option is computed: on the MNIST subset the paired gains disagree in sign, so "inside the noise"."""
    gains = lesson.paired_gain(lesson.course_results("mnist"))
    expected = ("yes, on every seed" if (gains["gain"] > 0).all() else "no, it does worse"
                if (gains["gain"] < 0).all() else "sometimes: inside the seed noise")
    assert lesson.reveal("train", "mnist").correct == expected
    g = lesson.paired_gain(lesson.course_results("fashion_mnist"))
    assert f"{g['gain'].mean():+.2f} ± {g['gain'].std():.2f} points" in lesson.reveal("train", "fashion_mnist").answer


def test_empty_store_says_what_to_run(monkeypatch: pytest.MonkeyPatch, tmp_path, fresh_app_caches) -> None:
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "empty"))
    monkeypatch.setattr("kdcore.store.SHIPPED_STORE", tmp_path / "no-shipped-results")
    for step in lesson.STEPS:
        r = lesson.reveal(step.key, "mnist")
        assert r.correct is None and ("precompute" in r.answer or "MHIST page" in r.answer)
    at = apphelpers.open_page(PAGE, 120)
    at.toggle(key="ls_reveal_compress").set_value(True).run()
    assert not at.exception and "precompute" in _texts(at)
