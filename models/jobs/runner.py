"""The one runner interface front ends submit jobs through, and its backends.

A job is data (:mod:`models.jobs.tasks`): a kind ("score", "compose"), JSON options and a job folder. Front ends call
``runner.submit(kind, params, folder, progress=cb)`` and wait on the returned :class:`Job`; they never know
which backend runs it:

- :class:`ThreadRunner`: worker threads sharing one Engine (tests, and where one process is all there is);
- :class:`ProcessRunner`: a local pool of worker processes, each holding a warm Engine (the default for every
  front end: a crash, a leak or a stuck native call takes one process, not the front end);
- :class:`moodscore.models.jobs.celery.CeleryRunner`: Celery workers on any number of machines, with Redis as broker
  and result backend (``moodscore worker``; the ``scale`` extra).

:func:`make_runner` picks one. The two local runners queue in :class:`JobRunner`, a bounded waiting line in
front of a fixed number of worker threads, which also runs plain functions (the OSC bridge's).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moodscore.models.errors import MoodscoreError, QueueFullError, TimeLimitError
from moodscore.models.jobs.tasks import KINDS, TaskResult, run_task
from moodscore.models.types import Progress, no_progress

if TYPE_CHECKING:
    from moodscore.models.engine import Engine

__all__ = ["Job", "JobRunner", "ProcessRunner", "QueueFullError", "Runner", "ThreadRunner", "TimeLimitError"]


def time_limited(progress: Progress | None, seconds: float | None, *, what: str) -> Progress:
    """A progress callback that passes reports on and, once the job has run ``seconds`` since its first report,
    raises :class:`TimeLimitError` in the job, which then unwinds as on any error (nothing half-written stays).
    Jobs report several times a second, so the limit is kept to within a second or so; a job stuck inside one
    native call is stopped only at its next report (a worker process with a hard limit stops even that)."""
    start: list[float] = []

    def report(fraction: float, message: str) -> None:
        now = time.monotonic()
        if not start:
            start.append(now)
        elif seconds is not None and now - start[0] > seconds:
            raise TimeLimitError(f"the job ran longer than {seconds:g} s, the limit of {what}")
        if progress is not None:
            progress(fraction, message)

    return report


@dataclass(eq=False)
class Job:
    """One submitted job. ``future`` resolves to the function's result or raises its error."""

    id: int | str
    fn: Callable[..., Any] | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    future: Future[Any] = field(default_factory=Future)
    _runner: Any = None  # what answers position() and cancel(): a JobRunner or a Runner backend

    def position(self) -> int:
        """0 while running (or done); n >= 1 when n - 1 jobs wait ahead of this one."""
        return self._runner.position(self) if self._runner is not None else 0

    def done(self) -> bool:
        return self.future.done()

    def result(self, timeout: float | None = None) -> Any:
        return self.future.result(timeout)

    def cancel(self) -> bool:
        """Take the job out of the waiting line; a running job cannot be cancelled."""
        return self._runner.cancel(self) if self._runner is not None else False


class JobRunner:
    """Run jobs on ``workers`` threads; at most ``max_queue`` jobs wait (beyond that, QueueFullError)."""

    def __init__(self, *, workers: int = 1, max_queue: int = 8, name: str = "moodscore-job") -> None:
        if workers < 1 or max_queue < 0:
            raise ValueError("workers must be >= 1 and max_queue >= 0")
        self.workers, self.max_queue = workers, max_queue
        self._waiting: deque[Job] = deque()
        self._running = 0
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(workers)]
        for t in self._threads:
            t.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Job:
        """Queue ``fn(*args, **kwargs)``; raises QueueFullError when the waiting line is full."""
        with self._cond:
            if self._closed:
                raise MoodscoreError("the job runner is shut down")
            free = self.workers - self._running - len(self._waiting)
            if free <= 0 and len(self._waiting) >= self.max_queue:
                raise QueueFullError(f"the queue is full ({self.max_queue} jobs waiting); please try again later")
            job = Job(next(self._ids), fn, args, kwargs, _runner=self)
            self._waiting.append(job)
            self._cond.notify()
            return job

    def position(self, job: Job) -> int:
        with self._cond:
            for i, waiting in enumerate(self._waiting):
                if waiting is job:
                    return i + 1
            return 0

    def cancel(self, job: Job) -> bool:
        with self._cond:
            try:
                self._waiting.remove(job)
            except ValueError:
                return False
        job.future.cancel()
        return True

    @property
    def in_flight(self) -> int:
        """Jobs running plus jobs waiting."""
        with self._cond:
            return self._running + len(self._waiting)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if self._closed and not self._waiting:
                    return
                job = self._waiting.popleft()
                self._running += 1
            try:
                if job.future.set_running_or_notify_cancel():
                    try:
                        fn = job.fn
                        assert fn is not None  # (jobs of this queue always carry their function)
                        job.future.set_result(fn(*job.args, **job.kwargs))
                    except BaseException as exc:  # handed to whoever waits on the future
                        job.future.set_exception(exc)
            finally:
                with self._cond:
                    self._running -= 1

    def shutdown(self, *, wait: bool = True, cancel_waiting: bool = False) -> None:
        with self._cond:
            self._closed = True
            if cancel_waiting:
                while self._waiting:
                    self._waiting.popleft().future.cancel()
            self._cond.notify_all()
        if wait:
            for t in self._threads:
                t.join()


