"""Mine POP909 for the statistics of the rule-based / hybrid composer, written to one JSON file.

    python -m moodscore.models.train.train_patterns --pop909 /work/shared/data/pop909 --out models/weights/patterns.json

What it learns (schema in ``models/weights/patterns.md``):

- chords, per mode of the local key (``major``/``minor``): a functional vocabulary ``"<root above tonic>:<quality>"``,
  start and final distributions, a bigram matrix (add-0.1 smoothed, rows sum to 1), raw trigram counts for
  contexts seen at least 5 times, and chord durations in beats;
- accompaniment: one-bar PIANO patterns over a single maj/min chord, transposed so the chord root is C;
- melody: one-bar MELODY rhythms (16th grid) and melodic interval histograms;
- headline statistics.

Songs whose id is a multiple of 10 are held out (never read here), for evaluation.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from moodscore.models.errors import InputError
from moodscore.models.music.data import Pop909Song, pop909_songs

VERSION = 1
DATE = "2026-12-05"
HELD_OUT_RULE = "song id % 10 == 0 held out"
QUALITIES = ("maj", "min", "dim", "aug", "sus4", "sus2", "7", "maj7", "min7", "hdim7", "dim7")
# POP909 qualities (after the bass '/x' is dropped) -> ours; anything else falls back on its prefix (see quality())
QUALITY_MAP = {
    "maj": "maj",
    "min": "min",
    "dim": "dim",
    "aug": "aug",
    "sus4": "sus4",
    "sus2": "sus2",
    "7": "7",
    "maj7": "maj7",
    "min7": "min7",
    "hdim7": "hdim7",
    "dim7": "dim7",
    "sus4(b7)": "sus4",
    "sus2(b7)": "sus2",
    "maj6": "maj",
    "min6": "min",
    "minmaj7": "min",
    "9": "7",
    "maj9": "maj7",
    "min9": "min7",
    "11": "7",
    "min11": "min7",
    "13": "7",
    "maj13": "maj7",
    "min13": "min7",
    "aug7": "aug",
    "1": "maj",
    "5": "maj",
}
DURATION_STEPS = (1, 2, 3, 4, 6, 8, 12, 16)
PATTERN_QUALITY = {"maj": "maj", "7": "maj", "maj7": "maj", "min": "min", "min7": "min"}
CHORD_TONES = {  # pitch classes of the C-rooted chord
    "maj": frozenset({0, 4, 7}),
    "7": frozenset({0, 4, 7, 10}),
    "maj7": frozenset({0, 4, 7, 11}),
    "min": frozenset({0, 3, 7}),
    "min7": frozenset({0, 3, 7, 10}),
}
MIN_VOCAB_COUNT = 3  # chord tokens rarer than this in a mode are left out of its vocabulary (they break sequences)
TRIGRAM_MIN_CONTEXT = 5
BIGRAM_SMOOTHING = 0.1
MAX_PATTERNS = 600
MAX_RHYTHMS = 400
PHRASE_GAP_BEATS = 1.0  # a rest longer than this between MELODY notes ends a phrase
CHORD_TONE_SHARE = 0.75
PATTERN_NOTES = (2, 24)

_NOTE = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ROOT_RE = re.compile(r"^([A-G])([#b]*)$")


# ---------------------------------------------------------------------------------------------- parsing


def pitch_class(name: str) -> int:
    """``"Gb"`` -> 6, ``"C#"`` -> 1; :class:`InputError` if it is not a note name."""
    m = _ROOT_RE.match(name.strip())
    if m is None:
        raise InputError(f"not a note name: {name!r}")
    return (_NOTE[m.group(1)] + m.group(2).count("#") - m.group(2).count("b")) % 12


def quality(text: str) -> str:
    """A POP909 chord quality (bass part already removed) mapped onto :data:`QUALITIES`."""
    q = text.strip()
    if q in QUALITY_MAP:
        return QUALITY_MAP[q]
    base = q.split("(")[0]
    if base in QUALITY_MAP:
        return QUALITY_MAP[base]
    for prefix, ours in (("hdim", "hdim7"), ("dim", "dim"), ("aug", "aug"), ("sus2", "sus2"), ("sus", "sus4")):
        if base.startswith(prefix):
            return ours
    if base.startswith("minmaj"):
        return "min"
    if base.startswith(("min", "maj")):  # min9, maj11...: an extended seventh chord
        return base[:3] + "7"
    if base[:1].isdigit():  # 9, 11, 13: dominant
        return "7"
    raise InputError(f"unknown chord quality: {text!r}")


@dataclass(frozen=True)
class Chord:
    """An absolute chord: root pitch class, quality (one of :data:`QUALITIES`), whether the bass is not the root."""

    root: int
    quality: str
    inverted: bool


def parse_chord(label: str) -> Chord | None:
    """``"A:7/3"`` -> ``Chord(9, "7", True)``; ``"N"`` -> None."""
    label = label.strip()
    if label in ("N", "X", ""):
        return None
    if ":" not in label:
        raise InputError(f"chord label without ':': {label!r}")
    root, rest = label.split(":", 1)
    qual, _, bass = rest.partition("/")
    return Chord(pitch_class(root), quality(qual or "maj"), bool(bass) and bass.strip() != "1")


def parse_key(text: str) -> tuple[int, str]:
    """``"Gb:maj"`` -> ``(6, "major")``, ``"A:min"`` -> ``(9, "minor")``."""
    root, _, mode = text.strip().partition(":")
    mode = mode.strip().lower()
    if mode not in ("maj", "min", "major", "minor"):
        raise InputError(f"key without maj/min mode: {text!r}")
    return pitch_class(root), "major" if mode.startswith("maj") else "minor"


def chord_token(label: str, key: str) -> str | None:
    """The functional token of a POP909 chord label in a key: ``chord_token("B:maj", "Gb:maj") == "5:maj"``."""
    chord = parse_chord(label)
    if chord is None:
        return None
    tonic, _ = parse_key(key)
    return f"{(chord.root - tonic) % 12}:{chord.quality}"


def round_duration(beats: float) -> int:
    """The nearest of :data:`DURATION_STEPS` (ties go to the shorter one)."""
    return min(DURATION_STEPS, key=lambda d: (abs(d - beats), d))


def _read_table(path: Path, ncols: int) -> list[list[str]]:
    if not path.is_file():
        raise InputError(f"missing file: {path}")
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < ncols:
            raise InputError(f"{path} line {i}: expected {ncols} columns, got {line!r}")
        rows.append(parts[:ncols])
    return rows


class BeatGrid:
    """Seconds <-> beat positions by linear interpolation of the beat times (linear extrapolation outside)."""

    def __init__(self, times: Sequence[float]) -> None:
        t = np.asarray(times, float)
        if len(t) < 2 or np.any(np.diff(t) <= 0):
            raise InputError("beat times must be at least two and strictly increasing")
        self.times = t
        self.first_step = float(t[1] - t[0])
        self.last_step = float(t[-1] - t[-2])

    def beat(self, seconds: np.ndarray | float) -> np.ndarray:
        s = np.asarray(seconds, float)
        t = self.times
        pos = np.interp(s, t, np.arange(len(t), dtype=float))
        pos = np.where(s < t[0], (s - t[0]) / self.first_step, pos)
        return np.where(s > t[-1], len(t) - 1 + (s - t[-1]) / self.last_step, pos)


# ---------------------------------------------------------------------------------------------- one song


@dataclass
class SongStats:
    """Everything counted in one song (picklable, merged by :func:`mine`)."""

    song_id: str
    mode: str = "major"  # the mode that holds most of the song's duration
    n_keys: int = 1
    sequences: dict[str, list[list[tuple[str, int]]]] = field(default_factory=lambda: {"major": [], "minor": []})
    section_starts: dict[str, list[bool]] = field(default_factory=lambda: {"major": [], "minor": []})
    section_ends: dict[str, list[bool]] = field(default_factory=lambda: {"major": [], "minor": []})
    inversions: int = 0
    chords: int = 0
    patterns: dict[str, Counter[tuple[tuple[int, int, int], ...]]] = field(
        default_factory=lambda: {"maj": Counter(), "min": Counter()}
    )
    pattern_bars: dict[str, int] = field(default_factory=lambda: {"maj": 0, "min": 0})
    pattern_rejected: dict[str, int] = field(default_factory=lambda: {"maj": 0, "min": 0})
    pattern_wrong_size: dict[str, int] = field(default_factory=lambda: {"maj": 0, "min": 0})
    bars_several_chords: int = 0
    bars_other_quality: int = 0
    piano_per_bar: list[int] = field(default_factory=list)
    rhythms: Counter[tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=Counter)
    melody_pitches: list[int] = field(default_factory=list)
    intervals: dict[str, Counter[int]] = field(default_factory=lambda: {"major": Counter(), "minor": Counter()})
    bars: int = 0
    bars_not_4: int = 0


def _key_at(keys: list[tuple[float, float, int, str]], start: float, end: float) -> tuple[int, str]:
    """The key segment that overlaps [start, end) most; the nearest one if none overlaps."""
    best, best_overlap = keys[0], -math.inf
    for k in keys:
        overlap = min(end, k[1]) - max(start, k[0])
        if overlap <= 0:
            overlap = -min(abs(start - k[1]), abs(k[0] - end))  # distance, as a negative overlap
        if overlap > best_overlap:
            best, best_overlap = k, overlap
    return best[2], best[3]


def _instrument_notes(pm: Any, name: str) -> list[Any]:
    for inst in pm.instruments:
        if inst.name.strip().upper() == name:
            return sorted(inst.notes, key=lambda n: (n.start, n.pitch))
    raise InputError(f"no {name} track")


def song_stats(song: Pop909Song) -> SongStats:
    """Count chords, PIANO patterns and MELODY rhythms / intervals of one song."""
    from moodscore.models.music.data import load_midi

    st = SongStats(song_id=song.song_id)
    keys = [(float(a), float(b), *parse_key(k)) for a, b, k in _read_table(song.key_path, 3)]
    if not keys:
        raise InputError(f"{song.key_path}: no keys")
    st.n_keys = len({(k[2], k[3]) for k in keys})
    dur_by_mode: defaultdict[str, float] = defaultdict(float)
    for a, b, _, m in keys:
        dur_by_mode[m] += b - a
    st.mode = max(dur_by_mode, key=lambda m: dur_by_mode[m])
    beats_rows = _read_table(song.beat_path, 3)
    grid = BeatGrid([float(r[0]) for r in beats_rows])
    downbeats = [i for i, r in enumerate(beats_rows) if float(r[2]) == 1.0]

    # chords: merge consecutive lines of the same absolute chord (root, quality); inversions merge too
    raw = [(float(a), float(b), parse_chord(lab)) for a, b, lab in _read_table(song.chord_path, 3)]
    events: list[tuple[float, float, Chord | None]] = []
    for a, b, c in raw:
        if b <= a:
            continue
        prev = events[-1] if events else None
        same = prev is not None and (
            (c is None and prev[2] is None)
            or (c is not None and prev[2] is not None and (c.root, c.quality) == (prev[2].root, prev[2].quality))
        )
        if prev is not None and same:
            events[-1] = (prev[0], b, prev[2])
        else:
            events.append((a, b, c))
    st.inversions = sum(1 for _, _, c in raw if c is not None and c.inverted)
    st.chords = sum(1 for _, _, c in raw if c is not None)

    # chord sequences: split at 'N' (a section end) and at key changes (not a section end)
    current: list[tuple[str, int]] = []
    current_key: tuple[int, str] | None = None
    section_start = True  # the current sequence began a section (song start or after 'N'), not at a key change

    def close(section_end: bool) -> None:
        nonlocal current, section_start
        if current and current_key is not None:
            st.sequences[current_key[1]].append(current)
            st.section_starts[current_key[1]].append(section_start)
            st.section_ends[current_key[1]].append(section_end)
            section_start = False
        current = []

    for a, b, c in events:
        if c is None:
            close(True)
            current_key = None
            section_start = True
            continue
        key = _key_at(keys, a, b)
        if key != current_key:
            close(False)
            current_key = key
        beats = float(grid.beat(b) - grid.beat(a))
        current.append((f"{(c.root - key[0]) % 12}:{c.quality}", round_duration(beats)))
    close(True)

    pm = load_midi(song.path)
    piano = _instrument_notes(pm, "PIANO")
    melody = _instrument_notes(pm, "MELODY")

    # bars of 4 beats; which chord covers each
    bar_starts: list[int] = []
    for i, d in enumerate(downbeats):
        nxt = downbeats[i + 1] if i + 1 < len(downbeats) else None
        if nxt is None:
            if d + 4 < len(beats_rows):
                st.bars_not_4 += 1
            continue
        if nxt - d == 4:
            bar_starts.append(d)
        else:
            st.bars_not_4 += 1
    st.bars = len(bar_starts)
    ev_start = np.array([grid.beat(a) for a, _, _ in events]) if events else np.zeros(0)
    ev_end = np.array([grid.beat(b) for _, b, _ in events]) if events else np.zeros(0)

    def quantise(notes: list[Any]) -> dict[int, list[tuple[int, int, int]]]:
        """Notes by bar start beat: (onset16 in bar, dur16 1..16, pitch)."""
        if not notes:
            return {}
        on = np.rint(4 * grid.beat(np.array([n.start for n in notes]))).astype(int)
        off = np.rint(4 * grid.beat(np.array([n.end for n in notes]))).astype(int)
        by_bar: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
        starts = set(bar_starts)
        for n, q0, q1 in zip(notes, on, off, strict=True):
            beat = int(q0 // 4)
            for b0 in (beat, beat - 1, beat - 2, beat - 3):
                if b0 in starts:
                    by_bar[b0].append((int(q0 - 4 * b0), int(min(16, max(1, q1 - q0))), int(n.pitch)))
                    break
        return by_bar

    piano_bars = quantise(piano)
    melody_bars = quantise(melody)
    for b0 in bar_starts:
        st.piano_per_bar.append(len(piano_bars.get(b0, [])))
        mel = sorted(melody_bars.get(b0, []))
        if mel:
            st.rhythms[(tuple(x[0] for x in mel), tuple(x[1] for x in mel))] += 1
        # the one chord covering the bar (chord times sit on beats: a quarter-beat tolerance)
        j = int(np.searchsorted(ev_start, b0 + 0.25, side="right")) - 1
        if j < 0 or ev_end[j] < b0 + 4 - 0.25:
            st.bars_several_chords += 1
            continue
        chord = events[j][2]
        if chord is None or chord.quality not in PATTERN_QUALITY:
            st.bars_other_quality += 1
            continue
        notes = piano_bars.get(b0, [])
        qual = PATTERN_QUALITY[chord.quality]
        if not PATTERN_NOTES[0] <= len(notes) <= PATTERN_NOTES[1]:
            st.pattern_wrong_size[qual] += 1
            continue
        shift = (chord.root + 6) % 12 - 6
        moved = tuple(sorted((o, d, p - shift) for o, d, p in notes))
        tones = CHORD_TONES[chord.quality]
        share = sum(1 for _, _, p in moved if p % 12 in tones) / len(moved)
        if share >= CHORD_TONE_SHARE and all(21 <= p <= 108 for _, _, p in moved):
            st.patterns[qual][moved] += 1
            st.pattern_bars[qual] += 1
        else:
            st.pattern_rejected[qual] += 1

    # melody: register and intervals within phrases (a rest longer than PHRASE_GAP_BEATS ends a phrase)
    st.melody_pitches = [int(n.pitch) for n in melody]
    if melody:
        on_b = grid.beat(np.array([n.start for n in melody]))
        off_b = grid.beat(np.array([n.end for n in melody]))
        for i in range(1, len(melody)):
            if on_b[i] - off_b[i - 1] > PHRASE_GAP_BEATS or on_b[i] - on_b[i - 1] < 1e-6:
                continue
            _, mode = _key_at(keys, melody[i].start, melody[i].end)
            st.intervals[mode][int(melody[i].pitch) - int(melody[i - 1].pitch)] += 1
    return st


# ---------------------------------------------------------------------------------------------- merging


def _r(x: float) -> float:
    return round(float(x), 4)


def _normalise(counts: Iterable[float], *, floor: float = 0.0) -> list[float]:
    """Probabilities rounded to 4 digits that still sum to 1 (the rounding error goes to the largest one).

    ``floor``: no probability of a nonzero count is rounded below it (keeps smoothed entries nonzero).
    """
    arr = np.asarray(list(counts), float)
    total = arr.sum()
    if total <= 0:
        return [0.0] * len(arr)
    out = [max(_r(v), floor) if v > 0 else 0.0 for v in arr / total]
    i = int(np.argmax(arr))
    out[i] = _r(out[i] + 1.0 - sum(out))
    return out


def _quartiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"median": 0.0, "q25": 0.0, "q75": 0.0}
    q25, q50, q75 = np.percentile(np.asarray(values, float), [25, 50, 75])
    return {"median": _r(q50), "q25": _r(q25), "q75": _r(q75)}


def chord_model(
    sequences: list[list[tuple[str, int]]], starts: list[bool], ends: list[bool]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One mode's chord model (the schema's ``chords.major``) and its readable statistics.

    ``sequences`` are runs of (token, duration in beats) in one key; ``starts[i]`` / ``ends[i]`` tell whether run i
    begins / ends a section (song start or end, 'N'), rather than at a key change.
    """
    counts = Counter(tok for seq in sequences for tok, _ in seq)
    vocab = [t for t, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= MIN_VOCAB_COUNT]
    index = {t: i for i, t in enumerate(vocab)}
    v = len(vocab)
    start = np.zeros(v)
    final = np.zeros(v)
    final_of = np.zeros(v)  # how often each token could have ended a section (it did, or something followed it)
    bigram = np.zeros((v, v))
    trigram: dict[tuple[int, int], Counter[int]] = defaultdict(Counter)
    durations: Counter[int] = Counter()
    for seq, section_start, section_end in zip(sequences, starts, ends, strict=True):
        # out-of-vocabulary tokens split a sequence; only the piece that reaches the real end ends a section
        pieces: list[list[int]] = [[]]
        for tok, dur in seq:
            if tok in index:
                pieces[-1].append(index[tok])
                durations[dur] += 1
            elif pieces[-1]:
                pieces.append([])
        for k, ids in enumerate(pieces):
            if not ids:
                continue
            if k == 0 and section_start:
                start[ids[0]] += 1
            for a, b in itertools.pairwise(ids):
                bigram[a, b] += 1
                final_of[a] += 1
            for a, b, c in zip(ids, ids[1:], ids[2:], strict=False):
                trigram[(a, b)][c] += 1
            if k == len(pieces) - 1 and section_end:
                final[ids[-1]] += 1
                final_of[ids[-1]] += 1
    rows = bigram + BIGRAM_SMOOTHING
    tri = {
        f"{a},{b}": {str(c): n for c, n in sorted(nxt.items(), key=lambda kv: (-kv[1], kv[0]))}
        for (a, b), nxt in sorted(trigram.items())
        if sum(nxt.values()) >= TRIGRAM_MIN_CONTEXT
    }
    n_dur = sum(durations.values())
    model = {
        "vocab": vocab,
        "counts": [counts[t] for t in vocab],
        "start": _normalise(start),
        "bigram": [_normalise(row, floor=1e-4) for row in rows],
        "trigram": tri,
        "final": _normalise(final),
        "final_rate": [_r(f / n) if n else 0.0 for f, n in zip(final, final_of, strict=True)],
        "durations_beats": {str(d): _r(durations[d] / n_dur) for d in DURATION_STEPS if n_dur},
    }
    n_events = sum(counts.values())
    by_quality: Counter[str] = Counter()
    for t, n in counts.items():
        by_quality[t.split(":")[1]] += n
    total_bi = bigram.sum()
    top = sorted(((bigram[a, b], a, b) for a in range(v) for b in range(v) if bigram[a, b] > 0), reverse=True)[:20]
    raw_dur = [d for seq in sequences for _, d in seq]
    stats = {
        "chord_events": n_events,
        "sections": len(sequences),
        "vocab_size": v,
        "oov_events": sum(n for t, n in counts.items() if t not in index),
        "quality_share": {q: _r(by_quality[q] / n_events) for q in QUALITIES if n_events},
        "top_bigrams": [
            {
                "from": vocab[a],
                "to": vocab[b],
                "p": _r(bigram[a, b] / bigram[a].sum()),
                "share": _r(n / total_bi),
                "count": int(n),
            }
            for n, a, b in top
        ],
        "top_chords": [{"token": t, "share": _r(counts[t] / n_events)} for t in vocab[:12]],
        "median_duration_beats": _r(float(np.median(raw_dur))) if raw_dur else 0.0,
        "trigram_contexts": len(tri),
    }
    return model, stats


