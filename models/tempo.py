"""The tempo an emotion suggests, and how far a piece's player strays from it: the one piece of the music's
knowledge a request needs before any music is written (:meth:`models.types.ComposeRequest.suggested_tempo`), so it
sits at the bottom with the types instead of the types reaching up into :mod:`moodscore.models.music`.

The composer uses the same two functions (:func:`models.music.controls.controls`, :func:`models.music.style.
draw_style`), so a request's tempo and the music written at it cannot disagree.
"""

from __future__ import annotations

import numpy as np

STYLE_STREAM = 4099  # a piece's Style's random stream: np.random.default_rng([seed, STYLE_STREAM]); the tempo first


def emotion_tempo(valence: float, arousal: float) -> int:
    """BPM for a point of the valence-arousal plane (both clipped to [-1, 1]): 92 at the centre, 30 BPM across half
    the arousal axis, a little quicker when happy."""
    v, a = max(-1.0, min(1.0, valence)), max(-1.0, min(1.0, arousal))
    return round(92 + 30 * a + 5 * v)


def player_tempo(rng: np.random.Generator) -> float:
    """The factor a piece's player takes the emotion's tempo at (0.9-1.1; the first draw of the style's stream)."""
    return float(np.clip(np.exp(rng.normal(0.0, 0.05)), 0.9, 1.1))


def suggested_tempo(valence: float, arousal: float, seed: int) -> float:
    """The tempo the piece with ``seed`` takes for the emotion ``(valence, arousal)``."""
    return float(round(emotion_tempo(valence, arousal) * player_tempo(np.random.default_rng([seed, STYLE_STREAM]))))
