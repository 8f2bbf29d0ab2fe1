"""Frozen dataclasses that cross the core's boundary: emotions, segments and the timeline.

Everything here serialises to plain JSON and back without loss (floats go through ``repr``-exact JSON).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import affect

MODALITIES: tuple[str, ...] = ("face", "voice")


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

        The quadrant is the one holding the most probability mass (the brief's class -> quadrant map);
        the confidence is that mass. Valence and arousal are the probability-weighted class points.
        """
        p = affect.normalize_probs(probs)
        valence, arousal = affect.probs_to_va(p)
        qp = affect.probs_to_quadrant_probs(p)
        q = int(np.argmax(qp))
        return cls(
            probs=tuple(float(x) for x in p),
            valence=valence,
            arousal=arousal,
            quadrant=affect.QUADRANTS[q],
            confidence=float(qp[q]),
        )

    @property
    def label(self) -> str:
        """The most probable class of the winning quadrant.

        Not the overall argmax: with happy 0.30, fearful 0.25, angry 0.20 the quadrant is Q2 (0.45 against
        0.30) and the label says "fearful", so label and quadrant never contradict each other.
        """
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


@dataclass(frozen=True)
class Timeline:
    """The emotion of a clip over time: segments that cover [0, duration_s] with no gap and no overlap."""

    duration_s: float
    segments: tuple[Segment, ...]
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False)

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
