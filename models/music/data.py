"""Loaders for the MIDI data sets: EMOPIA (emotion-labelled piano clips) and POP909 (pop piano arrangements).

The data stay outside the repository; every loader takes the data set's root folder and checks its layout,
raising :class:`~moodscore.models.errors.InputError` (one line) when a folder or file is missing or ill-formed.

- EMOPIA: ``root/midis/Q{1..4}_{songID}_{n}.mid``, ``root/label.csv`` (``ID,4Q,annotator``) and the official
  song-disjoint split ``root/split/{train,val,test}_clip.csv`` (``,clip_name``).
- POP909: ``root/NNN/NNN.mid`` with tracks MELODY, BRIDGE, PIANO and per-song ``key_audio.txt``,
  ``chord_midi.txt``, ``beat_midi.txt``.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from moodscore.models.errors import InputError

if TYPE_CHECKING:
    import pretty_midi

SPLITS = ("train", "val", "test")

Split = Literal["train", "val", "test"]

_CLIP_RE = re.compile(r"^(Q[1-4])_(.+)_(\d+)$")  # YouTube ids may contain '_' themselves


@dataclass(frozen=True)
class EmopiaClip:
    """One EMOPIA clip: its MIDI file, ids and emotion quadrant."""

    path: Path
    clip_id: str  # e.g. "Q1_0vLPYiPN7qY_0"
    song_id: str  # e.g. "0vLPYiPN7qY"
    quadrant: str  # "Q1".."Q4"


@dataclass(frozen=True)
class Pop909Song:
    """One POP909 song: its MIDI file and annotation files."""

    path: Path
    song_id: str  # "001".."909"
    key_path: Path
    chord_path: Path
    beat_path: Path


def parse_clip_id(clip_id: str) -> tuple[str, str, int]:
    """``"Q1_abc_2"`` (or ``"Q1_abc_2.mid"``) -> ``("Q1", "abc", 2)``; :class:`InputError` if it does not parse."""
    stem = clip_id[:-4] if clip_id.endswith(".mid") else clip_id
    m = _CLIP_RE.match(stem)
    if m is None:
        raise InputError(f"EMOPIA clip name {clip_id!r} is not of the form Q<1-4>_<songID>_<n>.mid")
    return m.group(1), m.group(2), int(m.group(3))


def _check_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise InputError(f"{what} folder not found: {path}")
    return path


def _read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise InputError(f"missing file: {path}")
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"cannot read {path}: {e}") from e


def emopia_labels(root: str | Path) -> dict[str, str]:
    """``label.csv`` as ``{clip_id: "Q1".."Q4"}``."""
    path = Path(root) / "label.csv"
    labels: dict[str, str] = {}
    for i, row in enumerate(_read_rows(path), start=2):
        cid, q = (row.get("ID") or "").strip(), (row.get("4Q") or "").strip()
        if not cid or q not in ("1", "2", "3", "4"):
            raise InputError(f"{path} line {i}: expected ID and 4Q in 1..4, got {cid!r}, {q!r}")
        labels[cid] = f"Q{q}"
    return labels


def emopia_split(root: str | Path, split: Split) -> list[EmopiaClip]:
    """The clips of one official EMOPIA split, in the order of ``split/{split}_clip.csv``.

    The quadrant comes from the file-name prefix and is cross-checked against ``label.csv``.
    """
    if split not in SPLITS:
        raise InputError(f"unknown EMOPIA split {split!r}; expected one of {', '.join(SPLITS)}")
    root = _check_dir(Path(root), "EMOPIA")
    midis = _check_dir(root / "midis", "EMOPIA midis")
    labels = emopia_labels(root)
    split_csv = root / "split" / f"{split}_clip.csv"
    clips: list[EmopiaClip] = []
    for i, row in enumerate(_read_rows(split_csv), start=2):
        name = (row.get("clip_name") or "").strip()
        if not name:
            raise InputError(f"{split_csv} line {i}: no clip_name")
        quadrant, song_id, _ = parse_clip_id(name)
        clip_id = name[:-4] if name.endswith(".mid") else name
        if labels.get(clip_id) != quadrant:
            raise InputError(f"{clip_id}: file-name quadrant {quadrant} disagrees with label.csv {labels.get(clip_id)}")
        path = midis / f"{clip_id}.mid"
        if not path.is_file():
            raise InputError(f"EMOPIA clip listed in {split_csv.name} is missing: {path}")
        clips.append(EmopiaClip(path=path, clip_id=clip_id, song_id=song_id, quadrant=quadrant))
    if not clips:
        raise InputError(f"{split_csv} lists no clips")
    return clips


def pop909_songs(root: str | Path) -> list[Pop909Song]:
    """All POP909 songs under ``root`` (folders ``NNN`` holding ``NNN.mid``), sorted by id."""
    root = _check_dir(Path(root), "POP909")
    songs: list[Pop909Song] = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdigit()):
        mid = d / f"{d.name}.mid"
        if not mid.is_file():
            raise InputError(f"POP909 song folder without its MIDI file: {mid}")
        songs.append(
            Pop909Song(
                path=mid,
                song_id=d.name,
                key_path=d / "key_audio.txt",
                chord_path=d / "chord_midi.txt",
                beat_path=d / "beat_midi.txt",
            )
        )
    if not songs:
        raise InputError(f"no POP909 songs (folders NNN/NNN.mid) in {root}")
    return songs


MAX_MIDI_BYTES = 16 * 1024 * 1024
MAX_MIDI_TICKS = 10_000_000  # pretty_midi keeps a float per tick
MAX_MIDI_SECONDS = 3600.0  # an hour: piano rolls of a piece are sized by its length


def load_midi(path: str | Path) -> pretty_midi.PrettyMIDI:
    """Read a MIDI file with pretty_midi; :class:`InputError` if it is missing, not MIDI, or out of bounds.

    A file from anyone: at most 16 MB, 10 million ticks and an hour long, checked with mido before pretty_midi
    builds its per-tick tables (a 44-byte file with a slow tempo and one long note otherwise asks for hundreds
    of GB). SMPTE-timed files (frames per second instead of beats) are converted to beats at 120 BPM."""
    import io

    import mido
    import pretty_midi

    path = Path(path)
    if not path.is_file():
        raise InputError(f"MIDI file not found: {path}")
    if path.stat().st_size > MAX_MIDI_BYTES:
        raise InputError(f"{path.name}: over {MAX_MIDI_BYTES // 2**20} MB, too large for a MIDI file")
    try:
        mid = mido.MidiFile(str(path), clip=True)
    except Exception as e:  # mido raises many types (OSError, EOFError, KeyError, ValueError...)
        raise InputError(f"cannot read MIDI file {path.name}: {type(e).__name__}: {e}") from e
    if mid.type == 2:
        raise InputError(f"{path.name}: a type 2 MIDI file (independent sequences) is not supported")
    if mid.ticks_per_beat < 0:  # SMPTE: high byte -frames per second, low byte ticks per frame
        division = mid.ticks_per_beat & 0xFFFF
        fps = 256 - (division >> 8)
        per_frame = division & 0xFF
        if fps not in (24, 25, 29, 30) or per_frame == 0:
            raise InputError(f"{path.name}: unreadable SMPTE time division")
        mid.ticks_per_beat = max(1, round((29.97 if fps == 29 else fps) * per_frame * 0.5))  # a beat = 0.5 s
        for track in mid.tracks:  # the division alone sets the time: tempo changes do not apply
            for i, msg in enumerate(track):
                if msg.type == "set_tempo":
                    track[i] = mido.MetaMessage("text", text="", time=msg.time)
    if mid.ticks_per_beat == 0:
        raise InputError(f"{path.name}: time division of zero ticks per beat")
    ticks = max((sum(m.time for m in t) for t in mid.tracks), default=0)
    if ticks > MAX_MIDI_TICKS:
        raise InputError(f"{path.name}: {ticks} ticks long, over the limit of {MAX_MIDI_TICKS}")
    if mid.length > MAX_MIDI_SECONDS:
        raise InputError(f"{path.name}: {mid.length / 3600:.1f} hours long, over the limit of one hour")
    buf = io.BytesIO()
    try:
        mid.save(file=buf)
        buf.seek(0)
        return pretty_midi.PrettyMIDI(buf)
    except Exception as e:
        raise InputError(f"cannot read MIDI file {path.name}: {type(e).__name__}: {e}") from e
