"""Latency is measured on the machine that serves the page, once per network per process, with the device named;
a stored record's own latency (whatever machine trained it) is not what the pages show."""

from __future__ import annotations

import pandas as pd

from kdcore import latency
from kdcore.course import course_student, course_teacher
from kdcore.views import lab, session


def test_latency_is_measured_here_once_per_network(monkeypatch) -> None:
    built = []
    real = latency._measure.__wrapped__

    def counting(*net):
        built.append(net)
        return real(*net)

    monkeypatch.setattr(latency, "_measure", latency.functools.lru_cache(maxsize=8)(counting))
    mlp = course_student("mnist", "scratch", hidden=(32,)).to_dict()
    first, again = latency.latency_here(mlp), latency.latency_here({**mlp, "seed": 5})
    assert first == again and len(built) == 1  # cached: a seed changes nothing about the network
    assert first.ms is not None and 0 < first.ms < 1000
    assert first.device == latency.device_here() and "CPU" in first.device
    latency.latency_here(course_student("mnist", "hinton", hidden=(32,)).to_dict())  # same network, another method
    assert len(built) == 1
    latency.latency_here(course_student("mnist", "scratch", hidden=(64,)).to_dict())
    assert len(built) == 2


def test_the_labs_table_shows_latency_measured_here_not_the_records(monkeypatch) -> None:
    monkeypatch.setattr(latency, "latency_here", lambda cfg: latency.Latency(0.5 if cfg["arch"] == "teacher_cnn" else
                                                                             0.1, "here"))
    records = {name: {"config": c.to_dict(), "dataset": "mnist", "metrics": {"accuracy": 0.9}, "n_train": 4000,
                      "n_test": 1000, "complexity": {"flops": 10, "params": 5, "latency_ms": 99.0}, "key": name}
               for name, c in (("teacher", course_teacher("mnist")), ("this run", course_student("mnist", "hinton")))}
    table = lab.comparison_frame(records).set_index("model")
    assert table.loc["teacher", "latency ms (here)"] == 0.5 and table.loc["this run", "latency ms (here)"] == 0.1
    assert 99.0 not in pd.to_numeric(table["latency ms (here)"]).tolist()


def test_kept_settings_come_back_and_a_new_link_is_read() -> None:
    state: dict = {}
    assert session.keep(state, "pg", ("pg_T",), {}) is True  # never drawn: read the link
    state["pg_T"] = 16
    session.keep(state, "pg", ("pg_T",), {})
    session.wrote(state, "pg", {"T": "16"})
    del state["pg_T"]  # Streamlit drops a widget's value while another page is drawn
    assert session.keep(state, "pg", ("pg_T",), {}) is False and state["pg_T"] == 16
    assert session.keep(state, "pg", ("pg_T",), {"T": "16"}) is False  # what the page wrote itself
    assert session.keep(state, "pg", ("pg_T",), {"T": "2"}) is True  # a link asking for something else
    session.wrote(state, "pg", {"T": "24"})  # a quick second move: its rerun still carries the URL of the first
    state["pg_T"] = 24
    assert session.keep(state, "pg", ("pg_T",), {"T": "16"}) is False and state["pg_T"] == 24  # not undone
