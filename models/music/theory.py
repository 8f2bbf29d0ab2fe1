"""Music theory the composer writes with: scales, functional chord symbols, chord tones and voicings.

A chord symbol is functional, relative to the tonic of its key: ``"<root semitones above the tonic>:<quality>"``
(``"7:7"`` is V7 in any key, ``"8:maj"`` bVI), the vocabulary of the POP909 chord model
(``models/train/train_patterns.py``). A :class:`Chord` is such a symbol placed in a key: absolute root pitch class,
quality, and the pitch classes it sounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)  # natural minor; the raised seventh comes with the dominant chord
QUALITY_INTERVALS: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "sus4": (0, 5, 7),
    "sus2": (0, 2, 7),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "hdim7": (0, 3, 6, 10),
    "dim7": (0, 3, 6, 9),
}


def scale(tonic: int, minor: bool) -> tuple[int, ...]:
    """The seven pitch classes of the key (natural minor for a minor key)."""
    return tuple((tonic + s) % 12 for s in (MINOR_SCALE if minor else MAJOR_SCALE))


def parse_symbol(symbol: str) -> tuple[int, str]:
    """``"7:maj"`` -> (7, "maj"); ValueError for anything else."""
    root, _, quality = symbol.partition(":")
    if not root.isdigit() or not 0 <= int(root) < 12 or quality not in QUALITY_INTERVALS:
        raise ValueError(f"not a functional chord symbol: {symbol!r}")
    return int(root), quality


@dataclass(frozen=True)
class Chord:
    """A chord in a key: ``root`` pitch class (absolute, C = 0), ``quality``, and the symbol it was made from."""

    root: int
    quality: str
    symbol: str

    @property
    def intervals(self) -> tuple[int, ...]:
        return QUALITY_INTERVALS[self.quality]

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.root + i) % 12 for i in self.intervals)

    @property
    def triad_pcs(self) -> tuple[int, ...]:
        """Root, third (or suspension) and fifth: the tones a melody may land on at a strong beat."""
        return self.pitch_classes[:3]


def chord(symbol: str, tonic: int) -> Chord:
    """The functional ``symbol`` placed in the key whose tonic pitch class is ``tonic``."""
    degree, quality = parse_symbol(symbol)
    return Chord(root=(tonic + degree) % 12, quality=quality, symbol=symbol)


def nearest_pitch(pc: int, target: float) -> int:
    """The MIDI pitch of pitch class ``pc`` closest to ``target``."""
    base = round(target) - 6
    return base + (pc - base) % 12


def voice_chord(
    pcs: Sequence[int], previous: Sequence[int] | None, low: int, high: int, *, spread: bool = False
) -> list[int]:
    """A voicing of ``pcs`` inside [low, high] that moves as little as possible from ``previous``.

    Every inversion of the chord that fits the range is tried, in close position, or with ``spread`` in open
    position (the second voice from the bottom an octave up, as pianists spread a chord over a tenth); the one with
    the least total motion from the previous voicing (or, without one, the one centred nearest the middle of the
    range) wins."""
    if spread and len(pcs) >= 3:
        close = _close_options(pcs, low, high - 12)
        # open position: the second voice up an octave (and with four voices the top one too: C G E' B')
        opened = [sorted([v[0], v[2], v[1] + 12, *(x + 12 for x in v[3:])]) for v in close]
        options = [v for v in opened if v[-1] <= high]
        if options:
            return _least_motion(options, previous, low, high)
    options = _close_options(pcs, low, high)
    if not options:  # range too narrow for the whole chord: root position from the bottom
        return [low + (pc - low) % 12 for pc in pcs]
    return _least_motion(options, previous, low, high)


def _close_options(pcs: Sequence[int], low: int, high: int) -> list[list[int]]:
    n = len(pcs)
    options: list[list[int]] = []
    for inv in range(n):
        order = list(pcs[inv:]) + list(pcs[:inv])
        for start in range(low, high + 1):
            if start % 12 != order[0]:
                continue
            notes = [start]
            for pc in order[1:]:
                notes.append(notes[-1] + (pc - notes[-1]) % 12 or 12)
            if notes[-1] <= high:
                options.append(notes)
    return options


def _least_motion(options: list[list[int]], previous: Sequence[int] | None, low: int, high: int) -> list[int]:
    if previous:
        prev = sorted(previous)

        def motion(v: list[int]) -> float:
            return sum(min(abs(p - q) for q in prev) for p in v) + sum(min(abs(p - q) for q in v) for p in prev)

        return min(options, key=motion)
    middle = (low + high) / 2
    return min(options, key=lambda v: abs(sum(v) / len(v) - middle))
