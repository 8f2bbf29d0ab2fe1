"""How one piece is arranged and played, apart from its emotion: what tells one pianist's cover from another's.

Two covers of the same sad song differ in more than their notes: one sits a few notes higher, one plays the tune in
octaves over full chords while another plays it as a single line over a light left hand, one chants repeated notes,
one spreads its chords wide, one leans its tune ahead of the chords. A composer that always makes the same choices
writes pieces that are all alike; real piano music is not. A :class:`Style` is drawn once per piece from its seed
(its own random stream, so it does not disturb the rest of the writing) and holds those choices, each inside the
range where the music stays idiomatic; the emotion's controls (:mod:`models.music.controls`) still set everything
the emotion decides (mode, harmony, density, dynamics, the register's centre).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from moodscore.models.tempo import STYLE_STREAM, player_tempo


@dataclass(frozen=True)
class Style:
    tempo: float = 1.0  # factor on the emotion's tempo suggestion (only where the tempo is left to the emotion)
    register: float = 0.0  # semitones the melody sits above or below the emotion's register
    bass: float = 0.0  # semitones the left hand's lowest notes sit above or below the emotion's
    octaves: float = 0.0  # 0..1: how often the right hand plays the tune in octaves (more in contrasting phrases)
    fill: float = 1.0  # how often chord tones fill out the right hand under the tune (a factor on the emotion's)
    spread: float = 0.85  # 0..1: how often chords are spread open over a tenth rather than played close
    thin: float = 0.0  # 0..1: how often a struck chord leaves out one of its inner notes (a lighter left hand)
    repeats: float = 0.7  # the melody's cost of repeating a note (low: a chanted, speech-like tune)
    thirds: float = 0.8  # the melody's cost of a leap of a third (low: a tune that outlines its chords)
    chromatic: float = 0.0  # 0..1: how often the melody takes a chromatic neighbour or passing note off the beat
    timing: float = 0.0  # s: the spread of a player's onsets around the written time
    lead: float = 0.0  # s: how far the tune's notes sound ahead of the chords struck with them
    overlap: float = 0.0  # s: how long a key is held after the next one in a legato line goes down
    fills: float = 0.0  # 0..1: how often the right hand runs over the chord between phrases (more when lively)


PLAIN = Style()  # the composer's choices before styles: one pianist, one way


def draw_style(seed: int) -> Style:
    """The style of the piece with ``seed``."""
    rng = np.random.default_rng([seed, STYLE_STREAM])

    def between(lo: float, hi: float) -> float:
        return float(rng.uniform(lo, hi))

    return Style(
        tempo=player_tempo(rng),  # (first: a request's tempo is drawn the same way, moodscore.models.tempo)
        register=float(np.clip(rng.normal(0.0, 1.5), -3.0, 3.0)),
        bass=float(np.clip(rng.normal(0.0, 4.0), -5.0, 8.0)),
        octaves=0.0 if rng.random() < 0.45 else between(0.15, 0.8),
        fill=float(np.exp(rng.uniform(np.log(0.3), np.log(2.2)))),
        spread=between(0.35, 1.0),
        thin=0.0 if rng.random() < 0.5 else between(0.1, 0.6),
        repeats=between(0.05, 1.0),
        thirds=between(0.3, 1.0),
        chromatic=0.0 if rng.random() < 0.5 else between(0.03, 0.15),
        timing=between(0.004, 0.016),
        lead=between(0.0, 0.025),
        overlap=between(0.01, 0.04),
        fills=0.0 if rng.random() < 0.3 else between(0.4, 1.0),  # (last: the draws above stay what they were)
    )
