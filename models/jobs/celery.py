"""Jobs on Celery workers, with Redis as broker and result backend: the runner for more than one machine.

Worker side (``moodscore worker --broker redis://HOST:6379/0 --storage DIR``): a prefork pool whose processes
each load the models once, before they take work; one job at a time per process, late acknowledgement and a
prefetch of one (a job a dead worker held goes back to the queue for another), a time limit kept at the job's
progress reports (it unwinds with a clear message, leaving nothing half-written) and a hard one a little later
that kills and replaces a process stuck inside one call.

Front-end side (:class:`CeleryRunner`): submits ``moodscore.run(kind, params, folder)`` with the job folder
relative to the storage both sides mount, and follows the task: its place in the Redis queue while it waits,
its progress (task state ``PROGRESS``) while it runs. Nothing is shared beyond Redis and the storage folder;
the storage may be mounted at different paths on each machine.

A job writes its result next to its outputs (``.moodscore-result-<task id>.json``, atomically, last); a task
delivered twice (its worker died after the job finished) returns that instead of running again.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from moodscore.models.errors import MoodscoreError, QueueFullError, TimeLimitError, WorkerError
from moodscore.models.jobs.runner import Job, Runner, _check_kind, broker_problem
from moodscore.models.jobs.tasks import TaskResult, inside, run_task
from moodscore.models.types import Progress

log = logging.getLogger("moodscore.jobs")

QUEUE = "moodscore"
TASK = "moodscore.run"
POLL_S = 0.25
RESULT_PREFIX = ".moodscore-result-"
HARD_LIMIT_GRACE_S = 15.0  # past its limit, how long a job has to unwind before its process is killed
DEFAULT_JOB_SECONDS = 900.0
MAX_ATTEMPTS = 3  # deliveries of one job (a worker that dies mid-job hands it on)

_storage: Path | None = None  # worker side: the storage root
_engine: Any = None  # worker side: this process's warm Engine
_engine_factory: Any = None


def _require_celery() -> Any:
    try:
        import celery
    except ImportError:
        raise MoodscoreError(
            'Celery is not installed: pip install "moodscore[scale]" (Celery and the Redis client)'
        ) from None
    return celery


def make_app(broker: str, *, job_seconds: float | None = DEFAULT_JOB_SECONDS) -> Any:
    """The Celery app both sides use (broker and result backend on the same Redis)."""
    celery = _require_celery()
    app = celery.Celery("moodscore", broker=broker, backend=broker, set_as_current=False)
    # a job taken by a worker that vanished as a whole (its machine went down) goes back to the queue this long
    # after it was taken: longer than any job may run, so a job still running is never handed out twice
    visibility = (job_seconds or DEFAULT_JOB_SECONDS) + HARD_LIMIT_GRACE_S + 60.0
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_track_started=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": visibility},
        result_backend_transport_options={"visibility_timeout": visibility},
        result_expires=24 * 3600,
        task_time_limit=(job_seconds + HARD_LIMIT_GRACE_S) if job_seconds else None,
    )
    app.conf.moodscore_job_seconds = job_seconds
    app.task(name=TASK, bind=True)(_run)
    return app


def _run(self: Any, kind: str, params: dict[str, Any], folder: str) -> dict[str, Any]:
    """The task: run one job in ``storage/folder``; errors come back as ``{"error": ..., "error_type": ...}``."""
    from moodscore.models.jobs.runner import time_limited

    try:
        if _storage is None:
            raise WorkerError("this worker has no storage folder")
        where = inside(_storage, folder)
        done = where / f"{RESULT_PREFIX}{self.request.id}.json"
        if done.is_file():  # delivered again after it finished: the same answer, nothing run twice
            data: dict[str, Any] = json.loads(done.read_text(encoding="utf-8"))
            return data
        # a job whose worker died is delivered again; one that keeps killing its workers is given up
        tries = where / f".moodscore-attempts-{self.request.id}"
        attempt = (int(tries.read_text() or "0") if tries.is_file() else 0) + 1
        if attempt > MAX_ATTEMPTS:
            raise WorkerError(f"the job stopped its worker {MAX_ATTEMPTS} times and was given up")
        tries.write_text(str(attempt), encoding="utf-8")
        last = [0.0]

        def progress(fraction: float, message: str) -> None:
            now = time.monotonic()
            if fraction >= 1.0 or now - last[0] >= POLL_S:
                last[0] = now
                meta = {"fraction": float(fraction), "message": str(message)[:200], "pid": os.getpid()}
                self.update_state(state="PROGRESS", meta=meta)

        progress(0.0, "starting")
        limit = self.app.conf.moodscore_job_seconds
        limited = time_limited(progress, limit, what="the workers (--job-seconds)")
        result = run_task(_worker_engine(), kind, params, where, limited)
        tmp = done.with_name(f".{done.name}.tmp")
        tmp.write_text(json.dumps(result), encoding="utf-8")
        os.replace(tmp, done)
        return result
    except MoodscoreError as exc:
        return {"error": exc.public_message, "error_type": type(exc).__name__}


def _worker_engine() -> Any:
    global _engine
    if _engine is None:
        from moodscore.models.engine import Engine

        _engine = (_engine_factory or Engine)()
    return _engine


def _warm_process(**_: Any) -> None:
    """Each pool process loads its models before it takes a job (Celery's worker_process_init), at a lower
    priority, so that a front end on the same machine stays responsive."""
    import contextlib

    from moodscore.models.jobs.pool import CHILD_NICENESS

    with contextlib.suppress(OSError, AttributeError):
        os.nice(CHILD_NICENESS)
    try:
        _worker_engine().warm_up()
    except MoodscoreError as exc:  # the job that needs the model will say so
        log.warning("could not load a model in advance: %s", exc.message)


def run_worker(
    broker: str,
    *,
    storage: str | os.PathLike[str],
    concurrency: int = 1,
    job_seconds: float | None = DEFAULT_JOB_SECONDS,
    debug_engine: bool = False,
    hostname: str | None = None,
    loglevel: str = "INFO",
) -> int:
    """Start a Celery worker (blocks): ``concurrency`` processes, each with a warm Engine."""
    global _storage, _engine_factory
    celery = _require_celery()
    root = Path(storage)
    if not root.is_dir():
        raise MoodscoreError(f"--storage {root} is not a folder (it must be the folder the front ends use)")
    _storage = root.resolve()
    if debug_engine:
        import functools

        from moodscore.models.engine import Engine

        _engine_factory = functools.partial(Engine, debug=True)
    app = make_app(broker, job_seconds=job_seconds)
    celery.signals.worker_process_init.connect(_warm_process, weak=False)
    argv = ["worker", f"--concurrency={concurrency}", f"--loglevel={loglevel}", "--pool=prefork", f"--queues={QUEUE}"]
    argv += ["--without-gossip", "--without-mingle"]
    if hostname:
        argv.append(f"--hostname={hostname}")
    app.worker_main(argv=argv)
    return 0


def _error_of(name: str, message: str) -> MoodscoreError:
    """The core's error class a worker named (its message as the worker worded it), else MoodscoreError."""
    from moodscore.models import errors

    kind = getattr(errors, name, None)
    if not (isinstance(kind, type) and issubclass(kind, MoodscoreError)):
        kind = MoodscoreError
    return kind(message)


class CeleryRunner(Runner):
    """Submit jobs to Celery workers through ``broker``; job folders must lie inside ``storage``.

    ``max_queue`` bounds the jobs waiting in Redis (all front ends together); ``time_limit`` is the workers'
    (their ``--job-seconds``): it is only used here to word messages."""

    def __init__(
        self,
        broker: str,
        *,
        storage: str | os.PathLike[str],
        max_queue: int = 100,
        time_limit: float | None = None,
        poll_s: float = POLL_S,
    ) -> None:
        self.app = make_app(broker, job_seconds=time_limit)
        self.storage = Path(storage).resolve()
        if not self.storage.is_dir():
            raise MoodscoreError(f"--storage {self.storage} is not a folder")
        self.workers, self.max_queue, self.time_limit = 0, max_queue, time_limit
        self.poll_s = poll_s
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._redis: Any = None
        self._places: dict[str, int] = {}  # waiting task id -> place in the queue (1: next)
        self._closed = False
        self._watcher = threading.Thread(target=self._watch, name="moodscore-celery", daemon=True)
        self._watcher.start()

    # -- the queue in Redis --------------------------------------------------------------------------
    def _client(self) -> Any:
        if self._redis is None:
            import redis

            self._redis = redis.Redis.from_url(self.app.conf.broker_url, socket_timeout=5)
        return self._redis

    def waiting_ids(self) -> list[str]:
        """Task ids waiting in the queue, next to run first (kombu pushes on the left, takes from the right)."""
        ids = []
        for raw in reversed(self._client().lrange(QUEUE, 0, -1)):
            try:
                ids.append(str(json.loads(raw)["headers"]["id"]))
            except (ValueError, KeyError, TypeError):
                continue
        return ids

    def position(self, job: Job) -> int:
        """From the watcher's latest look at the queue (one read of Redis per round, however many ask)."""
        if job.future.done():
            return 0
        return self._places.get(str(job.id), 0)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._jobs)

    def submit(
        self,
        kind: str,
        params: Mapping[str, Any],
        folder: str | os.PathLike[str],
        *,
        progress: Progress | None = None,
    ) -> Job:
        _check_kind(kind)
        if self._closed:
            raise MoodscoreError("the job runner is shut down")
        where = Path(folder).resolve()
        if not where.is_relative_to(self.storage) or where == self.storage:
            raise MoodscoreError(f"a job folder must lie inside the shared storage {self.storage}")
        try:
            waiting = int(self._client().llen(QUEUE))
        except Exception as exc:
            raise WorkerError(f"the job queue (Redis) cannot be reached: {type(exc).__name__}") from None
        if waiting >= self.max_queue:
            raise QueueFullError(f"the queue is full ({waiting} jobs waiting); please try again later")
        rel = where.relative_to(self.storage).as_posix()
        # (the task is followed by polling its state: an AsyncResult kept would hold a Redis subscription)
        task_id = str(self.app.send_task(TASK, args=(kind, dict(params), rel), queue=QUEUE).id)
        job = Job(task_id, future=Future(), _runner=self)
        job.kwargs = {"progress": progress, "folder": str(where), "shown": None}
        job.future.set_running_or_notify_cancel()
        with self._lock:
            self._jobs[task_id] = job
            self._places[task_id] = waiting + 1  # until the watcher's next look at the queue
        return job

    def cancel(self, job: Job) -> bool:
        if self.position(job) < 1:
            return False
        self.app.control.revoke(str(job.id))
        self._finish(job, error=MoodscoreError("the job was cancelled"))
        return True

    def _finish(self, job: Job, *, value: Any = None, error: BaseException | None = None) -> None:
        with self._lock:
            if self._jobs.pop(str(job.id), None) is None:
                return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(value)

    def _watch(self) -> None:
        """Each round: the queue's order and every job's state, in two reads of Redis."""
        while not self._closed:
            with self._lock:
                jobs = list(self._jobs.values())
            if jobs:
                try:
                    places = {tid: i + 1 for i, tid in enumerate(self.waiting_ids())}
                    with self._lock:
                        self._places = places
                    backend = self.app.backend
                    raw = backend.client.mget([backend.get_key_for_task(str(j.id)) for j in jobs])
                except Exception as exc:  # Redis unreachable for a moment: try again at the next round
                    log.debug("polling the jobs: %s", exc)
                    raw = []
                for job, value in zip(jobs, raw, strict=False):
                    try:
                        meta = backend.decode_result(value) if value is not None else {"status": "PENDING"}
                        self._poll(job, meta)
                    except Exception as exc:
                        log.debug("polling %s: %s", job.id, exc)
            time.sleep(self.poll_s)

    def _poll(self, job: Job, meta: Mapping[str, Any]) -> None:
        state, info = meta.get("status"), meta.get("result")
        if state == "PROGRESS" and isinstance(info, Mapping):
            now = (float(info.get("fraction", 0.0)), str(info.get("message", "")))
            if now != job.kwargs["shown"] and job.kwargs["progress"] is not None:
                job.kwargs["shown"] = now
                job.kwargs["progress"](*now)
        elif state == "SUCCESS":
            data = info if isinstance(info, Mapping) else {}
            if "error" in data:
                self._finish(job, error=_error_of(str(data.get("error_type")), str(data["error"])))
            else:
                self._finish(job, value=TaskResult.from_json(data, job.kwargs["folder"]))
        elif state == "FAILURE":
            name = type(info).__name__
            if name == "TimeLimitExceeded":
                error: MoodscoreError = TimeLimitError("the job ran past its hard time limit and was stopped")
            else:
                log.warning("job %s failed on a worker: %s: %s", job.id, name, info)
                error = WorkerError("the job failed on a worker; please try again")
            self._finish(job, error=error)
        elif state == "REVOKED":
            self._finish(job, error=MoodscoreError("the job was cancelled"))

    def shutdown(self) -> None:
        self._closed = True
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            if self.position(job) >= 1:
                self.app.control.revoke(str(job.id))
            self._finish(job, error=MoodscoreError("the front end is shutting down"))


