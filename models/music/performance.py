"""The performance: how the written notes are played. Dynamics follow the emotion bar by bar (changing gradually
across a change of emotion), swell towards each phrase's peak and ease at its cadence, accent the strong beats,
bring the melody out over the accompaniment, and vary a little from note to note as a player's do; a few melody
notes get a grace note. The sustain
pedal (CC64) is changed with every chord, held longer where the music is calm. Notes are tidied on the way out: no
two notes of one pitch start together, a note of a pitch ends where that pitch sounds again, and the piano stays
inside A1-C7.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pretty_midi

from moodscore.models.music.controls import Controls
from moodscore.models.music.form import Plan
from moodscore.models.music.melody import STEPS, Note
from moodscore.models.music.style import Style

LOWEST, HIGHEST = 33, 96  # A1 .. C7
PEDAL = 64
MAX_SHIFT_S = 0.035  # the furthest a played note strays from its written time (picture lock allows 40 ms)


def levels(controls: Sequence[Controls]) -> np.ndarray:
    """The loudness of every sixteenth: each bar's ``velocity`` at its middle, interpolated in between, so a new
    emotion's dynamics arrive over the bar before it rather than being switched."""
    n = len(controls)
    centres = (np.arange(n) + 0.5) * STEPS
    t = np.arange(n * STEPS)
    return np.interp(t, centres, [c.velocity for c in controls])


def velocities(
    notes: Sequence[Note], *, part: str, plan: Plan, level: np.ndarray, rng: np.random.Generator
) -> list[int]:
    """A velocity per note: the level, shaped by its phrase and beat, its part's balance and a player's spread."""
    out = []
    balance = {"melody": 9.0, "accompaniment": -5.0, "bass": -2.0, "pad": -14.0}[part]
    shapes = np.zeros(len(level))
    for ph in plan.phrases:
        a, b = ph.start * STEPS, ph.end * STEPS
        x = (np.arange(a, b) - a) / max(1, b - a)
        swell = 0.11 * np.sin(np.pi * np.clip(x / 0.7, 0, 1)) * np.where(x < 0.7, 1.0, 1 - (x - 0.7) / 0.3)
        lift = 0.05 if ph.role == "B" else 0.0
        ease = np.where(x > 1 - 1 / ph.bars, -0.06, 0.0) if ph.cadence != "half" else 0.0
        if ph.cadence == "final":
            ease = np.where(x > 1 - 1 / ph.bars, -0.12, 0.0)
        shapes[a:b] = swell + lift + ease
    for n in notes:
        i = min(n.start, len(level) - 1)
        pos = n.start % STEPS
        accent = 5.0 if pos == 0 else 3.0 if pos == 8 else 1.0 if pos % 4 == 0 else -2.0 if pos % 2 == 0 else -3.5
        v = level[i] * (1 + shapes[i]) + balance + (accent if part != "pad" else 0.0) + rng.normal(0, 3.5)
        out.append(int(np.clip(round(v), 20, 122)))
    return out


def tidy(notes: Sequence[Note], velocities_: Sequence[int]) -> list[tuple[Note, int]]:
    """One note per (pitch, onset) (the longer, the louder kept), pitches folded into A1-C7, and a note cut where
    its own pitch starts again."""
    best: dict[tuple[int, int], tuple[Note, int]] = {}
    for n, v in zip(notes, velocities_, strict=True):
        p = n.pitch
        while p < LOWEST:
            p += 12
        while p > HIGHEST:
            p -= 12
        n = Note(n.start, n.dur, p)
        k = (p, n.start)
        if k in best:
            old, ov = best[k]
            n = Note(n.start, max(n.dur, old.dur), p)
            v = max(v, ov)
        best[k] = (n, v)
    kept = sorted(best.values(), key=lambda nv: (nv[0].pitch, nv[0].start))
    out = []
    for i, (n, v) in enumerate(kept):
        if i + 1 < len(kept) and kept[i + 1][0].pitch == n.pitch and kept[i + 1][0].start < n.start + n.dur:
            n = Note(n.start, kept[i + 1][0].start - n.start, n.pitch)
        out.append((n, v))
    return sorted(out, key=lambda nv: (nv[0].start, nv[0].pitch))


def to_instrument(
    played: Sequence[tuple[Note, int]], *, program: int, name: str, sixteenth_s: float, end_s: float
) -> pretty_midi.Instrument:
    inst = pretty_midi.Instrument(program=program, name=name)
    for n, v in played:
        start = n.start * sixteenth_s
        inst.notes.append(
            pretty_midi.Note(velocity=v, pitch=n.pitch, start=start, end=min(end_s, start + n.dur * sixteenth_s))
        )
    return inst