def _shape(notes: tuple[tuple[int, int, int], ...]) -> tuple[int, ...]:
    """A pattern's rhythmic shape: its sorted distinct onsets."""
    return tuple(sorted({o for o, _, _ in notes}))


def select_patterns(
    counts: Counter[tuple[tuple[int, int, int], ...]], songs: dict[tuple[tuple[int, int, int], ...], set[str]]
) -> list[dict[str, Any]]:
    """Patterns in >= 2 songs (most frequent first), then single-song ones of the most common rhythmic shapes."""
    shape_count: Counter[tuple[int, ...]] = Counter()
    for pat, n in counts.items():
        shape_count[_shape(pat)] += n
    multi = sorted((p for p in counts if len(songs[p]) >= 2), key=lambda p: (-counts[p], -len(songs[p]), p))
    chosen = multi[:MAX_PATTERNS]
    if len(chosen) < MAX_PATTERNS:
        single = sorted(
            (p for p in counts if len(songs[p]) < 2), key=lambda p: (-shape_count[_shape(p)], -counts[p], p)
        )
        seen_shapes: Counter[tuple[int, ...]] = Counter()
        for p in single:  # at most 3 fillers per shape, so the fill is varied
            if len(chosen) >= MAX_PATTERNS:
                break
            if seen_shapes[_shape(p)] < 3:
                seen_shapes[_shape(p)] += 1
                chosen.append(p)
    chosen.sort(key=lambda p: (-counts[p], -len(songs[p]), p))
    out = []
    for p in chosen:
        pitches = [x[2] for x in p]
        out.append(
            {
                "notes": [list(x) for x in p],
                "count": counts[p],
                "songs": len(songs[p]),
                "density": len(p),
                "low": min(pitches),
                "high": max(pitches),
            }
        )
    return out


