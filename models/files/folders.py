"""Job folders: what a job writes goes through here, so a failed or killed job leaves nothing half-written and two
jobs never write into one folder.

:func:`holding_output` runs a job with its folder checked (:func:`check_output_dir`) and held (:func:`output_lock`);
inside, :func:`staged_output` gives a hidden staging folder whose files replace the folder's previous set whole when
the job succeeds. :func:`abandon_jobs` clears what jobs in progress staged, for a process stopped by a signal.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

from moodscore.models.errors import OutputError


def safe_stem(name: str, *, default: str = "clip", limit: int = 60) -> str:
    """A file-name stem made only of letters, digits, '.', '_' and '-' (never a path, never hidden)."""
    stem = Path(str(name).replace("\\", "/")).stem
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")[:limit]
    return clean or default


def check_output_dir(out_dir: str | os.PathLike[str]) -> None:
    """Refuse at once, before any long work and writing nothing, an ``out_dir`` that could not be created or
    written into. It probes for real (a folder made and removed again in ``out_dir``, or in the nearest folder
    above it that exists), so root, who ignores permission bits, and read-only or immutable folders are judged
    as the later writes will be."""
    out = Path(out_dir)
    base = out
    while not base.exists() and base.parent != base:
        base = base.parent
    if not base.is_dir():
        raise OutputError(f"cannot write to {out}: {base} is not a folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".moodscore-probe-", dir=base))
    except OSError as exc:
        raise OutputError(f"cannot write to {out}: {exc.strerror or exc}") from None


# What a job in progress must not leave behind if the process is stopped mid-way (see abandon_jobs): staging
# folders, lock files, and output folders made for the job while they hold nothing of the user's.
_IN_PROGRESS: dict[Path, str] = {}  # path -> "tree" (remove it) or "file" (unlink it) or "empty" (rmdir it)
_IN_PROGRESS_LOCK = threading.Lock()


def _track(path: Path, kind: str | None) -> None:
    with _IN_PROGRESS_LOCK:
        if kind is None:
            _IN_PROGRESS.pop(path, None)
        else:
            _IN_PROGRESS[path] = kind


def abandon_jobs() -> None:
    """Remove what the jobs in progress have staged, their locks and the output folders made for them (left
    empty), for a process about to exit on a signal without unwinding them. Safe to call from a signal handler:
    it takes no lock a job might hold and never raises."""
    for path, kind in sorted(dict(_IN_PROGRESS).items(), key=lambda item: item[1] != "tree"):
        with contextlib.suppress(OSError):
            if kind == "tree":
                shutil.rmtree(path, ignore_errors=True)
            elif kind == "file":
                path.unlink(missing_ok=True)
    for path, kind in dict(_IN_PROGRESS).items():
        if kind == "empty":
            with contextlib.suppress(OSError):
                path.rmdir()  # only while empty: nothing the user had is ever removed


LOCK_NAME = ".moodscore.lock"
MANIFEST_NAME = ".moodscore-files"  # the names the last job wrote into the folder, one per line
PARTIAL_PREFIX = ".moodscore-partial-"


@contextmanager
def output_lock(out_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold ``out_dir`` for one job: a second job into the same folder is refused at once (OutputError) rather
    than both reporting success over a mixed set. Creates the folder; if the job fails and the folder was made
    for it, it is removed again while empty. Stale staging folders (left by a killed job) are swept. The lock is
    a hidden file that lives only as long as the job."""
    import fcntl

    out = Path(out_dir)
    lock = out / LOCK_NAME
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise OutputError(f"cannot write to {out}: {exc.strerror or exc}") from None
    held, ok = False, False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # the job before may have removed the file between our open and our lock: ours must be the one there
            held = os.stat(lock, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except (BlockingIOError, FileNotFoundError):
            held = False
        if not held:
            raise OutputError(f"another moodscore job is writing into {out}; wait for it or choose another folder")
        _track(lock, "file")
        if created:
            _track(out, "empty")
        for stale in out.glob(f"{PARTIAL_PREFIX}*"):  # under the lock, no other job is staging here
            shutil.rmtree(stale, ignore_errors=True)
        yield out
        ok = True
    finally:
        if held:
            lock.unlink(missing_ok=True)  # while still locked, so no one can take a file about to vanish
        _track(lock, None)
        _track(out, None)
        os.close(fd)
        if not ok and created and not any(out.iterdir()):
            shutil.rmtree(out, ignore_errors=True)


@contextmanager
def staged_output(out_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary folder inside ``out_dir`` whose files move into ``out_dir`` when the block succeeds, replacing
    the previous job's set whole: files the previous job wrote and this one does not (a scored video of another
    container, a variation no longer made) are removed. Use inside :func:`output_lock`."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=out))
    except OSError as exc:
        raise OutputError(f"cannot write to {out}: {exc.strerror or exc}") from None
    _track(stage, "tree")
    try:
        yield stage
        written = sorted(item.name for item in stage.iterdir())
        manifest = out / MANIFEST_NAME
        previous = manifest.read_text(encoding="utf-8").split("\n") if manifest.is_file() else []
        for name in written:
            if name in previous and (out / name).is_dir() and not (out / name).is_symlink():
                shutil.rmtree(out / name)  # a folder of ours (the stems) is replaced whole
            os.replace(stage / name, out / name)
        for name in set(previous) - set(written):
            if name and safe_stem(name) and "/" not in name and not name.startswith("."):
                old = out / name
                if old.is_dir() and not old.is_symlink():
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    old.unlink(missing_ok=True)
        tmp = out / f"{MANIFEST_NAME}.tmp"
        tmp.write_text("\n".join(written), encoding="utf-8")
        os.replace(tmp, manifest)
    except OSError as exc:
        raise OutputError(f"cannot write to {out}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        _track(stage, None)


P = ParamSpec("P")
R = TypeVar("R")


def holding_output(job: Callable[P, R]) -> Callable[P, R]:
    """Run ``job(engine, what, out_dir, ...)`` with ``out_dir`` checked and held (:func:`output_lock`)."""

    @functools.wraps(job)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        out_dir = args[2] if len(args) > 2 else kwargs["out_dir"]
        check_output_dir(out_dir)  # type: ignore[arg-type]
        with output_lock(out_dir):  # type: ignore[arg-type]
            return job(*args, **kwargs)

    return run


def zip_folder(folder: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """``folder``'s files in a zip at ``dest`` (stored, not compressed: audio does not shrink), atomically."""
    import zipfile

    from moodscore.models.files.atomic import atomic_output

    out = Path(dest)
    with atomic_output(out, errors=(OSError, zipfile.BadZipFile)) as tmp, zipfile.ZipFile(tmp, "w") as z:
        for f in sorted(Path(folder).iterdir()):
            if f.is_file() and not f.is_symlink():
                z.write(f, f.name)
    return out