def pedal(
    inst: pretty_midi.Instrument,
    slots: Sequence[tuple[int, int]],
    controls: Sequence[Controls],
    *,
    sixteenth_s: float,
    end_s: float,
    breaths: set[int] = frozenset(),  # type: ignore[assignment]
) -> None:
    """Sustain pedal per chord: down just after the chord sounds (legato pedalling), up just before the next,
    held for part of the chord where the music is brisk, lifted early where a phrase takes a breath; the last chord
    keeps it to the end."""
    for i, (start, length) in enumerate(slots):
        bar = min(start // STEPS, len(controls) - 1)
        down = (start + 0.5) * sixteenth_s
        last = i == len(slots) - 1
        held = length if last else max(2.0, length * controls[bar].legato)
        # legato (syncopated) pedalling: the pedal comes up just after the next chord is struck, so the old
        # harmony's last notes overlap the new one's first for an instant and the line stays unbroken
        up = end_s if last else (start + min(held, length) + 0.25) * sixteenth_s
        if start + length in breaths and controls[bar].arousal > 0:
            # lifted for the breath before the next phrase (calm music breathes in the tune only, pedalled through)
            up = min(up, (start + length - 1) * sixteenth_s)
        if up <= down:
            continue
        inst.control_changes.append(pretty_midi.ControlChange(PEDAL, 127, down))
        if not last:
            inst.control_changes.append(pretty_midi.ControlChange(PEDAL, 0, up))
    if slots:
        inst.control_changes.append(pretty_midi.ControlChange(PEDAL, 0, end_s))


def graces(inst: pretty_midi.Instrument, graces: Sequence[tuple[int, int]], *, sixteenth_s: float) -> None:
    """Grace notes, as a pianist adds them: a short note a step away, just before a melody note on the beat
    (``graces``: its onset in sixteenths and the grace note's pitch)."""
    by_start: dict[float, list[pretty_midi.Note]] = {}
    for n in inst.notes:
        by_start.setdefault(round(n.start, 6), []).append(n)
    for start16, pitch in graces:
        t = start16 * sixteenth_s
        main = by_start.get(round(t, 6))
        if not main or t < 0.1:
            continue
        top = max(main, key=lambda n: n.pitch)
        if abs(top.pitch - pitch) > 2:
            continue
        length = min(0.11, sixteenth_s / 2)  # a thirty-second note before the beat
        inst.notes.append(pretty_midi.Note(velocity=max(1, top.velocity - 12), pitch=pitch, start=t - length, end=t))
    inst.notes.sort(key=lambda n: (n.start, n.pitch))


def play(
    inst: pretty_midi.Instrument,
    melody: set[tuple[int, int]],
    style: Style,
    rng: np.random.Generator,
    *,
    sixteenth_s: float,
    end_s: float,
) -> None:
    """A player's timing on the written notes (``melody``: the tune's (sixteenth, pitch)): the notes struck together
    arrive a few milliseconds early or late together, each a little on its own, and the chords under the tune
    ``style.lead`` after it (the tune sings out ahead of its accompaniment). A note is let go just after the notes
    it leads into are played (``style.overlap``), so a legato line stays joined; the pedal moves with the hands. A
    note on a bar line is never moved before it, so bars stay where they are written (picture lock, rescoring and
    loops rely on it)."""
    offsets: dict[int, float] = {}  # per written onset (in 128ths: grace notes sit between sixteenths)

    def when(q: int) -> float:
        if q not in offsets:
            g = float(rng.normal(0.0, style.timing))
            offsets[q] = abs(g) if q % (8 * STEPS) == 0 else g
        return offsets[q]

    def at(t: float) -> int:
        return round(t / sixteenth_s * 8)

    for n in sorted(inst.notes, key=lambda n: n.start):
        q, qe = at(n.start), at(n.end)
        tune = q % 8 != 0 or (q // 8, n.pitch) in melody
        lag = 0.0 if tune else style.lead
        # (at most MAX_SHIFT_S off the written time: a hit or a cut on a bar line stays within picture-lock tolerance)
        shift = float(np.clip(when(q) + float(rng.normal(0.0, 0.3 * style.timing)) + lag, -MAX_SHIFT_S, MAX_SHIFT_S))
        if q % (8 * STEPS) == 0:
            shift = abs(shift) if q else 0.0  # (the first downbeat is the piece's start: on time)
        # a note that leads into the next onset is let go as that onset is played, a little after it (a legato
        # overlap: a pianist's finger leaves the old key some tens of milliseconds after the new one goes down)
        if n.end >= end_s - 1e-6:
            end = n.end
        elif qe in offsets:
            end = n.end + offsets[qe] + lag + style.overlap
        else:
            end = n.end + shift
        n.start = min(max(0.0, n.start + shift), end_s - 0.01)
        n.end = min(end_s, max(n.start + 0.02, end))
    # the pedal moves with the hands: a change just after an onset waits for that onset's chord as played
    for cc in inst.control_changes:
        q = int(cc.time / sixteenth_s) * 8
        if cc.number == PEDAL and q in offsets and cc.time < end_s - 1e-6:
            cc.time = min(end_s, cc.time + max(0.0, offsets[q] + style.lead))
    inst.notes.sort(key=lambda n: (n.pitch, n.start))
    for a, b in zip(inst.notes, inst.notes[1:], strict=False):
        if a.pitch == b.pitch and a.end > b.start:
            a.end = max(a.start + 0.01, b.start)
    inst.notes.sort(key=lambda n: (n.start, n.pitch))
