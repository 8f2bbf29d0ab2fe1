"""The bridge's OSC vocabulary: request options, reply addresses, note lists and their chunking.

Everything here is plain data and small conversions shared by the server, the client and the Ableton adapter;
the address table itself (which request runs which handler) is ``moodscore.bridge.server.ROUTES``; scored clips are
``moodscore.bridge.scoring``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PREFIX = "/moodscore"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9000

# replies
PONG = f"{PREFIX}/pong"
STATUS = f"{PREFIX}/status"
PROGRESS = f"{PREFIX}/progress"
PIECE = f"{PREFIX}/piece"
NOTES = f"{PREFIX}/notes"
TIMELINE = f"{PREFIX}/timeline"
SEGMENT = f"{PREFIX}/segment"
CLIP = f"{PREFIX}/clip"
SECTION = f"{PREFIX}/section"
MARKER = f"{PREFIX}/marker"
STEM = f"{PREFIX}/stem"
CANCELLED = f"{PREFIX}/cancelled"
DONE = f"{PREFIX}/done"
ERROR = f"{PREFIX}/error"
REPLIES = (PONG, STATUS, PROGRESS, PIECE, NOTES, TIMELINE, SEGMENT, SECTION, MARKER, STEM, CLIP, CANCELLED, DONE, ERROR)

NOTES_PER_MESSAGE = 64  # 64 notes x 4 args: about 2.3 KB, far below any UDP datagram limit
TEXT_CHUNK = 4000  # characters of timeline JSON per /moodscore/timeline message
BLOB_LIMIT = 8192  # a piece's MIDI file also travels as an OSC blob when it is at most this many bytes

Note = tuple[int, float, float, int]  # pitch, start_beats, duration_beats, velocity


class RequestError(ValueError):
    """A request the bridge cannot use; the message goes to /moodscore/error as it is."""


# option name -> (python types accepted, description); every option is a key-value pair after the request id
OPTIONS: dict[str, tuple[tuple[type, ...], str]] = {
    "quadrant": ((str,), "Q1..Q4"),
    "valence": ((float, int), "valence in [-1, 1] (with arousal)"),
    "arousal": ((float, int), "arousal in [-1, 1] (with valence)"),
    "bars": ((int,), "length in bars (default 16, moodscore.models.types.DEFAULTS)"),
    "tempo": ((float, int), "BPM (default: the tempo the emotion suggests)"),
    "timesig": ((str,), "time signature as 'N/D' (default '4/4')"),
    "key": ((str,), "'auto' (default), 'C', 'F# minor', ..."),
    "seed": ((int,), "random seed (default 0)"),
    "variations": ((int,), "pieces to compose (default 1)"),
    "instruments": ((str,), "comma list of piano,bass,pad (default piano)"),
    "path": ((str,), "a video file on the bridge's machine (score; ableton: score it into Live)"),
    "stems": ((int,), "score: 1 to also write a WAV and a MIDI file per part (/moodscore/stem)"),
    "hits": ((str,), "score: moments to accent, seconds as a comma list ('12.4,31')"),
    "set": ((str,), "score: stretches forced to a quadrant, 'A-B=Qn' as a comma list ('0-4.5=Q3,9-12=Q1')"),
    "track": ((int,), "Ableton track index, from 0"),
    "slot": ((int,), "Ableton clip slot index, from 0"),
    "parts": ((int,), "ableton with a path: 1 to put each part on its own track, from 'track' on"),
    "of": ((str,), "the request id to report on (status)"),
    "reply_port": ((int,), "send replies to this UDP port on the sender's host"),
    "blob": ((int,), "1 (default) to attach small MIDI files as blobs, 0 not to"),
    "secret": ((str,), "the bridge's request secret (see --secret-file); ping needs none"),
}

SECRET_ENV = "MOODSCORE_BRIDGE_SECRET"


def default_secret_file() -> Path:
    """Where the bridge keeps its request secret and `moodscore osc` finds it: readable by its user only."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "moodscore" / "bridge-secret"


def read_secret(path: Path | None = None) -> str | None:
    """The secret in the file ``path``; without one, ``MOODSCORE_BRIDGE_SECRET``, else the default file. None when
    there is none."""
    env = os.environ.get(SECRET_ENV, "").strip()
    if env and path is None:
        return env
    try:
        text = (path or default_secret_file()).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeError):
        return None
    return text or None


def make_secret(path: Path | None = None) -> str:
    """The secret, made (random, 0600, in a 0700 folder) when there is none yet."""
    import secrets

    found = read_secret(path)
    if found:
        return found
    target = path or default_secret_file()
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(24)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    return token