class Runner(ABC):
    """Submit jobs (a kind, JSON options, a job folder) and wait on them; see the module's docstring.

    ``workers``: how many jobs run at once; ``max_queue``: how many may wait beyond that (then
    :class:`QueueFullError`); ``time_limit``: seconds a job may run before it is stopped (None: no limit).
    """

    workers: int
    max_queue: int
    time_limit: float | None

    @abstractmethod
    def submit(
        self,
        kind: str,
        params: Mapping[str, Any],
        folder: str | os.PathLike[str],
        *,
        progress: Progress | None = None,
    ) -> Job:
        """Queue a job; its future resolves to a :class:`TaskResult` or raises a MoodscoreError."""

    @abstractmethod
    def position(self, job: Job) -> int:
        """0 while the job runs (or is done); n >= 1 when n - 1 jobs wait ahead of it."""

    @abstractmethod
    def cancel(self, job: Job) -> bool:
        """Take a waiting job out of the line; a running job cannot be cancelled."""

    @property
    @abstractmethod
    def in_flight(self) -> int:
        """Jobs this front end submitted that have not finished."""

    def start(self) -> Runner:
        """Get the workers ready (processes started, models loaded) before the first job; returns self."""
        return self

    def shutdown(self) -> None:  # noqa: B027  (nothing to stop for some backends)
        """Stop taking jobs; waiting ones are cancelled."""


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise MoodscoreError(f"unknown job kind {kind!r}; expected one of {', '.join(KINDS)}")


class _LocalRunner(Runner):
    """Jobs queued in a :class:`JobRunner` whose threads call :meth:`_execute` (in this process or a child)."""

    def __init__(self, *, workers: int, max_queue: int, time_limit: float | None, name: str) -> None:
        if time_limit is not None and not time_limit > 0:
            raise ValueError(f"time_limit must be positive seconds or None, got {time_limit!r}")
        self.workers, self.max_queue, self.time_limit = workers, max_queue, time_limit
        self.queue = JobRunner(workers=workers, max_queue=max_queue, name=name)

    @abstractmethod
    def _execute(self, kind: str, params: Mapping[str, Any], folder: str, progress: Progress) -> dict[str, Any]: ...

    def submit(
        self,
        kind: str,
        params: Mapping[str, Any],
        folder: str | os.PathLike[str],
        *,
        progress: Progress | None = None,
    ) -> Job:
        _check_kind(kind)
        where = str(Path(folder).resolve())

        def job() -> TaskResult:
            data = self._execute(kind, dict(params), where, progress or no_progress)
            return TaskResult.from_json(data, where)

        submitted = self.queue.submit(job)
        submitted._runner = self  # position() and cancel() answer for the runner as a whole
        return submitted

    def position(self, job: Job) -> int:
        # a job only waits while every worker is busy (the line is empty in between a worker's jobs)
        return self.queue.position(job) if self.queue.in_flight > self.workers else 0

    def cancel(self, job: Job) -> bool:
        return self.queue.cancel(job)

    @property
    def in_flight(self) -> int:
        return self.queue.in_flight

    def shutdown(self) -> None:
        self.queue.shutdown(wait=False, cancel_waiting=True)


