"""What each bridge request does: turn options into a core call and the result into reply messages.

Nothing here knows about sockets beyond :class:`Reply`; the work itself is the core's (``models``).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import osc_io
from .protocol import (
    BLOB_LIMIT,
    CLIP,
    ERROR,
    NOTES,
    NOTES_PER_MESSAGE,
    PIECE,
    PROGRESS,
    SEGMENT,
    TEXT_CHUNK,
    TIMELINE,
    RequestError,
    chunks,
    emotion_name,
    emotion_of,
    notes_of,
    parse_timesig,
)

JOB_DIR = re.compile(r"^\d+-\d{5}-[A-Za-z0-9._-]+$")  # <pid>-<counter>-<cleaned request id>


@dataclass
class Reply:
    """Where a request's replies go, and its id (the first argument of every reply)."""

    sock: socket.socket
    dest: osc_io.Addr
    rid: str
    address: str = ""
    on_progress: Callable[[str, float, str], None] | None = None
    limit: Callable[[float, str], None] | None = None  # the job's time limit, set when it starts running
    _last: float = field(default=0.0, repr=False)

    def send(self, address: str, *args: Any) -> bool:
        return osc_io.send(self.sock, self.dest, address, (self.rid, *args))

    def error(self, message: str) -> None:
        osc_io.log.info("error for %r (%s) from %s: %s", self.rid, self.address or "?", self.dest, message)
        self.send(ERROR, self.address, " ".join(str(message).split())[:1000])

    def progress(self, fraction: float, message: str) -> None:
        if self.limit is not None:
            self.limit(fraction, message)  # raises TimeLimitError in the job once it has run too long
        if self.on_progress is not None:
            self.on_progress(self.rid, fraction, message)
        now = time.monotonic()
        if fraction >= 1.0 or now - self._last >= 0.25:  # at most four a second
            self._last = now
            self.send(PROGRESS, float(fraction), str(message)[:200])


@dataclass
class Context:
    """The bridge's settings a handler needs."""

    engine: Any
    out_dir: Path
    allowed_roots: tuple[Path, ...]
    ableton: Callable[[], Any] | None = None
    keep: int = 200
    _seq: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def job_dir(self, rid: str) -> Path:
        """A new folder for one request inside --out; its name comes from a counter and a cleaned id."""
        from models import safe_stem

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
    from models import ComposeRequest

    instruments = tuple(x.strip() for x in str(opts.get("instruments", "piano")).split(",") if x.strip())
    return ComposeRequest(
        emotion=emotion_of(opts),
        bars=int(opts.get("bars", 8)),
        tempo=float(tempo if tempo is not None else opts.get("tempo", 120.0)),
        time_signature=parse_timesig(str(opts.get("timesig", "4/4"))),
        key=str(opts.get("key", "auto")),
        seed=int(opts.get("seed", 0)),
        variations=int(opts.get("variations", 1)),
        instruments=instruments,
    )


def write_midi(midi: Any, path: Path) -> Path:
    """Write a PrettyMIDI to ``path`` through a temporary name, so a reader never sees half a file."""
    from models import atomic_output

    with atomic_output(path, suffix=".partial") as tmp:
        midi.write(tmp)
    return path


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


def run_compose(ctx: Context, reply: Reply, opts: dict[str, Any], request: Any) -> tuple[str, int]:
    scores = ctx.engine.compose(request, progress=reply.progress)
    folder = ctx.job_dir(reply.rid)
    emotion = emotion_of(opts)
    for i, score in enumerate(scores):
        path = write_midi(score.midi, folder / f"piece{i}_seed{score.seed}.mid")
        send_piece(
            reply, i, midi_path=path, notes=notes_of(score.midi, score.tempo), tempo=score.tempo, key=score.key,
            quadrants=score.bar_quadrants, name=emotion_name(emotion, score.bar_quadrants),
            blob=bool(opts.get("blob", 1)),
        )  # fmt: skip
    return "compose", len(scores)


