"""Detection rate and speed of moodscore.models.faces.tracker.FaceTracker on synthetic clips with small, moving faces.

A clip: 1280x720 frames of a textured background with scikit-image's astronaut() head pasted in, scaled so
the face (the extent of its 478 landmarks) is W px wide, drifting slowly across the frame (5 fps, 30 s =
150 frames by default). A frame counts as detected when the tracker's box overlaps the true box with IoU >= 0.5.

    python benchmarks/bench_face_detection.py --widths 80 120 160 200 --frames 150 --out benchmarks/face_detection.md
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

# Landmark extent of the face in astronaut() (512x512), measured with the Face Landmarker (IMAGE mode).
ASTRO_BOX = (180.7, 71.8, 270.2, 177.4)
HEAD = (110, 0, 350, 260)  # x0, y0, x1, y1 of the pasted region (head and helmet)


def background(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 200, (height // 40 + 1, width // 40 + 1, 3), dtype=np.uint8)
    bg = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(bg.astype(np.int16) + rng.integers(-12, 12, bg.shape), 0, 255).astype(np.uint8)


def synthetic_clip(
    face_w: float, n_frames: int, *, width: int = 1280, height: int = 720, seed: int = 0
) -> Iterator[tuple[np.ndarray, tuple[float, float, float, float]]]:
    """Frames and the true face box: the head moves along a slow straight path between two random points."""
    rng = np.random.default_rng(seed)
    astro = data.astronaut()
    s = face_w / (ASTRO_BOX[2] - ASTRO_BOX[0])
    head = astro[HEAD[1] : HEAD[3], HEAD[0] : HEAD[2]]
    head = cv2.resize(head, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    hh, hw = head.shape[:2]
    p0 = rng.uniform([0, 0], [width - hw, height - hh])
    p1 = rng.uniform([0, 0], [width - hw, height - hh])
    bg = background(width, height, seed)
    for i in range(n_frames):
        x, y = (p0 + (p1 - p0) * i / max(1, n_frames - 1)).round().astype(int)
        frame = bg.copy()
        frame[y : y + hh, x : x + hw] = head
        box = tuple(float(v) for v in (
            x + (ASTRO_BOX[0] - HEAD[0]) * s, y + (ASTRO_BOX[1] - HEAD[1]) * s,
            x + (ASTRO_BOX[2] - HEAD[0]) * s, y + (ASTRO_BOX[3] - HEAD[1]) * s,
        ))  # fmt: skip
        yield frame, box  # type: ignore[misc]


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def run(face_w: float, n_frames: int, seeds: list[int], fps: float = 5.0) -> dict[str, float]:
    """The tracker's detection rate, ms per frame and model calls per frame; plus the whole-frame Landmarker's rate."""
    from moodscore.models.faces.tracker import (
        _to_mp_image,
        create_landmarker,
        landmark_box,
        open_face_tracker,
        result_faces,
    )

    hits = naive_hits = total = calls = 0
    t_total = 0.0
    for seed in seeds:
        frames = list(synthetic_clip(face_w, n_frames, seed=seed))
        with open_face_tracker() as tracker:
            t0 = time.perf_counter()
            for i, (frame, box) in enumerate(frames):
                obs = tracker.process(frame, i / fps)
                hits += obs is not None and iou(obs.box, box) >= 0.5
            t_total += time.perf_counter() - t0
            calls += sum(tracker.calls.values())
        with create_landmarker(video=True) as lm:  # the naive way: the Landmarker alone on whole frames
            for i, (frame, box) in enumerate(frames):
                faces = result_faces(lm.detect_for_video(_to_mp_image(frame), round(1000 * i / fps)), 1280, 720)
                naive_hits += bool(faces) and iou(landmark_box(faces[0][0]), box) >= 0.5
        total += len(frames)
    return {
        "rate": hits / total,
        "naive": naive_hits / total,
        "ms": 1000 * t_total / total,
        "calls": calls / total,
        "frames": total,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", type=float, nargs="+", default=[80, 120, 160, 200, 240])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", default=None, help="write the results as markdown here")
    args = ap.parse_args()
    head = "| face width (px) | frames | tracker: detected (IoU >= 0.5) | ms / frame | model calls / frame |"
    rows = [head + " Landmarker alone on whole frames: detected |", "|---|---|---|---|---|---|"]
    load0 = os.getloadavg()[0]
    for w in args.widths:
        r = run(w, args.frames, args.seeds)
        cells = f"{r['frames']:.0f} | {100 * r['rate']:.1f}% | {r['ms']:.1f} | {r['calls']:.2f}"
        rows.append(f"| {w:.0f} | {cells} | {100 * r['naive']:.1f}% |")
        print(rows[-1], flush=True)
    noface, noface_calls = run_noface(args.frames)
    rows.append(f"| no face (textured background) | {args.frames} | - | {noface:.1f} | {noface_calls:.2f} | - |")
    print(rows[-1])
    load1 = os.getloadavg()[0]
    if args.out:
        cmd = " ".join(["python", "benchmarks/bench_face_detection.py", *sys.argv[1:]])
        text = f"""# Face detection on small, moving faces (moodscore.models.faces.tracker.FaceTracker)

{__doc__.split(chr(10), 2)[2].split("    python")[0].strip()}

Date {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}; {os.cpu_count()} CPU cores, 1-minute load average
{load0:.1f} at the start and {load1:.1f} at the end (other jobs were running: times are upper bounds).

{chr(10).join(rows)}

Model calls = BlazeFace detector calls (whole frame and tiles, when searching) + Landmarker calls (the
tracked crop; confirming candidates). With no face in view the search runs every frame for the first
frames after a loss, then every third frame. A 30 s clip at 5 fps is 150 frames: multiply ms / frame by 150.

Command: `{cmd}`
"""
        Path(args.out).write_text(text)


def run_noface(n_frames: int) -> tuple[float, float]:
    """ms and model calls per frame on a face-free textured 1280x720 background."""
    from moodscore.models.faces.tracker import open_face_tracker

    bg = background(1280, 720, 99)
    with open_face_tracker() as tracker:
        t0 = time.perf_counter()
        for i in range(n_frames):
            tracker.process(bg, i / 5.0)
        return 1000 * (time.perf_counter() - t0) / n_frames, sum(tracker.calls.values()) / n_frames


if __name__ == "__main__":
    main()
