"""FER2013 alignment: where a face's anchor points (eyes, nose tip, mouth) sit in a FER2013 image, and the
similarity transform and grey crop that frame a face found in a video frame the same way.

:data:`ANCHORS` names the MediaPipe face-mesh landmarks of each anchor, :data:`FER_TEMPLATE` their measured
positions in a 48x48 (``FER_SIZE``) FER2013 image; :func:`alignment_matrix` fits a frame's anchors to the
template with level eyes and :func:`aligned_crop` cuts the crop the expression model reads.
"""

from __future__ import annotations

import cv2
import numpy as np

FER_SIZE = 48

# Anchor points of the alignment (MediaPipe face-mesh indices; "left" = image left = the subject's right eye).
ANCHORS: dict[str, tuple[int, ...]] = {
    "eye_left": (33, 133),  # outer and inner corner
    "eye_right": (362, 263),
    "nose_tip": (1,),
    "mouth": (13, 14, 61, 291),  # inner lips and corners
}
# Where FER2013 puts those anchors, in 48x48 pixel coordinates (x, y). Measured 2026-11-22 with
# `python -m moodscore.models.train.extract_fer_landmarks` (prints it; `--template-only` again from the cache): the
# Landmarker (IMAGE mode) on all 32,298 FER2013 Training+PublicTest images, each upscaled to 256 px on a 640x480
# grey canvas, found 30,349 faces (94.0%); these are the mean anchor positions over those faces, mirrored
# left/right and averaged so the template is symmetric with level eyes. Raw means before symmetrising: eyes
# (15.45, 18.87) and (32.47, 18.63), nose tip (24.03, 29.32), mouth (24.20, 37.11).
FER_TEMPLATE: dict[str, tuple[float, float]] = {
    "eye_left": (15.49, 18.75),
    "eye_right": (32.51, 18.75),
    "nose_tip": (24.0, 29.32),
    "mouth": (24.0, 37.11),
}


def anchor_points(landmarks: np.ndarray) -> np.ndarray:
    """(478, 2+) landmarks -> (4, 2) anchor positions in the order of :data:`ANCHORS`."""
    return np.stack([landmarks[list(idx), :2].mean(axis=0) for idx in ANCHORS.values()]).astype(np.float64)


def alignment_matrix(landmarks: np.ndarray, crop_size: int = FER_SIZE) -> np.ndarray:
    """2x3 similarity transform: frame pixels -> a ``crop_size`` crop framed like FER2013, eyes level.

    Rotation levels the eye line; scale and shift are the least-squares fit of the four anchors to
    :data:`FER_TEMPLATE` under that rotation.
    """
    src = anchor_points(landmarks)
    dst = np.array(list(FER_TEMPLATE.values()), dtype=np.float64) * (crop_size / FER_SIZE)
    d = src[1] - src[0]
    angle = -np.arctan2(d[1], d[0])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    r = src @ rot.T
    rc, dc = r - r.mean(axis=0), dst - dst.mean(axis=0)
    scale = float((rc * dc).sum() / max((rc * rc).sum(), 1e-9))
    a = scale * rot
    t = dst.mean(axis=0) - a @ src.mean(axis=0)
    return np.hstack([a, t[:, None]])


def aligned_crop(image: np.ndarray, landmarks: np.ndarray, crop_size: int = FER_SIZE) -> np.ndarray:
    """Cut the FER2013-framed grey face out of an RGB or grey frame (area-averaged when shrinking a lot).

    Only the region under the crop is converted to grey and, when the face is more than twice the crop's
    size, shrunk with area averaging first so the final warp does not alias.
    """
    m = alignment_matrix(landmarks, crop_size)
    scale = float(np.hypot(m[0, 0], m[0, 1]))
    corners = np.array([[0, 0, 1], [crop_size, 0, 1], [0, crop_size, 1], [crop_size, crop_size, 1]], float)
    pts = corners @ np.vstack([cv2.invertAffineTransform(m), [0, 0, 1]]).T
    h, w = image.shape[:2]
    x0, y0 = np.clip(np.floor(pts[:, :2].min(axis=0)).astype(int) - 2, 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(pts[:, :2].max(axis=0)).astype(int) + 2, [x0 + 1, y0 + 1], [w, h])
    roi = image[y0:y1, x0:x1]
    grey = cv2.cvtColor(roi, cv2.COLOR_RGB2GRAY) if roi.ndim == 3 else roi
    to_roi = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0], [0.0, 0.0, 1.0]])
    if scale < 0.5:
        size = (max(1, round(grey.shape[1] * 2 * scale)), max(1, round(grey.shape[0] * 2 * scale)))
        fx, fy = size[0] / grey.shape[1], size[1] / grey.shape[0]
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        to_roi = np.diag([fx, fy, 1.0]) @ to_roi
    m = m @ np.linalg.inv(to_roi)
    m[:, 2] += m[:, :2].sum(axis=1) * 0.5 - 0.5  # landmarks use pixel corners, warpAffine pixel centres
    border = cv2.BORDER_REPLICATE
    return cv2.warpAffine(grey, m[:2], (crop_size, crop_size), flags=cv2.INTER_LINEAR, borderMode=border)