def mine(songs: Sequence[Pop909Song], *, workers: int = 2) -> tuple[dict[str, Any], list[str]]:
    """The JSON document (without ``meta.command``) and a list of warnings about songs that were skipped."""
    warnings: list[str] = []
    results: list[SongStats] = []
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            futures = [(s, pool.submit(song_stats, s)) for s in songs]
            for s, fut in futures:
                try:
                    results.append(fut.result())
                except InputError as e:
                    warnings.append(f"{s.song_id}: {e}")
    else:
        for s in songs:
            try:
                results.append(song_stats(s))
            except InputError as e:
                warnings.append(f"{s.song_id}: {e}")

    chords: dict[str, Any] = {}
    chord_stats: dict[str, Any] = {}
    for mode in ("major", "minor"):
        seqs = [q for r in results for q in r.sequences[mode]]
        starts = [e for r in results for e in r.section_starts[mode]]
        ends = [e for r in results for e in r.section_ends[mode]]
        chords[mode], chord_stats[mode] = chord_model(seqs, starts, ends)

    accompaniment: dict[str, list[dict[str, Any]]] = {}
    pattern_stats: dict[str, Any] = {}
    for qual in ("maj", "min"):
        counts: Counter[tuple[tuple[int, int, int], ...]] = Counter()
        where: dict[tuple[tuple[int, int, int], ...], set[str]] = defaultdict(set)
        for r in results:
            for p, n in r.patterns[qual].items():
                counts[p] += n
                where[p].add(r.song_id)
        accompaniment[qual] = select_patterns(counts, where)
        dens = [p["density"] for p in accompaniment[qual]]
        bars = sum(r.pattern_bars[qual] for r in results)
        pattern_stats[qual] = {
            "bars_kept": bars,
            "bars_rejected_chord_tones": sum(r.pattern_rejected[qual] for r in results),
            "bars_rejected_note_count": sum(r.pattern_wrong_size[qual] for r in results),
            "density_all_kept": _quartiles(np.repeat([len(p) for p in counts], list(counts.values())).tolist()),
            "distinct": len(counts),
            "distinct_in_2plus_songs": sum(1 for p in counts if len(where[p]) >= 2),
            "stored": len(accompaniment[qual]),
            "stored_in_2plus_songs": sum(1 for p in accompaniment[qual] if p["songs"] >= 2),
            "stored_bar_coverage": _r(sum(p["count"] for p in accompaniment[qual]) / bars) if bars else 0.0,
            "density_stored": _quartiles(dens),
        }

    rhythm_counts: Counter[tuple[tuple[int, ...], tuple[int, ...]]] = Counter()
    rhythm_songs: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = Counter()
    for r in results:
        rhythm_counts.update(r.rhythms)
        for k in r.rhythms:
            rhythm_songs[k] += 1
    top_rhythms = sorted(rhythm_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_RHYTHMS]
    melody_rhythms = [
        {"onsets": list(on), "durs": list(du), "count": n, "songs": rhythm_songs[(on, du)]}
        for (on, du), n in top_rhythms
    ]
    n_rhythm_bars = sum(rhythm_counts.values())

    intervals: dict[str, dict[str, float]] = {}
    all_iv: Counter[int] = Counter()
    for mode in ("major", "minor"):
        c: Counter[int] = Counter()
        for r in results:
            c.update(r.intervals[mode])
        all_iv.update(c)
        inside = sum(n for k, n in c.items() if -12 <= k <= 12)
        intervals[mode] = {str(k): _r(c[k] / inside) if inside else 0.0 for k in range(-12, 13)}
    n_iv = sum(all_iv.values())
    pitches = [p for r in results for p in r.melody_pitches]
    piano_per_bar = [n for r in results for n in r.piano_per_bar]
    n_chords = sum(r.chords for r in results)
    stats = {
        "songs": len(results),
        "songs_mostly_minor_share": _r(sum(r.mode == "minor" for r in results) / len(results)) if results else 0.0,
        "songs_with_key_change_share": _r(sum(r.n_keys > 1 for r in results) / len(results)) if results else 0.0,
        "chords": chord_stats,
        "chord_lines_inverted_share": _r(sum(r.inversions for r in results) / n_chords) if n_chords else 0.0,
        "bars_4_beats": sum(r.bars for r in results),
        "bars_other_length": sum(r.bars_not_4 for r in results),
        "bars_4_beats_several_chords": sum(r.bars_several_chords for r in results),
        "bars_4_beats_one_chord_other_quality": sum(r.bars_other_quality for r in results),
        "piano_notes_per_bar": _quartiles(piano_per_bar),
        "piano_notes_per_bar_nonempty": _quartiles([n for n in piano_per_bar if n > 0]),
        "accompaniment": pattern_stats,
        "melody_register": _quartiles(pitches),
        "melody_intervals_counted": n_iv,
        "melody_step_share": _r(sum(n for k, n in all_iv.items() if 1 <= abs(k) <= 2) / n_iv) if n_iv else 0.0,
        "melody_repeat_share": _r(all_iv[0] / n_iv) if n_iv else 0.0,
        "melody_leap_over_octave_share": _r(sum(n for k, n in all_iv.items() if abs(k) > 12) / n_iv) if n_iv else 0.0,
        "melody_bars_nonempty": n_rhythm_bars,
        "melody_rhythms_distinct": len(rhythm_counts),
        "melody_rhythms_stored_coverage": _r(sum(n for _, n in top_rhythms) / n_rhythm_bars) if n_rhythm_bars else 0.0,
        "skipped_songs": [w.split(":")[0] for w in warnings],
    }
    doc = {
        "meta": {
            "data": "POP909 (Wang et al., ISMIR 2020), https://github.com/music-x-lab/POP909-Dataset",
            "licence": "MIT",
            "songs_used": len(results),
            "song_ids": [r.song_id for r in results],
            "held_out_rule": HELD_OUT_RULE,
            "command": "",
            "date": DATE,
            "version": VERSION,
        },
        "chords": chords,
        "accompaniment": accompaniment,
        "melody_rhythms": melody_rhythms,
        "melody_intervals": intervals,
        "stats": stats,
    }
    return doc, warnings


def training_songs(root: str | Path) -> list[Pop909Song]:
    """The POP909 songs used for mining: every id not a multiple of 10."""
    return [s for s in pop909_songs(root) if int(s.song_id) % 10 != 0]


def _compact_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pop909", required=True, help="POP909 root (folders NNN/)")
    ap.add_argument("--out", default="models/weights/patterns.json")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="only the first N training songs (for a quick look)")
    args = ap.parse_args(argv)
    t0 = time.time()
    try:
        songs = training_songs(args.pop909)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.limit:
        songs = songs[: args.limit]
    doc, warnings = mine(songs, workers=args.workers)
    for w in warnings:
        print(f"skipped {w}", file=sys.stderr)
    cmd = [
        "python",
        "-m",
        "moodscore.models.train.train_patterns",
        "--pop909",
        str(args.pop909),
        "--out",
        str(args.out),
    ]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    doc["meta"]["command"] = " ".join(cmd)
    doc["stats"]["runtime_seconds"] = round(time.time() - t0, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = _compact_json(doc)
    out.write_text(text + "\n", encoding="utf-8")
    print(f"{len(doc['meta']['song_ids'])} songs, {len(text) / 1e6:.2f} MB -> {out} in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
