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
