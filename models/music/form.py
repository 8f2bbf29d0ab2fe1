"""The form of a piece: sections (one per run of bars of one emotion), phrases of four bars (a little longer or
shorter where the length asks for it), each phrase's role in its section, its cadence and its chord slots.

Roles follow the songwriter's period and song forms: a section of four phrases is A A' B A' (statement, answer,
contrast, return); shorter sections A, A A', A B A'. A and A' share their material (progression, melody,
accompaniment) and differ at the cadence: A ends open on the dominant (half cadence), A' closes on the tonic
(authentic cadence). When an emotion comes back in a later section, its themes come back with it.

Cadences: ``half`` (ends on V), ``authentic`` (V -> I), ``transition`` (the last phrase before a new section: it
ends on the dominant of the new section's key, so the new section arrives through a cadence instead of restarting),
``final`` (the last phrase of the piece: V -> I on the last bar line, the tonic held to the end); ``loop`` (the last
phrase of a piece that loops: it ends on the dominant of the first section's key, which the first bar resolves).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from moodscore.models.types import quadrant_runs

BEATS_PER_BAR = 4


@dataclass(frozen=True)
class Phrase:
    start: int  # first bar (0-based, in the piece)
    bars: int
    section: int  # index into Plan.sections
    role: str  # "A", "A'", "B"
    cadence: str  # "half", "authentic", "transition", "final", "loop"
    slots: tuple[tuple[float, float], ...]  # chord slots (start beat, length in beats), relative to the phrase

    @property
    def end(self) -> int:
        return self.start + self.bars


@dataclass(frozen=True)
class Section:
    start: int
    end: int
    quadrant: str
    tonic: int
    minor: bool
    theme: int  # sections of one quadrant share a theme number (their material returns)

    @property
    def bars(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Plan:
    sections: tuple[Section, ...]
    phrases: tuple[Phrase, ...]


def phrase_lengths(bars: int) -> list[int]:
    """A section's bars cut into phrases of 4; a remainder of 1-3 bars extends the last phrase (a cadential
    extension), and a section of 3 bars or fewer is one phrase."""
    if bars <= 4:
        return [bars]
    out = [4] * (bars // 4)
    out[-1] += bars % 4
    return out


def roles(count: int) -> list[str]:
    """The role of each of ``count`` phrases in a section."""
    table = {1: ["A"], 2: ["A", "A'"], 3: ["A", "B", "A'"]}
    if count in table:
        return table[count]
    return [["A", "A'", "B", "A'"][i % 4] for i in range(count)]


def chord_slots(bars: int, beats_per_chord: float, cadence: str) -> tuple[tuple[float, float], ...]:
    """Chord slots of a phrase: chords of ``beats_per_chord`` beats, but the cadence bar always holds a chord of
    its own (two for an authentic or final cadence in a phrase of one bar, so V -> I fits)."""
    total = bars * BEATS_PER_BAR
    body = total - BEATS_PER_BAR  # the last bar is the cadence bar
    slots: list[tuple[float, float]] = []
    t = 0.0
    step = max(2.0, float(beats_per_chord))
    while t < body - 1e-9:
        length = min(step, body - t)
        slots.append((t, length))
        t += length
    closing = cadence in ("authentic", "final")
    if (bars == 1 and closing) or (step <= 2.0 and cadence != "final"):
        slots += [(t, 2.0), (t + 2.0, 2.0)]
    else:
        slots.append((t, float(BEATS_PER_BAR)))
    return tuple(slots)


def plan_form(
    bar_quadrants: Sequence[str],
    beats_per_chord: Sequence[float],
    keys: dict[str, tuple[int, bool]],
    phrase_starts: Sequence[int] = (),
    loop: bool = False,
) -> Plan:
    """Sections, phrases, roles, cadences and chord slots for a piece whose bar ``b`` asks for
    ``bar_quadrants[b]``; ``beats_per_chord[b]`` is that bar's harmonic rhythm and ``keys[q]`` the (tonic, minor)
    of the sections of quadrant ``q``. ``phrase_starts``: bars where a phrase must begin (a cut in the picture)."""
    starts = set(phrase_starts)
    themes: dict[str, int] = {}
    sections = []
    for start, end, q in quadrant_runs(bar_quadrants):
        tonic, minor = keys[q]
        sections.append(Section(start, end, q, tonic, minor, themes.setdefault(q, len(themes))))
    phrases: list[Phrase] = []
    for i, sec in enumerate(sections):
        cuts = [sec.start, *sorted(b for b in starts if sec.start < b < sec.end), sec.end]
        lengths = [n for a, b in itertools.pairwise(cuts) for n in phrase_lengths(b - a)]
        names = roles(len(lengths))
        bar = sec.start
        for j, (length, role) in enumerate(zip(lengths, names, strict=True)):
            last_in_section = j == len(lengths) - 1
            if last_in_section and i == len(sections) - 1:
                cadence = "loop" if loop else "final"
            elif last_in_section:
                cadence = "transition"
            else:
                cadence = "half" if role in ("A", "B") else "authentic"
            bpc = sum(beats_per_chord[bar : bar + length]) / length
            phrases.append(Phrase(bar, length, i, role, cadence, chord_slots(length, bpc, cadence)))
            bar += length
    return Plan(tuple(sections), tuple(phrases))
