"""Arrangement: the generated piano plus optional bass and pad parts derived from its harmony.

The harmony is read per half bar from the piano's duration-weighted pitch classes, matched against the 24
major and minor triads (weighting the lowest sounding pitch class as a likely root). The bass plays the
root on beats 1 and 3 (octave 2); the pad holds the triad for each half bar (octave 4, soft). The result
is a type-1 MIDI file with one named track per part, a tempo and a 4/4 time-signature event.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pretty_midi

from models.music.keys import pitch_class_histogram

PROGRAMS = {"piano": 0, "bass": 33, "pad": 89}  # GM: Acoustic Grand, Electric Bass (finger), Pad 2 (warm)
TRACK_NAMES = {"piano": "Piano", "bass": "Bass", "pad": "Pad"}
LOWEST, HIGHEST = 21, 108

_TRIADS = [(root, minor) for minor in (False, True) for root in range(12)]
_TEMPLATES = np.array(
    [[1.0 if pc in {r, (r + (3 if m else 4)) % 12, (r + 7) % 12} else 0.0 for pc in range(12)] for r, m in _TRIADS]
)


def chord_at(pm: pretty_midi.PrettyMIDI, start: float, end: float) -> tuple[int, bool] | None:
    """(root pitch class, minor) of the triad that best explains the notes in [start, end), or None if silent."""
    hist = pitch_class_histogram(pm, start=start, end=end)
    if hist.sum() <= 0:
        return None
    sounding = [n for inst in pm.instruments if not inst.is_drum for n in inst.notes if n.start < end and n.end > start]
    bass_pc = min(sounding, key=lambda n: n.pitch).pitch % 12
    scores = _TEMPLATES @ (hist / hist.sum()) + 0.15 * np.array([r == bass_pc for r, _ in _TRIADS])
    root, minor = _TRIADS[int(np.argmax(scores))]
    return root, minor


def _note(pitch: int, start: float, end: float, velocity: int) -> pretty_midi.Note:
    return pretty_midi.Note(
        velocity=int(np.clip(velocity, 1, 127)), pitch=int(np.clip(pitch, LOWEST, HIGHEST)), start=start, end=end
    )


def arrange(
    piano: pretty_midi.PrettyMIDI, *, tempo: float, n_bars: int, instruments: Sequence[str] = ("piano",)
) -> pretty_midi.PrettyMIDI:
    """A new PrettyMIDI: the piano (cut to ``n_bars``, ranges and velocities made valid) plus bass / pad."""
    bar_s = 4 * 60.0 / tempo
    end_s = n_bars * bar_s
    out = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    out.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    parts: dict[str, pretty_midi.Instrument] = {}
    for name in ("piano", "bass", "pad"):
        if name in instruments:
            parts[name] = pretty_midi.Instrument(program=PROGRAMS[name], name=TRACK_NAMES[name])
    for inst in piano.instruments:
        for n in inst.notes:
            if n.start < end_s and LOWEST <= n.pitch <= HIGHEST:
                parts["piano"].notes.append(_note(n.pitch, n.start, min(n.end, end_s), n.velocity))
    if "bass" in parts or "pad" in parts:
        vel = int(np.median([n.velocity for n in parts["piano"].notes])) if parts["piano"].notes else 64
        half = bar_s / 2
        for k in range(2 * n_bars):
            t0, t1 = k * half, (k + 1) * half
            chord = chord_at(piano, t0, t1)
            if chord is None:
                continue
            root, minor = chord
            if "bass" in parts:
                parts["bass"].notes.append(_note(36 + root, t0, t1 - 0.02 * half, vel))
            if "pad" in parts:
                for interval in (0, 3 if minor else 4, 7):
                    parts["pad"].notes.append(_note(60 + (root + interval) % 12, t0, t1, int(vel * 0.55)))
    for inst in parts.values():
        inst.notes.sort(key=lambda n: (n.start, n.pitch))
        out.instruments.append(inst)
    return out
