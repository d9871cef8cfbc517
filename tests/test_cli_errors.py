"""Issue 12: one error boundary for the command line. Every bad command line or setting exits non-zero with
a one-paragraph message naming the problem, never a traceback (unless --debug), and stores nothing.

No job here trains: each is refused before any work (the corpus is run in-process, ~1 s per case)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kdcore import cli
from kdcore.cli import main as cli_main

QUICK = ["--epochs", "1", "--train-limit", "64", "--test-limit", "64", "--data-source", "mnist-5k", "--hidden", "8"]

# (command line, words the message must contain)
BAD_COMMAND_LINES: list[tuple[list[str], str]] = [
    (["distill", "--method", "bogus", *QUICK], "unknown method 'bogus'; choose one of"),
    (["sweep", "--method", "bogus", "--seeds", "0", *QUICK], "unknown method 'bogus'"),
    (["distill", "--param", "beta", *QUICK], "--param takes NAME=VALUE"),
    (["distill", "--param", "=3", *QUICK], "--param takes NAME=VALUE"),
    (["distill", "--param", "beta=", *QUICK], "--param takes NAME=VALUE"),
    (["distill", "--method", "dkd", "--param", "beta=100", *QUICK], "dkd takes dkd_alpha, dkd_beta"),
    (["distill", "--param", "temperature=3", *QUICK], "hinton: unknown setting(s) 'temperature'"),
    (["distill", "--method", "dkd", "--param", "dkd_beta=inf", *QUICK], "finite"),
    (["distill", "--method", "dkd", "--param", "dkd_beta=nan", *QUICK], "finite"),
    (["distill", "--method", "attention", "--arch", "student_cnn", "--param", "at_p=-1", *QUICK], "at_p"),
    (["distill", "--seed", str(10**20), *QUICK], "seed must be a whole number within 0..4294967295"),
    (["distill", "--seed", "-1", *QUICK], "seed must be"),
    (["train-teacher", "--seed", str(2**32), *QUICK[:-2]], "seed must be"),
    (["distill", "-T", "inf", *QUICK], "temperature T must be a number in (0, 1000]"),
    (["distill", "-T", "nan", *QUICK], "temperature T must be"),
    (["distill", "-T", "0", *QUICK], "temperature T must be"),
    (["distill", "-T", "1e9", *QUICK], "temperature T must be"),
    (["distill", "--lr", "inf", *QUICK], "learning rate must be a number in (0, 10]"),
    (["distill", "--lr", "nan", *QUICK], "learning rate must be"),
    (["distill", "--lr=-0.1", *QUICK], "learning rate must be"),
    (["distill", "--alpha", "nan", *QUICK], "alpha must be within [0, 1]"),
    (["distill", "--alpha=-inf", *QUICK], "alpha must be within [0, 1]"),
    (["distill", "--epochs", str(10**9), "--hidden", "8"], "epochs must be within 1..1000"),
    (["distill", "--epochs", "0", "--hidden", "8"], "epochs must be within"),
    (["distill", "--batch-size", "0", *QUICK], "batch size must be within"),
    (["distill", "--batch-size", str(10**7), *QUICK], "batch size must be within"),
    (["distill", "--train-limit", "0", "--epochs", "1", "--hidden", "8"], "train_limit must be within"),
    (["distill", *QUICK[:-2], "--hidden", "100000"], "hidden sizes"),
    (["distill", "--teacher-epochs", "0", *QUICK], "epochs must be within"),
    (["sweep", "--temperatures", "inf", "--seeds", "0", *QUICK], "temperature T must be"),
    (["sweep", "--alphas", "2", "--seeds", "0", *QUICK], "alpha must be within"),
    (["sweep", "--seeds", "-1", *QUICK], "seed must be"),
    (["sweep", "--param", "nope=1", "--seeds", "0", *QUICK], "hinton: unknown setting(s) 'nope'"),
    (["distill", "--data-source", "imagenet", "--epochs", "1", "--hidden", "8"], "source"),
    (["distill", "--dataset", "mnist", "--mhist-dir", "/tmp", *QUICK], "folder of your own"),
    (["train-teacher", "--dataset", "mhist", "--mhist-dir", "/nonexistent/kd-mhist"],
     "MHIST folder /nonexistent/kd-mhist does not exist"),
]

# (environment variable, value, words the message must contain); a value "{file}" is a plain file
BAD_SETTINGS: list[tuple[str, str, str]] = [
    ("KD_MEMORY_BUDGET", "garbage", "KD_MEMORY_BUDGET='garbage' is not valid"),
    ("KD_MEMORY_BUDGET", "-3G", "KD_MEMORY_BUDGET"),
    ("KD_WORKERS", "0", "KD_WORKERS='0' is not valid"),
    ("KD_WORKERS", "two", "KD_WORKERS"),
    ("KD_DEVICE", "tpu", "KD_DEVICE"),
    ("KD_OFFLINE", "maybe", "KD_OFFLINE"),
    ("KD_STORE_DIR", "{file}", "KD_STORE_DIR='{file}' is not valid: it names a file"),
    ("KD_DATA_DIR", "{file}", "KD_DATA_DIR='{file}' is not valid: it names a file"),
    ("KD_APP_TINY", "1,2", "KD_APP_TINY"),
]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = cli_main(argv)
    except SystemExit as e:  # argparse's own refusals (a malformed number) exit 2 with its usage line
        code = int(e.code or 0)
    return code, capsys.readouterr().err


@pytest.fixture
def store_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    return tmp_path / "store"


def nothing_stored(store_dir: Path) -> bool:
    objects = store_dir / "objects"
    return not objects.exists() or not any(objects.iterdir())


@pytest.mark.parametrize(("argv", "needle"), BAD_COMMAND_LINES, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_bad_command_lines_exit_2_with_a_message_and_store_nothing(argv: list[str], needle: str, store_dir: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli(argv, capsys)
    assert code == 2, err
    assert needle in err and err.startswith("error: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1  # one paragraph
    assert nothing_stored(store_dir)


@pytest.mark.parametrize(("name", "value", "needle"), BAD_SETTINGS, ids=lambda v: str(v))
def test_bad_settings_exit_2_naming_the_variable(name: str, value: str, needle: str, store_dir: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    monkeypatch.setenv(name, value.replace("{file}", str(a_file)))
    code, err = run_cli(["distill", *QUICK], capsys)
    assert code == 2 and needle.replace("{file}", str(a_file)) in err and "Traceback" not in err
    assert nothing_stored(store_dir)


def test_a_read_only_or_unusable_store_folder_is_refused_before_any_work(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    read_only = Path("/proc/kd-store") if os.geteuid() == 0 else tmp_path / "ro"  # root writes through chmod
    if os.geteuid() != 0:
        read_only.mkdir()
        read_only.chmod(0o555)
    monkeypatch.setenv("KD_STORE_DIR", str(read_only / "store"))
    code, err = run_cli(["distill", *QUICK], capsys)
    assert code == 2 and "cannot write the result store" in err and "KD_STORE_DIR" in err and "Traceback" not in err
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "objects").symlink_to(tmp_path)
    monkeypatch.setenv("KD_STORE_DIR", str(linked))
    code, err = run_cli(["distill", *QUICK], capsys)
    assert code == 2 and "symbolic link" in err and "Traceback" not in err


def test_an_unwritable_data_folder_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from kdcore.data import clear_cache

    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("KD_DATA_DIR", "/proc/kd-data" if os.geteuid() == 0 else "/")
    clear_cache()
    code, err = run_cli(["train-teacher", "--dataset", "mhist_synthetic"], capsys)
    clear_cache()
    assert code == 2 and "/proc/kd-data" in err and "KD_DATA_DIR" in err and "Traceback" not in err


def test_debug_shows_the_traceback_and_a_bug_exits_1_without_one(store_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli(["distill", "--method", "bogus", "--debug"], capsys)
    assert code == 2 and "Traceback" in err and "unknown method 'bogus'" in err

    def broken(a: object) -> int:
        raise KeyError("boom")

    monkeypatch.setattr(cli, "_dispatch", broken)
    code, err = run_cli(["methods"], capsys)
    assert code == 1 and "unexpected KeyError" in err and "--debug" in err and "Traceback" not in err


def test_methods_lists_each_methods_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "dkd_alpha, dkd_beta, dkd_warmup, dkd_ce_weight" in out and "every method also takes: width" in out


def test_the_app_gets_the_same_range_checks() -> None:
    from kdcore.config import ConfigError
    from kdcore.course import lab_job as lab_config

    with pytest.raises(ConfigError, match="temperature T must be"):
        lab_config("mnist", "hinton", temperature=float("inf"), alpha=0.5)


# ---- issue 23: messages that name the cause and the fix ------------------------------------------------
def test_many_workers_refusing_a_job_name_the_worker_budget_split(store_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from kdcore.jobs import reset_runner

    monkeypatch.setenv("KD_WORKERS", "64")
    monkeypatch.setenv("KD_RUNNER_MODE", "thread")
    monkeypatch.setenv("KD_MEMORY_BUDGET", "2G")
    reset_runner()  # the runner is made with this process's settings
    try:
        code, err = run_cli(["distill", *QUICK[:-2], "--hidden", "784,784", "--batch-size", "4096"], capsys)
    finally:
        reset_runner()
    assert code == 2 and "Traceback" not in err, err
    assert "KD_WORKERS=64" in err and "KD_MEMORY_BUDGET=2.00 GiB" in err and "32 MiB each" in err, err
    assert "set KD_WORKERS=" in err and nothing_stored(store_dir)


def test_cuda_asked_for_without_a_gpu_warns_and_trains_on_the_cpu(store_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    monkeypatch.setenv("KD_DEVICE", "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, err = run_cli(["distill", "--dry-run", *QUICK], capsys)
    assert code == 0 and "warning: KD_DEVICE=cuda, but no CUDA GPU is visible" in err and "on the CPU" in err
    monkeypatch.setenv("KD_DEVICE", "cpu")
    assert "warning" not in run_cli(["distill", "--dry-run", *QUICK], capsys)[1]
    import apphelpers  # the app says it too, on every page

    monkeypatch.setenv("KD_DEVICE", "cuda")
    at = apphelpers.open_page("app_pages/learn.py", 120)
    assert any("no CUDA GPU is visible" in w.value and "on the CPU" in w.value for w in at.sidebar.warning)


@pytest.mark.slow  # a one-epoch course teacher on MNIST-5k through the CLI (~6-13 s on 2 cores)
def test_a_stored_job_is_served_from_a_read_only_store_and_a_new_one_refused(
        store_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from kdcore.store import ResultStore, StoreError

    quick = [*QUICK, "--teacher-epochs", "1"]  # a one-epoch teacher: what is checked is the store, not the teacher
    assert run_cli(["distill", *quick, "--json"], capsys)[0] == 0  # stored while the folder was writable

    def read_only(self: ResultStore) -> None:  # as check_writable finds a read-only folder (root ignores chmod)
        raise StoreError(f"cannot write the result store at {self.root} (Read-only file system); set KD_STORE_DIR "
                         "to a writable folder")

    monkeypatch.setattr(ResultStore, "check_writable", read_only)
    monkeypatch.setattr(ResultStore, "_ensure_writable", read_only)
    code, err = run_cli(["distill", *quick], capsys)
    assert code == 0 and "error" not in err, err
    code, err = run_cli(["distill", *QUICK[:-1], "16", "--teacher-epochs", "1"], capsys)  # not stored: refused, naming the fix
    assert code == 2 and "cannot write the result store" in err and "KD_STORE_DIR" in err


def test_a_resumed_job_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    """A job stopped after its first epoch (a resume checkpoint written) goes on from it, and says so: a
    progress event the page shows, and a line on the command line."""
    import threading

    import torch

    from kdcore.models.contract import ModelOutput
    from kdcore.train.loop import FitSpec, JobCancelled, fit

    monkeypatch.setenv("KD_CHECKPOINT_EVERY_S", "0")
    torch.manual_seed(0)
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))

    class CE(torch.nn.Module):
        def forward(self, out, t_out, batch):  # noqa: ANN001, ANN201
            return {"ce": torch.nn.functional.cross_entropy(out.logits, batch.y)}

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(8, 3)

        def forward(self, x: torch.Tensor) -> ModelOutput:
            return ModelOutput(self.fc(x), {})

    def run(stop_after: int | None) -> list[dict]:
        events: list[dict] = []
        cancel = threading.Event()

        def progress(e: dict) -> None:
            events.append(e)
            if stop_after is not None and e.get("epoch") == stop_after:
                cancel.set()

        torch.manual_seed(0)
        try:
            fit(Tiny(), CE(), x, y, x, y, FitSpec(epochs=3, batch_size=32, lr=1e-2, seed=0, progress=progress,
                                                  cancel=cancel, checkpoint_path=tmp_path / "ck.pt"))
        except JobCancelled:
            pass
        return events

    run(stop_after=1)
    resumed = [e for e in run(stop_after=None) if e.get("resumed_from")]
    assert resumed and resumed[0]["resumed_from"] >= 1 and "resumed from its checkpoint" in resumed[0]["message"]
    from kdcore.views.lab import LabProgress  # the Distill lab's status line

    tracker = LabProgress()
    tracker.update(resumed[0])
    assert "resumed from its checkpoint after epoch" in tracker.label
    cb, close = cli._tqdm_progress("student")
    cb(resumed[0])
    close()
    assert "student: resumed from its checkpoint after epoch" in capsys.readouterr().err
