"""Faces through the video path: held-out FER2013 faces made into a clip, read back by the analysis.

    python benchmarks/bench_face_video.py --data ../shared/data/fer2013 [--per-class 20] [--seconds 3] \
        [--expression CHECKPOINT]

The clip: FER2013 PublicTest faces from its hold half (``moodscore.models.train.holdout``: never trained on and never
used for a choice; ``--per-class`` of each of the seven classes, drawn with a fixed seed), each upscaled to
256 px and shown for ``--seconds`` on a 640x480 grey frame, drifting a few pixels so that the tracker has to
follow it; 25 fps H.264, no audio. It is made once and kept in
``benchmarks/results/cache/`` (not committed).

Reported, per face (the frames sampled while it is on screen, their probabilities averaged):
- the face path: ``Engine``'s decode -> tracking -> aligned crop -> expression networks, label and quadrant
  accuracy, and the share of sampled frames in which a face was found;
- the same networks image by image on the 48x48 originals (no landmarks), the ceiling of the face path;
- the time of the face pass and of its stages.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FER_TO_NAME = ("angry", "disgust", "fearful", "happy", "sad", "surprised", "neutral")  # FER2013 label order
SIZE, W, H, FPS = 256, 640, 480, 25


def make_clip(path: Path, faces: np.ndarray, seconds: float) -> None:
    import av
    import cv2

    from moodscore.models.files.atomic import atomic_output

    per = round(seconds * FPS)
    with atomic_output(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        for i, face in enumerate(faces):
            big = cv2.resize(face, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
            for k in range(per):
                frame = np.full((H, W), 118, np.uint8)
                dx = round(12 * np.sin(2 * np.pi * (k / per + i * 0.37)))
                dy = round(6 * np.cos(2 * np.pi * (k / per + i * 0.21)))
                x0, y0 = (W - SIZE) // 2 + dx, (H - SIZE) // 2 + dy
                frame[y0 : y0 + SIZE, x0 : x0 + SIZE] = big
                vf = av.VideoFrame.from_ndarray(np.repeat(frame[:, :, None], 3, axis=2), format="rgb24")
                out.mux(stream.encode(vf))
        out.mux(stream.encode(None))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="folder holding fer2013_train_publictest.npz")
    ap.add_argument("--per-class", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fps", type=float, help="frames sampled per second (default: the analysis's own)")
    ap.add_argument("--expression", help="an expression checkpoint to read the faces with (default: the shipped one)")
    args = ap.parse_args(argv)
    if args.per_class < 1 or not args.seconds >= 1.0:
        ap.error("--per-class must be >= 1 and --seconds >= 1")

    from moodscore.models import Engine, affect
    from moodscore.models.engine import ANALYSIS_FPS
    from moodscore.models.faces.choice import choose as choose_face
    from moodscore.models.train.train_expression import load_fer

    fps = args.fps or ANALYSIS_FPS

    data = load_fer(args.data)
    x, y = data["xva"][data["hold"]], data["yva"][data["hold"]]
    rng = np.random.default_rng(args.seed)
    pick = np.concatenate([rng.choice(np.flatnonzero(y == c), args.per_class, replace=False) for c in range(7)])
    pick = pick[rng.permutation(len(pick))]
    faces, labels = x[pick], y[pick]

    cache = ROOT / "benchmarks" / "results" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    clip = cache / f"fer_video_hold_{args.per_class}x7_{args.seconds:g}s_seed{args.seed}.mp4"
    if not clip.exists():
        make_clip(clip, faces, args.seconds)

    engine = Engine(expression_path=args.expression).warm_up()
    timings: dict[str, float] = {}
    duration = len(faces) * args.seconds
    t = time.perf_counter()
    # the face path alone, as Engine.analyze runs it (the choice here knows neither speech nor cuts)
    seen = engine._track_faces(clip, duration, fps, lambda f, m: None, timings)
    choice = choose_face(seen)
    times, probs = seen.times, choice.frame_probs
    n_frames, n_faces = len(seen.times), sum(i is not None for i in choice.chosen)
    wall = time.perf_counter() - t

    names = list(affect.CLASSES)
    quadrant_of = affect.QUADRANT_OF_CLASS
    idx = np.minimum((np.asarray(times) / args.seconds).astype(int), len(faces) - 1)
    hits = qhits = counted = 0
    confusion = np.zeros((7, 7), np.int64)
    found_share = []
    for i, label in enumerate(labels):
        rows = probs[idx == i]
        ok = ~np.isnan(rows).any(axis=1)
        found_share.append(ok.mean() if len(rows) else 0.0)
        if not ok.any():
            continue
        mean = rows[ok].mean(axis=0)
        pred = names[int(np.argmax(mean))]
        truth = FER_TO_NAME[int(label)]
        counted += 1
        hits += pred == truth
        qhits += quadrant_of[pred] == quadrant_of[truth]
        if pred in FER_TO_NAME:
            confusion[int(label), FER_TO_NAME.index(pred)] += 1

    image = engine.expression.predict(faces)  # the 48x48 originals, no landmarks
    image_acc = float((image.argmax(1) == labels).mean())
    image_q = float(
        np.mean(
            [
                quadrant_of[FER_TO_NAME[p]] == quadrant_of[FER_TO_NAME[t]]
                for p, t in zip(image.argmax(1), labels, strict=True)
            ]
        )
    )
    recall = confusion.diagonal() / np.maximum(confusion.sum(1), 1)
    result = {
        "benchmark": "face_video",
        "faces": len(faces),
        "faces_from": "PublicTest hold half",
        "expression": args.expression or "shipped",
        "seconds_each": args.seconds,
        "fps": fps,
        "frames_sampled": n_frames,
        "frames_with_face": n_faces,
        "faces_read": counted,
        "video_label_acc": round(hits / max(counted, 1), 4),
        "video_quadrant_acc": round(qhits / max(counted, 1), 4),
        "video_recall": dict(zip(FER_TO_NAME, recall.round(3).tolist(), strict=True)),
        "image_label_acc": round(image_acc, 4),
        "image_quadrant_acc": round(image_q, 4),
        "face_pass_s": round(wall, 2),
        "stages_s": {k: round(v, 2) for k, v in timings.items()},
        "bf16": bool(engine.expression.bf16),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
