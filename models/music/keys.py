"""Keys: parsing what users type ("C", "F# minor", "Bbm", "auto") into a tonic pitch class and a mode."""

from __future__ import annotations

import re
from dataclasses import dataclass

from models.errors import InvalidOptionError

_NAMES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
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
