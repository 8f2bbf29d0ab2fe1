"""Frozen dataclasses that cross the core's boundary: emotions, segments and the timeline.

Everything here serialises to plain JSON and back without loss (floats go through ``repr``-exact JSON).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from moodscore.models import affect
from moodscore.models.defaults import DEFAULTS, INSTRUMENTS, MAX_BARS, MAX_SEED, MAX_TEMPO, MAX_VARIATIONS, MIN_TEMPO
from moodscore.models.tempo import suggested_tempo

MODALITIES: tuple[str, ...] = ("face", "voice")

# The one progress callback every long call takes: ``progress(fraction in 0..1, message)``. The CLI feeds tqdm,
# Gradio its progress bar, Discord an edited reply, the bridge OSC status messages, the runner its job's record.
Progress = Callable[[float, str], None]


def no_progress(fraction: float, message: str) -> None:
    """A :data:`Progress` that reports nowhere."""


INSIDE = 0.05  # how far inside its quadrant a segment's point moved there sits


@dataclass(frozen=True)
class Emotion:
    """A distribution over the eight classes and what follows from it.

    Build one with :meth:`from_probs`; the derived fields are kept so that JSON readers need no code.
    """

    probs: tuple[float, ...]
    valence: float
    arousal: float
    quadrant: str
    confidence: float

    @classmethod
    def from_probs(cls, probs: Sequence[float] | np.ndarray) -> Emotion:
        """Derive valence, arousal, quadrant and confidence from class probabilities.

        The quadrant is the one of the most probable class (:func:`models.affect.quadrant_scores`: a quadrant does
        not win for holding more classes); the confidence is the quadrant's summed probability. Valence and arousal
        are the probability-weighted class points, moved into the quadrant where the mean falls outside it (each
        coordinate on the wrong side goes to 0.05 on the quadrant's side), so a segment's quadrant, label and point
        never contradict each other.
        """
        p = affect.normalize_probs(probs)
        valence, arousal = affect.probs_to_va(p)
        qp = affect.probs_to_quadrant_probs(p)
        q = int(np.argmax(affect.quadrant_scores(p)))
        sv, sa = np.sign(affect.quadrant_va(affect.QUADRANTS[q]))  # the quadrant's sides
        valence = valence if valence * sv > 0 else float(sv) * INSIDE
        arousal = arousal if arousal * sa > 0 else float(sa) * INSIDE
        return cls(
            probs=tuple(float(x) for x in p),
            valence=valence,
            arousal=arousal,
            quadrant=affect.QUADRANTS[q],
            confidence=float(qp[q]),
        )

    @property
    def label(self) -> str:
        """The most probable class of the emotion's quadrant (the overall most probable class for an emotion made by
        :meth:`from_probs`), so label and quadrant never contradict each other."""
        members = [i for i, c in enumerate(affect.CLASSES) if affect.QUADRANT_OF_CLASS[c] == self.quadrant]
        if not members:
            return affect.CLASSES[int(np.argmax(self.probs))]
        return affect.CLASSES[max(members, key=lambda i: self.probs[i])]

    @property
    def quadrant_probs(self) -> dict[str, float]:
        qp = affect.probs_to_quadrant_probs(np.asarray(self.probs))
        return {q: float(x) for q, x in zip(affect.QUADRANTS, qp, strict=False)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "quadrant": self.quadrant,
            "valence": self.valence,
            "arousal": self.arousal,
            "confidence": self.confidence,
            "probs": dict(zip(affect.CLASSES, self.probs, strict=False)),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Emotion:
        probs = data["probs"]
        if isinstance(probs, Mapping):
            unknown = set(probs) - set(affect.CLASSES)
            if unknown:
                raise ValueError(f"unknown emotion classes: {sorted(unknown)}")
            probs = [float(probs.get(c, 0.0)) for c in affect.CLASSES]
        return cls(
            probs=tuple(float(x) for x in probs),
            valence=float(data["valence"]),
            arousal=float(data["arousal"]),
            quadrant=str(data["quadrant"]),
            confidence=float(data["confidence"]),
        )


@dataclass(frozen=True)
class Segment:
    """A stretch of the clip with one emotion.

    ``face`` and ``voice`` are each modality's own average emotion over the segment, or None where that
    modality gave no evidence (no face found, no speech heard).
    """

    start_s: float
    end_s: float
    emotion: Emotion
    face: Emotion | None = None
    voice: Emotion | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_s) and math.isfinite(self.end_s)) or self.end_s <= self.start_s:
            raise ValueError(f"segment must have start < end, got {self.start_s}..{self.end_s}")

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def modalities(self) -> tuple[str, ...]:
        """Which modalities gave evidence in this segment."""
        return tuple(m for m in MODALITIES if getattr(self, m) is not None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_s": self.start_s,
            "end_s": self.end_s,
            "quadrant": self.emotion.quadrant,
            "label": self.emotion.label,
            "valence": self.emotion.valence,
            "arousal": self.emotion.arousal,
            "confidence": self.emotion.confidence,
            "probs": dict(zip(affect.CLASSES, self.emotion.probs, strict=False)),
            "modalities": {m: (e.to_dict() if (e := getattr(self, m)) is not None else None) for m in MODALITIES},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Segment:
        mods = data.get("modalities") or {}
        return cls(
            start_s=float(data["start_s"]),
            end_s=float(data["end_s"]),
            emotion=Emotion.from_dict(data),
            face=Emotion.from_dict(mods["face"]) if mods.get("face") else None,
            voice=Emotion.from_dict(mods["voice"]) if mods.get("voice") else None,
        )


@dataclass(frozen=True, eq=False)
class FaceThumb:
    """A small picture (RGB uint8, e.g. 64x64) of the face the analysis read at ``t_s``; ``track`` names the face."""

    t_s: float
    rgb: np.ndarray
    track: int = 0


@dataclass(frozen=True)
class Timeline:
    """The emotion of a clip over time: segments that cover [0, duration_s] with no gap and no overlap.

    ``faces``: pictures of the face read, about one a second (for :func:`models.media.plots.timeline_png`); they stay in
    memory only: the JSON has no room for pictures, and a timeline read from JSON has none."""

    duration_s: float
    segments: tuple[Segment, ...]
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)
    faces: tuple[FaceThumb, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.segments:
            raise ValueError("a timeline needs at least one segment")
        object.__setattr__(self, "segments", tuple(self.segments))
        if abs(self.segments[0].start_s) > 1e-6 or abs(self.segments[-1].end_s - self.duration_s) > 1e-6:
            raise ValueError("segments must start at 0 and end at the clip's duration")
        for a, b in zip(self.segments, self.segments[1:], strict=False):
            if abs(a.end_s - b.start_s) > 1e-6:
                raise ValueError(f"segments must be contiguous: {a.end_s} != {b.start_s}")

    def at(self, t: float) -> Segment:
        """The segment that holds time ``t`` (clamped into the clip)."""
        for seg in self.segments:
            if t < seg.end_s:
                return seg
        return self.segments[-1]

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modalities that gave evidence anywhere in the clip."""
        return tuple(m for m in MODALITIES if any(getattr(s, m) is not None for s in self.segments))

    def forced(self, start_s: float, end_s: float, quadrant: str) -> Timeline:
        """This timeline with [start_s, end_s) set to ``quadrant`` (its representative point, full confidence);
        the segments around are cut at the edges, and the curve there no longer steers the music."""
        if quadrant not in affect.QUADRANTS:
            raise ValueError(f"unknown quadrant {quadrant!r}; expected one of {', '.join(affect.QUADRANTS)}")
        a, b = max(0.0, float(start_s)), min(self.duration_s, float(end_s))
        if not (math.isfinite(a) and math.isfinite(b)) or b - a < 1e-3:
            raise ValueError(f"{start_s:g}-{end_s:g} s is not a stretch of this {self.duration_s:.2f} s clip")
        klass = {"Q1": "happy", "Q2": "angry", "Q3": "sad", "Q4": "calm"}[quadrant]
        probs = tuple(1.0 if c == klass else 0.0 for c in affect.CLASSES)
        emotion = Emotion(probs, *affect.quadrant_va(quadrant), quadrant, 1.0)
        out: list[Segment] = []
        for seg in self.segments:
            for lo, hi in ((seg.start_s, min(seg.end_s, a)), (max(seg.start_s, b), seg.end_s)):
                if hi - lo > 1e-6:
                    out.append(Segment(lo, hi, seg.emotion, seg.face, seg.voice))
        out.append(Segment(a, b, emotion))
        out.sort(key=lambda s: s.start_s)
        meta = dict(self.meta)
        curve = meta.get("curve")
        if isinstance(curve, Mapping) and curve.get("t"):
            keep = [not (a <= float(t) < b) for t in curve["t"]]
            meta["curve"] = {
                **curve,
                "valence": [x if k else None for x, k in zip(curve["valence"], keep, strict=False)],
                "arousal": [x if k else None for x, k in zip(curve["arousal"], keep, strict=False)],
            }
        meta["forced"] = [*meta.get("forced", []), {"start_s": a, "end_s": b, "quadrant": quadrant}]
        return Timeline(duration_s=self.duration_s, segments=tuple(out), meta=meta, faces=self.faces)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"duration_s": self.duration_s, "segments": [s.to_dict() for s in self.segments]}
        if self.meta:
            out["meta"] = dict(self.meta)
        return out

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Timeline:
        return cls(
            duration_s=float(data["duration_s"]),
            segments=tuple(Segment.from_dict(s) for s in data["segments"]),
            meta=dict(data.get("meta") or {}),
        )

    @classmethod
    def from_json(cls, text: str) -> Timeline:
        return cls.from_dict(json.loads(text))


