"""Shot cuts of a clip, to the frame: where the picture changes at once (a hard cut) or fades through black.

The detection is PySceneDetect's: its content detector (the change of hue, saturation and brightness from one
frame to the next) for hard cuts and its threshold detector for fades. It runs on thumbnails the analysis makes
of every frame it decodes anyway (:func:`models.media.iter_frames` with ``thumbs``), so it costs a few hundred
microseconds a frame and no second decoding. Where the analysis skips frames nothing refers to (B-frames), a cut
still lands on its frame: encoders start a new shot with a frame the next ones refer to (a keyframe, or at least
a P-frame), and that frame is always decoded.
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


def detect_cuts(thumbs: Sequence[Thumb], *, fps: float | None = None) -> list[float]:
    """The times (s, the first frame of each new shot) of the hard cuts and fades in ``thumbs`` (in time order).
    ``fps``: the clip's frame rate (frame numbers for the detectors; default from the thumbnails' spacing)."""
    from scenedetect import ContentDetector, FrameTimecode, ThresholdDetector

    if len(thumbs) < 2:
        return []
    times = np.array([t.t_s for t in thumbs])
    if fps is None or not fps > 0:
        steps = np.diff(times)
        fps = 1.0 / float(np.median(steps[steps > 0])) if np.any(steps > 0) else 25.0
    min_len = max(1, round(MIN_SHOT_S * fps))
    content = ContentDetector(threshold=CONTENT_THRESHOLD, min_scene_len=min_len)
    fades = ThresholdDetector(threshold=FADE_THRESHOLD, min_scene_len=min_len)
    found: list[int] = []
    at: dict[int, float] = {}  # frame number -> the frame's own time
    last = -1
    for thumb in thumbs:
        frame = max(last + 1, round(thumb.t_s * fps))  # frame numbers must rise (skipped frames leave gaps)
        last = frame
        at[frame] = thumb.t_s
        code = FrameTimecode(frame, fps=fps)
        for detector in (content, fades):
            found += [int(c.frame_num) for c in detector.process_frame(code, thumb.bgr)]
    end = FrameTimecode(last, fps=fps)
    found += [int(c.frame_num) for c in fades.post_process(end)]
    cuts: list[float] = []
    for frame in sorted(set(found)):
        t = round(at.get(frame, frame / fps), 4)
        if t <= 0 or (cuts and t - cuts[-1] < MIN_SHOT_S):
            continue
        cuts.append(t)
    return cuts
