"""Named features of a MIDI piece (a ``pretty_midi.PrettyMIDI``) for the emotion judge and for music statistics.

All features come from one (N, 4) note array ``start, end, pitch, velocity`` (drums left out) and a little
context (tempo, downbeats, sustain-pedal events), so a transposed or time-stretched copy of a piece is cheap
to describe (:func:`notes_features`): the judge's training augments that way.

Groups (see :data:`FEATURE_NAMES`): duration-weighted pitch-class histogram (absolute and relative to the
estimated tonic), pitch register, note durations, velocities, note and onset density, polyphony, inter-onset
intervals, Krumhansl-Schmuckler key/mode correlations, triad qualities of 1/4 s frames, tempo, groove
consistency (Wu & Yang's MusDr definition, over non-empty bars), pitch-class entropy, sustain pedal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from moodscore.models.keys import KS_MAJOR, KS_MINOR

if TYPE_CHECKING:
    import pretty_midi

GROOVE_POSITIONS = 64  # onset grid per bar for groove consistency (as in MusDr)
CHORD_FS = 4.0  # frames per second for triad qualities
DEFAULT_TEMPO = 120.0

_SCALAR_NAMES = (
    "pitch_mean", "pitch_std", "pitch_min", "pitch_max", "pitch_range", "pitch_p10", "pitch_p90",
    "low_frac", "high_frac", "dur_mean", "dur_std", "dur_median", "log_dur_mean",
    "vel_mean", "vel_std", "vel_p10", "vel_p90",
    "notes_per_sec", "notes_per_beat", "onsets_per_sec",
    "poly_mean", "poly_max", "poly_std", "silence_frac",
    "ioi_mean", "ioi_std", "ioi_median", "ioi_cv",
    "key_major_corr", "key_minor_corr", "key_mode_score", "key_clarity", "key_is_major",
    "chord_major_frac", "chord_minor_frac", "chord_fit",
    "tempo", "groove_consistency", "pc_entropy", "pedal_per_sec", "duration",
)  # fmt: skip
FEATURE_NAMES: tuple[str, ...] = (
    *(f"pch_{i}" for i in range(12)),  # duration-weighted pitch classes, absolute (C = 0)
    *(f"key_pch_{i}" for i in range(12)),  # the same relative to the tonic of the estimated key's relative major
    *(f"bass_pch_{i}" for i in range(12)),  # lowest sounding note per frame, relative as key_pch
    *(f"chord_{q}{i}" for q in ("maj", "min") for i in range(12)),  # best triad per frame, root relative as key_pch
    *_SCALAR_NAMES,
)
N_FEATURES = len(FEATURE_NAMES)


def _zrows(m: np.ndarray) -> np.ndarray:
    m = m - m.mean(axis=-1, keepdims=True)
    return m / np.maximum(np.linalg.norm(m, axis=-1, keepdims=True), 1e-9)


_KEY_PROFILES = _zrows(np.stack([np.roll(p, k) for p in (KS_MAJOR, KS_MINOR) for k in range(12)]))  # (24, 12)
_TRIADS = np.stack([np.roll(np.eye(12)[[0, t, 7]].sum(0), k) for t in (4, 3) for k in range(12)])  # (24, 12)
_TRIADS = _TRIADS / np.linalg.norm(_TRIADS, axis=1, keepdims=True)


@dataclass(frozen=True)
class MidiContext:
    """What the features need besides the notes: first tempo, downbeats, pedal-down count, piece end."""

    tempo: float
    downbeats: np.ndarray
    pedal_downs: int
    end: float


def note_array(pm: pretty_midi.PrettyMIDI) -> np.ndarray:
    """All non-drum notes as a float (N, 4) array ``start, end, pitch, velocity``, sorted by start."""
    rows = [(n.start, n.end, n.pitch, n.velocity) for inst in pm.instruments if not inst.is_drum for n in inst.notes]
    notes = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    return notes[np.argsort(notes[:, 0], kind="stable")]


def midi_context(pm: pretty_midi.PrettyMIDI) -> MidiContext:
    _, tempi = pm.get_tempo_changes()
    pedal = sum(1 for inst in pm.instruments for c in inst.control_changes if c.number == 64 and c.value >= 64)
    return MidiContext(
        tempo=float(tempi[0]) if len(tempi) else DEFAULT_TEMPO,
        downbeats=np.asarray(pm.get_downbeats(), dtype=np.float64),
        pedal_downs=pedal,
        end=float(pm.get_end_time()),
    )


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum()) if p.size else 0.0


def polyphony(notes: np.ndarray, end: float) -> tuple[float, float, float, float]:
    """Time-weighted mean, max and std of sounding notes, and the silent fraction of [0, end]."""
    times = np.concatenate([notes[:, 0], notes[:, 1], [0.0, end]])
    steps = np.concatenate([np.ones(len(notes)), -np.ones(len(notes)), [0.0, 0.0]])
    order = np.lexsort((steps, times))  # at equal times, note-offs (-1) come before note-ons
    times, count = times[order], np.cumsum(steps[order])
    dt = np.diff(times)
    total = max(float(dt.sum()), 1e-9)
    active = count[:-1]
    mean = float((active * dt).sum() / total)
    std = float(np.sqrt(max((((active - mean) ** 2) * dt).sum() / total, 0.0)))
    return mean, float(count.max()), std, float(dt[active <= 0].sum() / total)


def _groove_consistency(onsets: np.ndarray, downbeats: np.ndarray, end: float) -> float:
    """1 - mean Hamming distance / 64 between the onset patterns of all pairs of non-empty bars."""
    if len(downbeats) < 1 or onsets.size == 0:
        return 0.0
    edges = np.append(downbeats, max(end, downbeats[-1] + 1e-3))
    bar = np.clip(np.searchsorted(edges, onsets, side="right") - 1, 0, len(downbeats) - 1)
    frac = (onsets - edges[bar]) / np.maximum(edges[bar + 1] - edges[bar], 1e-9)
    pos = np.clip((frac * GROOVE_POSITIONS).astype(int), 0, GROOVE_POSITIONS - 1)
    grid = np.zeros((len(downbeats), GROOVE_POSITIONS))
    grid[bar, pos] = 1.0
    grid = grid[grid.any(axis=1)]
    if len(grid) < 2:
        return 1.0
    ham = grid @ (1 - grid).T + (1 - grid) @ grid.T
    iu = np.triu_indices(len(grid), k=1)
    return float(1.0 - ham[iu].mean() / GROOVE_POSITIONS)


def _chroma_frames(notes: np.ndarray, end: float, fs: float = CHORD_FS) -> tuple[np.ndarray, np.ndarray]:
    """(T, 12) count of sounding notes per pitch class in frames of 1/fs s; (T,) lowest pitch class (-1: none)."""
    n_frames = max(int(np.ceil(end * fs)), 1)
    s = np.clip(np.floor(notes[:, 0] * fs).astype(int), 0, n_frames - 1)
    e = np.clip(np.ceil(notes[:, 1] * fs).astype(int), s + 1, n_frames)
    diff = np.zeros((n_frames + 1, 128))
    np.add.at(diff, (s, notes[:, 2].astype(int)), 1.0)
    np.add.at(diff, (e, notes[:, 2].astype(int)), -1.0)
    roll = np.cumsum(diff, axis=0)[:-1] > 0.5  # (T, 128) sounding pitches
    chroma = roll.reshape(n_frames, -1)[:, :120].reshape(n_frames, 10, 12).sum(axis=1)
    chroma[:, :8] += roll[:, 120:]
    low = roll.argmax(axis=1)
    return chroma.astype(np.float64), np.where(roll.any(axis=1), low % 12, -1)


def notes_features(notes: np.ndarray, ctx: MidiContext) -> np.ndarray:
    """The feature vector (len :data:`N_FEATURES`, float32) of a note array in a context."""
    out = np.zeros(N_FEATURES, dtype=np.float64)
    if len(notes) == 0:
        return out.astype(np.float32)
    start, end_t, pitch, vel = notes.T
    dur = np.maximum(end_t - start, 1e-3)
    length = max(ctx.end, float(end_t.max()), 1e-3)
    pc = pitch.astype(int) % 12
    pch = np.bincount(pc, weights=dur, minlength=12)
    pch = pch / pch.sum()
    key_corr = _KEY_PROFILES @ _zrows(pch[None])[0]  # (24,): 12 major keys then 12 minor keys
    key = int(np.argmax(key_corr))
    tonic = key % 12 if key < 12 else (key + 3) % 12  # the relative major's tonic: C major and A minor -> C
    key_pch = np.roll(pch, -tonic)
    onsets = np.unique(np.round(start, 2))
    ioi = np.diff(onsets) if len(onsets) > 1 else np.zeros(1)
    chroma, bass = _chroma_frames(notes, length)
    bass_pch = np.roll(np.bincount(bass[bass >= 0], minlength=12)[:12] / max(int((bass >= 0).sum()), 1), -tonic)
    chord_hist = np.zeros(24)
    sounding = (chroma > 0).sum(axis=1) >= 2
    if sounding.any():
        c = np.minimum(chroma[sounding], 1.0)
        score = (c / np.linalg.norm(c, axis=1, keepdims=True)) @ _TRIADS.T
        maj, mnr = score[:, :12].max(axis=1), score[:, 12:].max(axis=1)  # ties (e.g. bare fifths) count as neither
        chord = (float((maj > mnr + 1e-6).mean()), float((mnr > maj + 1e-6).mean()), float(score.max(axis=1).mean()))
        best = score.argmax(axis=1)
        clear = np.abs(maj - mnr) > 1e-6
        root = (best[clear] % 12 - tonic) % 12 + 12 * (best[clear] >= 12)
        chord_hist = np.bincount(root, minlength=24) / len(best)
    else:
        chord = (0.0, 0.0, 0.0)
    beats = length * ctx.tempo / 60.0
    p10, p90 = np.percentile(pitch, [10, 90])
    v10, v90 = np.percentile(vel, [10, 90])
    scalars = [
        pitch.mean(), pitch.std(), pitch.min(), pitch.max(), pitch.max() - pitch.min(), p10, p90,
        (pitch < 48).mean(), (pitch >= 72).mean(), dur.mean(), dur.std(), np.median(dur), np.log(dur).mean(),
        vel.mean(), vel.std(), v10, v90,
        len(notes) / length, len(notes) / max(beats, 1e-3), len(onsets) / length,
        *polyphony(notes, length),
        ioi.mean(), ioi.std(), np.median(ioi), ioi.std() / max(ioi.mean(), 1e-3),
        key_corr[:12].max(), key_corr[12:].max(), key_corr[:12].max() - key_corr[12:].max(), key_corr.max(),
        float(key < 12),
        *chord,
        ctx.tempo, _groove_consistency(start, ctx.downbeats, length), _entropy(pch), ctx.pedal_downs / length,
        length,
    ]  # fmt: skip
    out[:] = np.concatenate([pch, key_pch, bass_pch, chord_hist, np.asarray(scalars, dtype=np.float64)])
    return out.astype(np.float32)


def midi_features(pm: pretty_midi.PrettyMIDI) -> np.ndarray:
    """The named feature vector of a piece: ``dict(zip(FEATURE_NAMES, midi_features(pm)))``."""
    return notes_features(note_array(pm), midi_context(pm))
