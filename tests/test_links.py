"""Links a lecturer can paste: page settings in the URL (``st.query_params``), read back on a fresh visit,
bad values refused with a note (never an exception)."""

from __future__ import annotations

from pathlib import Path

import apphelpers
import pytest
from streamlit.testing.v1 import AppTest

from kdcore.views import links

TEMPS = [0.5, 1, 2, 4, 8, 16, 64]


def test_read_link_takes_what_the_page_offers_and_notes_the_rest() -> None:
    asked, notes = links.read_link({"dataset": "fashion_mnist", "T": "15", "image": "7", "step": "3"},
                                   datasets=["mnist", "fashion_mnist"], temperatures=TEMPS, image_count=1000, steps=6)
    assert asked == {"dataset": "fashion_mnist", "T": 16, "image": 7, "step": 2} and notes == []
    asked, notes = links.read_link({"dataset": "cifar", "T": "abc", "image": "1999", "method": "x", "step": "0"},
                                   datasets=["mnist"], t_range=(1.0, 64.0), image_count=1000, methods=["hinton"], steps=6)
    assert asked == {}
    assert len(notes) == 5 and "1999" in notes[2] and "(999)" in notes[2] and "'abc' is not a number" in notes[1]
    assert links.read_link({"T": "100"}, t_range=(1.0, 64.0))[0] == {}
    assert links.read_link({"T": "inf"}, t_range=(1.0, 64.0))[0] == {}
    assert links.read_link({"image": "-1"}, image_count=10)[0] == {}


def test_link_params_round_trip() -> None:
    q = links.link_params(dataset="mnist", T=4.0, image=12, step=0, method=None)
    assert q == {"dataset": "mnist", "T": "4", "image": "12", "step": "1"}
    assert links.read_link(q, datasets=["mnist"], temperatures=TEMPS, image_count=20, steps=3)[0] == {
        "dataset": "mnist", "T": 4, "image": 12, "step": 0}
    with pytest.raises(KeyError, match="known"):
        links.link_params(colour="red")