BEATS_PER_BAR = 4


@dataclass(frozen=True, kw_only=True)
class ComposeRequest:
    """What to compose. The emotion is a quadrant ("Q1".."Q4"), a (valence, arousal) point, or a Timeline.

    Length: ``bars``, or ``seconds`` (rounded up to whole bars), or for a Timeline its duration; default 16
    bars. ``tempo=None`` leaves the tempo to the emotion (the composer's suggestion for its mean valence and
    arousal). ``temperature`` scales the variety of the composer's choices (chords, melody). Only 4/4 is
    supported so far. Invalid values raise InvalidOptionError with a one-line message.

    ``beat_grid``: the time (s) of every beat and the end (``4 * bars + 1`` values from 0, rising): the music is
    written at ``tempo`` and laid onto this grid, with a tempo map in the MIDI file (music locked to picture,
    :mod:`moodscore.models.music.sync`); it sets the length. ``phrase_bars``: bars where a new phrase must begin.
    ``loop``: the piece ends on the way back to its beginning (no final chord), to be played round and round.
    """

    emotion: str | tuple[float, float] | Timeline
    bars: int | None = None
    seconds: float | None = None
    tempo: float | None = None
    time_signature: tuple[int, int] = (4, 4)
    key: str = DEFAULTS.key
    instruments: tuple[str, ...] = DEFAULTS.instruments
    seed: int = DEFAULTS.seed
    temperature: float = DEFAULTS.temperature
    variations: int = DEFAULTS.variations
    beat_grid: tuple[float, ...] | None = None
    phrase_bars: tuple[int, ...] = ()
    loop: bool = False

    def __post_init__(self) -> None:
        from moodscore.models.errors import InvalidOptionError
        from moodscore.models.keys import parse_key

        def bad(msg: str) -> InvalidOptionError:
            return InvalidOptionError(msg)

        e = self.emotion
        if isinstance(e, str):
            if e.upper() not in affect.QUADRANTS:
                raise bad(f"unknown quadrant {e!r}; expected one of {', '.join(affect.QUADRANTS)}")
            object.__setattr__(self, "emotion", e.upper())
        elif isinstance(e, tuple):
            if len(e) != 2 or not all(isinstance(x, int | float) and -1 <= x <= 1 for x in e):
                raise bad(f"a valence-arousal point needs two numbers in [-1, 1], got {e!r}")
        elif not isinstance(e, Timeline):
            raise bad(f"emotion must be a quadrant, a (valence, arousal) point or a Timeline, not {type(e).__name__}")
        if self.bars is not None and self.seconds is not None:
            raise bad("give the length in bars or in seconds, not both")
        if self.bars is not None and not (isinstance(self.bars, int) and 1 <= self.bars <= MAX_BARS):
            raise bad(f"bars must be a whole number from 1 to {MAX_BARS}, got {self.bars!r}")
        if self.seconds is not None and not (self.seconds > 0 and math.isfinite(self.seconds)):
            raise bad(f"seconds must be positive, got {self.seconds!r}")
        if self.beat_grid is not None:
            g = tuple(float(x) for x in self.beat_grid)
            object.__setattr__(self, "beat_grid", g)
            if self.bars is not None or self.seconds is not None:
                raise bad("a beat grid sets the length: give no bars or seconds with it")
            if len(g) < BEATS_PER_BAR + 1 or (len(g) - 1) % BEATS_PER_BAR or g[0] != 0.0:
                raise bad("a beat grid holds the time of every beat of whole bars and the end, from 0")
            if not all(math.isfinite(x) for x in g) or any(b <= a for a, b in itertools.pairwise(g)):
                raise bad("the beat grid's times must rise")
        if any(not (isinstance(b, int) and 0 <= b < MAX_BARS) for b in self.phrase_bars):
            raise bad(f"phrase_bars must be bar numbers, got {self.phrase_bars!r}")
        if isinstance(self.seed, bool) or not (isinstance(self.seed, int) and 0 <= self.seed <= MAX_SEED):
            raise bad(f"seed must be a whole number from 0 to {MAX_SEED}, got {self.seed!r}")
        if self.tempo is None:
            object.__setattr__(self, "tempo", self.suggested_tempo())
        if not (isinstance(self.tempo, int | float) and MIN_TEMPO <= self.tempo <= MAX_TEMPO):
            raise bad(f"tempo must be from {MIN_TEMPO:g} to {MAX_TEMPO:g} BPM, got {self.tempo!r}")
        if tuple(self.time_signature) != (4, 4):
            raise bad(f"only 4/4 is supported so far, got {self.time_signature[0]}/{self.time_signature[1]}")
        parse_key(self.key)  # raises on an unknown key
        unknown = [i for i in self.instruments if i not in INSTRUMENTS]
        if unknown or "piano" not in self.instruments:
            raise bad(f"instruments must include piano and be among {', '.join(INSTRUMENTS)}, got {self.instruments!r}")
        if not (isinstance(self.temperature, int | float) and 0 < self.temperature <= 2):
            raise bad(f"temperature must be in (0, 2], got {self.temperature!r}")
        if not (isinstance(self.variations, int) and 1 <= self.variations <= MAX_VARIATIONS):
            raise bad(f"variations must be from 1 to {MAX_VARIATIONS}, got {self.variations!r}")
        if self.n_bars > MAX_BARS:
            raise bad(f"{self.n_bars} bars at {self.tempo:g} BPM is more than the limit of {MAX_BARS} bars")

    def suggested_tempo(self) -> float:
        """The tempo the emotion suggests (for a Timeline, at its duration-weighted mean valence and arousal), as the
        piece with this seed takes it."""
        e = self.emotion
        if isinstance(e, str):
            v, a = affect.quadrant_va(e)
        elif isinstance(e, tuple):
            v, a = float(e[0]), float(e[1])
        else:
            w = [s.duration_s for s in e.segments]
            v = sum(s.emotion.valence * d for s, d in zip(e.segments, w, strict=True)) / sum(w)
            a = sum(s.emotion.arousal * d for s, d in zip(e.segments, w, strict=True)) / sum(w)
        # the piece's player takes it a little faster or slower than the emotion's middle
        return suggested_tempo(v, a, self.seed)

    @property
    def bar_s(self) -> float:
        return BEATS_PER_BAR * 60.0 / float(self.tempo)  # type: ignore[arg-type]  # set in __post_init__

    @property
    def n_bars(self) -> int:
        if self.beat_grid is not None:
            return (len(self.beat_grid) - 1) // BEATS_PER_BAR
        if self.bars is not None:
            return self.bars
        seconds = self.seconds
        if seconds is None and isinstance(self.emotion, Timeline):
            seconds = self.emotion.duration_s
        return max(1, math.ceil(seconds / self.bar_s - 1e-9)) if seconds is not None else DEFAULTS.bars

    def bar_span(self, bar: int) -> tuple[float, float]:
        """Start and end (s) of ``bar``: on the beat grid when there is one."""
        if self.beat_grid is not None:
            return self.beat_grid[bar * BEATS_PER_BAR], self.beat_grid[(bar + 1) * BEATS_PER_BAR]
        return bar * self.bar_s, (bar + 1) * self.bar_s

    def bar_quadrants(self) -> tuple[str, ...]:
        """The quadrant of every bar. A Timeline's changes move to the bar line nearest each boundary."""
        e = self.emotion
        n = self.n_bars
        if isinstance(e, str):
            return (e,) * n
        if isinstance(e, tuple):
            return (affect.quadrant_of_va(float(e[0]), float(e[1])),) * n
        # a boundary at T moves to the nearest bar line, which is the same as giving each bar the emotion of the
        # segment holding the bar's middle
        return tuple(e.at(min(sum(self.bar_span(b)) / 2, e.duration_s - 1e-9)).emotion.quadrant for b in range(n))


