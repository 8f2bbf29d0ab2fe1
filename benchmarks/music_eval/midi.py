"""Notes as arrays: piano-track selection, sustain-pedal extension, cutting and per-piece hygiene counts.

A piece is an ``(n, 4)`` float array with columns ``START, END, PITCH, VEL`` (seconds, MIDI pitch, velocity),
sorted by onset then pitch. Real and generated music go through the same steps: the sustain pedal (CC64)
extends every note released while the pedal is down to the pedal's release (or to the next onset of the same
pitch, which re-strikes the string), so transcriptions and composed music are compared alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

START, END, PITCH, VEL = 0, 1, 2, 3
PEDAL_CC = 64
PEDAL_DOWN = 64  # CC64 value at or above which the pedal is down
LOW_OK, HIGH_OK = 33, 96  # A1..C7: notes outside are counted by the hygiene check
DUPLICATE_TOL = 0.001  # s: same pitch, onsets this close, same track = a duplicate note


def empty_notes() -> np.ndarray:
    return np.zeros((0, 4), dtype=float)


def sort_notes(notes: np.ndarray) -> np.ndarray:
    if len(notes) == 0:
        return notes.reshape(0, 4)
    order = np.lexsort((notes[:, PITCH], notes[:, START]))
    return notes[order]


def pedal_intervals(events: Any, until: float) -> np.ndarray:
    """``(k, 2)`` array of [down, up) times from CC64 ``(time, value)`` events; a pedal never released holds
    until ``until``."""
    ev = sorted(((float(t), int(v)) for t, v in events), key=lambda e: e[0])
    out: list[tuple[float, float]] = []
    down_at: float | None = None
    for t, v in ev:
        if v >= PEDAL_DOWN and down_at is None:
            down_at = t
        elif v < PEDAL_DOWN and down_at is not None:
            if t > down_at:
                out.append((down_at, t))
            down_at = None
    if down_at is not None and until > down_at:
        out.append((down_at, until))
    return np.array(out, dtype=float).reshape(-1, 2)


def extend_by_pedal(notes: np.ndarray, events: Any) -> np.ndarray:
    """The notes with each offset that falls while the pedal is down moved to the pedal's release.

    ``events``: CC64 ``(time, value)`` pairs of the notes' own track/channel. A note is never shortened, and an
    extended note ends no later than the next onset of the same pitch (the key is struck again). A pedal that is
    never released holds until the last offset of the piece.
    """
    out = np.array(notes, dtype=float).reshape(-1, 4).copy()
    if len(out) == 0:
        return out
    until = float(out[:, END].max())
    iv = pedal_intervals(events, until)
    if len(iv) == 0:
        return out
    ends = out[:, END]
    k = np.searchsorted(iv[:, 0], ends, side="right") - 1
    inside = (k >= 0) & (ends < iv[np.maximum(k, 0), 1])
    new_end = np.where(inside, iv[np.maximum(k, 0), 1], ends)
    # the next onset of the same pitch cuts a held note (but never before its own key release)
    for p in np.unique(out[:, PITCH]):
        idx = np.flatnonzero(out[:, PITCH] == p)
        idx = idx[np.argsort(out[idx, START], kind="stable")]
        starts = out[idx, START]
        nxt = np.searchsorted(starts, starts, side="right")
        has = nxt < len(idx)
        cap = np.full(len(idx), np.inf)
        cap[has] = starts[nxt[has]]
        new_end[idx] = np.minimum(new_end[idx], np.maximum(cap, ends[idx]))
    out[:, END] = np.maximum(new_end, ends)
    return out


def is_piano_track(inst: Any) -> bool:
    """Non-drum tracks named "Piano" (any case), or unnamed tracks with a piano program (0-7)."""
    if inst.is_drum:
        return False
    name = (inst.name or "").strip().lower()
    if name:
        return name == "piano"
    return 0 <= int(inst.program) <= 7


def instrument_notes(inst: Any) -> np.ndarray:
    return np.array([(n.start, n.end, n.pitch, n.velocity) for n in inst.notes], dtype=float).reshape(-1, 4)


def pedal_events(inst: Any) -> list[tuple[float, int]]:
    return [(c.time, c.value) for c in inst.control_changes if c.number == PEDAL_CC]


def pm_notes(pm: Any, *, piano_only: bool = True) -> np.ndarray:
    """Pedal-extended notes of the selected tracks of a PrettyMIDI, merged and sorted."""
    parts = [
        extend_by_pedal(instrument_notes(inst), pedal_events(inst))
        for inst in pm.instruments
        if (is_piano_track(inst) if piano_only else not inst.is_drum)
    ]
    parts = [p for p in parts if len(p)]
    return sort_notes(np.concatenate(parts)) if parts else empty_notes()


def load_pm(path: str | Path) -> Any:
    import pretty_midi

    return pretty_midi.PrettyMIDI(str(path))


def cut(notes: np.ndarray, t0: float, dur: float) -> np.ndarray:
    """Notes with onsets in ``[t0, t0 + dur)``, shifted to start at 0, offsets clipped to ``dur``."""
    m = (notes[:, START] >= t0 - 1e-9) & (notes[:, START] < t0 + dur)
    out = notes[m].copy()
    out[:, START] -= t0
    out[:, END] = np.minimum(out[:, END] - t0, dur)
    out[:, START] = np.maximum(out[:, START], 0.0)
    return out


def cut_from_first_onset(notes: np.ndarray, dur: float) -> np.ndarray:
    if len(notes) == 0:
        return notes
    return cut(notes, float(notes[:, START].min()), dur)


def hygiene(pm: Any, *, tempo: float) -> dict[str, float]:
    """Counts on the raw MIDI (no pedal extension): exact duplicates (same track, pitch, onset within 1 ms) on the
    piano tracks and on all non-drum tracks; piano notes outside A1-C7; piano notes longer than 2 bars of 4/4."""
    two_bars = 8 * 60.0 / tempo

    def duplicates(inst: Any) -> int:
        notes = instrument_notes(inst)
        count = 0
        for p in np.unique(notes[:, PITCH]) if len(notes) else []:
            s = np.sort(notes[notes[:, PITCH] == p, START])
            count += int(np.sum(np.diff(s) <= DUPLICATE_TOL))
        return count

    piano = [inst for inst in pm.instruments if is_piano_track(inst)]
    others = [inst for inst in pm.instruments if not inst.is_drum]
    raw = np.concatenate([instrument_notes(i) for i in piano]) if piano else empty_notes()
    n = len(raw)
    n_all = sum(len(i.notes) for i in others)
    dup = sum(duplicates(i) for i in piano)
    dup_all = sum(duplicates(i) for i in others)
    outside = int(np.sum((raw[:, PITCH] < LOW_OK) | (raw[:, PITCH] > HIGH_OK))) if n else 0
    long = int(np.sum(raw[:, END] - raw[:, START] > two_bars)) if n else 0
    return {
        "n_notes": n,
        "duplicates": dup,
        "duplicate_share": dup / n if n else 0.0,
        "duplicates_all_tracks": dup_all,
        "duplicate_share_all_tracks": dup_all / n_all if n_all else 0.0,
        "outside_a1_c7": outside,
        "outside_share": outside / n if n else 0.0,
        "longer_than_2_bars": long,
        "long_share": long / n if n else 0.0,
    }


def write_piano_midi(path: Path, notes: np.ndarray, pedal: list[tuple[float, int]], tempo: float) -> None:
    """A type-1 MIDI file with one track named Piano holding ``notes`` (raw offsets) and CC64 ``pedal``."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    inst = pretty_midi.Instrument(program=0, name="Piano")
    for s, e, p, v in notes:
        inst.notes.append(pretty_midi.Note(velocity=int(v), pitch=int(p), start=float(s), end=float(max(e, s + 0.01))))
    for t, v in pedal:
        inst.control_changes.append(pretty_midi.ControlChange(number=PEDAL_CC, value=int(v), time=float(t)))
    pm.instruments.append(inst)
    pm.write(str(path))
