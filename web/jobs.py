"""The web app's side of a job: settings, per-job folders it owns, the runner, progress and errors.

Nothing here knows about page layout; :mod:`moodscore.web.handlers` turns results into component values. Every job
has a fresh folder under one private root made for this process (inside the shared storage when jobs go to
Celery workers); folders older than ``keep_minutes`` are swept when a new job starts, and the whole root goes
when the process exits.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moodscore.models import MediaLimits, MoodscoreError, QueueFullError, Runner, TaskResult

log = logging.getLogger("moodscore.web")

ProgressFn = Callable[..., Any]  # gr.Progress: progress(fraction, desc=...)


@dataclass(frozen=True)
class WebSettings:
    """What one web process allows. ``max_jobs`` run at once (shared by scoring and composing); at most
    ``max_queue`` more wait; uploads above ``max_upload_mb`` or clips longer than ``max_seconds`` are refused."""

    max_jobs: int = 1
    max_queue: int = 8
    max_upload_mb: int = 200
    max_seconds: float = 120.0
    keep_minutes: float = 60.0
    max_job_seconds: float = 600.0  # a running job's time limit
    visitor_upload_mb: int | None = None  # uploads one visitor may store within keep_minutes (None: 4 uploads)
    total_upload_mb: int | None = None  # uploads everyone together may store within keep_minutes (None: 20)

    def __post_init__(self) -> None:
        if self.max_jobs < 1 or self.max_queue < 0 or self.max_upload_mb < 1 or self.max_seconds <= 0:
            raise ValueError("max_jobs and max_upload_mb must be >= 1, max_queue >= 0, max_seconds > 0")
        if not self.max_job_seconds > 0:
            raise ValueError("max_job_seconds must be positive")
        if any(x is not None and x < self.max_upload_mb for x in (self.visitor_upload_mb, self.total_upload_mb)):
            raise ValueError("the upload budgets must hold at least one upload of max_upload_mb")

    @property
    def upload_budgets_mb(self) -> tuple[int, int]:
        """(per visitor, in total) within ``keep_minutes``."""
        return (self.visitor_upload_mb or 4 * self.max_upload_mb, self.total_upload_mb or 20 * self.max_upload_mb)

    @property
    def limits(self) -> MediaLimits:
        return MediaLimits(max_duration_s=self.max_seconds, max_bytes=self.max_upload_mb * 1024**2)


class UserFacingError(Exception):
    """A one-line message for the page (the handlers turn it into ``gr.Error``)."""

    def __init__(self, message: str, title: str = "moodscore") -> None:
        super().__init__(message)
        self.message, self.title = message, title


class WebJobs:
    """The runner and the job folders of one web process. ``root``: where the job folders go (default: a new
    private folder in ``storage``, or in the system's temporary folder)."""

    def __init__(
        self,
        runner: Runner,
        settings: WebSettings,
        *,
        root: str | os.PathLike[str] | None = None,
        storage: str | os.PathLike[str] | None = None,
    ) -> None:
        self.runner, self.settings = runner, settings
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="moodscore-web-", dir=storage))
        self.root.mkdir(parents=True, exist_ok=True)
        self._sweep_lock = threading.Lock()
        atexit.register(self.close)

    def close(self) -> None:
        """Stop taking jobs and delete every job folder (called at exit)."""
        self.runner.shutdown()
        shutil.rmtree(self.root, ignore_errors=True)

    def new_folder(self) -> Path:
        """A fresh folder for one job's outputs (old ones are swept first)."""
        self.sweep()
        folder = self.root / uuid.uuid4().hex
        folder.mkdir()
        return folder

    def folder_of(self, name: str) -> Path | None:
        """The job folder called ``name`` (as :meth:`new_folder` names them) if it is still there, else None."""
        if not (len(name) == 32 and all(c in "0123456789abcdef" for c in name)):
            return None
        folder = self.root / name
        return folder if folder.is_dir() else None

    def sweep(self, *, now: float | None = None) -> int:
        """Delete job folders older than ``keep_minutes``; return how many went."""
        cutoff = (now if now is not None else time.time()) - 60.0 * self.settings.keep_minutes
        gone = 0
        with self._sweep_lock:
            for folder in self.root.iterdir():
                try:
                    if folder.is_dir() and folder.stat().st_mtime < cutoff:
                        shutil.rmtree(folder, ignore_errors=True)
                        gone += 1
                except OSError:
                    continue
        return gone

    def run(
        self, kind: str, params: Mapping[str, Any], folder: Path, *, progress: ProgressFn | None = None
    ) -> TaskResult:
        """Run a job (:mod:`models.jobs.tasks`) in ``folder`` on the runner, relaying its progress (and its place in
        line) to ``progress`` from this thread. Errors come back as :class:`UserFacingError`; the folder of a
        job that failed is removed (it holds the job's inputs, and no output: the core writes all or nothing)."""
        try:
            return self._run(kind, params, folder, progress=progress)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    def _run(
        self, kind: str, params: Mapping[str, Any], folder: Path, *, progress: ProgressFn | None = None
    ) -> TaskResult:
        latest: list[Any] = [0.0, "starting"]

        def report(fraction: float, message: str) -> None:
            latest[:] = [float(fraction), str(message)]

        try:
            job = self.runner.submit(kind, params, folder, progress=report)
        except QueueFullError as exc:
            raise UserFacingError(exc.public_message, "Busy") from None
        except MoodscoreError as exc:
            raise UserFacingError(exc.public_message) from None
        shown: tuple[float, str] | None = None
        while True:
            try:
                result: TaskResult = job.result(timeout=0.2)
                return result
            except TimeoutError:
                pass
            except MoodscoreError as exc:
                raise UserFacingError(exc.public_message, "Cannot do that") from None
            except Exception:
                log.exception("job failed")
                raise UserFacingError("internal error; it has been logged on the server", "Sorry") from None
            position = job.position()
            now = (0.0, f"waiting: {position - 1} job(s) ahead") if position else (latest[0], latest[1])
            if progress is not None and now != shown:
                progress(now[0], desc=now[1])
                shown = now


def trusted_upload(path: str | os.PathLike[str] | None, *, uploads: str | os.PathLike[str]) -> Path:
    """The uploaded file's path, only if it is a regular file inside Gradio's upload folder."""
    if not path:
        raise UserFacingError("please upload a video clip (or record one) first", "No clip")
    p = Path(path).resolve()
    base = Path(uploads).resolve()
    if not p.is_relative_to(base) or not p.is_file():
        raise UserFacingError("the upload was not found; please upload the clip again", "No clip")
    return p
