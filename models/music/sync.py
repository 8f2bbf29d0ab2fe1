"""Music locked to picture: a bar grid whose bar lines fall on the moments the music must hit.

A film composer hits a cut by choosing the tempo of the stretch before it: between two consecutive moments to
hit, the music gets a whole number of bars at the tempo, inside the range allowed, nearest the tempo asked for,
so the next moment falls exactly on a bar line. The result is a tempo map (one tempo per stretch, written into
the MIDI file, so a DAW shows the same bar lines) and the start time of every bar.

Moments come with a priority (an emotion change or a hit the user marked before a cut); where two are too close
for even one bar at the fastest tempo allowed, the one of lower priority is let go and reported with its offset
from the nearest downbeat. An emotion change is only known to within a window's hop (it is read from windows
every 0.5 s), a cut or a hit to the frame: an emotion change within ``SNAP_S`` of a cut or hit is taken to be that
moment, so the bar line falls on the exact time and the music still changes there.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

BEATS_PER_BAR = 4
DEFAULT_RANGE = 0.15  # the tempo may move this far (as a fraction) from the one suggested, either way
GIVEN_RANGE = 0.08  # ... and from one the user gave
ODD_COST = 0.05  # a moment on a third beat instead of a downbeat costs as much as a 5% tempo change
SNAP_S = 0.25  # an emotion change this close to a cut or a hit is that moment (half the fusion's 0.5 s hop)


@dataclass(frozen=True)
class Moment:
    t_s: float
    kind: str  # "segment" (an emotion change), "hit" (asked for by the user), "cut" (a shot change)
    priority: int  # higher wins where two are too close to both be hit


@dataclass(frozen=True)
class Grid:
    """The beat times (s) of a piece and its end (``4 * bars + 1`` values), the moments that land on a bar line
    or on the third beat (the bar's other strong beat), and the ones let go."""

    beat_times: tuple[float, ...]
    hit: tuple[Moment, ...]
    missed: tuple[Moment, ...]

    @property
    def bar_times(self) -> tuple[float, ...]:
        """Bar start times and the end (``bars + 1`` values)."""
        return self.beat_times[::BEATS_PER_BAR]

    @property
    def bars(self) -> int:
        return len(self.bar_times) - 1

    @property
    def tempos(self) -> tuple[float, ...]:
        """The tempo of every bar (BPM)."""
        t = self.bar_times
        return tuple(60.0 * BEATS_PER_BAR / (b - a) for a, b in itertools.pairwise(t))

    def offset_s(self, t_s: float, *, strong: bool = True) -> float:
        """Signed distance from ``t_s`` to the nearest downbeat (``strong``: or third beat); positive when it
        comes after."""
        lines = self.beat_times[:: BEATS_PER_BAR // 2] if strong else self.bar_times
        return min(lines, key=lambda b: abs(b - t_s)) - t_s

    def bar_at(self, t_s: float) -> int:
        """The bar holding ``t_s``."""
        return max(0, min(self.bars - 1, sum(1 for b in self.bar_times[1:-1] if b <= t_s + 1e-9)))

    def downbeat_bars(self) -> set[int]:
        """The bars that start on a moment hit (where a new phrase may begin)."""
        out = set()
        for m in self.hit:
            b = self.bar_at(m.t_s)
            if abs(self.bar_times[b] - m.t_s) < 1e-6:
                out.add(b)
        return out


HALF = BEATS_PER_BAR // 2  # beats in half a bar: the unit a stretch is counted in (a moment lands on a strong beat)


def _halves(span_s: float, tempo: float, lo: float, hi: float, *, odd: bool | None) -> int | None:
    """The whole number of half bars for ``span_s`` seconds whose tempo lies in [lo, hi]: the tempo nearest
    ``tempo``, a whole number of bars where that is about as near; ``odd``: only odd (True) or even (False)
    counts. None when none fits."""
    half = 60.0 * HALF
    first, last = max(1, math.ceil(span_s * lo / half - 1e-9)), math.floor(span_s * hi / half + 1e-9)
    counts = [n for n in range(first, last + 1) if odd is None or (n % 2 == 1) == odd]
    if not counts:
        return None
    # nearest the tempo; a third beat (an odd count) only where it is 5% nearer than a downbeat
    return min(counts, key=lambda n: abs(half * n / span_s - tempo) / tempo + ODD_COST * (n % 2))


def picture_grid(
    duration_s: float, moments: Sequence[Moment], tempo: float, *, lo: float | None = None, hi: float | None = None
) -> Grid:
    """The beat grid for a clip of ``duration_s``: as many ``moments`` as the tempo range [lo, hi] (default:
    ``tempo`` +-15%) allows on a downbeat or a third beat, the last bar line on the clip's end."""
    lo = tempo * (1 - DEFAULT_RANGE) if lo is None else lo
    hi = tempo * (1 + DEFAULT_RANGE) if hi is None else hi
    if not (0 < lo <= tempo <= hi):
        raise ValueError(f"the tempo {tempo:g} must lie in the range {lo:g}-{hi:g}")
    exact = [m.t_s for m in moments if m.kind != "segment"]
    inside = sorted(
        (m for m in moments if 0 < m.t_s < duration_s
         and not (m.kind == "segment" and any(abs(m.t_s - t) <= SNAP_S for t in exact))),
        key=lambda m: m.t_s,
    )  # fmt: skip
    missed: list[Moment] = []
    while True:
        edges = [0.0, *(m.t_s for m in inside), duration_s]
        counts: list[int | None] = []
        total = 0
        for i, (a, b) in enumerate(itertools.pairwise(edges)):
            last = i == len(edges) - 2
            # the piece ends on a bar line: the last stretch makes the count of half bars even
            n = _halves(b - a, tempo, lo, hi, odd=(total % 2 == 1) if last else None)
            counts.append(n)
            total += n or 0
        bad = [i for i, n in enumerate(counts) if n is None]
        if not bad:
            break
        i = bad[0]
        ends = [j for j in (i - 1, i) if 0 <= j < len(inside)]
        if not ends:  # the whole clip is too short for its bars at any tempo allowed: bars at its own pace
            bars = max(1, round(duration_s * tempo / (60.0 * BEATS_PER_BAR)))
            beats = BEATS_PER_BAR * bars
            return Grid(tuple(duration_s * k / beats for k in range(beats + 1)), (), tuple(missed))
        drop = min(ends, key=lambda j: inside[j].priority)
        missed.append(inside.pop(drop))
    times: list[float] = [0.0]
    for a, b, n in zip(edges, edges[1:], counts, strict=False):
        assert n is not None
        beats = HALF * n
        times += [a + (b - a) * (k + 1) / beats for k in range(beats)]
    times[-1] = duration_s
    return Grid(tuple(times), tuple(inside), tuple(sorted(missed, key=lambda m: m.t_s)))


def warp(t: float, beat_s: float, beat_times: Sequence[float]) -> float:
    """A time ``t`` of music written at a constant ``beat_s`` moved onto the grid (beat k starts at
    beat_times[k]; past the end, at the last beat's pace)."""
    n = len(beat_times) - 1
    k = min(int(t // beat_s), n - 1) if t >= 0 else 0
    frac = t / beat_s - k
    return beat_times[k] + frac * (beat_times[k + 1] - beat_times[k])


def lay_on_grid(midi: Any, tempo: float, beat_times: Sequence[float]) -> None:
    """Move every event of ``midi`` (written at a constant ``tempo``) onto the beat grid, and give the file the
    tempo map that puts its beats there (one tempo per beat), so a DAW draws the same bar lines."""
    beat_s = 60.0 / tempo
    for inst in midi.instruments:
        for n in inst.notes:
            start, end = warp(n.start, beat_s, beat_times), warp(n.end, beat_s, beat_times)
            n.start, n.end = start, max(end, start + 1e-3)
        for cc in inst.control_changes:
            cc.time = warp(cc.time, beat_s, beat_times)
        for pb in inst.pitch_bends:
            pb.time = warp(pb.time, beat_s, beat_times)
    res = midi.resolution
    # pretty_midi keeps its tempo map as (tick, seconds per tick) pairs and writes one set_tempo per pair
    scales: list[tuple[int, float]] = []
    for k, (a, b) in enumerate(itertools.pairwise(beat_times)):
        if not scales or abs(scales[-1][1] - (b - a) / res) > 1e-12:
            scales.append((k * res, (b - a) / res))
    midi._tick_scales = scales
    midi._update_tick_to_time(int(len(beat_times) * res + 10 * res))


def splice(base: Any, other: Any, first_bar: int, end_bar: int) -> Any:
    """``base`` (a Score) with bars ``first_bar`` .. ``end_bar - 1`` (0-based) taken from ``other``, a Score on the
    same bar grid: every note and controller outside the range is ``base``'s, untouched; inside it ``other``'s.
    Notes of ``base`` that would sound into the range stop at its start, ``other``'s stop at its end (the pedal
    goes up at the join and comes back as ``base`` had it)."""
    import copy
    import dataclasses

    starts = [*base.bar_starts_s, base.duration_s]
    t0, t1 = starts[first_bar], starts[end_bar]
    last = end_bar >= base.n_bars
    midi = copy.deepcopy(base.midi)
    for inst, new in zip(midi.instruments, other.midi.instruments, strict=True):
        kept = [n for n in inst.notes if n.start < t0 - 1e-6 or n.start >= t1 - 1e-6]
        for n in kept:
            if n.start < t0 - 1e-6 and n.end > t0:
                n.end = t0
        taken = [copy.copy(n) for n in new.notes if t0 - 1e-6 <= n.start < t1 - 1e-6]
        for n in taken:
            if not last and n.end > t1:
                n.end = t1
        inst.notes = sorted(kept + taken, key=lambda n: (n.start, n.pitch))
        pedal_before = [c.value for c in inst.control_changes if c.number == 64 and c.time < t1 - 1e-6]
        outside = [c for c in inst.control_changes if c.time < t0 - 1e-6 or c.time >= t1 - 1e-6]
        inside = [copy.copy(c) for c in new.control_changes if t0 - 1e-6 <= c.time < t1 - 1e-6]
        joins = []
        if any(c.number == 64 for c in inst.control_changes + new.control_changes):
            from pretty_midi import ControlChange

            joins.append(ControlChange(64, 0, t0))
            if not last:
                joins.append(ControlChange(64, pedal_before[-1] if pedal_before else 0, t1))
        inst.control_changes = sorted(outside + inside + joins, key=lambda c: c.time)
    return dataclasses.replace(base, midi=midi)
