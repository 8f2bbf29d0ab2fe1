"""What each bridge request does: turn options into a core call and the result into reply messages.

Nothing here knows about sockets beyond :class:`Reply`; the work itself is the core's (``models``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moodscore.bridge import osc_io
from moodscore.bridge.protocol import (
    BLOB_LIMIT,
    CLIP,
    ERROR,
    NOTES,
    NOTES_PER_MESSAGE,
    PIECE,
    PROGRESS,
    RequestError,
    chunks,
    emotion_name,
    emotion_of,
    notes_of,
    parse_timesig,
)

JOB_DIR = re.compile(r"^\d+-\d{5}-[A-Za-z0-9._-]+$")  # <pid>-<counter>-<cleaned request id>

if TYPE_CHECKING:
    from moodscore.models import Piece, TaskResult


class Cancelled(RequestError):
    """The request was cancelled (/moodscore/cancel); raised in its job, at its next progress report."""


@dataclass
class Reply:
    """Where a request's replies go, and its id (the first argument of every reply)."""

    sock: socket.socket
    dest: osc_io.Addr
    rid: str
    address: str = ""
    on_progress: Callable[[str, float, str], None] | None = None
    cancelled: threading.Event = field(default_factory=threading.Event, repr=False)
    _last: float = field(default=0.0, repr=False)

    def send(self, address: str, *args: Any) -> bool:
        return osc_io.send(self.sock, self.dest, address, (self.rid, *args))

    def error(self, message: str) -> None:
        osc_io.log.info("error for %r (%s) from %s: %s", self.rid, self.address or "?", self.dest, message)
        self.send(ERROR, self.address, " ".join(str(message).split())[:1000])

    def progress(self, fraction: float, message: str) -> None:
        if self.cancelled.is_set():
            return  # nothing more is sent for a cancelled request
        if self.on_progress is not None:
            self.on_progress(self.rid, fraction, message)
        now = time.monotonic()
        if fraction >= 1.0 or now - self._last >= 0.25:  # at most four a second
            self._last = now
            self.send(PROGRESS, float(fraction), str(message)[:200])


@dataclass
class Context:
    """The bridge's settings a handler needs; jobs go to ``runner`` (:mod:`moodscore.models.jobs.runner`)."""

    runner: Any
    out_dir: Path
    allowed_roots: tuple[Path, ...]
    ableton: Callable[[], Any] | None = None
    keep: int = 200
    _seq: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def job_dir(self, rid: str) -> Path:
        """A new folder for one request inside --out; its name comes from a counter and a cleaned id."""
        from moodscore.models import safe_stem

        with self._lock:
            self._seq += 1
            seq = self._seq
        d = self.out_dir / f"{os.getpid()}-{seq:05d}-{safe_stem(rid, default='request', limit=40)}"
        d.mkdir(parents=True, exist_ok=True)
        self._prune()
        return d

    def _prune(self) -> None:
        """Keep only the newest ``keep`` request folders the bridge made (so --out does not grow forever)."""
        ours = [p for p in self.out_dir.iterdir() if p.is_dir() and JOB_DIR.match(p.name)]
        if len(ours) <= self.keep:
            return
        ours.sort(key=lambda p: p.stat().st_mtime_ns)
        for old in ours[: len(ours) - self.keep]:
            shutil.rmtree(old, ignore_errors=True)


def compose_request(opts: dict[str, Any], *, tempo: float | None = None) -> Any:
    """A ComposeRequest from request options (the core checks the values and raises InvalidOptionError)."""
    from moodscore.models import DEFAULTS, ComposeRequest, parse_instruments

    if tempo is None and opts.get("tempo") is not None:
        tempo = float(opts["tempo"])
    return ComposeRequest(
        emotion=emotion_of(opts),
        bars=int(opts.get("bars", DEFAULTS.bars)),
        tempo=tempo,  # (None: the emotion's, as everywhere; a DAW's own tempo where the request came with one)
        time_signature=parse_timesig(str(opts.get("timesig", "4/4"))),
        key=str(opts.get("key", DEFAULTS.key)),
        seed=int(opts.get("seed", DEFAULTS.seed)),
        variations=int(opts.get("variations", DEFAULTS.variations)),
        instruments=parse_instruments(str(opts.get("instruments", ",".join(DEFAULTS.instruments)))),
    )


def send_piece(
    reply: Reply, index: int, *, midi_path: Path, notes: Sequence[Any], tempo: float, key: str,
    quadrants: Sequence[str], name: str, blob: bool,
) -> None:  # fmt: skip
    """/moodscore/piece, then the notes in /moodscore/notes messages of at most NOTES_PER_MESSAGE notes."""
    args: list[Any] = [index, float(tempo), key, len(quadrants), ",".join(quadrants), len(notes), name, str(midi_path)]
    if blob and midi_path.stat().st_size <= BLOB_LIMIT:
        args.append(midi_path.read_bytes())
    reply.send(PIECE, *args)
    for first, group in zip(range(0, len(notes), NOTES_PER_MESSAGE), chunks(notes, NOTES_PER_MESSAGE), strict=True):
        flat: list[Any] = [index, first]
        for pitch, start, dur, vel in group:
            flat += [int(pitch), osc_io.Typed(float(start), "d"), osc_io.Typed(float(dur), "d"), int(vel)]
        reply.send(NOTES, *flat)


