"""The class board: runs labelled with a person's name and a class code, seen by the whole class; a fresh
class without deleting anything. Engine-level and as two people use the page (AppTest)."""

from __future__ import annotations

from pathlib import Path

import apphelpers
import pytest

from kdcore.board import board_entries, current_class, label_run, start_class
from kdcore.config import ConfigError
from kdcore.views.board import board_frame, board_summary, run_for_board


@pytest.fixture
def class_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_app_caches: None) -> Path:
    monkeypatch.setenv("KD_APP_TINY", "1")
    monkeypatch.setattr("kdcore.store.SHIPPED_STORE", tmp_path / "no-shipped-results")
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    return tmp_path / "store"


@pytest.mark.slow
def test_two_people_see_each_others_runs_and_a_fresh_class_keeps_them(class_env: Path) -> None:
    ada = run_for_board("c1", "Ada", "mnist", 4.0, 0.5, "32")
    bo = run_for_board("c1", " Bo ", "mnist", 8.0, 0.7, "32")
    same = run_for_board("c1", "Bo", "mnist", 4.0, 0.5, "32")  # Ada's setting: the same job, one result
    assert same["key"] == ada["key"] and same["cached"]
    frame = board_frame("c1")
    assert sorted(frame["who"]) == ["Ada", "Bo", "Bo"]
    assert set(frame["T"]) == {4.0, 8.0} and set(frame["key"]) == {ada["key"], bo["key"]}
    s = board_summary(frame)
    best = max(ada, bo, key=lambda r: r["metrics"]["accuracy"])
    assert s["people"] == 2 and s["best"]["accuracy"] == round(100 * best["metrics"]["accuracy"], 2)
    assert s["spread"]["min"] <= s["spread"]["max"]
    label_run("c1", "Ada", ada)  # labelling again adds nothing
    assert len(board_entries("c1")) == 3
    new = start_class()
    assert current_class() == new != "c1" and board_frame(new).empty
    assert len(board_frame("c1")) == 3  # the old class and its results stay
    with pytest.raises(ConfigError, match="name"):
        run_for_board("c1", "  ", "mnist", 4.0, 0.5, "32")
    with pytest.raises(ConfigError, match="class code"):
        board_frame("../etc")


@pytest.mark.slow
def test_board_page_two_users_see_each_other(class_env: Path) -> None:
    def user(name: str, temperature: float) -> object:
        at = apphelpers.open_page("app_pages/class_board.py", 180)
        at.text_input(key="board_name").set_value(name)
        at.text_input(key="board_code").set_value("seminar-1")
        at.select_slider(key="board_T").set_value(temperature)
        at.text_input(key="board_hidden").set_value("32")
        at.button[0].click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        return at

    user("Ada", 2.0)
    bo = user("Bo", 16.0)
    table = bo.dataframe[0].value
    assert sorted(table["who"]) == ["Ada", "Bo"] and sorted(table["T"]) == [2.0, 16.0]
    assert {m.label: m.value for m in bo.metric}["People"] == "2"
    bo.button(key="board_new_class").click().run()  # the lecturer starts a fresh class
    assert not bo.exception
    assert bo.text_input(key="board_code").value == current_class() != "seminar-1"
    assert any("No runs" in i.value for i in bo.info)
    assert len(board_frame("seminar-1")) == 2
