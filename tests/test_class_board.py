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


# ---- issue 23: hostile and careless input on the board -------------------------------------------------
HOSTILE_NAMES = ("![p](http://127.0.0.1:9/p.png)", "[grades](https://evil.example)")


def seed_board(store_dir: Path, code: str, names: tuple[str, ...], accuracy: float = 0.9) -> list[dict]:
    """Labelled runs of hand-made stored results (no training): what board_frame reads of each."""
    from kdcore.store import ResultStore

    store = ResultStore(store_dir)
    out = []
    for i, name in enumerate(names):
        key = f"seeded{i:02d}"
        r = store.put(key, {"dataset": "mnist", "name": f"seeded {i}",
                            "config": {"arch": "student_mlp", "hidden": [32], "method": "hinton",
                                       "temperature": 4.0 + i, "alpha": 0.5},
                            "metrics": {"accuracy": accuracy - i / 100}})
        label_run(code, name, r, store_dir)
        out.append(r)
    return out


def test_names_on_the_board_are_shown_as_text(class_env: Path) -> None:
    from kdcore.views.text import plain

    seed_board(class_env, "c1", HOSTILE_NAMES)
    at = apphelpers.open_page("app_pages/class_board.py", 120)
    at.text_input(key="board_code").set_value("c1").run()
    assert not at.exception
    best = " ".join(c.value for c in at.caption if c.value.startswith("Best"))
    assert plain(HOSTILE_NAMES[0]) in best and "](http" not in best  # escaped: no image, no link
    assert sorted(at.dataframe[0].value["who"]) == sorted(HOSTILE_NAMES)  # the table shows them as typed
    help_text = {m.label: m.help for m in at.metric}["Best so far"]
    assert plain(HOSTILE_NAMES[0]) in help_text


def test_a_malformed_board_line_is_skipped_with_a_note_and_the_rest_kept(class_env: Path) -> None:
    seed_board(class_env, "c2", ("Ada", "Bo"))
    path = class_env / "boards" / "c2.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], '{"name": ["x"], "key": 7}', "{not json", lines[1]]) + "\n")
    frame = board_frame("c2")
    assert sorted(frame["who"]) == ["Ada", "Bo"]
    at = apphelpers.open_page("app_pages/class_board.py", 120)
    at.text_input(key="board_code").set_value("c2").run()
    assert not at.exception and not at.error
    notes = " ".join(c.value for c in at.caption)
    assert "line 2 of the board file" in notes and "line 3 of the board file" in notes
    assert sorted(at.dataframe[0].value["who"]) == ["Ada", "Bo"]


@pytest.mark.parametrize(("failure", "words"), [
    ("store", "The result store could not be used"),
    ("failed", "The job could not store its work"),
    ("queue", "The job queue is full"),
    ("bug", "report this"),
])
def test_a_failure_under_train_says_what_went_wrong_and_what_to_do(class_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   failure: str, words: str) -> None:
    from kdcore.jobs.runner import JobFailed, QueueFullError
    from kdcore.store import StoreError

    errors = {"store": StoreError("cannot write the result store at /srv/kd (Read-only file system); set "
                                  "KD_STORE_DIR to a writable folder"),
              "failed": JobFailed("StoreError: the disk is full: writing the result k into /srv/kd failed "
                                  "(0 MB free); free space there or set KD_STORE_DIR"),
              "queue": QueueFullError("the training queue is full (64 jobs wait for 1 worker(s))"),
              "bug": KeyError("metrics")}

    def fails(*args: object, **kwargs: object) -> dict:
        raise errors[failure]

    monkeypatch.setattr("kdcore.views.board.run_for_board", fails)
    at = apphelpers.open_page("app_pages/class_board.py", 120)
    at.text_input(key="board_name").set_value("Ada")
    at.button[0].click().run()
    assert not at.exception  # never Streamlit's generic error box
    shown = " ".join(e.value for e in at.error)
    assert words in shown and ("What to do" in shown or "KeyError" in shown), shown
    assert "hidden units" not in shown