@dataclass
class CheckedClip:
    """A video the bridge may read, opened when the request was checked: the job reads this very file even if
    the path is changed while the request waits (a folder swapped for a symlink to somewhere else)."""

    path: Path  # as resolved at check time
    fd: int

    @contextmanager
    def opened(self) -> Iterator[Path]:
        """A path that reads the file held open, named like it (so messages and outputs use its name)."""
        import tempfile

        held = Path(f"/proc/self/fd/{self.fd}")
        if held.exists():  # Linux: a link to the open file itself, whatever happened to the path since
            with tempfile.TemporaryDirectory(prefix="moodscore-clip-") as tmp:
                link = Path(tmp) / self.path.name
                link.symlink_to(held)
                yield link
            return
        try:  # elsewhere: the path must still lead to the file that was checked
            now, then = os.stat(self.path), os.fstat(self.fd)
        except OSError:
            raise RequestError(f"{self.path.name} is gone") from None
        if (now.st_dev, now.st_ino) != (then.st_dev, then.st_ino):
            raise RequestError(f"{self.path.name} changed while the request waited")
        yield self.path

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


def run_score(ctx: Context, reply: Reply, opts: dict[str, Any], checked: CheckedClip) -> tuple[str, int]:
    import pretty_midi

    from models import score_job

    instruments = tuple(x.strip() for x in str(opts.get("instruments", "piano")).split(",") if x.strip())
    clip = checked.path
    try:
        folder = ctx.job_dir(reply.rid)
        with checked.opened() as source:
            result = score_job(
                ctx.engine, source, folder, tempo=float(opts.get("tempo", 120.0)), instruments=instruments,
                key=str(opts.get("key", "auto")), seed=int(opts.get("seed", 0)), progress=reply.progress,
            )  # fmt: skip
    finally:
        checked.close()
    text = result.timeline.to_json(indent=None)
    parts = [text[i : i + TEXT_CHUNK] for i in range(0, len(text), TEXT_CHUNK)]
    for i, part in enumerate(parts):
        reply.send(TIMELINE, i, len(parts), str(result.files["timeline"]), part)
    for i, seg in enumerate(result.timeline.segments):
        e = seg.emotion
        reply.send(SEGMENT, i, float(seg.start_s), float(seg.end_s), e.quadrant, e.label)
    tempo = float(result.summary["tempo"])
    midi = pretty_midi.PrettyMIDI(str(result.files["midi"]))  # the notes as the file holds them (tick grid)
    quadrants = tuple(result.summary["bar_quadrants"])
    send_piece(
        reply, 0, midi_path=result.files["midi"], notes=notes_of(midi, tempo), tempo=tempo,
        key=str(result.summary["key"]), quadrants=quadrants, name=f"moodscore {clip.name}"[:120],
        blob=bool(opts.get("blob", 1)),
    )  # fmt: skip
    return "score", 1


def run_ableton(ctx: Context, reply: Reply, opts: dict[str, Any]) -> tuple[str, int]:
    if ctx.ableton is None:
        raise RequestError("this bridge has no Ableton connection")
    link = ctx.ableton()
    tempo = float(opts["tempo"]) if "tempo" in opts else link.tempo()
    request = compose_request({**opts, "variations": 1}, tempo=tempo)
    (score,) = ctx.engine.compose(request, progress=reply.progress)
    notes = notes_of(score.midi, score.tempo)
    name = emotion_name(emotion_of(opts), score.bar_quadrants)
    track, slot = int(opts["track"]), int(opts["slot"])
    length = score.n_bars * 4.0
    sent = link.put_clip(track, slot, notes, length, name)
    path = write_midi(score.midi, ctx.job_dir(reply.rid) / f"ableton_t{track}_s{slot}.mid")
    reply.send(CLIP, track, slot, sent, name, float(score.tempo), float(length), str(path))
    return "ableton", 1
