"""Geometry of the face search: frames checked, boxes compared, square patches cut and resized, search tiles."""

from __future__ import annotations

import cv2
import numpy as np

from moodscore.models.errors import InputError

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in frame pixels


def check_rgb(rgb: np.ndarray) -> np.ndarray:
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8 or a.shape[0] < 8 or a.shape[1] < 8:
        raise InputError(f"expected an RGB uint8 frame (H, W, 3), got {a.dtype} {a.shape}")
    return a


def landmark_box(landmarks: np.ndarray) -> Box:
    x0, y0 = landmarks[:, :2].min(axis=0)
    x1, y1 = landmarks[:, :2].max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def box_area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def box_iou(a: Box, b: Box) -> float:
    inter = box_area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    return inter / max(box_area(a) + box_area(b) - inter, 1e-9)


def square_patch(
    rgb: np.ndarray, x0: float, y0: float, side: float, size: int, *, area: bool = False
) -> tuple[np.ndarray, float]:
    """The square [x0, x0+side) x [y0, y0+side) of ``rgb`` (black outside) resized to ``size``; returns it and
    the factor f such that frame = patch * f + (x0, y0). ``area``: resampled by pixel area (slower, but the same
    softening at every ratio, as a sharpness measure needs)."""
    h, w = rgb.shape[:2]
    ix0, iy0, s = round(x0), round(y0), max(1, round(side))
    sx0, sy0, sx1, sy1 = max(ix0, 0), max(iy0, 0), min(ix0 + s, w), min(iy0 + s, h)
    if sx0 == ix0 and sy0 == iy0 and sx1 == ix0 + s and sy1 == iy0 + s:
        src = rgb[sy0:sy1, sx0:sx1]
    else:
        src = np.zeros((s, s, 3), np.uint8)
        if sx1 > sx0 and sy1 > sy0:
            src[sy0 - iy0 : sy1 - iy0, sx0 - ix0 : sx1 - ix0] = rgb[sy0:sy1, sx0:sx1]
    if area and src.shape[0] != size:
        return np.ascontiguousarray(cv2.resize(src, (size, size), interpolation=cv2.INTER_AREA)), s / size
    # halve with a Gaussian pyramid while over twice the size, then bilinear: close to INTER_AREA's
    # anti-aliasing at a tenth of its cost for the non-integer ratios tracking produces (2.6 -> 0.3 ms at 550 px)
    while src.shape[0] >= 2 * size:
        src = cv2.pyrDown(src)
    patch = src if src.shape[0] == size else cv2.resize(src, (size, size), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(patch), s / size


def search_tiles(width: int, height: int, level: int) -> list[tuple[int, int, int]]:
    """Square tiles (x0, y0, side) of a search level: 1 = squares of the short side along the long side,
    2 = squares of 2/3 of the short side on a grid; neighbours overlap by at least a quarter."""
    short = min(width, height)
    side = short if level == 1 else max(8, round(short * 2 / 3))

    def starts(length: int) -> list[int]:
        if length <= side:
            return [0]
        n = int(np.ceil((length - side) / (0.75 * side))) + 1
        return [round(v) for v in np.linspace(0, length - side, n)]

    return [(x, y, side) for y in starts(height) for x in starts(width)]


def same_face(box: Box, others: list[Box]) -> bool:
    """Whether ``box`` shows the same face as one of ``others``: they overlap, or one holds the other's centre."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    for o in others:
        ox, oy = (o[0] + o[2]) / 2, (o[1] + o[3]) / 2
        if (
            box_iou(box, o) > 0.3
            or (o[0] <= cx <= o[2] and o[1] <= cy <= o[3])
            or (box[0] <= ox <= box[2] and box[1] <= oy <= box[3])
        ):
            return True
    return False
