"""MediaPipe's face models: the bundled ``face_landmarker.task``, its Face Landmarker and its BlazeFace detector
(Tasks API), and their results as arrays."""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path
from typing import Any

import numpy as np

from moodscore.models.errors import ModelLoadError

N_LANDMARKS = 478
BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft",
    "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft",
    "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft",
    "jawOpen", "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft",
    "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
)  # fmt: skip


def default_model_path() -> Path:
    """The bundled ``face_landmarker.task`` in ``moodscore.models.weights``."""
    return Path(str(importlib.resources.files("moodscore.models.weights").joinpath("face_landmarker.task")))


def create_landmarker(
    model_path: str | os.PathLike[str] | None = None, *, video: bool, num_faces: int = 1, blendshapes: bool = True
) -> Any:
    """A MediaPipe FaceLandmarker (IMAGE or VIDEO mode). Close it (it is a context manager)."""
    from mediapipe.tasks.python import BaseOptions, vision

    path = Path(model_path) if model_path is not None else default_model_path()
    if not path.is_file():
        raise ModelLoadError(f"face landmarker model not found: {path}")
    mode = vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE
    opts = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(path)),
        running_mode=mode,
        num_faces=num_faces,
        output_face_blendshapes=blendshapes,
    )
    try:
        return vision.FaceLandmarker.create_from_options(opts)
    except (RuntimeError, ValueError) as exc:
        raise ModelLoadError(f"could not load the face landmarker {path}: {exc}") from exc


def create_detector(model_path: str | os.PathLike[str] | None = None, *, min_confidence: float = 0.5) -> Any:
    """MediaPipe FaceDetector (IMAGE mode) over the BlazeFace model inside the landmarker bundle."""
    import zipfile

    from mediapipe.tasks.python import BaseOptions, vision

    path = Path(model_path) if model_path is not None else default_model_path()
    try:
        with zipfile.ZipFile(path) as z:
            buffer = z.read("face_detector.tflite")
        opts = vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_buffer=buffer),
            running_mode=vision.RunningMode.IMAGE,
            min_detection_confidence=min_confidence,
        )
        return vision.FaceDetector.create_from_options(opts)
    except (OSError, KeyError, zipfile.BadZipFile, RuntimeError, ValueError) as exc:
        raise ModelLoadError(f"could not load the face detector from {path}: {exc}") from exc


def _to_mp_image(rgb: np.ndarray) -> Any:
    import mediapipe as mp

    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))


def result_faces(result: Any, width: int, height: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """A FaceLandmarkerResult -> [(landmarks (478, 3) float32 in pixels of that image, blendshapes (52,))]."""
    faces = []
    for i, lms in enumerate(result.face_landmarks):
        pts = np.array([(p.x * width, p.y * height, p.z * width) for p in lms], dtype=np.float32)
        bs = np.zeros(len(BLENDSHAPE_NAMES), dtype=np.float32)
        if result.face_blendshapes and i < len(result.face_blendshapes):
            bs[:] = [c.score for c in result.face_blendshapes[i]][: len(BLENDSHAPE_NAMES)]
        faces.append((pts, bs))
    return faces