def _open_with_link(page: str, query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(apphelpers.APP, default_timeout=120)
    at.query_params.update(query)
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.slow
def test_playground_opens_on_a_shared_link_and_writes_its_own(shipped_env: pytest.MonkeyPatch) -> None:
    at = _open_with_link("app_pages/temperature.py", {"dataset": "fashion_mnist", "T": "16", "image": "42"})
    assert at.selectbox(key="pg_dataset").value == "fashion_mnist"
    assert at.select_slider(key="pg_T").value == 16 and at.number_input(key="pg_index").value == 42
    assert at.query_params == {"dataset": "fashion_mnist", "T": "16", "image": "42"}
    at.select_slider(key="pg_T").set_value(2).run()
    assert at.query_params["T"] == "2"  # the link follows the page


def test_playground_refuses_a_bad_link_with_a_note(shipped_env: pytest.MonkeyPatch) -> None:
    at = _open_with_link("app_pages/temperature.py", {"dataset": "mnist", "T": "hot", "image": "999999"})
    notes = " ".join(w.value for w in at.warning)
    assert "'hot' is not a number" in notes and "'999999' is past the last test image" in notes
    assert at.select_slider(key="pg_T").value == 4 and at.number_input(key="pg_index").value == 0


def test_lab_opens_on_a_shared_link(shipped_env: pytest.MonkeyPatch) -> None:
    at = _open_with_link("app_pages/distill_lab.py", {"dataset": "mnist", "T": "8", "method": "dkd"})
    assert at.selectbox(key="lab_method").value == "dkd" and at.selectbox(key="lab_dataset").value == "mnist"
    assert at.slider(key="lab_T").value == 8.0
    assert at.query_params == {"method": "dkd", "dataset": "mnist", "T": "8"}


def test_lab_leads_with_full_fashion_mnist_when_shipped(shipped_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    at = apphelpers.open_page("app_pages/distill_lab.py", 120)
    assert at.selectbox(key="lab_dataset").value == "fashion_mnist"


def test_settings_survive_a_visit_to_another_page(shipped_env: pytest.MonkeyPatch) -> None:
    """Playground T = 16, image 42 → Learn → back: still T = 16, image 42 (and in the URL again); the lab keeps its
    method and the settings it brought the same way, and a link that asks for something else still wins."""
    at = _open_with_link("app_pages/temperature.py", {"dataset": "mnist"})
    at.select_slider(key="pg_T").set_value(16).run()
    at.number_input(key="pg_index").set_value(42).run()
    at.query_params.clear()  # the sidebar's links carry no query string
    at.switch_page("app_pages/distill_lab.py").run()
    assert not at.exception
    at.selectbox(key="lab_method").set_value("attention").run()  # brings the small CNN student, α = 0
    at.query_params.clear()
    at.switch_page("app_pages/learn.py").run()
    assert not at.exception
    at.query_params.clear()
    at.switch_page("app_pages/temperature.py").run()
    assert not at.exception
    assert at.select_slider(key="pg_T").value == 16 and at.number_input(key="pg_index").value == 42
    assert at.selectbox(key="pg_dataset").value == "mnist"
    assert at.query_params["T"] == "16" and at.query_params["image"] == "42"
    at.query_params.clear()
    at.switch_page("app_pages/distill_lab.py").run()
    assert at.selectbox(key="lab_method").value == "attention"
    assert at.radio(key="lab_student").value == "student_cnn" and at.slider(key="lab_alpha").value == 0.0
    # a link asking for another T wins over the kept one; the rest stays
    at.query_params.clear()
    at.query_params.update({"dataset": "mnist", "T": "2"})
    at.switch_page("app_pages/temperature.py").run()
    assert at.select_slider(key="pg_T").value == 2 and at.number_input(key="pg_index").value == 42


# ---- issue 23: hostile links -------------------------------------------------------------------------
def test_one_strict_parser_reads_numbers_from_links() -> None:
    assert links.parse_whole("42", 0, 100) == 42 and links.parse_whole("0", 0, 1) == 0
    for raw in ("²", "٣", "4.0", "-1", " 4", "+4", "1" * 5000, "1" * (links.MAX_DIGITS + 1), ""):
        assert links.parse_whole(raw, 0, 10**12) is None, raw
    assert links.parse_whole("101", 0, 100) is None
    assert links.parse_decimal("0.5", 0, 64) == 0.5 and links.parse_decimal("16", 0, 64) == 16.0
    for raw in ("١٢", "1e3", "inf", "nan", "-4", "4.", "1" * 5000):
        assert links.parse_decimal(raw, -1e12, 1e12) is None, raw


@pytest.mark.parametrize(("page", "query", "widget"), [
    ("app_pages/temperature.py", {"image": "²"}, "pg_index"),
    ("app_pages/temperature.py", {"image": "9" * 5000}, "pg_index"),
    ("app_pages/lesson.py", {"step": "²"}, None),
    ("app_pages/lesson.py", {"step": "7" * 5000}, None),
], ids=["image-superscript", "image-5000-digits", "step-superscript", "step-5000-digits"])
def test_a_link_with_a_strange_number_is_refused_with_a_note(shipped_env: pytest.MonkeyPatch, page: str,
                                                             query: dict[str, str], widget: str | None) -> None:
    at = _open_with_link(page, query)  # no exception
    notes = " ".join(w.value for w in at.warning)
    assert "the page's own setting is used instead" in notes and not at.error
    assert len(notes) < 600  # a 5,000-digit value is not echoed whole
    if widget is not None:
        assert at.number_input(key=widget).value == 0


def test_a_links_text_is_shown_as_text_not_as_a_link(shipped_env: pytest.MonkeyPatch) -> None:
    from kdcore.views.text import plain

    evil = "[Log in again](https://evil.example/login)"
    at = _open_with_link("app_pages/distill_lab.py", {"method": evil})
    notes = [w.value for w in at.warning]
    assert any(plain(links.shown(evil)) in n for n in notes), notes
    assert not any("](https://" in n or "https://evil" in n for n in notes)  # nothing markdown makes a link of
