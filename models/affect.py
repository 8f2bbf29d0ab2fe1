"""The emotion vocabulary: eight classes, four quadrants, and each class's point on the valence-arousal plane.

Classes are RAVDESS's eight. Quadrants follow the product brief:

- Q1 valence+ arousal+: happy, surprised
- Q2 valence- arousal+: angry, disgust, fearful
- Q3 valence- arousal-: sad
- Q4 valence+ arousal-: calm, neutral

Coordinates: each class sits on the unit circle of Russell's circumplex at the angle Russell measured for
the nearest of his 28 affect words (Russell, J. A. (1980). A circumplex model of affect. Journal of
Personality and Social Psychology, 39(6), 1161-1178; angles of the multidimensional-scaling solution,
degrees counter-clockwise from "pleasure" on the positive valence axis):

    happy 7.8 ("happy"), surprised 69.8 ("astonished"), angry 99.0 ("angry"), fearful 116.9 ("afraid"),
    disgust 123.0 ("annoyed", Russell's list has no "disgusted"), sad 207.5 ("sad"),
    calm 316.2 ("calm").

"neutral" has no word in the circumplex; it is the centre, nudged a little into Q4 (where the brief puts
it) so that a confident neutral reads as quiet rather than as nothing: (0.15, -0.15).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

CLASSES: tuple[str, ...] = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
N_CLASSES = len(CLASSES)
CLASS_INDEX: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}

QUADRANTS: tuple[str, ...] = ("Q1", "Q2", "Q3", "Q4")
QUADRANT_OF_CLASS: dict[str, str] = {
    "happy": "Q1",
    "surprised": "Q1",
    "angry": "Q2",
    "disgust": "Q2",
    "fearful": "Q2",
    "sad": "Q3",
    "calm": "Q4",
    "neutral": "Q4",
}
# what every front end calls a quadrant and the colour it draws it in (timeline pictures, the web page's chips and
# pad, Discord embeds, DAW clip names)
QUADRANT_NAMES: dict[str, str] = {
    "Q1": "happy / excited",
    "Q2": "tense / angry",
    "Q3": "sad / low",
    "Q4": "calm / content",
}
QUADRANT_COLOURS: dict[str, str] = {"Q1": "#f2b134", "Q2": "#e4572e", "Q3": "#4a6fa5", "Q4": "#76b041"}

_RUSSELL_DEGREES: dict[str, float] = {
    "happy": 7.8,
    "surprised": 69.8,
    "angry": 99.0,
    "fearful": 116.9,
    "disgust": 123.0,
    "sad": 207.5,
    "calm": 316.2,
}


def _point(degrees: float) -> tuple[float, float]:
    rad = math.radians(degrees)
    return (round(math.cos(rad), 4), round(math.sin(rad), 4))


CLASS_VA: dict[str, tuple[float, float]] = {name: _point(deg) for name, deg in _RUSSELL_DEGREES.items()}
CLASS_VA["neutral"] = (0.15, -0.15)
VA_MATRIX = np.array([CLASS_VA[c] for c in CLASSES], dtype=np.float64)  # (8, 2)
QUADRANT_MATRIX = np.array(
    [[1.0 if QUADRANT_OF_CLASS[c] == q else 0.0 for q in QUADRANTS] for c in CLASSES], dtype=np.float64
)  # (8, 4): sums class probabilities into quadrant probabilities

# FER2013's seven classes, in the order of its labels, and where each goes among the eight.
FER_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER_TO_CLASS: dict[str, str] = {
    "angry": "angry",
    "disgust": "disgust",
    "fear": "fearful",
    "happy": "happy",
    "sad": "sad",
    "surprise": "surprised",
    "neutral": "neutral",
}
# (7, 8) matrix: probabilities over FER classes @ FER_TO_8 = probabilities over the eight classes (calm gets 0).
FER_TO_8 = np.zeros((len(FER_CLASSES), N_CLASSES), dtype=np.float64)
for _i, _fer in enumerate(FER_CLASSES):
    FER_TO_8[_i, CLASS_INDEX[FER_TO_CLASS[_fer]]] = 1.0


def quadrant_of_va(valence: float, arousal: float) -> str:
    """The quadrant a valence-arousal point lies in (the axes themselves count as positive)."""
    if valence >= 0:
        return "Q1" if arousal >= 0 else "Q4"
    return "Q2" if arousal >= 0 else "Q3"


def quadrant_va(quadrant: str) -> tuple[float, float]:
    """A representative valence-arousal point for a quadrant (the diagonal at radius 0.7)."""
    signs = {"Q1": (1, 1), "Q2": (-1, 1), "Q3": (-1, -1), "Q4": (1, -1)}
    if quadrant not in signs:
        raise ValueError(f"unknown quadrant {quadrant!r}; expected one of {', '.join(QUADRANTS)}")
    sv, sa = signs[quadrant]
    c = 0.7 / math.sqrt(2.0)
    return (sv * c, sa * c)


def normalize_probs(probs: Sequence[float] | np.ndarray) -> np.ndarray:
    """Validate and renormalise a probability vector over the eight classes."""
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    if p.shape != (N_CLASSES,):
        raise ValueError(f"expected {N_CLASSES} class probabilities, got {p.shape[0]}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("class probabilities must be finite and non-negative")
    total = float(p.sum())
    if total <= 0:
        raise ValueError("class probabilities sum to zero")
    return p / total


def probs_to_va(probs: np.ndarray) -> tuple[float, float]:
    """The probability-weighted valence-arousal point of a class distribution."""
    va = normalize_probs(probs) @ VA_MATRIX
    return (float(va[0]), float(va[1]))


def probs_to_quadrant_probs(probs: np.ndarray) -> np.ndarray:
    """Sum class probabilities into the four quadrants."""
    return normalize_probs(probs) @ QUADRANT_MATRIX


# How a class distribution picks its quadrant (see quadrant_scores). "top" measured better than "mass" on the dev
# clips of benchmarks/bench_av.py (time-weighted quadrant accuracy 67.5% -> 72-74%): faces and voices that are
# unsure spread their probability over Q2's three classes, and the summed mass then called sad faces Q2.
QUADRANT_RULE = "top"


def quadrant_scores(probs: np.ndarray, rule: str | None = None) -> np.ndarray:
    """How much class probabilities (last axis) speak for each quadrant, summing to 1.

    ``"mass"``: the quadrant's summed probability. ``"top"``: the probability of its most probable class,
    renormalised, so that the quadrant of the most probable class wins; a quadrant is not favoured for holding
    more classes (Q2 holds three, Q3 one: an unsure sad face, sad 0.31, angry 0.22, fearful 0.24, is Q3).
    """
    p = np.asarray(probs, dtype=np.float64)
    rule = rule or QUADRANT_RULE
    if rule == "mass":
        out: np.ndarray = p @ QUADRANT_MATRIX
    elif rule == "top":
        out = np.max(p[..., :, None] * QUADRANT_MATRIX, axis=-2)
    else:
        raise ValueError(f"unknown quadrant rule {rule!r}")
    return out / np.maximum(out.sum(axis=-1, keepdims=True), 1e-12)


def fer_to_classes(fer_probs: np.ndarray) -> np.ndarray:
    """Map probabilities over FER2013's seven classes (last axis) into the eight-class vocabulary."""
    fer_probs = np.asarray(fer_probs, dtype=np.float64)
    if fer_probs.shape[-1] != len(FER_CLASSES):
        raise ValueError(f"expected {len(FER_CLASSES)} FER class probabilities, got {fer_probs.shape[-1]}")
    return fer_probs @ FER_TO_8
