"""Shot cuts of a clip, to the frame: where the picture changes at once (a hard cut) or fades through black.

The method is PySceneDetect's (its content and threshold detectors, with their default thresholds): a hard cut
is a frame whose mean change of hue, saturation and brightness from the frame before is at least 27 (of 255); a
fade is a run of frames darker than 12 on average, cut in its middle. PySceneDetect itself is not used: 0.7
requires a second OpenCV wheel beside MediaPipe's opencv-contrib-python, and 0.6 pins click below what Gradio
needs. It runs on thumbnails the analysis makes of every frame it decodes anyway
(:func:`models.media.decode.iter_frames` with ``thumbs``): a few hundred microseconds a frame, no second decoding.
Where the analysis skips frames nothing refers to (B-frames), a cut still lands on its frame: encoders start a
new shot with a frame the next ones refer to (a keyframe, or at least a P-frame), and that frame is decoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

THUMB_SIZE = (64, 36)  # width, height of the thumbnails the detectors see (16:9; other shapes are squeezed)
CONTENT_THRESHOLD = 27.0  # PySceneDetect's default for its content detector
FADE_THRESHOLD = 12.0  # mean brightness under which a frame is black (PySceneDetect's default)
MIN_SHOT_S = 0.5  # cuts closer together than this count once (flashes, strobes)
CUTS_VERSION = 1  # part of the analysis cache's key: a change here makes cached timelines stale


@dataclass(frozen=True)
class Thumb:
    """A decoded frame, small: its time in the clip (s) and its BGR pixels (uint8, THUMB_SIZE)."""

    t_s: float
    bgr: np.ndarray


def content_scores(thumbs: Sequence[Thumb]) -> np.ndarray:
    """For each thumbnail, the mean absolute change of hue, saturation and value from the one before (0 for the
    first), averaged over the three (PySceneDetect's content score)."""
    import cv2

    hsv = np.stack([cv2.cvtColor(t.bgr, cv2.COLOR_BGR2HSV) for t in thumbs]).astype(np.int16)
    delta = np.abs(np.diff(hsv, axis=0)).reshape(len(thumbs) - 1, -1, 3).mean(axis=1)
    return np.concatenate([[0.0], delta.mean(axis=1)])


def detect_cuts(thumbs: Sequence[Thumb]) -> list[float]:
    """The times (s, the first frame of each new shot) of the hard cuts and fades through black in ``thumbs``
    (in time order); cuts closer than MIN_SHOT_S to the one before are dropped."""
    if len(thumbs) < 2:
        return []
    times = np.array([t.t_s for t in thumbs])
    found = [float(times[i]) for i in np.flatnonzero(content_scores(thumbs) >= CONTENT_THRESHOLD)]
    dark = np.array([float(t.bgr.mean()) < FADE_THRESHOLD for t in thumbs])
    edges = np.flatnonzero(np.diff(dark.astype(np.int8)))  # last frame before each change of darkness
    starts = [i + 1 for i in edges if not dark[i]]  # into black
    for s in starts:
        ends = [i + 1 for i in edges if dark[i] and i + 1 > s]  # out of black
        if ends and s > 0:
            found.append(float(times[(s + ends[0]) // 2]))
    cuts: list[float] = []
    for t in sorted(found):
        if t > 0 and (not cuts or t - cuts[-1] >= MIN_SHOT_S):
            cuts.append(round(t, 4))
    return cuts
