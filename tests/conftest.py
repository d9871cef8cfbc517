"""Suite-wide isolation: no network, no writes outside pytest's temp folders."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import browser_support
import pytest

# Set before any kdcore import decides "online?" (the answer is cached per process). The suite
# must pass on a machine with no internet, and must never download anything when it has one.
os.environ["KD_OFFLINE"] = "1"
_session_tmp = tempfile.mkdtemp(prefix="kd-tests-")
os.environ.setdefault("KD_STORE_DIR", os.path.join(_session_tmp, "store"))
os.environ.setdefault("KD_DATA_DIR", os.path.join(_session_tmp, "data"))
if _worker := os.environ.get("PYTEST_XDIST_WORKER"):  # under pytest-xdist: a store and data folder per worker
    for _name in ("KD_STORE_DIR", "KD_DATA_DIR"):       # (a test that counts a store's entries sees its own only)
        os.environ[_name] = os.path.join(os.environ[_name], _worker)
# In-process tests run jobs in runner threads (no second torch per test); the browser test starts
# the app with the deployed default (worker processes).
os.environ.setdefault("KD_RUNNER_MODE", "thread")

# One intra-op torch thread for the in-process tests. Their models are tiny: with two OpenMP threads
# on 2 cores each small op paid for a hand-off, and the threads spun between ops (sys time was 98 s of
# the fast loop's 203 s; 161 s with one thread). Set on torch, not in OMP_NUM_THREADS, so the
# subprocesses the suite starts (worker processes, CLIs, the app under the browser) keep the deployed
# default and stay realistic.
import torch  # noqa: E402 - after the environment above, which kdcore reads at import

torch.set_num_threads(1)


# ---- shared fixtures -------------------------------------------------------------------------------
def _clear_app_caches() -> None:
    import streamlit as st

    from kdcore.views import playground

    st.cache_data.clear()
    st.cache_resource.clear()
    playground.clear_caches()


@pytest.fixture
def fresh_app_caches():
    """Streamlit's and the playground's memoised store listings and models, cleared around a test."""
    _clear_app_caches()
    yield
    _clear_app_caches()


@pytest.fixture
def shipped_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_app_caches: None) -> pytest.MonkeyPatch:
    """An empty user store over the shipped results (assets/store); fresh caches."""
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "user-store"))
    return monkeypatch


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module's 224×224 passes: on a machine whose cores are busy, two spinning
    OpenMP threads made them ~60× slower (2.3 s instead of 0.04 s per MobileNetV2 batch of 2). The suite
    sets one thread at start-up (above); this keeps a module at one even if a test before it changed it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_course_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny MNIST course pipeline (teacher, scratch twin, Hinton KD student, seed 0), trained once per
    session in tiny mode with the shipped store hidden. Read-only by convention: take a copy
    (``apphelpers.copy_tiny_course``), as tests add runs to their store."""
    from kdcore.course import pipeline_jobs
    from kdcore.views import lab

    root = tmp_path_factory.mktemp("tiny-course-template")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KD_STORE_DIR", str(root))
        mp.setenv("KD_APP_TINY", "1")
        mp.setattr("kdcore.store.SHIPPED_STORE", root / "no-shipped-results")
        for cfg in pipeline_jobs("mnist"):
            lab.train_or_fetch(cfg)
    return root


@pytest.fixture
def mhist_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """MHIST tests: offline, CPU, no real MHIST; the synthetic stand-in is drawn once per session."""
    from kdcore.data import clear_cache

    monkeypatch.setenv("KD_DATA_DIR", str(tmp_path_factory.getbasetemp() / "data"))
    monkeypatch.setenv("KD_OFFLINE", "1")
    monkeypatch.setenv("KD_DEVICE", "cpu")
    monkeypatch.delenv("KD_MHIST_DIR", raising=False)
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest):
    """``streamlit run app.py`` as deployed (worker processes), tiny jobs, its own store; yields (url, process).
    A test adds settings by ``@pytest.mark.parametrize("server", [{...}], indirect=True)``."""
    port = browser_support.free_port()
    env = {**os.environ, "KD_STORE_DIR": str(tmp_path / "store"), "KD_APP_TINY": "1", "KD_OFFLINE": "1",
           "KD_RUNNER_MODE": "process",  # as deployed: jobs in a worker process
           "KD_DATA_DIR": os.environ.get("KD_DATA_DIR", str(tmp_path / "data")),
           **getattr(request, "param", {})}  # a test's own settings (indirect parametrisation)
    log = open(tmp_path / "streamlit.log", "w")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=browser_support.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        browser_support.wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", proc)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
        print((tmp_path / "streamlit.log").read_text()[-3000:])
