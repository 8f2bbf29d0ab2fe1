"""The melody: phrased, mostly stepwise, on chord tones where it matters, built from motifs that come back.

Rhythm comes from the data: one-bar melody rhythms of POP909 (``patterns.json``), drawn by how often songs use
them, among those with about the number of notes the bar's arousal asks for. A phrase of four bars is a sentence
(motif, motif, continuation, cadence: rhythms R1 R1 R2 Rc) or a period (R1 R2 R1 Rc); where a rhythm returns, the
melody returns with it, moved along the scale to fit the new chord (a sequence), so a bar and its motif repeat.

Pitches are chosen note by note by a cost a songwriter would recognise: steps are cheap, leaps cost more and are
followed by a step back, repeated notes cost a little, strong beats (1 and 3) want chord tones and weak beats
tolerate passing tones, and the line follows an arch over the phrase with its peak about two thirds in. The
cadence bar lands on the tonic (authentic) or on a tone of the dominant (half cadence, transition).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from moodscore.models.music.style import PLAIN, Style
from moodscore.models.music.theory import Chord, nearest_pitch, scale

STEPS = 16  # sixteenths per bar
Rhythm = tuple[tuple[int, ...], tuple[int, ...]]  # onsets and durations in sixteenths within a bar


@dataclass(frozen=True)
class Note:
    start: int  # in sixteenths from the start of the piece
    dur: int
    pitch: int


@dataclass
class Material:
    """What a theme's phrase was made of, so that A' and a returning section can take it up again."""

    rhythms: list[Rhythm]
    bars: list[list[int]] = field(default_factory=list)  # pitches per bar
    center: float = 70.0


class MelodyWriter:
    def __init__(
        self,
        rhythms: Sequence[dict[str, object]],
        rng: np.random.Generator,
        temperature: float = 1.0,
        style: Style = PLAIN,
    ):
        self.style = style
        cells: list[tuple[Rhythm, float]] = []
        for r in rhythms:
            onsets = tuple(int(x) for x in r["onsets"])  # type: ignore[attr-defined]
            durs = tuple(max(1, int(x)) for x in r["durs"])  # type: ignore[attr-defined]
            if onsets and len(onsets) == len(durs) and all(0 <= o < STEPS for o in onsets):
                cells.append(((onsets, durs), float(r.get("count", 1))))  # type: ignore[arg-type]
        if not cells:
            cells = [(((0, 4, 8, 12), (4, 4, 4, 4)), 1.0)]
        self.cells = cells
        self.rng = rng
        self.temperature = temperature
        closing = [(c, w) for c, w in cells if len(c[0]) <= 3 and c[0][-1] <= 8 and c[0][-1] + c[1][-1] >= 12]
        self.closing = closing or [(((0, 8), (8, 8)), 1.0)]

    # -- rhythm ----------------------------------------------------------------------------------------
    def rhythm(self, notes: float, *, pool: Sequence[tuple[Rhythm, float]] | None = None) -> Rhythm:
        """A one-bar rhythm with about ``notes`` notes, drawn by frequency of use."""
        pool = pool or self.cells
        counts = np.array([len(c[0]) for c, _ in pool], dtype=float)
        weights = np.array([w for _, w in pool]) * np.exp(-1.2 * np.abs(counts - notes))
        # start on (or just before) the downbeat more often than not
        weights *= np.array([1.0 if c[0][0] == 0 else 0.35 for c, _ in pool])
        i = int(self.rng.choice(len(pool), p=weights / weights.sum()))
        return pool[i][0]

    def phrase_rhythms(self, bars: int, notes_per_bar: Sequence[float]) -> list[Rhythm]:
        """Rhythms of the bars of a phrase: a sentence or a period, ending in a closing rhythm."""
        if bars == 1:
            return [self.rhythm(min(notes_per_bar[0], 3), pool=self.closing)]
        r1 = self.rhythm(notes_per_bar[0])
        r2 = self.rhythm(notes_per_bar[min(1, bars - 1)])
        shape = [r1, r1, r2] if self.rng.random() < 0.5 else [r1, r2, r1]
        body = [shape[i % 3] if i < 3 else (r1, r2)[i % 2] for i in range(bars - 1)]
        return [*body, self.rhythm(min(notes_per_bar[-1], 3), pool=self.closing)]

    # -- pitch -----------------------------------------------------------------------------------------
    def phrase(
        self,
        *,
        start_bar: int,
        chords: Sequence[Chord],
        tonic: int,
        minor: bool,
        center: float,
        notes_per_bar: Sequence[float],
        cadence: str,
        previous: int | None,
        material: Material | None = None,
        keep: tuple[float, float] = (0.65, 0.65),
        lift: float = 0.0,
        peak: float = 0.68,
    ) -> tuple[list[Note], Material]:
        """The notes of a phrase of ``len(chords) // 16`` bars (``chords``: the chord under every sixteenth).
        With ``material`` (a theme's earlier phrase) its rhythms and pitches return, fitted to the chords, each bar
        with probability ``keep`` (in the phrase's first half, in its second half; the rest varied); the cadence
        bar is always written anew. ``lift`` raises the
        arch's peak (a contrasting B phrase); ``peak`` is where in the phrase it comes (0..1: sad music peaks early
        and falls for longer)."""
        bars = len(chords) // STEPS
        keys = scale(tonic, minor)
        if material is not None and len(material.rhythms) >= 2:
            body = [material.rhythms[i % (len(material.rhythms) - 1)] for i in range(bars - 1)]
            rhythms = [*body, self.rhythm(min(notes_per_bar[-1], 3), pool=self.closing)] if bars > 1 else body
            shift = 12 * round((center - material.center) / 12)
        else:
            rhythms = self.phrase_rhythms(bars, notes_per_bar)
            material, shift = None, 0
        out: list[Note] = []
        made: list[list[int]] = []
        first_of: dict[Rhythm, tuple[int, list[int]]] = {}
        prev = previous if previous is not None else nearest_pitch(chords[0].root, center)
        last_leap = 0
        for b, rhythm in enumerate(rhythms):
            onsets, durs = rhythm
            cadence_bar = b == bars - 1
            if (
                material is not None
                and not cadence_bar
                and b < len(material.bars)
                and self.rng.random() < keep[0 if 2 * b < bars else 1]
            ):
                pitches = [self._fit(p + shift, chords[b * STEPS + o], keys, strong=o % 8 == 0)
                           for p, o in zip(material.bars[b], onsets, strict=False)]  # fmt: skip
                pitches += [pitches[-1] if pitches else prev] * (len(onsets) - len(pitches))
            elif rhythm in first_of and not cadence_bar:
                # the motif again: the same steps along the scale from a chord tone of the new chord
                _b0, earlier = first_of[rhythm]
                anchor = self._fit(earlier[0], chords[b * STEPS + onsets[0]], keys, strong=True)
                offset = _scale_index(anchor, keys) - _scale_index(earlier[0], keys)
                pitches = [
                    self._fit(_from_index(_scale_index(p, keys) + offset, keys), chords[b * STEPS + o], keys,
                              strong=o % 8 == 0)
                    for p, o in zip(earlier, onsets, strict=True)
                ]  # fmt: skip
            else:
                pitches = []
                for i, o in enumerate(onsets):
                    x = (b * STEPS + o) / (bars * STEPS)
                    target = (
                        center
                        - 3.0
                        + (7.0 + lift)
                        * np.sin(np.pi * min(1.0, x / peak) ** 1.3)
                        * (1.0 if x < peak else 1.0 - 0.8 * (x - peak) / (1 - peak))
                    )
                    goal = None
                    if cadence_bar and i == len(onsets) - 1:
                        goal = _cadence_tones(cadence, chords[b * STEPS + o], tonic)
                    p = self._choose(prev, chords[b * STEPS + o], keys, o, float(target), last_leap, goal)
                    last_leap = p - prev if abs(p - prev) >= 5 else 0
                    pitches.append(p)
                    prev = p
            if rhythm not in first_of:
                first_of[rhythm] = (b, pitches)
            made.append(pitches)
            nexts = [*onsets[1:], STEPS]
            for o, d, p, nxt in zip(onsets, durs, pitches, nexts, strict=True):
                gap = nxt - o - d
                end = STEPS - o if cadence_bar and o == onsets[-1] else d + gap if 0 < gap <= 3 else d
                out.append(Note((start_bar + b) * STEPS + o, max(1, min(end, STEPS * 2)), int(p)))
            if pitches:
                prev = pitches[-1]
        return out, Material(rhythms=rhythms, bars=made, center=center)

    def _choose(
        self, prev: int, chord: Chord, keys: Sequence[int], onset: int, target: float, last_leap: int,
        goal: Sequence[int] | None,
    ) -> int:  # fmt: skip
        strong = onset % 8 == 0
        medium = onset % 4 == 0
        tones = set(chord.pitch_classes)
        pcs = set(keys) | tones
        cands = [p for p in range(prev - 9, prev + 10) if p % 12 in pcs and 57 <= p <= 88]
        if not medium and self.style.chromatic and not goal:
            # a chromatic neighbour or passing note, off the beat, a semitone from the note before
            # (in a minor key not the tonic's major third, which would turn the mode major)
            major_third = (keys[0] + 4) % 12 if (keys[2] - keys[0]) % 12 == 3 else None
            cands += [p for p in (prev - 1, prev + 1) if p % 12 not in pcs and p % 12 != major_third and 57 <= p <= 88]
        if goal:
            cands = [p for p in cands if p % 12 in goal] or [nearest_pitch(goal[0], prev)]
        cost = []
        for p in cands:
            step = abs(p - prev)
            third = self.style.thirds
            c = {0: self.style.repeats, 1: 0.0, 2: 0.0, 3: third, 4: third + 0.1, 5: 1.6, 7: 1.8}.get(
                step, 2.6 if step < 9 else 4.0
            )
            if last_leap and step <= 2 and (p - prev) * last_leap < 0:
                c -= 0.8  # a leap is followed by a step back
            elif last_leap and (p - prev) * last_leap > 0 and step >= 3:
                c += 1.5  # no two leaps in one direction
            if p % 12 not in tones:
                # a non-chord tone: free off the beat, an accented passing tone or suspension on beats 2 and 4,
                # rare on 1 and 3
                c += 2.6 if strong else 0.8 if medium else 0.15
            if p % 12 not in pcs:
                c += 2.2 - 8.0 * self.style.chromatic  # a chromatic neighbour (the tone of neither key nor chord)
            elif p % 12 not in keys:
                c += 1.5  # a chromatic chord tone (borrowed or secondary chords) only where the chord has it
            c += 0.12 * abs(p - target)
            cost.append(c)
        z = -np.array(cost) / (0.55 * self.temperature)
        prob = np.exp(z - z.max())
        return int(cands[int(self.rng.choice(len(cands), p=prob / prob.sum()))])

    @staticmethod
    def _fit(pitch: int, chord: Chord, keys: Sequence[int], *, strong: bool) -> int:
        """``pitch`` kept if it fits the chord (any scale tone off the strong beats), else moved to the nearest
        chord tone (a scale tone on weak beats)."""
        pitch = min(max(pitch, 57), 88)
        allowed = set(chord.pitch_classes) if strong else set(keys) | set(chord.pitch_classes)
        if pitch % 12 in allowed:
            return pitch
        for d in (1, -1, 2, -2, 3, -3, 4, -4):
            if (pitch + d) % 12 in allowed:
                return pitch + d
        return pitch


def _cadence_tones(cadence: str, chord: Chord, tonic: int) -> list[int]:
    """Where the last note of a phrase lands: the tonic (or its third) at a closing cadence, a tone of the
    chord (the dominant) at an open one."""
    if cadence in ("authentic", "final"):
        return [tonic] if cadence == "final" else [tonic, chord.pitch_classes[1]]
    return list(chord.triad_pcs)


def _scale_index(pitch: int, keys: Sequence[int]) -> int:
    """Position of ``pitch`` along the scale (7 per octave), a chromatic note counting as the degree below."""
    octave, pc = divmod(pitch, 12)
    below = max((i for i, k in enumerate(sorted(keys)) if k <= pc), default=-1)
    if below < 0:
        return octave * 7 - 1
    return octave * 7 + below


def _from_index(index: int, keys: Sequence[int]) -> int:
    octave, degree = divmod(index, 7)
    return octave * 12 + sorted(keys)[degree]
