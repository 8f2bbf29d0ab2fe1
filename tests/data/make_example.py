"""Make moodscore's example clip: a smiling face with cheerful speech that turns sad, with sad speech.

    python tests/data/make_example.py models/examples/example.mp4

Sources (see tests/data/README.md): scikit-image's ``astronaut()`` photograph (NASA, public domain) and
speech synthesised by espeak-ng. The sad face is the same photograph warped with MediaPipe face landmarks
(``models/weights/face_landmarker.task``) and a piecewise affine transform: mouth corners pulled down, lips
closed, inner brows raised and drawn together. Everything is deterministic (single-threaded x264, bit-exact
muxing), so running the script twice gives the same bytes.

``make_benchmark_clip(path, seconds=30)`` makes a 1280x720 clip (face about 250 px wide, moving) for speed
benchmarks; it is not committed. Import this file with importlib or add ``tests/data`` to ``sys.path``.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import cast

import av
import numpy as np
import soundfile as sf
from av.audio.stream import AudioStream
from av.video.stream import VideoStream
from scipy import ndimage
from skimage import data as skdata
from skimage import draw, transform

FPS = 25
SPEECH_SR = 22050  # espeak-ng's native rate
WEIGHTS = Path(__file__).resolve().parents[2] / "models" / "weights" / "face_landmarker.task"
HAPPY_VOICE = {"voice": "en-us+f3", "speed": 185, "pitch": 78, "amplitude": 170}
SAD_VOICE = {"voice": "en-us+f3", "speed": 100, "pitch": 18, "amplitude": 55}
HAPPY_LINES = ("Oh wow, look at this!", "What a wonderful day!", "I love it!")
SAD_LINES = ("I don't know anymore.", "It is all gone.")

# MediaPipe Face Mesh indices (see mediapipe's face_mesh_connections FACEMESH_LIPS / _EYEBROW).
UPPER_OUTER = (185, 40, 39, 37, 0, 267, 269, 270, 409)
LOWER_OUTER = (146, 91, 181, 84, 17, 314, 405, 321, 375)
UPPER_INNER = (191, 80, 81, 82, 13, 312, 311, 310, 415)
LOWER_INNER = (95, 88, 178, 87, 14, 317, 402, 318, 324)
CORNERS = (61, 291, 78, 308)
INNER_BROWS = ((55, 107, 65, 66), (285, 336, 295, 296))
OUTER_BROWS = (46, 70, 53, 63, 276, 300, 283, 293)
# (upper, lower) eyelid pairs of both eyes (FACEMESH_LEFT_EYE / _RIGHT_EYE).
EYELIDS = (
    (161, 163),
    (160, 144),
    (159, 145),
    (158, 153),
    (157, 154),
    (388, 390),
    (387, 373),
    (386, 374),
    (385, 380),
    (384, 381),
)


def speak(text: str, *, voice: str, speed: int, pitch: int, amplitude: int) -> np.ndarray:
    """Synthesise ``text`` with espeak-ng; float32 mono at SPEECH_SR, silence trimmed."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        cmd = [exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "-a", str(amplitude), "-w", str(wav), text]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        audio, sr = sf.read(wav, dtype="float32")
    if sr != SPEECH_SR:
        raise RuntimeError(f"espeak-ng wrote {sr} Hz, expected {SPEECH_SR}")
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    loud = np.flatnonzero(np.abs(audio) > 0.01 * np.abs(audio).max())  # trim espeak's leading/trailing silence
    return audio[loud[0] : loud[-1] + 1] if len(loud) else audio


def place_lines(
    track: np.ndarray, lines: Sequence[str], *, start_s: float, end_s: float, gap_s: float, **voice: object
) -> None:
    """Speak ``lines`` one after another from ``start_s``, ``gap_s`` of silence between them, into ``track``."""
    t = start_s
    for line in lines:
        speech = speak(line, **voice)  # type: ignore[arg-type]
        i = round(t * SPEECH_SR)
        if i + len(speech) > round(end_s * SPEECH_SR):
            raise RuntimeError(f"speech {line!r} does not fit before {end_s} s")
        track[i : i + len(speech)] += speech
        t += len(speech) / SPEECH_SR + gap_s


