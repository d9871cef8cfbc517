"""The one job runner every training goes through (CLI and app).

A bounded pool of workers takes jobs from one FIFO queue. A request for a job that is already
queued or running *attaches* to it (one computation, many waiting handles); a job already in the
store comes back at once without queueing. Each job has a visible state — queued (with its place
in the queue), running (epoch k/n), done, failed (with the reason) or cancelled — and can be
cancelled. A job refused for memory (:mod:`kdcore.jobs.memory`) or a full queue is refused before
it starts, with a message saying why.

Threads or processes? Each worker slot is a thread of the app process that hands its job to a
long-lived **worker process** (``multiprocessing`` spawn) and relays its progress events. Torch
releases the GIL, so threads alone would train as fast, but a job that crashes or is killed by the
kernel's out-of-memory killer would take the whole app with it. With a process per slot, ``kill -9``
of a worker only fails the job it was running (the reason says so and the store stays intact:
every write is atomic); the next job starts a fresh worker, and resubmitting the failed job resumes
from its last checkpoint (the loop saves one every KD_CHECKPOINT_EVERY_S seconds of training). The worker is started once and
reused, so a job pays the start-up (~3 s: importing torch) only the first time. ``KD_RUNNER_MODE=thread``
runs jobs in threads of the calling process instead (no second copy of torch in memory, ~400 MB
less; no crash isolation). The default, ``auto``, decides per job: one whose estimated peak
(:func:`kdcore.jobs.memory.estimate`, without the runtime and the data, which the calling process holds
already) is at most :data:`THREAD_JOB_BYTES` and that is
not a transfer-learning (MHIST) job runs in a thread — the course pair's jobs: tens of MB, they cannot
exhaust the host, and thirty students' jobs then cost no second torch and no worker start-up; anything
bigger goes to a worker process, where the out-of-memory killer can only take that job.

Settings (environment, read by :mod:`kdcore.settings`): ``KD_WORKERS`` (default ``max(1, cpus // 2)``:
one training job per two cores, since a job uses two threads well), ``KD_QUEUE_LIMIT`` (64),
``KD_RUNNER_MODE`` (``process``/``thread``), ``KD_WORKER_THREADS`` (torch threads per worker, default
``max(1, cpus // workers)``), ``KD_MEMORY_BUDGET`` (shared by the workers: each job gets ``budget / workers``),
``KD_RAY_ADDRESS`` (mode ``ray``: each slot hands its job to a Ray task on that cluster,
:func:`kdcore.jobs.ray_executor.run_job_on_ray`; ``KD_WORKERS`` is then how many run at once, and each job is
checked against the whole memory budget: Ray shares the nodes' memory). ``python -m kdcore sweep --executor ray``
submits its jobs to a runner of its own in mode ``ray`` (:func:`kdcore.jobs.sweep.run_configs`).
"""

from __future__ import annotations

import atexit
import itertools
import multiprocessing as mp
import os
import signal
import threading
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from multiprocessing.connection import wait as mp_wait
from pathlib import Path

from kdcore.config import JobConfig
from kdcore.jobs.memory import check_memory
from kdcore.methods import get_method, validate
from kdcore.settings import settings
from kdcore.store import default_store_dir, open_store
from kdcore.train.loop import JobCancelled

Callback = Callable[[dict], None]
THREAD_JOB_BYTES = 256 * 1024**2  # auto mode: a job estimated at most this (beyond the runtime) runs in a thread