def run_job(ctx: Context, reply: Reply, kind: str, params: dict[str, Any], folder: Path) -> TaskResult:
    """Run a core job (:mod:`models.jobs.tasks`) in ``folder`` on the bridge's runner; its TaskResult. While the job
    waits for a worker, its place in the queue goes out as progress."""
    from moodscore.models import ThreadRunner

    here = isinstance(ctx.runner, ThreadRunner)

    def progress(fraction: float, message: str) -> None:
        if reply.cancelled.is_set() and here:
            raise Cancelled("cancelled")  # a job in this process stops at its next report (one in a worker
        reply.progress(fraction, message)  # process cannot be stopped from here: it is abandoned)

    job = ctx.runner.submit(kind, params, folder, progress=progress)
    shown = 0
    try:
        while True:
            if reply.cancelled.is_set():
                raise Cancelled("cancelled")
            try:
                result = job.result(timeout=0.5)
            except TimeoutError:
                place = job.position()
                if place >= 1 and place != shown:
                    reply.progress(0.0, f"waiting for a worker: number {place} in the queue")
                shown = place
                continue
            if reply.cancelled.is_set():  # it ended as it was cancelled: its output is not wanted
                raise Cancelled("cancelled")
            return result
    except Cancelled:
        abandon(job, folder)
        raise


def abandon(job: Any, folder: Path) -> None:
    """A cancelled job: out of the waiting line if it still waits, else left to end (a job in this process ends at
    its next progress report, one in a worker process when it is done); its folder goes once it has ended."""
    if job.cancel() or job.done():
        shutil.rmtree(folder, ignore_errors=True)
        return

    def wait_then_remove() -> None:
        with contextlib.suppress(BaseException):  # whatever became of it, its output is not wanted
            job.result()
        shutil.rmtree(folder, ignore_errors=True)

    threading.Thread(target=wait_then_remove, name="moodscore-abandoned", daemon=True).start()


def composed(ctx: Context, reply: Reply, request: Any) -> tuple[Path, list[Piece]]:
    """Compose ``request`` (MIDI only) in a new request folder: (its output folder, the pieces' summaries)."""
    from moodscore.models import compose_params

    folder = ctx.job_dir(reply.rid)
    result = run_job(ctx, reply, "compose", compose_params(request, audio=False), folder)
    return folder / "out", list(result.composed.pieces)


def run_compose(ctx: Context, reply: Reply, opts: dict[str, Any], request: Any) -> tuple[str, int]:
    import pretty_midi

    out, pieces = composed(ctx, reply, request)
    emotion = emotion_of(opts)
    for i, piece in enumerate(pieces):
        path = out / piece.midi
        tempo = piece.tempo
        send_piece(
            reply, i, midi_path=path, notes=notes_of(pretty_midi.PrettyMIDI(str(path)), tempo), tempo=tempo,
            key=piece.key, quadrants=piece.bar_quadrants, name=emotion_name(emotion, piece.bar_quadrants),
            blob=bool(opts.get("blob", 1)),
        )  # fmt: skip
    return "compose", len(pieces)


@dataclass
class CheckedClip:
    """A video the bridge may read, opened when the request was checked: the job reads this very file even if
    the path is changed while the request waits (a folder swapped for a symlink to somewhere else)."""

    path: Path  # as resolved at check time
    fd: int

    def place(self, dest: Path) -> None:
        """The very file held open, put at ``dest`` (in a job's folder) whatever happened to its path since: a
        hard link where both are on one file system, else a copy."""
        held = f"/proc/self/fd/{self.fd}"
        try:
            os.link(held, dest, follow_symlinks=True)  # Linux: links the open file itself
            return
        except OSError:
            pass
        try:
            with os.fdopen(os.dup(self.fd), "rb") as src, dest.open("wb") as out:
                src.seek(0)
                shutil.copyfileobj(src, out, 1 << 20)
        except OSError as exc:
            dest.unlink(missing_ok=True)
            raise RequestError(f"cannot read {self.path.name}: {exc.strerror or exc}") from None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def allowed_clip(ctx: Context, raw: str) -> CheckedClip:
    """The video if it is an existing file under one of the allowed roots (symlinks resolved), held open."""
    if not raw or "\x00" in raw:
        raise RequestError("the video path is empty")
    try:
        path = Path(raw).expanduser().resolve(strict=True)
    except (OSError, RuntimeError):
        raise RequestError(f"no such file: {raw}") from None
    if not any(path.is_relative_to(root) for root in ctx.allowed_roots):
        roots = ", ".join(str(r) for r in ctx.allowed_roots) or "(none)"
        raise RequestError(f"{raw} is outside the folders this bridge may read ({roots}); see --allow")
    if not path.is_file():
        raise RequestError(f"not a file: {raw}")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        raise RequestError(f"cannot open {raw}") from None
    st = os.fstat(fd)
    # what was opened must be the regular file under the allowed root that was checked, not what a swap put there
    import stat

    try:
        again = os.stat(path)
    except OSError:
        again = None
    if not stat.S_ISREG(st.st_mode) or again is None or (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        raise RequestError(f"{raw} changed while it was checked")
    return CheckedClip(path, fd)


def run_ableton(ctx: Context, reply: Reply, opts: dict[str, Any]) -> tuple[str, int]:
    if ctx.ableton is None:
        raise RequestError("this bridge has no Ableton connection")
    link = ctx.ableton()
    tempo = float(opts["tempo"]) if "tempo" in opts else link.tempo()
    import pretty_midi

    request = compose_request({**opts, "variations": 1}, tempo=tempo)
    out, (piece,) = composed(ctx, reply, request)
    path = out / piece.midi
    notes = notes_of(pretty_midi.PrettyMIDI(str(path)), piece.tempo)
    name = emotion_name(emotion_of(opts), piece.bar_quadrants)
    track, slot = int(opts["track"]), int(opts["slot"])
    length = piece.bars * 4.0
    sent = link.put_clip(track, slot, notes, length, name)
    reply.send(CLIP, track, slot, sent, name, piece.tempo, float(length), str(path))
    return "ableton", 1