def working_image() -> np.ndarray:
    """The astronaut photograph at twice its size (1024 px), float in [0, 1]."""
    img = skdata.astronaut().astype(np.float64) / 255.0
    return np.clip(transform.rescale(img, 2.0, order=3, channel_axis=-1, anti_aliasing=False), 0.0, 1.0)


def landmarks(img: np.ndarray) -> np.ndarray:
    """478 face landmarks of the one face in ``img`` (float in [0, 1]) as (x, y) pixels."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(WEIGHTS)), running_mode=vision.RunningMode.IMAGE, num_faces=1
    )
    rgb = np.ascontiguousarray((img * 255).round().astype(np.uint8))
    landmarker = vision.FaceLandmarker.create_from_options(options)
    try:
        result = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
    finally:
        landmarker.close()
    if not result.face_landmarks:
        raise RuntimeError("no face found in the source photograph")
    h, w = rgb.shape[:2]
    return np.array([[p.x * w, p.y * h] for p in result.face_landmarks[0]])


def closed_lips_offsets(pts: np.ndarray) -> np.ndarray:
    """Where each landmark moves to close the lips over the teeth: the inner lips meet; the triangles over the
    teeth collapse."""
    offsets = np.zeros_like(pts)
    gap = np.array([pts[lo, 1] - pts[up, 1] for up, lo in zip(UPPER_INNER, LOWER_INNER, strict=True)])
    for k, (up, lo) in enumerate(zip(UPPER_INNER, LOWER_INNER, strict=True)):
        offsets[up, 1] += 0.42 * gap[k]
        offsets[lo, 1] -= 0.58 * gap[k]
    for k, (up, lo) in enumerate(zip(UPPER_OUTER, LOWER_OUTER, strict=True)):
        offsets[up, 1] += 0.25 * gap[k]
        offsets[lo, 1] -= 0.45 * gap[k]
    return offsets


def sad_offsets(pts: np.ndarray) -> np.ndarray:
    """Where each landmark moves to make the smile sad: frowning mouth, closed lips, raised inner brows, heavy lids."""
    offsets = closed_lips_offsets(pts)
    mouth_w = float(np.linalg.norm(pts[291] - pts[61]))
    face_h = float(np.linalg.norm(pts[152] - pts[10]))
    # Frown: a smooth field over the mouth region bends the lips into an arch (corners down and a little
    # in); it fades outside an ellipse around the mouth, so neighbouring skin follows without folding.
    centre = 0.5 * (pts[61] + pts[291])
    u = np.clip((pts[:, 0] - centre[0]) / (0.5 * mouth_w), -1.15, 1.15)
    e = np.hypot((pts[:, 0] - centre[0]) / (0.6 * mouth_w), (pts[:, 1] - centre[1]) / (0.3 * mouth_w))
    fade = np.where(e <= 1.0, 1.0, np.exp(-0.5 * ((e - 1.0) / 0.45) ** 2))
    offsets[:, 1] += (0.34 * mouth_w * u**2 - 0.052 * mouth_w) * fade
    offsets[:, 0] -= 0.065 * mouth_w * u * np.abs(u) * fade
    # Sad brows: inner ends up and towards each other, outer ends slightly down.
    mid_x = pts[168, 0]
    for group in INNER_BROWS:
        centre = pts[list(group)].mean(axis=0)
        d_b = np.linalg.norm(pts - centre, axis=1)
        weight = np.exp(-0.5 * (d_b / (0.07 * face_h)) ** 2)
        offsets[:, 1] -= 0.05 * face_h * weight
        offsets[:, 0] += np.sign(mid_x - centre[0]) * 0.012 * face_h * weight
    offsets[list(OUTER_BROWS), 1] += 0.010 * face_h
    # Heavy lids: the upper eyelids come a fifth of the way down.
    for up, lo in EYELIDS:
        offsets[up, 1] += 0.2 * (pts[lo, 1] - pts[up, 1])
    return offsets


def _triangles(points: np.ndarray) -> np.ndarray:
    from scipy.spatial import Delaunay

    return np.asarray(Delaunay(points).simplices)


def warp_to(img: np.ndarray, pts: np.ndarray, offsets: np.ndarray, alpha: float) -> np.ndarray:
    """Move the landmarks by ``alpha * offsets`` with a piecewise affine warp; a ring around the face stays.

    The triangles are those of the original landmarks, so a mouth that closes collapses the triangles over
    the teeth instead of re-triangulating across the lips (which ``skimage``'s PiecewiseAffineTransform
    does, since it triangulates the points it is given).
    """
    if alpha <= 0.0:
        return img
    h, w = img.shape[:2]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = 0.3 * (hi - lo)
    x0, y0 = (np.floor(lo - 1.2 * pad)).clip(0).astype(int)
    x1, y1 = np.minimum(np.ceil(hi + 1.2 * pad), [w, h]).astype(int)
    (ax, ay), (bx, by) = lo - pad - (x0, y0), hi + pad - (x0, y0)
    ring = [(x, y) for x in np.linspace(ax, bx, 7) for y in (ay, by)]
    ring += [(x, y) for y in np.linspace(ay, by, 7)[1:-1] for x in (ax, bx)]
    cw, ch = x1 - x0 - 1, y1 - y0 - 1
    ring += [(0, 0), (cw, 0), (0, ch), (cw, ch)]
    fixed = np.array(ring, dtype=np.float64)
    src = np.vstack([pts - (x0, y0), fixed])
    dst = np.vstack([pts - (x0, y0) + alpha * offsets, fixed])
    rows, cols = np.mgrid[0 : y1 - y0, 0 : x1 - x0].astype(np.float64)
    for tri in _triangles(src):
        a_dst = np.hstack([dst[tri], np.ones((3, 1))])
        if abs(np.linalg.det(a_dst)) < 1e-6:
            continue  # collapsed (closed lips): nothing of it is visible
        rr, cc = draw.polygon(dst[tri, 1], dst[tri, 0], shape=rows.shape)
        coef = np.linalg.solve(a_dst, src[tri])  # (x, y, 1) in the output -> (x, y) in the photograph
        xy = np.stack([cc, rr, np.ones_like(cc)], axis=1).astype(np.float64) @ coef
        cols[rr, cc], rows[rr, cc] = xy[:, 0], xy[:, 1]
    out = img.copy()
    patch = img[y0:y1, x0:x1]
    for c in range(patch.shape[2]):
        out[y0:y1, x0:x1, c] = ndimage.map_coordinates(patch[..., c], [rows, cols], order=3, mode="nearest")
    np.clip(out, 0.0, 1.0, out=out)
    return out


def view(img: np.ndarray, cx: float, cy: float, win_w: float, size: tuple[int, int]) -> np.ndarray:
    """A ``win_w``-wide window of ``img`` centred on (cx, cy), resampled bilinearly to ``size`` (w, h), as uint8.

    Separable (a scale and a shift), so it is a few gathers instead of a general warp: fast at 1280x720.
    """
    out_w, out_h = size
    s = win_w / out_w

    def axis(centre: float, n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = np.clip(centre + s * (np.arange(n_out) + 0.5 - n_out / 2) - 0.5, 0, n_in - 1)
        lo = np.minimum(pos.astype(np.int64), n_in - 2)
        return lo, lo + 1, (pos - lo).astype(np.float32)

    r0, r1, fy = axis(cy, out_h, img.shape[0])
    c0, c1, fx = axis(cx, out_w, img.shape[1])
    src = img.astype(np.float32, copy=False)
    top, bottom = src[r0], src[r1]
    fx3 = fx[None, :, None]
    rows = (1 - fy)[:, None, None] * (top[:, c0] * (1 - fx3) + top[:, c1] * fx3)
    rows += fy[:, None, None] * (bottom[:, c0] * (1 - fx3) + bottom[:, c1] * fx3)
    return (np.clip(rows, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def encode(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray] | None,
    audio: np.ndarray | None,
    *,
    sr: int = SPEECH_SR,
    fps: int = FPS,
    crf: int = 27,
    faststart: bool = True,
    audio_codec: str = "aac",
    preset: str = "medium",
) -> None:
    """Encode RGB frames (H.264) and mono float audio into ``path`` with PyAV, deterministically.

    Either stream may be None. ``audio_codec`` "aac" (mp4/m4a) or "pcm_s16le" (wav).
    """
    options = {"fflags": "+bitexact"}
    if faststart and str(path).endswith((".mp4", ".m4a", ".mov")):
        options["movflags"] = "+faststart"
    frame_iter = iter(frames) if frames is not None else None
    first = next(frame_iter) if frame_iter is not None else None
    with av.open(os.fspath(path), mode="w", options=options) as out:
        vs: VideoStream | None = None
        astream: AudioStream | None = None
        if first is not None:
            vs = out.add_stream("libx264", rate=fps, options={"crf": str(crf), "preset": preset, "threads": "1"})
            vs.height, vs.width = first.shape[:2]
            vs.pix_fmt = "yuv420p"
            vs.codec_context.flags |= av.codec.context.Flags.bitexact
        if audio is not None:
            astream = cast(AudioStream, out.add_stream(audio_codec, rate=sr))
            astream.layout = "mono"
            if audio_codec == "aac":
                astream.bit_rate = 64000
        sample = 0
        chunk = 1024

        def push_audio(until_s: float) -> None:
            nonlocal sample
            if astream is None or audio is None:
                return
            while sample < len(audio) and sample < until_s * sr:
                block = np.ascontiguousarray(audio[sample : sample + chunk], dtype=np.float32)
                if audio_codec == "aac":
                    frame = av.AudioFrame.from_ndarray(block[None, :], format="fltp", layout="mono")
                else:
                    pcm = (np.clip(block, -1, 1) * 32767).round().astype(np.int16)
                    frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
                frame.sample_rate, frame.pts = sr, sample
                out.mux(astream.encode(frame))
                sample += len(block)

        if vs is not None and first is not None and frame_iter is not None:
            for index, rgb in enumerate(itertools.chain([first], frame_iter)):
                vf = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                vf.pts = index
                out.mux(vs.encode(vf))
                push_audio((index + 1) / fps)
            out.mux(vs.encode(None))
        push_audio(math.inf)
        if astream is not None:
            out.mux(astream.encode(None))


def _smooth(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def example_frames(
    seconds: float, switch_s: float, size: tuple[int, int], *, face_frac: float, motion: float = 1.0
) -> Callable[[], Iterable[np.ndarray]]:
    """Frames: the smiling face with a light, lively motion, then (from ``switch_s``) a 0.4 s morph to sad."""
    img = working_image()
    pts = landmarks(img)
    offsets = sad_offsets(pts)
    face_w = float(pts[:, 0].max() - pts[:, 0].min())
    centre = pts.mean(axis=0)
    morph = {round(a, 3): warp_to(img, pts, offsets, a).astype(np.float32) for a in np.linspace(0.1, 1.0, 10)}
    sad = morph[1.0]
    img = img.astype(np.float32)

    def frames() -> Iterable[np.ndarray]:
        for i in range(round(seconds * FPS)):
            t = i / FPS
            if t < switch_s:
                src, zoom = img, 1.0 + 0.04 * math.sin(2 * math.pi * 0.25 * t)
                dx, dy = 0.06 * math.sin(2 * math.pi * 0.4 * t), 0.04 * math.sin(2 * math.pi * 0.7 * t)
            else:
                a = _smooth((t - switch_s) / 0.4)
                src = sad if a >= 1.0 else morph.get(round(math.ceil(a * 10) / 10, 3), img)
                zoom = 1.0 + 0.03 * _smooth((t - switch_s) / 6.0)
                dx, dy = 0.03 * math.sin(2 * math.pi * 0.1 * (t - switch_s)), 0.05 * _smooth((t - switch_s) / 6.0)
            win_w = face_w / face_frac / zoom
            yield view(src, centre[0] + motion * dx * face_w, centre[1] + motion * dy * face_w, win_w, size)

    return frames


def make_example(path: str | os.PathLike[str], *, seconds: float = 14.0, switch_s: float = 7.0) -> None:
    """Write the example clip: happy (0..switch_s) then sad, 640x480, 25 fps, H.264 + AAC."""
    track = np.zeros(round(seconds * SPEECH_SR), dtype=np.float32)
    place_lines(track, HAPPY_LINES, start_s=0.5, end_s=switch_s, gap_s=0.5, **HAPPY_VOICE)
    place_lines(track, SAD_LINES, start_s=switch_s + 0.7, end_s=seconds, gap_s=1.0, **SAD_VOICE)
    frames = example_frames(seconds, switch_s, (640, 480), face_frac=0.34)
    encode(path, frames(), np.clip(track, -1.0, 1.0))


def make_benchmark_clip(path: str | os.PathLike[str], seconds: float = 30.0) -> None:
    """Write a 1280x720 clip with a face about 250 px wide moving across the frame, speech, happy then sad."""
    half = seconds / 2
    track = np.zeros(round(seconds * SPEECH_SR), dtype=np.float32)
    t = 0.5
    while t + 3.5 < half:
        place_lines(track, HAPPY_LINES[:2], start_s=t, end_s=half, gap_s=0.5, **HAPPY_VOICE)
        t += 6.0
    t = half + 0.5
    while t + 7.0 < seconds:
        place_lines(track, SAD_LINES[:1], start_s=t, end_s=seconds, gap_s=1.0, **SAD_VOICE)
        t += 5.0
    frames = example_frames(seconds, half, (1280, 720), face_frac=0.19, motion=5.0)
    encode(path, frames(), np.clip(track, -1.0, 1.0), crf=26)


CUTS_S = (2.48, 5.0, 7.52)  # the hard cuts of the cuts clip (on frames 62, 125, 188 at 25 fps)
FADE_S = (9.2, 9.8, 10.2, 10.8)  # its fade through black: out from, black from, in from, in by


def cuts_frames(seconds: float, size: tuple[int, int]) -> Iterable[np.ndarray]:
    """Shots of the face from other distances and angles, graded differently, cut hard at CUTS_S, then a fade
    through black (FADE_S); each shot drifts slowly, as a handheld camera would."""
    img = working_image().astype(np.float32)
    pts = landmarks(working_image())
    face_w = float(pts[:, 0].max() - pts[:, 0].min())
    centre = pts.mean(axis=0)
    #         face share, offset x, offset y (face widths), colour grade
    shots = [
        (0.34, 0.0, 0.0, (1.0, 1.0, 1.0)),
        (0.7, 0.1, 0.05, (1.1, 0.95, 0.8)),
        (0.18, -0.6, 0.4, (0.75, 0.9, 1.15)),
        (0.45, 0.3, -0.1, (1.0, 0.85, 0.85)),
        (0.3, -0.2, 0.2, (0.9, 1.05, 0.95)),
    ]
    edges = [0.0, *CUTS_S, FADE_S[1] + 0.2, math.inf]
    for i in range(round(seconds * FPS)):
        t = i / FPS
        k = max(j for j in range(len(edges) - 1) if t >= edges[j] - 1e-9)
        frac, ox, oy, grade = shots[k]
        drift = 0.05 * (t - edges[k])
        frame = view(img, centre[0] + (ox + drift) * face_w, centre[1] + oy * face_w, face_w / frac, size)
        level = 1.0
        if FADE_S[0] <= t < FADE_S[1]:
            level = 1.0 - (t - FADE_S[0]) / (FADE_S[1] - FADE_S[0])
        elif FADE_S[1] <= t < FADE_S[2]:
            level = 0.0
        elif FADE_S[2] <= t < FADE_S[3]:
            level = (t - FADE_S[2]) / (FADE_S[3] - FADE_S[2])
        yield np.clip(frame.astype(np.float32) * np.array(grade, np.float32) * level, 0, 255).astype(np.uint8)


def make_cuts_clip(path: str | os.PathLike[str], *, seconds: float = 12.0) -> None:
    """Write a 640x360 clip with hard cuts at CUTS_S and a fade through black (FADE_S), speech throughout."""
    track = np.zeros(round(seconds * SPEECH_SR), dtype=np.float32)
    place_lines(track, HAPPY_LINES[:2], start_s=0.5, end_s=seconds, gap_s=0.8, **HAPPY_VOICE)
    encode(path, cuts_frames(seconds, (640, 360)), np.clip(track, -1.0, 1.0), crf=26)


TWO_FACES_SIZE = (640, 360)
# the squares (x, y, side) the two faces of the two-faces clip fill: a large one on the left, out of focus, tinted
# blue and silent (a face in the background), and a smaller, sharp one near the middle that speaks
BIG_FACE = (0, 30, 300)
SMALL_FACE = (290, 95, 170)
BIG_BLUR_SIGMA = 6.0  # pixels of the frame
BIG_TINT = (0.65, 0.8, 1.25)


def two_faces_frames(
    seconds: float, mouth_open: Sequence[float], size: tuple[int, int] = TWO_FACES_SIZE, *, blur: float = BIG_BLUR_SIGMA
) -> Iterable[np.ndarray]:
    """Frames of one shot with two faces (BIG_FACE, SMALL_FACE); ``mouth_open`` (per frame, 0..1) opens the small
    face's lips (0: closed, 1: wide open), as a speaker's do; the big face never moves its. ``blur``: the big face's
    Gaussian blur (pixels; 0: as sharp as the small one)."""
    import cv2

    img = working_image()
    pts = landmarks(img)
    face_w = float(pts[:, 0].max() - pts[:, 0].min())
    centre = pts.mean(axis=0)
    closed = closed_lips_offsets(pts)
    mouths = [warp_to(img, pts, closed, a) for a in (1.0, 0.2, -0.6, -1.4)]  # closed to wide open

    def face(src: np.ndarray, side: int) -> np.ndarray:
        return view(src, centre[0], centre[1] + 0.1 * face_w, face_w / 0.62, (side, side))

    bx, by, bs = BIG_FACE
    big = face(img, bs).astype(np.float32) * np.array(BIG_TINT, np.float32)
    big = np.clip(big, 0, 255).astype(np.uint8)
    if blur > 0:
        big = cv2.GaussianBlur(big, (0, 0), blur)
    sx, sy, ss = SMALL_FACE
    small = [face(m, ss) for m in mouths]
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    background = np.stack([90 + 40 * xx / w, 95 + 20 * yy / h, 80 + 30 * (1 - xx / w)], axis=-1).astype(np.uint8)
    for i in range(round(seconds * FPS)):
        frame = background.copy()
        frame[by : by + bs, bx : bx + bs] = big
        k = round(3 * min(max(mouth_open[i] if i < len(mouth_open) else 0.0, 0.0), 1.0))
        frame[sy : sy + ss, sx : sx + ss] = small[k]
        yield frame


def make_two_faces_clip(path: str | os.PathLike[str], *, seconds: float = 5.0, blur: float = BIG_BLUR_SIGMA) -> None:
    """Write a 640x360 clip of one shot with two faces (see two_faces_frames) and speech whose loudness opens the
    small face's mouth: the face that carries the scene is the small one (with ``blur=0`` only because it speaks)."""
    track = np.zeros(round(seconds * SPEECH_SR), dtype=np.float32)
    place_lines(track, HAPPY_LINES[:2], start_s=0.3, end_s=seconds, gap_s=0.3, **HAPPY_VOICE)
    track = np.clip(track, -1.0, 1.0)
    hop = SPEECH_SR // FPS
    rms = np.array([np.sqrt(np.mean(track[i * hop : (i + 1) * hop] ** 2)) for i in range(round(seconds * FPS))])
    # loud syllables open it wide, quieter sounds less, pauses close it
    mouth_open = np.clip((rms - 0.25 * rms.max()) / (0.5 * rms.max()), 0.0, 1.0)
    encode(path, two_faces_frames(seconds, list(mouth_open), blur=blur), track, crf=23)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="where to write the clip (.mp4)")
    parser.add_argument("--benchmark", action="store_true", help="make the 30 s 1280x720 benchmark clip instead")
    parser.add_argument("--cuts", action="store_true", help="make the 12 s clip with known cuts (CUTS_S, FADE_S)")
    parser.add_argument(
        "--two-faces", action="store_true", help="make the 5 s clip of two faces, the small one speaking"
    )
    args = parser.parse_args(argv)
    tmp = args.output.with_name(args.output.stem + ".part" + args.output.suffix)
    maker = make_benchmark_clip if args.benchmark else make_cuts_clip if args.cuts else make_example
    (make_two_faces_clip if args.two_faces else maker)(tmp)
    tmp.replace(args.output)
    print(f"wrote {args.output} ({args.output.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
