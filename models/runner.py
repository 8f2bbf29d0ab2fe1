"""The one small runner interface front ends submit jobs through.

``JobRunner`` is the local default: a bounded pool of worker threads sharing one warm :class:`Engine`, with a
bounded waiting line. Threads rather than processes because on a small machine one engine (about 1 GB with
every model loaded) is what fits, the engine is thread-safe, and the heavy work (PyTorch, MediaPipe, FFmpeg,
FluidSynth) runs outside the GIL. A distributed task engine (Celery, Ray) can stand behind the same two calls,
``submit`` and ``Job.result``, because a job is only a function of files and options to an output folder.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from .errors import MoodscoreError


class QueueFullError(MoodscoreError):
    """Too many jobs are waiting; try again later."""


class TimeLimitError(MoodscoreError):
    """A job ran longer than its front end allows."""


def time_limited(
    progress: Callable[[float, str], None] | None, seconds: float | None, *, what: str
) -> Callable[[float, str], None]:
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

    id: int
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    future: Future[Any] = field(default_factory=Future)
    _runner: JobRunner | None = None

    def position(self) -> int:
        """0 while running (or done); n >= 1 when n - 1 jobs wait ahead of this one."""
        return self._runner.position(self) if self._runner is not None else 0

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
                        job.future.set_result(job.fn(*job.args, **job.kwargs))
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
