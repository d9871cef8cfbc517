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
    monkeypatch.setenv("KD_LECTURER_CODE", LECTURER)
    return tmp_path / "store"


LECTURER = "test-lecturer-code"


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
    (group,) = s["groups"]  # one data set, one student
    assert s["people"] == 2 and group["best"]["accuracy"] == round(100 * best["metrics"]["accuracy"], 2)
    assert group["spread"]["min"] <= group["spread"]["max"]
    if best["metrics"]["accuracy"] == ada["metrics"]["accuracy"]:  # Bo re-posted Ada's setting later: Ada's credit
        first = group["best"]["holders"][0]
        assert (first["who"], first["also"]) == ("Ada", ["Bo"]) and "T = 4, α = 0.5" in first["setting"]
    label_run("c1", "Ada", ada)  # labelling again adds nothing
    assert len(board_entries("c1")) == 3
    with pytest.raises(ConfigError, match="lecturer's code"):
        start_class("guess")
    assert current_class() == "class"  # refused: nothing changed
    new = start_class(LECTURER)
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
    table = next(d.value for d in bo.dataframe if "who" in d.value.columns)
    assert sorted(table["who"]) == ["Ada", "Bo"] and sorted(table["T"]) == [2.0, 16.0]
    summary = next(d.value for d in bo.dataframe if "first to reach it" in d.value.columns)
    assert len(summary) == 1 and summary["runs"].iloc[0] == 2 and "stand-in" in summary["data"].iloc[0]
    assert any("stand-in" in w.value for w in bo.warning)  # offline MNIST is the 5k subset: flagged
    assert {m.label: m.value for m in bo.metric}["People"] == "2"
    bo.button(key="board_new_class").click().run()  # a student presses it: refused without the lecturer's code
    assert not bo.exception and any("not the lecturer's code" in e.value for e in bo.error)
    assert bo.text_input(key="board_code").value == "seminar-1" and current_class() == "class"
    bo.text_input(key="board_lecturer").set_value(LECTURER)
    bo.button(key="board_new_class").click().run()  # the lecturer starts a fresh class
    assert not bo.exception
    assert bo.text_input(key="board_code").value == current_class() != "seminar-1"
    assert any("No runs" in i.value for i in bo.info)
    assert len(board_frame("seminar-1")) == 2


def _post(code: str, who: str, key: str, created: str, store: Path) -> None:
    label_run(code, who, {"key": key}, root=store)
    path = store / "boards" / f"{code}.jsonl"  # the time it was posted: set, so the order does not hang on a clock
    lines = path.read_text().splitlines()
    lines[-1] = lines[-1].replace(lines[-1].split('"created": "')[1].split('"')[0], created)
    path.write_text("\n".join(lines) + "\n")


def test_best_is_the_first_to_reach_it_ties_are_named_and_groups_never_mix(class_env: Path) -> None:
    from kdcore.course import course_student
    from kdcore.store import open_store

    store = open_store()

    def result(dataset: str, hidden: tuple[int, ...], t: float, acc: float, standin: bool = False) -> str:
        cfg = course_student(dataset, "hinton", hidden=hidden).replace(temperature=t)
        key = f"k-{dataset}-{hidden[0]}-{int(t)}"
        store.put(key, {"name": cfg.short_name(), "config": cfg.to_dict(), "dataset": dataset, "is_standin": standin,
                        "data_source_id": "mnist-5k" if standin else dataset, "metrics": {"accuracy": acc}})
        return key

    a = result("mnist", (784, 784), 4.0, 0.95, standin=True)
    b = result("mnist", (784, 784), 8.0, 0.95, standin=True)  # the same best, another setting: a tie
    c = result("mnist", (64,), 8.0, 0.90, standin=True)
    d = result("fashion_mnist", (784, 784), 4.0, 0.89)
    _post("c2", "Ada", a, "2026-01-01T10:00:00+00:00", class_env)
    _post("c2", "Bo", b, "2026-01-01T10:05:00+00:00", class_env)
    _post("c2", "Cy", a, "2026-01-01T10:09:00+00:00", class_env)  # Ada's setting re-posted later
    _post("c2", "Cy", c, "2026-01-01T10:10:00+00:00", class_env)
    _post("c2", "Di", d, "2026-01-01T10:11:00+00:00", class_env)
    groups = {(g["data"], g["student"]): g for g in board_summary(board_frame("c2"))["groups"]}
    assert len(groups) == 3  # MNIST-5k and Fashion-MNIST apart; the 64-unit student apart from the course one
    mnist = next(g for (data, student), g in groups.items() if "784-784" in student and data.startswith("MNIST"))
    assert "stand-in" in mnist["data"] and mnist["standin"]  # the stand-in is flagged where its numbers are shown
    assert [(h["who"], h["setting"].split(" · ")[-1]) for h in mnist["best"]["holders"]] == [
        ("Ada", "Hinton KD, T = 4, α = 0.5"), ("Bo", "Hinton KD, T = 8, α = 0.5")]
    assert mnist["best"]["holders"][0]["also"] == ["Cy"] and mnist["runs"] == 3
    fashion = next(g for (data, _), g in groups.items() if data == "Fashion-MNIST")
    assert fashion["best"]["accuracy"] == 89.0 and fashion["spread"] == {"min": 89.0, "max": 89.0, "std": 0.0}
    small = next(g for (_, student), g in groups.items() if student.startswith("MLP 64 "))
    assert small["best"]["accuracy"] == 90.0 and [h["who"] for h in small["best"]["holders"]] == ["Cy"]


def test_without_kd_lecturer_code_a_random_code_is_printed_once(monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from kdcore import board

    monkeypatch.delenv("KD_LECTURER_CODE", raising=False)
    monkeypatch.setattr(board, "_random_code", None)
    code = board.lecturer_code()
    assert board.lecturer_code() == code and len(code) >= 12
    err = capsys.readouterr().err
    assert err.count(code) == 1 and "KD_LECTURER_CODE" in err
    with pytest.raises(ConfigError, match="server log"):
        board.check_lecturer("")
    board.check_lecturer(code)


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
    # names reach the page in tables (text) and, escaped, in the "Best:" caption: never as an image or a link
    summary = next(d.value for d in at.dataframe if "first to reach it" in d.value.columns)
    assert HOSTILE_NAMES[0] in summary["first to reach it"].iloc[0]
    markdown = " ".join(m.value for m in [*at.markdown, *at.caption, *at.info, *at.warning])
    assert "](http" not in markdown and f"Best: {plain(HOSTILE_NAMES[0])}" in markdown
    runs = next(d.value for d in at.dataframe if "who" in d.value.columns)
    assert sorted(runs["who"]) == sorted(HOSTILE_NAMES)  # the table shows them as typed


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
    assert sorted(next(d.value for d in at.dataframe if "who" in d.value.columns)["who"]) == ["Ada", "Bo"]


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
