"""Issue 24: one job builder (kdcore.course), data-set facts on the DataPair, one hidden-size parser, one
validation and one key per job in the submit path, and no arrow from the commands or the runner into the views."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from kdcore import config, course
from kdcore.cli import main as cli_main
from kdcore.config import ConfigError, JobConfig, check_ranges, parse_hidden, transfer_stages
from kdcore.data.pairs import DATA_PAIRS, STANDIN_SCHEDULE, data_pair, offered
from kdcore.methods import get_method
from kdcore.views import lab

ROOT = Path(__file__).resolve().parents[1]


def test_data_set_names_are_the_data_pairs_and_a_new_one_needs_nothing_else() -> None:
    assert config.DATASETS == tuple(DATA_PAIRS)  # read now: folder data sets registered by earlier tests count
    with pytest.raises(ConfigError, match="unknown dataset 'cifar'.*mhist_synthetic"):
        check_ranges(JobConfig(dataset="cifar"))
    assert set(offered("lab")) | set(offered("mhist")) <= set(DATA_PAIRS)
    assert offered("lab")[0] == lab.LAB_DATASETS[0] and offered("mhist") == ("mhist", "mhist_synthetic")


def test_the_transfer_schedule_and_the_stand_in_s_come_from_the_data_pair() -> None:
    for name in ("mhist", "mhist_synthetic"):
        assert transfer_stages(course.course_teacher(name)) == data_pair(name).stage_epochs
    assert data_pair("mnist").stage_epochs is None and data_pair("mhist_synthetic").is_standin
    for job in course.pipeline_jobs("mhist_synthetic", method="takd"):  # every job of the stand-in's pipeline
        assert set(STANDIN_SCHEDULE) <= set(job.method_params), job.short_name()
    assert all(not job.method_params for job in course.pipeline_jobs("mnist"))


@pytest.mark.parametrize("bad", ["", "784,abc", "0", "65537", ",".join(["8"] * 33)])
def test_the_lab_and_the_cli_refuse_a_hidden_size_alike(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_hidden(bad)
    with pytest.raises(ConfigError, match="hidden"):
        course.lab_job("mnist", "hinton", bad)
    assert cli_main(["distill", "--dry-run", "--hidden", bad]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(refused.value).split(";")[0] in err


def test_the_largest_hidden_size_the_config_takes_the_form_takes() -> None:
    assert parse_hidden("65536; 32x8") == (65536, 32, 8)
    assert course.lab_job("mnist", "scratch", "65536").hidden == (65536,)


@pytest.mark.parametrize("name", ["attention", "takd", "fitnet"])
def test_a_method_s_student_is_stated_once(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lab's form and precompute's suite train the student the Method names (StudentDefaults)."""
    monkeypatch.delenv("KD_APP_TINY", raising=False)
    own = get_method(name).student_defaults
    suite = [c for c in course.method_suite("mnist", (0,)) if c.method == name]
    f = lab.form_defaults(name)
    formed = course.lab_job("mnist", name, str(f["hidden"]), str(f["student"]), int(f["width"]), float(f["T"]),
                            float(f["alpha"]), int(f["epochs"]))
    assert formed in suite  # the lab's first run is a shipped result's job
    for job in (formed, course.method_student("mnist", name)):
        assert job.arch == (own.arch or "student_mlp")
        assert own.hidden is None or job.hidden == own.hidden
        assert own.alpha is None or job.alpha == own.alpha


def test_the_method_suite_refuses_a_transfer_pair_with_the_way_to_its_jobs() -> None:
    with pytest.raises(ConfigError, match="precompute --only mhist"):
        course.method_suite("mhist_synthetic", (0,))


def test_a_job_is_validated_and_keyed_once_on_its_way_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kdcore.jobs.runner as runner_module
    import kdcore.jobs.submit as submit_module
    import kdcore.train as train_package
    import kdcore.train.job as job_module
    from kdcore.jobs import reset_runner

    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("KD_RUNNER_MODE", "thread")
    monkeypatch.setenv("KD_OFFLINE", "1")
    reset_runner()
    config = course.course_student("mnist", "scratch", seed=11, hidden=(8,), epochs=1, train_limit=64, test_limit=32,
                                   data_source="mnist-5k")
    calls: dict[str, int] = {"validate": 0, "key": 0}

    def counting(name: str, real):  # noqa: ANN001, ANN202
        def wrapper(c, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            calls[name] += c == config
            return real(c, *args, **kwargs)
        return wrapper

    for module in (submit_module, runner_module, job_module):
        monkeypatch.setattr(module, "validate", counting("validate", module.validate))
    real_key = job_module.job_key
    monkeypatch.setattr(job_module, "job_key", counting("key", real_key))
    monkeypatch.setattr(train_package, "job_key", job_module.job_key)
    try:
        result = submit_module.run_through_runner(config)
    finally:
        reset_runner()
    assert not result["cached"] and result["key"] == real_key(config)
    assert calls == {"validate": 1, "key": 1}


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_no_arrow_from_the_commands_the_runner_or_training_into_the_views_nor_from_app_into_training() -> None:
    # (kdcore/bench/app.py and child.py time the playground page's own view call, in a child process: not here)
    rooms = [*sorted((ROOT / "kdcore" / "jobs").glob("*.py")), *sorted((ROOT / "kdcore" / "train").glob("*.py")),
             ROOT / "kdcore" / "precompute.py", ROOT / "kdcore" / "course.py", ROOT / "kdcore" / "inference.py",
             ROOT / "kdcore" / "subclass_examples.py", ROOT / "kdcore" / "sweeps.py"]
    into_views = {str(p.relative_to(ROOT)): sorted(m for m in _imports(p) if m.startswith("kdcore.views"))
                  for p in rooms}
    assert {room: mods for room, mods in into_views.items() if mods} == {}
    assert not [m for m in _imports(ROOT / "app.py") if m.startswith("kdcore.train")]