class JobState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL = (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class RunnerError(RuntimeError):
    """The runner refused a request (see the subclasses)."""


class QueueFullError(RunnerError):
    """The queue holds ``KD_QUEUE_LIMIT`` jobs already; the message says what to do."""


class JobFailed(RunnerError):
    """The job ran and failed; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class JobStatus:
    """A snapshot of one job as a person waiting for it would want to see it."""

    state: JobState
    position: int | None  # 1-based place in the queue while queued
    epoch: int | None
    epochs: int | None
    stage: str  # last progress stage: "data", "train", "teacher:train", "eval", ...
    error: str | None
    message: str | None = None  # the last progress message, e.g. "loading mnist"

    def describe(self) -> str:
        if self.state is JobState.QUEUED:
            p = self.position or 1
            suffix = {1: "st", 2: "nd", 3: "rd"}.get(p if p % 100 not in (11, 12, 13) else 0, "th")
            return f"queued: your job is {p}{suffix} in the queue"
        if self.state is JobState.RUNNING:
            who = "teacher " if self.stage.startswith("teacher") else ""
            if self.epochs and "train" in self.stage:
                return f"running: {who}epoch {self.epoch}/{self.epochs}"
            return f"running: {self.message or self.stage or 'starting'}"
        if self.state is JobState.FAILED:
            return f"failed: {self.error}"
        return self.state.value


class _Job:
    """One computation, shared by every handle attached to it. Guarded by the runner's lock."""

    _ids = itertools.count(1)

    def __init__(self, config: JobConfig, key: str, store_root: str, recompute: bool) -> None:
        self.id = next(self._ids)
        self.config, self.key, self.store_root, self.recompute = config, key, store_root, recompute
        self.state = JobState.QUEUED
        self.progress: dict = {}
        self.result: dict | None = None
        self.error: str | None = None
        self.finished = threading.Event()
        self.subscribers: list[Callback] = []
        self.interest = 0  # handles attached and not cancelled
        self.cancel_requested = False
        self.cancel_event = threading.Event()  # thread mode
        self.worker: _Worker | None = None  # process mode, while running
        self.after: list[JobHandle] = []  # the teacher jobs this one learns from: dispatched once they are done


class JobHandle:
    """One request's view of a job. Several handles may share one computation."""

    def __init__(self, runner: JobRunner, job: _Job) -> None:
        self._runner, self._job = runner, job
        self._cancelled = False

    @property
    def key(self) -> str:
        return self._job.key

    @property
    def config(self) -> JobConfig:
        return self._job.config

    @property
    def progress(self) -> dict:
        """The latest progress event, e.g. ``{"stage": "train", "epoch": 3, "epochs": 12, ...}``."""
        return dict(self._job.progress)

    def state(self) -> JobState:
        return JobState.CANCELLED if self._cancelled else self._job.state

    def position(self) -> int | None:
        """1-based place in the queue, or None when not queued."""
        return None if self._cancelled else self._runner._position(self._job)

    def status(self) -> JobStatus:
        p = self._job.progress
        return JobStatus(self.state(), self.position(), p.get("epoch"), p.get("epochs"), p.get("stage", ""),
                         self._job.error, p.get("message"))

    def done(self) -> bool:
        return self._cancelled or self._job.finished.is_set()

    def worker_pid(self) -> int | None:
        """The pid of the worker process running this job (process mode, while running)."""
        w = self._job.worker
        return w.proc.pid if w is not None else None

    def result(self, timeout: float | None = None) -> dict:
        """Wait for the result dict; raises :class:`JobFailed`, :class:`JobCancelled` or ``TimeoutError``."""
        if not self._cancelled and not self._job.finished.wait(timeout):
            raise TimeoutError(f"{self.config.short_name()} not finished after {timeout} s "
                               f"({self.status().describe()})")
        if self.state() is JobState.CANCELLED:
            raise JobCancelled(f"{self.config.short_name()} was cancelled")
        if self._job.state is JobState.FAILED:
            raise JobFailed(self._job.error or "failed")
        assert self._job.result is not None
        return self._job.result

    def cancel(self) -> bool:
        """Stop waiting for this job; the computation stops when no other request waits for it.

        A queued job is removed from the queue; a running one stops at its next batch. Returns
        False when the job had already finished.
        """
        return self._runner._cancel(self)

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """Call ``callback(event)`` for every progress event (run_job's, plus ``{"stage": "state",
        "state": ...}`` on state changes and ``{"stage": "queue", "position": p}`` when the place in
        the queue changes). Called from a runner thread; keep it short. Returns an unsubscribe function."""
        return self._runner._subscribe(self._job, callback)


# ---- worker processes ---------------------------------------------------------------------------
def _worker_main(conn: object, cancel: object, threads: int) -> None:
    """A worker process: run the jobs it is sent, one at a time, reporting over ``conn``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    from kdcore.jobs.heap import return_freed_memory_to_os, trim_heap

    return_freed_memory_to_os()
    import torch

    from kdcore.train.loop import flush_denormals

    flush_denormals()  # before the first parallel op: the worker's OpenMP threads inherit it
    if threads > 0:
        torch.set_num_threads(threads)
    from kdcore.store import open_store
    from kdcore.train import run_job

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if msg is None:
            return
        _, job_id, cfg, root, recompute, key = msg
        try:
            result = run_job(JobConfig.from_dict(cfg), progress=lambda e, j=job_id: conn.send(("progress", j, e)),
                             store=open_store(root), cancel=cancel, recompute=recompute, key=key)
            conn.send(("done", job_id, result))
        except JobCancelled:
            conn.send(("cancelled", job_id))
        except (BrokenPipeError, EOFError):
            return
        except BaseException as e:  # report every failure; the worker lives on for the next job
            tb = traceback.format_exc(limit=-3)
            conn.send(("error", job_id, f"{type(e).__name__}: {e}", tb))
        finally:
            trim_heap()  # the next job's peak starts from what it needs, not from this one's leftovers


class _Worker:
    def __init__(self, threads: int) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.cancel = ctx.Event()
        self.proc = ctx.Process(target=_worker_main, args=(child, self.cancel, threads), daemon=True,
                                name="kdcore-worker")
        self.proc.start()
        child.close()

    def stop(self, timeout_s: float = 3.0) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.proc.join(timeout_s)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout_s)
        self.conn.close()


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


# ---- the runner ---------------------------------------------------------------------------------
class JobRunner:
    """A bounded worker pool with one FIFO queue, de-duplication by store key, and cancellation."""

    def __init__(self, workers: int | None = None, queue_limit: int | None = None, mode: str | None = None,
                 memory_budget_bytes: int | None = None, store_root: str | Path | None = None,
                 worker_threads: int | None = None, ray_address: str | None = None) -> None:
        env = settings()
        self.workers = workers or env.workers
        self.queue_limit = queue_limit or env.queue_limit
        self.mode = mode or ("ray" if env.ray_address else env.runner_mode)
        if self.mode not in ("auto", "process", "thread", "ray"):
            raise ValueError(f"mode must be 'auto', 'process', 'thread' or 'ray', got {self.mode!r}")
        self.ray_address = ray_address or env.ray_address  # mode ray: None starts (or uses) a local Ray
        self.memory_budget = env.memory_budget if memory_budget_bytes is None else memory_budget_bytes
        self.store_root = str(store_root) if store_root is not None else None
        threads = env.worker_threads if env.worker_threads is not None else max(1, (os.cpu_count() or 1) // self.workers)
        self.worker_threads = worker_threads or threads
        self._cv = threading.Condition()
        self._queue: deque[_Job] = deque()
        self._active: dict[tuple[str, str], _Job] = {}
        self._procs: list[_Worker | None] = [None] * self.workers
        self._threads: list[threading.Thread] = []
        self._closed = False
        self.stats = {"submitted": 0, "attached": 0, "cached": 0, "refused": 0, "dispatched": 0}

    # ---- public --------------------------------------------------------------------------------
    def submit(self, config: JobConfig, recompute: bool = False, key: str | None = None) -> JobHandle:
        """Queue ``config`` (or attach to the same job, or return the stored result at once).

        ``key``: its :func:`kdcore.train.job_key`, from a caller that validated ``config`` and keyed it
        (:func:`kdcore.jobs.submit.run_through_runner`): neither is done again, here or in the worker.
        Raises :class:`kdcore.config.ConfigError` for a bad config,
        :class:`kdcore.jobs.MemoryBudgetError` when it would not fit in memory, and
        :class:`QueueFullError` when the queue is full.
        """
        if key is None:
            validate(config)
            from kdcore.train import job_key  # loads the data set once per process (memoised)

            key = job_key(config)
        root = self.store_root or str(default_store_dir())
        store = open_store(root)
        with self._cv:
            self.stats["submitted"] += 1
            if (job := self._active.get((root, key))) is not None:
                return self._attach(job)
        if not recompute and (hit := store.get(key, need_weights=get_method(config.method).trains)) is not None:
            job = _Job(config, key, root, recompute)
            job.state, job.result = JobState.DONE, {**hit, "cached": True}
            job.finished.set()
            with self._cv:
                self.stats["cached"] += 1
            return JobHandle(self, job)
        # The teacher chain becomes jobs of their own, queued (or attached to, or found stored) first, so two
        # students of one new teacher train it once; each is checked (memory, queue) before anything runs.
        after = self._teacher_jobs(config, store)
        try:
            # In Ray mode each job is checked against the whole budget (the budget of one job, as
            # kdcore.jobs.ray_executor says): Ray's scheduler shares a node's memory among the tasks by their
            # memory requests, so dividing it by the slots here would refuse jobs that fit.
            share = 1 if self.mode == "ray" else self.workers
            check_memory(config, self.memory_budget, teacher_cached=config.teacher is not None, workers=share)
            return self._enqueue(config, key, root, recompute, after)
        except Exception:
            with self._cv:
                self.stats["refused"] += 1
            for h in after:
                h.cancel()
            raise

    def shutdown(self, wait_s: float = 5.0) -> None:
        """Cancel everything queued or running and stop the workers."""
        with self._cv:
            self._closed = True
            queued = list(self._queue)
            self._queue.clear()
            for job in list(self._active.values()):
                if job.state is JobState.RUNNING:
                    self._request_cancel(job)
            self._cv.notify_all()
        for job in queued:
            self._finish(job, JobState.CANCELLED, error="the job runner shut down")
        for t in self._threads:
            t.join(wait_s)
        for i, w in enumerate(self._procs):
            if w is not None:
                w.stop()
                self._procs[i] = None

    def job_mode(self, config: JobConfig) -> str:
        """Where ``config`` runs: ``"thread"`` or ``"process"`` (``auto`` mode: see the module docstring)."""
        if self.mode != "auto":
            return self.mode
        from kdcore.data.pairs import data_pair
        from kdcore.jobs.memory import estimate

        if data_pair(config.dataset).transfer:
            return "process"
        try:  # the runtime and the data are in this process already (submit loaded the data set for its key)
            parts = estimate(config, teacher_cached=True).parts
            small = sum(v for k, v in parts.items() if k not in ("runtime", "data")) <= THREAD_JOB_BYTES
        except Exception:  # no estimate: the safe place
            return "process"
        return "thread" if small else "process"

    # ---- internals -----------------------------------------------------------------------------
    def _teacher_jobs(self, config: JobConfig, store: object) -> list[JobHandle]:
        """Handles of ``config``'s teacher job (submitted, recursively, unless it is stored), else []."""
        from kdcore.train.job import stored_teacher

        handles = []
        if config.start_from is not None:  # a compression job's start model: a job of its own, stored first
            from kdcore.train.job import job_key

            start = config.start_from
            if store.get(job_key(start), need_weights=True) is None:  # type: ignore[attr-defined]
                handle = self.submit(start)
                if not (handle.done() and handle.state() is JobState.DONE):
                    handles.append(handle)
        teacher = config.teacher
        if teacher is None or stored_teacher(config, store) is not None:  # type: ignore[arg-type]
            return handles
        handle = self.submit(teacher)
        return handles if handle.done() and handle.state() is JobState.DONE else [*handles, handle]

    def _enqueue(self, config: JobConfig, key: str, root: str, recompute: bool, after: list[JobHandle]) -> JobHandle:
        attached = None
        with self._cv:
            if self._closed:
                raise RunnerError("the job runner has been shut down")
            if (job := self._active.get((root, key))) is not None:
                attached = self._attach(job)  # an identical request won the race meanwhile, with its own teachers
            elif len(self._queue) >= self.queue_limit:
                raise QueueFullError(
                    f"the training queue is full ({len(self._queue)} jobs wait for {self.workers} worker(s)); "
                    "try again in a few minutes, or look at results that are already computed"
                )
            else:
                job = _Job(config, key, root, recompute)
                job.after = after
                self._active[(root, key)] = job
                self._queue.append(job)
                self._start_threads()
                self._cv.notify()
                handle = self._attach(job)
                self.stats["attached"] -= 1  # the first request is not an attachment
        if attached is not None:
            for h in after:  # the job already there waits for its own teacher handles
                h.cancel()
            return attached
        return handle

    def _attach(self, job: _Job) -> JobHandle:
        job.interest += 1
        self.stats["attached"] += 1
        return JobHandle(self, job)

    def _start_threads(self) -> None:
        while len(self._threads) < self.workers:
            t = threading.Thread(target=self._slot_loop, args=(len(self._threads),), daemon=True,
                                 name=f"kdcore-runner-{len(self._threads)}")
            self._threads.append(t)
            t.start()

    def _next_ready(self) -> _Job | None:  # lock held
        """The first queued job whose teacher jobs have all ended (done, failed or cancelled)."""
        return next((j for j in self._queue if all(h.done() for h in j.after)), None)

    def _position(self, job: _Job) -> int | None:
        with self._cv:
            if job.state is not JobState.QUEUED:
                return None
            for i, j in enumerate(self._queue):
                if j is job:
                    return i + 1
        return None

    def _subscribe(self, job: _Job, callback: Callback) -> Callable[[], None]:
        with self._cv:
            job.subscribers.append(callback)
            final = job.state in FINAL
        if final:
            _call(callback, {"stage": "state", "state": job.state.value})

        def unsubscribe() -> None:
            with self._cv:
                if callback in job.subscribers:
                    job.subscribers.remove(callback)
        return unsubscribe

    def _emit(self, job: _Job, event: dict) -> None:
        with self._cv:
            subs = list(job.subscribers)
        for cb in subs:
            _call(cb, event)

    def _on_progress(self, job: _Job, event: dict) -> None:
        job.progress = event
        self._emit(job, event)

    def _cancel(self, handle: JobHandle) -> bool:
        job = handle._job
        with self._cv:
            if handle._cancelled or job.state in FINAL:
                return False
            handle._cancelled = True
            job.interest -= 1
            if job.interest > 0:
                return True  # others still wait for it
            if job.state is JobState.QUEUED:
                self._queue.remove(job)
                dequeued = True
            else:
                self._request_cancel(job)
                dequeued = False
        if dequeued:
            self._finish(job, JobState.CANCELLED, error="cancelled while queued")
            self._announce_positions()
        return True

    def _request_cancel(self, job: _Job) -> None:  # lock held
        job.cancel_requested = True
        job.cancel_event.set()
        if job.worker is not None:
            job.worker.cancel.set()

    def _finish(self, job: _Job, state: JobState, result: dict | None = None, error: str | None = None) -> None:
        if state is JobState.CANCELLED and not self._closed:
            # cancelled by the people waiting for it: nothing half-made stays, not even its resume checkpoints (a
            # shutdown keeps them, so the job resumes after a restart, as a killed one does)
            from kdcore.train.job import drop_checkpoints

            try:
                drop_checkpoints(open_store(job.store_root), job.key)
            except OSError:
                pass
        with self._cv:
            job.state, job.result, job.error, job.worker = state, result, error, None
            if self._active.get((job.store_root, job.key)) is job:
                del self._active[(job.store_root, job.key)]
            job.finished.set()
            self._cv.notify_all()  # jobs waiting for this one as their teacher may be ready now
        if state is not JobState.DONE:
            for h in job.after:  # its teachers are not needed by this job any more
                h.cancel()
        self._emit(job, {"stage": "state", "state": state.value, **({"error": error} if error else {})})

    def _announce_positions(self) -> None:
        with self._cv:
            queued = list(self._queue)
        for i, j in enumerate(queued):
            self._emit(j, {"stage": "queue", "position": i + 1})

    def _slot_loop(self, slot: int) -> None:
        from kdcore.train.loop import flush_denormals

        flush_denormals()  # thread-mode jobs run in this thread (kdcore.train.loop.flush_denormals)
        while True:
            with self._cv:
                while not self._closed and (job := self._next_ready()) is None:
                    self._cv.wait()
                if self._closed:
                    return
                self._queue.remove(job)
                failed = [h for h in job.after if h.state() is not JobState.DONE]
                if not failed:
                    job.state = JobState.RUNNING
                    self.stats["dispatched"] += 1
            if failed:  # a teacher failed or was cancelled: this job cannot learn from it
                t = failed[0]
                self._finish(job, JobState.FAILED, error=f"its teacher {t.config.short_name()} did not finish "
                             f"({t.state().value}: {t.status().error or 'no result'})")
                continue
            self._emit(job, {"stage": "state", "state": "running"})
            self._announce_positions()
            try:
                if self.mode == "ray":
                    outcome = self._run_on_ray(job)
                elif self.job_mode(job.config) == "thread":
                    outcome = self._run_in_thread(job)
                else:
                    outcome = self._run_in_process(slot, job)
            except Exception as e:  # a runner bug must not kill the slot: report it on the job
                outcome = (JobState.FAILED, None, f"{type(e).__name__}: {e}")
            self._finish(job, *outcome)

    def _run_in_thread(self, job: _Job) -> tuple[JobState, dict | None, str | None]:
        from kdcore.train import run_job

        try:
            result = run_job(job.config, progress=lambda e: self._on_progress(job, e),
                             store=open_store(job.store_root), cancel=job.cancel_event, recompute=job.recompute,
                             key=job.key)
            return JobState.DONE, result, None
        except JobCancelled:
            return JobState.CANCELLED, None, "cancelled while running"
        except Exception as e:
            return JobState.FAILED, None, f"{type(e).__name__}: {e}"
        finally:
            from kdcore.jobs.heap import trim_heap

            trim_heap()

    def _run_on_ray(self, job: _Job) -> tuple[JobState, dict | None, str | None]:
        from kdcore.jobs.ray_executor import run_job_on_ray

        try:
            result = run_job_on_ray(job.config, job.store_root, self.ray_address, cancel=job.cancel_event,
                                    progress=lambda e: self._on_progress(job, e))
            return JobState.DONE, result, None
        except JobCancelled:
            return JobState.CANCELLED, None, "cancelled while running"
        except Exception as e:
            return JobState.FAILED, None, f"{type(e).__name__}: {e}"

    def _run_in_process(self, slot: int, job: _Job) -> tuple[JobState, dict | None, str | None]:
        for attempt in (1, 2):  # a worker that died while idle is replaced once
            w = self._procs[slot]
            if w is None or not w.proc.is_alive():
                if w is not None:
                    w.stop()
                w = self._procs[slot] = _Worker(self.worker_threads)
            with self._cv:
                w.cancel.clear()
                job.worker = w
                if job.cancel_requested:
                    w.cancel.set()
            try:
                w.conn.send(("run", job.id, job.config.to_dict(), job.store_root, job.recompute, job.key))
                break
            except (BrokenPipeError, OSError):
                w.proc.kill()
                if attempt == 2:
                    raise
        while True:
            ready = mp_wait([w.conn, w.proc.sentinel])
            if w.conn in ready:
                try:
                    msg = w.conn.recv()
                except (EOFError, OSError):
                    msg = None
                if msg is not None:
                    kind = msg[0]
                    if kind == "progress":
                        self._on_progress(job, msg[2])
                        continue
                    if kind == "done":
                        return JobState.DONE, msg[2], None
                    if kind == "cancelled":
                        return JobState.CANCELLED, None, "cancelled while running"
                    return JobState.FAILED, None, msg[2]
            # end of the pipe or the process exited (messages sent before exiting were read above,
            # since a pipe with data is reported ready together with the sentinel)
            w.proc.join(5)
            code = w.proc.exitcode
            self._procs[slot] = None
            w.conn.close()
            epoch = job.progress.get("epoch")
            where = f" during epoch {epoch + 1}" if isinstance(epoch, int) and "train" in job.progress.get(
                "stage", "") else ""
            return JobState.FAILED, None, (
                f"the worker process running this job died ({_exit_reason(code)}){where}; results already in "
                "the store are intact, and submitting the job again resumes from its last finished epoch"
            )


def _call(cb: Callback, event: dict) -> None:
    try:
        cb(event)
    except Exception:  # a broken subscriber (e.g. a closed browser tab) must not stop the job
        pass


_runner: JobRunner | None = None
_runner_lock = threading.Lock()


def get_runner() -> JobRunner:
    """The process-wide runner (created on first use from the environment settings)."""
    global _runner
    with _runner_lock:
        if _runner is None:
            _runner = JobRunner()
            atexit.register(_runner.shutdown)
        return _runner


def reset_runner() -> None:
    """Shut the process-wide runner down (tests; or after changing its settings)."""
    global _runner
    with _runner_lock:
        if _runner is not None:
            _runner.shutdown()
            _runner = None
