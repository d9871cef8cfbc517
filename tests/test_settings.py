"""kdcore.settings: every KD_* variable's default, a good value, and a clear error for a malformed one."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from kdcore import settings as settings_module
from kdcore.config import ConfigError
from kdcore.settings import ENV_VARS, Settings, SettingsError, settings

KDCORE = Path(settings_module.__file__).resolve().parent


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No KD_* variable set (pytest restores the suite's own afterwards)."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults(clean_env: pytest.MonkeyPatch) -> None:
    cpus = os.cpu_count() or 1
    assert settings() == Settings(
        data_dir=Path("data"), store_dir=None, mhist_dir=None, offline=False, device="auto",
        workers=max(1, cpus // 2), queue_limit=64, runner_mode="auto", worker_threads=None,
        memory_budget=2 * 1024**3, app_tiny=None, cost_classes=(0, 1, 2, 3, 4, 5), seeds=None)


def test_empty_means_default(clean_env: pytest.MonkeyPatch) -> None:
    default = settings()
    for name in ENV_VARS:
        clean_env.setenv(name, "  ")
    assert settings() == default


@pytest.mark.parametrize(("name", "raw", "field", "value"), [
    ("KD_DATA_DIR", "/tmp/kd-data", "data_dir", Path("/tmp/kd-data")),
    ("KD_DATA_DIR", "~/kd-data", "data_dir", Path.home() / "kd-data"),
    ("KD_STORE_DIR", "/srv/kd/store", "store_dir", Path("/srv/kd/store")),
    ("KD_MHIST_DIR", "~/MHIST", "mhist_dir", Path.home() / "MHIST"),
    ("KD_OFFLINE", "1", "offline", True),
    ("KD_OFFLINE", "Yes", "offline", True),
    ("KD_OFFLINE", "true", "offline", True),
    ("KD_OFFLINE", "0", "offline", False),
    ("KD_OFFLINE", "no", "offline", False),
    ("KD_DEVICE", "cpu", "device", "cpu"),
    ("KD_DEVICE", "CUDA", "device", "cuda"),
    ("KD_WORKERS", "3", "workers", 3),
    ("KD_QUEUE_LIMIT", "5", "queue_limit", 5),
    ("KD_RUNNER_MODE", "thread", "runner_mode", "thread"),
    ("KD_WORKER_THREADS", "2", "worker_threads", 2),
    ("KD_WORKER_THREADS", "0", "worker_threads", 0),
    ("KD_MEMORY_BUDGET", "1500M", "memory_budget", 1500 * 1024**2),
    ("KD_MEMORY_BUDGET", "2.5GiB", "memory_budget", int(2.5 * 1024**3)),
    ("KD_MEMORY_BUDGET", "1048576", "memory_budget", 1024**2),
    ("KD_APP_TINY", "1", "app_tiny", (256, 128, 1)),
    ("KD_APP_TINY", "100,50,2", "app_tiny", (100, 50, 2)),
    ("KD_APP_TINY", "0", "app_tiny", None),
    ("KD_APP_TINY", "False", "app_tiny", None),
    ("KD_COST_CLASSES", "1,2", "cost_classes", (1, 2)),
    ("KD_SEEDS", "0, 1", "seeds", (0, 1)),
    ("KD_LECTURER_CODE", " ece1512-lecturer ", "lecturer_code", "ece1512-lecturer"),
])
def test_good_values(clean_env: pytest.MonkeyPatch, name: str, raw: str, field: str, value: object) -> None:
    clean_env.setenv(name, raw)
    assert getattr(settings(), field) == value


@pytest.mark.parametrize(("name", "raw", "example"), [
    ("KD_OFFLINE", "maybe", "KD_OFFLINE=1"),
    ("KD_DEVICE", "tpu", "KD_DEVICE=cpu"),
    ("KD_WORKERS", "-1", "KD_WORKERS=2"),
    ("KD_WORKERS", "two", "KD_WORKERS=2"),
    ("KD_WORKERS", "0", "KD_WORKERS=2"),
    ("KD_QUEUE_LIMIT", "0", "KD_QUEUE_LIMIT=32"),
    ("KD_QUEUE_LIMIT", "1.5", "KD_QUEUE_LIMIT=32"),
    ("KD_RUNNER_MODE", "fork", "KD_RUNNER_MODE=thread"),
    ("KD_WORKER_THREADS", "-2", "KD_WORKER_THREADS=2"),
    ("KD_MEMORY_BUDGET", "garbage", "KD_MEMORY_BUDGET=2G"),
    ("KD_MEMORY_BUDGET", "0", "KD_MEMORY_BUDGET=2G"),
    ("KD_MEMORY_BUDGET", "-1G", "KD_MEMORY_BUDGET=2G"),
    ("KD_APP_TINY", "1,2", "KD_APP_TINY=256,128,1"),
    ("KD_APP_TINY", "a,b,c", "KD_APP_TINY=256,128,1"),
    ("KD_APP_TINY", "0,128,1", "KD_APP_TINY=256,128,1"),
    ("KD_COST_CLASSES", "7", "KD_COST_CLASSES=1,2"),
    ("KD_COST_CLASSES", "one", "KD_COST_CLASSES=1,2"),
    ("KD_SEEDS", "0;1", "KD_SEEDS=0,1"),
    ("KD_SEEDS", ",", "KD_SEEDS=0,1"),
    ("KD_LECTURER_CODE", "abc", "KD_LECTURER_CODE=ece1512-lecturer"),  # too short: guessed
    ("KD_LECTURER_CODE", "my code!", "KD_LECTURER_CODE=ece1512-lecturer"),
])
def test_malformed_value_names_variable_value_and_example(clean_env: pytest.MonkeyPatch, name: str, raw: str,
                                                           example: str) -> None:
    clean_env.setenv(name, raw)
    with pytest.raises(SettingsError) as e:
        settings()
    msg = str(e.value)
    assert f"{name}={raw!r}" in msg and example in msg, msg
    assert e.value.name == name and e.value.value == raw
    assert isinstance(e.value, ConfigError)  # the CLI prints it as "error: …" (exit 2)


def test_follows_the_current_environment_and_memoises(clean_env: pytest.MonkeyPatch) -> None:
    first = settings()
    assert settings() is first  # one parse per distinct environment
    clean_env.setenv("KD_WORKERS", "7")
    assert settings().workers == 7
    clean_env.setenv("KD_WORKERS", "oops")
    with pytest.raises(SettingsError, match="KD_WORKERS"):
        settings()
    clean_env.delenv("KD_WORKERS")
    assert settings() is first


def test_consumers_read_settings(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from kdcore import net, store
    from kdcore.jobs.memory import memory_budget

    clean_env.setenv("KD_STORE_DIR", str(tmp_path / "s"))
    clean_env.setenv("KD_MEMORY_BUDGET", "1G")
    clean_env.setenv("KD_OFFLINE", "on")
    assert store.default_store_dir() == tmp_path / "s" and memory_budget() == 1024**3 and net.offline_forced()
    clean_env.delenv("KD_STORE_DIR")
    assert store.default_store_dir() == Path.home() / ".cache" / "distillation-lab" / "store"
    clean_env.setenv("KD_MEMORY_BUDGET", "garbage")
    with pytest.raises(SettingsError, match="KD_MEMORY_BUDGET='garbage'"):
        memory_budget()


def test_runner_takes_its_settings(clean_env: pytest.MonkeyPatch) -> None:
    from kdcore.jobs.runner import JobRunner

    clean_env.setenv("KD_WORKERS", "3")
    clean_env.setenv("KD_QUEUE_LIMIT", "4")
    clean_env.setenv("KD_RUNNER_MODE", "thread")
    clean_env.setenv("KD_MEMORY_BUDGET", "1G")
    runner = JobRunner()  # starts nothing until a job is submitted
    assert (runner.workers, runner.queue_limit, runner.mode, runner.memory_budget) == (3, 4, "thread", 1024**3)
    assert runner.worker_threads == max(1, (os.cpu_count() or 1) // 3)
    clean_env.setenv("KD_WORKER_THREADS", "0")  # 0: torch's own default
    assert JobRunner(workers=1).worker_threads == 0
    clean_env.setenv("KD_WORKERS", "two")
    with pytest.raises(SettingsError, match="KD_WORKERS='two'"):
        JobRunner()


def test_every_kd_variable_in_kdcore_is_a_setting_and_documented() -> None:
    mentioned = set()
    for path in KDCORE.rglob("*.py"):
        mentioned |= set(re.findall(r"\bKD_[A-Z_]*[A-Z]\b", path.read_text()))
    assert mentioned <= set(ENV_VARS), mentioned - set(ENV_VARS)
    doc = settings_module.__doc__ or ""
    assert all(f"``{name}``" in doc for name in ENV_VARS)


@pytest.mark.slow
def test_settings_module_is_light() -> None:
    """No torch at import time, and of kdcore only kdcore.errors (no import circles: config reads data.pairs, which
    reads settings)."""
    import ast
    import subprocess
    import sys

    tree = ast.parse(Path(settings_module.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert {m for m in imported if m and m.startswith("kdcore")} == {"kdcore.errors"}
    code = "import sys, kdcore.settings; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=KDCORE.parent).stdout
    assert out.strip() == "False"