def main(argv: list[str] | None = None) -> int:
    """``moodscore worker``: run jobs that front ends send through Redis."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(
        prog="moodscore worker",
        description="A Celery worker: its processes each load the models once and run one job at a time, taken "
        "from the Redis queue the front ends (moodscore web|discord --broker URL) send to.",
    )
    ap.add_argument("--broker", default=os.environ.get("MOODSCORE_BROKER"), metavar="URL",
                    help="redis://[:PASSWORD@]HOST:6379/0 (default: $MOODSCORE_BROKER)")  # fmt: skip
    ap.add_argument("--storage", type=Path, default=os.environ.get("MOODSCORE_STORAGE"), metavar="DIR",
                    help="the folder shared with the front ends, e.g. an NFS mount "
                    "(default: $MOODSCORE_STORAGE)")  # fmt: skip
    ap.add_argument("--concurrency", type=int, default=1, metavar="N",
                    help="worker processes, each with its own models (about 1 GB each; default 1)")  # fmt: skip
    ap.add_argument("--job-seconds", type=float, default=DEFAULT_JOB_SECONDS, metavar="S",
                    help=f"a job running longer is stopped (default {DEFAULT_JOB_SECONDS:g})")  # fmt: skip
    ap.add_argument("--hostname", help="this worker's name in Celery (default: celery@<host>)")
    ap.add_argument("--loglevel", default="INFO")
    ap.add_argument("--debug-models", action="store_true", help=argparse.SUPPRESS)  # tiny random nets (tests)
    args = ap.parse_args(argv)
    # the broker and storage checks are the front ends' own (a Redis URL, a folder, Celery installed)
    problem = (
        broker_problem(args.broker, args.storage)
        if args.broker
        else "give --broker redis://HOST:6379/0 (or set MOODSCORE_BROKER)"
    )
    if problem is None and not 1 <= args.concurrency <= 64:
        problem = f"--concurrency must be 1..64, got {args.concurrency}"
    if problem is None and not args.job_seconds > 0:
        problem = f"--job-seconds must be positive, got {args.job_seconds:g}"
    if problem:
        print(f"moodscore worker: {problem}", file=sys.stderr)
        return 2
    try:
        return run_worker(
            args.broker,
            storage=args.storage,
            concurrency=args.concurrency,
            job_seconds=args.job_seconds,
            debug_engine=args.debug_models,
            hostname=args.hostname,
            loglevel=args.loglevel,
        )
    except MoodscoreError as exc:
        print(f"moodscore worker: {exc.message}", file=sys.stderr)
        return 2
