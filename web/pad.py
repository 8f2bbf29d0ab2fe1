"""The valence-arousal pad: a picture of the plane to click on, and the mapping from a click to a point."""

from __future__ import annotations

import os
from pathlib import Path

from moodscore.models import QUADRANT_COLOURS, QUADRANT_NAMES

SIZE = 360  # pixels, square
# where each quadrant sits on the plane: (valence sign, arousal sign)
PLACES = {"Q1": (1, 1), "Q2": (-1, 1), "Q3": (-1, -1), "Q4": (1, -1)}


def draw_pad(path: str | os.PathLike[str]) -> Path:
    """Draw the plane (valence across, arousal up) with the four quadrants in their colours and names."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (SIZE, SIZE), "white")
    draw = ImageDraw.Draw(img)
    big, small = ImageFont.load_default(size=17), ImageFont.load_default(size=12)
    half = SIZE // 2
    for q, (v, a) in PLACES.items():
        x0, y0 = (half if v > 0 else 0), (0 if a > 0 else half)
        draw.rectangle((x0, y0, x0 + half - 1, y0 + half - 1), fill=_tint(QUADRANT_COLOURS[q]))
        centre = (x0 + half // 2, y0 + half // 2)
        draw.text(centre, f"{q}\n{QUADRANT_NAMES[q]}", fill="#222222", font=big, anchor="mm", align="center")
    draw.line((half, 0, half, SIZE), fill="#555555", width=2)
    draw.line((0, half, SIZE, half), fill="#555555", width=2)
    for xy, text, anchor in (
        ((SIZE - 4, half - 3), "pleasant", "rd"),
        ((4, half - 3), "unpleasant", "ld"),
        ((half + 5, 4), "excited", "la"),
        ((half + 5, SIZE - 4), "calm", "ld"),
    ):
        draw.text(xy, text, fill="#333333", font=small, anchor=anchor)
    out = Path(path)
    img.save(out, format="PNG")
    return out


def _tint(colour: str, amount: float = 0.55) -> tuple[int, int, int]:
    """The colour mixed with white, so that text stays readable on it."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return tuple(round(c + (255 - c) * amount) for c in (r, g, b))  # type: ignore[return-value]


def point_at(x: float, y: float, *, width: float = SIZE, height: float = SIZE) -> tuple[float, float]:
    """The (valence, arousal) under pixel (x, y) of the pad, clipped to [-1, 1] and rounded to 0.05."""

    def snap(value: float) -> float:
        return round(max(-1.0, min(1.0, value)) * 20) / 20

    return snap(2 * x / width - 1), snap(1 - 2 * y / height)