@dataclass(frozen=True)
class Score:
    """Composed music: a type-1 PrettyMIDI (one named track per part), its bar grid and emotion per bar."""

    midi: Any  # pretty_midi.PrettyMIDI: the MIDI currency everywhere
    tempo: float
    bar_quadrants: tuple[str, ...]
    key: str
    seed: int
    sections: tuple[tuple[int, int, str, str], ...] = ()  # (first bar, end bar, quadrant, key name) per section
    beat_grid: tuple[float, ...] | None = None  # the beats' times when laid onto a grid (then ``tempo`` is nominal)

    @property
    def n_bars(self) -> int:
        return len(self.bar_quadrants)

    @property
    def bar_s(self) -> float:
        """The length of a bar at ``tempo`` (on a beat grid: the mean bar)."""
        if self.beat_grid is not None:
            return self.beat_grid[-1] / self.n_bars
        return BEATS_PER_BAR * 60.0 / self.tempo

    @property
    def duration_s(self) -> float:
        return self.beat_grid[-1] if self.beat_grid is not None else self.n_bars * self.bar_s

    @property
    def bar_starts_s(self) -> tuple[float, ...]:
        if self.beat_grid is not None:
            return tuple(self.beat_grid[:-1:BEATS_PER_BAR])
        return tuple(b * self.bar_s for b in range(self.n_bars))

    @property
    def runs(self) -> list[tuple[int, int, str]]:
        return quadrant_runs(self.bar_quadrants)


def quadrant_runs(bar_quadrants: Sequence[str]) -> list[tuple[int, int, str]]:
    """Runs of consecutive bars asking for one quadrant: (first bar, bar after the last, quadrant), 0-based."""
    runs: list[tuple[int, int, str]] = []
    for b, q in enumerate(bar_quadrants):
        if runs and runs[-1][2] == q:
            runs[-1] = (runs[-1][0], b + 1, q)
        else:
            runs.append((b, b + 1, q))
    return runs
