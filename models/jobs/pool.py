"""Jobs in child processes that each hold a warm Engine: the local runner's workers (:class:`models.jobs.runner.
ProcessRunner`).

Processes rather than threads, so no job can stall a front end: model loading, Matplotlib's Agg drawing and
parts of muxing hold the GIL for 0.1-0.5 s at a time (a test measured event-loop stalls of up to 0.5 s with
threads), and a crashed or stuck job (killed, out of memory, past its time limit) takes only its own process
with it. The runner does the queueing (places, limits); each of its threads hands a job to a child here and
waits with the GIL released.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from moodscore.models.errors import MoodscoreError, TimeLimitError, WorkerError
from moodscore.models.types import Progress

if TYPE_CHECKING:
    from moodscore.models.engine import Engine

log = logging.getLogger("moodscore.jobs")

CHILD_NICENESS = 10  # jobs yield the CPU to the front end's own work
_engine: Engine | None = None  # in a child: its warm engine
_queue: Any = None  # in a child: where progress goes


def _start_child(factory: Callable[[], Engine], queue: Any, warm: bool) -> None:
    global _engine, _queue
    with contextlib.suppress(OSError, AttributeError):
        os.nice(CHILD_NICENESS)
    _engine, _queue = factory(), queue
    if warm:
        try:
            _engine.warm_up()
        except MoodscoreError as exc:  # the job that needs the model will say so
            log.warning("could not load a model in advance: %s", exc.message)


def _run_in_child(fn: Callable[..., Any], key: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    def progress(fraction: float, message: str) -> None:
        _queue.put((key, fraction, message))

    return fn(_engine, *args, progress=progress, **kwargs)


class EngineProcesses:
    """``run(fn, *args, progress=cb, **kw)`` calls ``fn(engine, *args, progress=..., **kw)`` in a child process.

    ``factory`` builds each child's Engine (it must pickle: e.g. ``functools.partial(Engine, debug=True)``);
    ``fn`` must be a module-level function and its result picklable. Progress comes back through a queue and
    is passed to ``cb`` on a reader thread. A crashed child (killed, out of memory) fails only its own job.
    With ``time_limit`` (seconds), a job still running after that long is stopped: its worker processes are
    killed and replaced, and the job fails with a one-line message (so do jobs that were running beside it).
    """

    def __init__(
        self,
        factory: Callable[[], Engine],
        *,
        workers: int = 1,
        warm: bool = False,
        time_limit: float | None = None,
    ) -> None:
        if time_limit is not None and not time_limit > 0:
            raise ValueError(f"time_limit must be positive seconds or None, got {time_limit!r}")
        self._ctx = multiprocessing.get_context("spawn")  # no fork of a process that holds threads
        self._factory, self._warm = factory, warm
        self._workers = workers
        self.time_limit = time_limit
        self._lock = threading.Lock()
        self._callbacks: dict[int, Progress] = {}
        self._ids = itertools.count(1)
        self._pool, self._queue = self._new_pool()

    def _new_pool(self) -> tuple[ProcessPoolExecutor, Any]:
        # each generation of workers reports progress through its own queue: a worker killed while writing
        # could leave a shared queue's lock held and block every later writer
        queue = self._ctx.SimpleQueue()
        pool = ProcessPoolExecutor(
            self._workers, mp_context=self._ctx, initializer=_start_child, initargs=(self._factory, queue, self._warm)
        )
        threading.Thread(target=self._read, args=(queue,), name="moodscore-progress", daemon=True).start()
        return pool, queue

    def _replace(self, pool: ProcessPoolExecutor, *, kill: bool) -> None:
        """New workers instead of ``pool``'s (unless another job already replaced them); ``kill`` stops the old."""
        with self._lock:
            if self._pool is pool:
                self._pool, self._queue = self._new_pool()
        if kill:
            # ProcessPoolExecutor has no public kill before Python 3.14; its jobs then fail with BrokenProcessPool
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                with contextlib.suppress(OSError, ValueError):
                    process.kill()
            pool.shutdown(wait=False, cancel_futures=True)

    def start(self) -> EngineProcesses:
        """Start the children now (they import and, with ``warm``, load the models) instead of at the first job."""
        for f in [self._pool.submit(int, 0) for _ in range(self._workers)]:
            f.result()
        return self

    def run(self, fn: Callable[..., Any], *args: Any, progress: Progress | None = None, **kw: Any) -> Any:
        key = next(self._ids)
        if progress is not None:
            self._callbacks[key] = progress
        pool = self._pool
        try:
            return pool.submit(_run_in_child, fn, key, args, kw).result(timeout=self.time_limit)
        except BrokenProcessPool:
            self._replace(pool, kill=False)
            raise WorkerError("the worker process stopped unexpectedly; please try again") from None
        except TimeoutError:
            log.warning("a job ran past the time limit of %.0f s; its worker was stopped", self.time_limit)
            self._replace(pool, kill=True)
            raise TimeLimitError(f"the job took longer than {_duration(self.time_limit)} and was stopped") from None
        finally:
            self._callbacks.pop(key, None)

    def _read(self, queue: Any) -> None:
        while True:
            item = queue.get()
            if item is None:
                return
            key, fraction, message = item
            callback = self._callbacks.get(key)
            if callback is not None:
                try:
                    callback(fraction, message)
                except Exception:  # a front end's callback must not stop the progress of every later job
                    log.exception("a progress callback failed")

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._queue.put(None)


def _duration(seconds: float | None) -> str:
    s = round(seconds or 0)
    return f"{s // 60} min {s % 60} s" if s >= 60 and s % 60 else f"{s // 60} min" if s >= 60 else f"{s} s"
