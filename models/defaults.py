"""What every front end offers before anyone changes anything, the limits a request must keep, and the one parser of
instrument lists. Cheap to import (no numpy), so a command that only parses its arguments, or the OSC client a REAPER
action starts, pays nothing for the models."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

INSTRUMENTS: tuple[str, ...] = ("piano", "bass", "pad")
MAX_BARS = 512
MIN_TEMPO = 20.0  # slower than any largo; MIDI itself cannot say less than 3.58 BPM
MAX_TEMPO = 400.0
MAX_SEED = 2**31 - 1
MAX_VARIATIONS = 8


@dataclass(frozen=True)
class Defaults:
    """What a request holds before anyone changes it. The command line, the web page, the Discord commands and the OSC
    bridge all offer these (a DAW's own tempo stands in for ``tempo`` where the bridge is linked to one)."""

    bars: int = 16
    tempo: float | None = None  # None: the tempo the emotion suggests (moodscore.models.tempo)
    key: str = "auto"
    seed: int = 0
    variations: int = 1
    instruments: tuple[str, ...] = ("piano",)
    temperature: float = 1.0
    fps: float = 3.0  # video frames analysed per second (moodscore.models.analysis.pipeline)


DEFAULTS = Defaults()


def parse_instruments(text: str | Sequence[str]) -> tuple[str, ...]:
    """The parts to play, from ``"piano,bass"``, ``"piano + pad"`` or a list of names: lower-cased, stripped, each
    once, in the order given. Whether they are playable is :class:`moodscore.models.types.ComposeRequest`'s to say."""
    items = re.split(r"[,+]", text) if isinstance(text, str) else list(text)
    out: list[str] = []
    for item in items:
        name = str(item).strip().lower()
        if name and name not in out:
            out.append(name)
    return tuple(out)
