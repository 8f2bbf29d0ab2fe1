"""Keys: parsing what users type ("C", "F# minor", "Bbm", "auto") into a tonic pitch class and a mode."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pretty_midi

from moodscore.models.errors import InvalidOptionError

# Krumhansl & Kessler (1982) key profiles, tonic first
KS_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KS_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
_NAMES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MAJ = (np.asarray(KS_MAJOR) - np.mean(KS_MAJOR)) / np.std(KS_MAJOR)
_MIN = (np.asarray(KS_MINOR) - np.mean(KS_MINOR)) / np.std(KS_MINOR)
_KEY_RE = re.compile(r"^\s*([A-Ga-g])([#b]?)\s*(m|min|minor|maj|major|M)?\s*$")


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class 0..11 (0 = C)
    minor: bool

    @property
    def name(self) -> str:
        return f"{PITCH_CLASS_NAMES[self.tonic]} {'minor' if self.minor else 'major'}"


def parse_key(text: str) -> Key | None:
    """``"auto"`` -> None; ``"C"``, ``"c major"``, ``"F#m"``, ``"Bb minor"`` -> Key; else InvalidOptionError."""
    if text.strip().lower() == "auto":
        return None
    m = _KEY_RE.match(text)
    if m is None:
        raise InvalidOptionError(
            f"unknown key {text!r}; use a note name with an optional #/b and 'major'/'minor' "
            "(e.g. 'F# minor'), or 'auto'"
        )
    letter, accidental, mode = m.groups()
    tonic = (_NAMES[letter.upper()] + {"#": 1, "b": -1, "": 0}[accidental]) % 12
    return Key(tonic=tonic, minor=mode in ("m", "min", "minor"))


def pitch_class_histogram(pm: pretty_midi.PrettyMIDI, *, start: float = 0.0, end: float = math.inf) -> np.ndarray:
    """Duration-weighted pitch-class histogram (12,) of the non-drum notes sounding in [start, end)."""
    hist = np.zeros(12)
    for inst in pm.instruments:
        if inst.is_drum:
            continue
        for n in inst.notes:
            overlap = min(n.end, end) - max(n.start, start)
            if overlap > 0:
                hist[n.pitch % 12] += overlap
    return hist


def estimate_key(pm: pretty_midi.PrettyMIDI) -> Key:
    """The best-correlating Krumhansl-Kessler key profile (C major for a piece without notes)."""
    hist = pitch_class_histogram(pm)
    if hist.sum() <= 0:
        return Key(tonic=0, minor=False)
    z = (hist - hist.mean()) / (hist.std() + 1e-9)
    scores = [
        (float(np.dot(np.roll(p, k), z)), k, minor) for minor, p in ((False, _MAJ), (True, _MIN)) for k in range(12)
    ]
    _, tonic, minor = max(scores)
    return Key(tonic=tonic, minor=minor)