def parse_options(args: Sequence[Any]) -> dict[str, Any]:
    """Key-value pairs (``"bars", 8, "tempo", 120.0``) into a dict, with every type checked."""
    if len(args) % 2:
        raise RequestError(f"options come in name-value pairs; got {len(args)} values")
    out: dict[str, Any] = {}
    for name, value in zip(args[::2], args[1::2], strict=True):
        if not isinstance(name, str):
            raise RequestError(f"an option name must be a string, got {type(name).__name__} {name!r}")
        if name not in OPTIONS:
            raise RequestError(f"unknown option {name!r}; known: {', '.join(OPTIONS)}")
        types, _ = OPTIONS[name]
        if isinstance(value, bool) or not isinstance(value, types):
            want = " or ".join("string" if t is str else t.__name__ for t in types)
            raise RequestError(f"option {name!r} must be {want}, got {type(value).__name__} {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise RequestError(f"option {name!r} must be a finite number, got {value!r}")
        if name in out:
            raise RequestError(f"option {name!r} given twice")
        out[name] = value
    return out


def parse_hits(text: str) -> tuple[float, ...]:
    """``hits``: seconds as a comma list, each finite and from 0; at most 1,000, sorted, repeats dropped."""
    out: set[float] = set()
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            t = float(part)
        except ValueError:
            got = part.strip()[:40]
            raise RequestError(f"hits are seconds separated by commas, like '12.4,31'; got {got!r}") from None
        if not math.isfinite(t) or t < 0:
            raise RequestError(f"a hit must be a time from 0 s, got {part.strip()[:40]!r}")
        out.add(t)
    if len(out) > 1000:
        raise RequestError(f"at most 1000 hits, got {len(out)}")
    return tuple(sorted(out))


def parse_forced(text: str) -> tuple[tuple[float, float, str], ...]:
    """``set``: stretches of the clip forced to a quadrant, ``FROM-TO=Qn`` as a comma list (seconds)."""
    import re

    out = []
    for part in text.split(","):
        if not part.strip():
            continue
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*-\s*([0-9]+(?:\.[0-9]*)?)\s*=\s*([Qq][1-4])\s*", part)
        if m is None or not float(m.group(2)) > float(m.group(1)):
            got = part.strip()[:40]
            raise RequestError(f"'set' takes stretches like '0-4.5=Q3' separated by commas; got {got!r}")
        out.append((float(m.group(1)), float(m.group(2)), m.group(3).upper()))
    if len(out) > 256:
        raise RequestError(f"at most 256 stretches in 'set', got {len(out)}")
    return tuple(out)


def parse_timesig(text: str) -> tuple[int, int]:
    try:
        num, den = (int(x) for x in text.strip().split("/"))
    except ValueError:
        raise RequestError(f"a time signature looks like '4/4', got {text!r}") from None
    return num, den


def emotion_of(opts: dict[str, Any]) -> str | tuple[float, float]:
    """The request's emotion: a quadrant, or a (valence, arousal) point; exactly one of the two."""
    has_q = "quadrant" in opts
    has_va = "valence" in opts or "arousal" in opts
    if has_q == has_va:
        raise RequestError("give either 'quadrant' or both 'valence' and 'arousal'")
    if has_q:
        return str(opts["quadrant"])
    if "valence" not in opts or "arousal" not in opts:
        raise RequestError("a valence-arousal point needs both 'valence' and 'arousal'")
    return float(opts["valence"]), float(opts["arousal"])


def emotion_name(emotion: str | tuple[float, float], quadrants: Sequence[str]) -> str:
    """A short name for a clip or take: 'Q1 happy' or 'V+0.60 A-0.40 (Q4 calm)'."""
    from moodscore.models import QUADRANT_NAMES

    q = quadrants[0] if quadrants else "?"
    label = f"{q} {QUADRANT_NAMES.get(q, '')}".strip()
    if isinstance(emotion, tuple):
        return f"V{emotion[0]:+.2f} A{emotion[1]:+.2f} ({label})"
    return label


# one colour per quadrant (0xRRGGBB) for regions, clips and markers: Q1 warm yellow, Q2 red, Q3 blue, Q4 green
QUADRANT_COLORS = {"Q1": 0xF2B134, "Q2": 0xD1495B, "Q3": 0x3D6FB6, "Q4": 0x4FA97B}


def quadrant_color(quadrant: str) -> int:
    return QUADRANT_COLORS.get(quadrant, 0x9A9A9A)


def section_name(quadrant: str) -> str:
    """A section's name after its emotion: 'Q3 sad / depressed'."""
    from moodscore.models import QUADRANT_NAMES

    return f"{quadrant} {QUADRANT_NAMES.get(quadrant, '')}".strip()


GRID = 1920  # positions in beats are rounded to 1/1920 beat: finer than any MIDI file's ticks, and free of
# the microsecond rounding of a file's tempo (90 BPM is stored as 666,667 us a beat: 4 beats read as 3.999996)


def notes_of(midi: Any, tempo: float) -> list[Note]:
    """Every note of a PrettyMIDI (all tracks), in beats, ordered by start then pitch."""
    per_beat = float(tempo) / 60.0

    def beats(t: float) -> float:
        return round(t * per_beat * GRID) / GRID

    notes = [
        (int(n.pitch), beats(n.start), beats(n.end) - beats(n.start), int(n.velocity))
        for inst in midi.instruments
        for n in inst.notes
    ]
    return sorted(notes, key=lambda n: (n[1], n[0], n[2]))


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@dataclass
class Piece:
    """One composed piece as the client reassembles it."""

    index: int
    tempo: float
    key: str
    bars: int
    quadrants: str
    n_notes: int
    midi_path: str
    blob: bytes | None = None
    name: str = ""