class ThreadRunner(_LocalRunner):
    """Jobs on ``workers`` threads of this process, sharing ``engine``. The time limit is kept at the job's
    progress reports (a job stuck inside one native call is stopped only at its next report)."""

    def __init__(
        self, engine: Engine, *, workers: int = 1, max_queue: int = 8, time_limit: float | None = None
    ) -> None:
        super().__init__(workers=workers, max_queue=max_queue, time_limit=time_limit, name="moodscore-job")
        self.engine = engine

    def _execute(self, kind: str, params: Mapping[str, Any], folder: str, progress: Progress) -> dict[str, Any]:
        limited = time_limited(progress, self.time_limit, what="this job runner")
        return run_task(self.engine, kind, params, folder, limited)


class ProcessRunner(_LocalRunner):
    """Jobs in ``workers`` child processes, each with its own warm Engine made by ``factory`` (it must pickle,
    e.g. ``Engine`` or ``functools.partial(Engine, debug=True)``). A job past ``time_limit`` is stopped by
    killing its process (which is replaced); a child that dies fails only its own job."""

    def __init__(
        self,
        factory: Callable[[], Engine] | None = None,
        *,
        workers: int = 1,
        max_queue: int = 8,
        time_limit: float | None = None,
        warm: bool = True,
    ) -> None:
        from moodscore.models.jobs.pool import EngineProcesses

        super().__init__(workers=workers, max_queue=max_queue, time_limit=time_limit, name="moodscore-job")
        if factory is None:
            from moodscore.models.engine import Engine

            factory = Engine
        self.processes = EngineProcesses(factory, workers=workers, warm=warm, time_limit=time_limit)

    def start(self) -> ProcessRunner:
        self.processes.start()
        return self

    def _execute(self, kind: str, params: Mapping[str, Any], folder: str, progress: Progress) -> dict[str, Any]:
        result: dict[str, Any] = self.processes.run(run_task, kind, params, folder, progress=progress)
        return result

    def shutdown(self) -> None:
        super().shutdown()
        self.processes.shutdown()


def make_runner(
    *,
    broker: str | None = None,
    storage: str | os.PathLike[str] | None = None,
    engine: Engine | None = None,
    factory: Callable[[], Engine] | None = None,
    workers: int = 1,
    max_queue: int = 8,
    time_limit: float | None = None,
) -> Runner:
    """The runner a front end asked for: Celery workers with ``broker`` (files through ``storage``); else
    jobs on threads sharing ``engine`` when one is given; else the local pool of worker processes."""
    if broker:
        from moodscore.models.jobs.celery import CeleryRunner

        if storage is None:
            raise MoodscoreError("a broker needs --storage: a folder the workers see too (e.g. an NFS mount)")
        return CeleryRunner(broker, storage=storage, max_queue=max_queue, time_limit=time_limit)
    if engine is not None:
        return ThreadRunner(engine, workers=workers, max_queue=max_queue, time_limit=time_limit)
    return ProcessRunner(factory, workers=workers, max_queue=max_queue, time_limit=time_limit)


def add_broker_options(parser: Any) -> None:
    """``--broker`` and ``--storage`` for a front end's argument parser (defaults from MOODSCORE_BROKER and
    MOODSCORE_STORAGE): with a broker, jobs go to Celery workers (``moodscore worker``) through Redis."""
    parser.add_argument("--broker", default=os.environ.get("MOODSCORE_BROKER") or None, metavar="URL",
                        help="send jobs to Celery workers through this Redis (redis://HOST:6379/0; default: "
                        "$MOODSCORE_BROKER, else jobs run in local worker processes)")  # fmt: skip
    parser.add_argument("--storage", type=Path, default=os.environ.get("MOODSCORE_STORAGE") or None, metavar="DIR",
                        help="with --broker: the folder shared with the workers, e.g. an NFS mount "
                        "(default: $MOODSCORE_STORAGE)")  # fmt: skip


def broker_problem(broker: str | None, storage: Path | None) -> str | None:
    """A one-line refusal for bad ``--broker``/``--storage`` values, else None."""
    if not broker:
        return None
    if not broker.startswith(("redis://", "rediss://", "unix://")):
        return f"--broker must be a Redis URL (redis://HOST:6379/0), got {broker!r}"
    if storage is None:
        return "--broker needs --storage DIR, the folder the front ends and the workers share"
    if not Path(storage).is_dir():
        return f"--storage {storage} is not a folder"
    try:
        import celery  # noqa: F401
    except ImportError:
        return 'a broker needs Celery: pip install "moodscore[scale]"'
    return None
