"""Put the landmark-distance network beside the expression CNN as a second expert, and choose its weight.

    python -m models.train.train_expression_geometry --baseline /tmp/moodscore_cache/landmark_baseline.pt \
        [--expression models/weights/expression.pt] [--write]

The CNN reads pixels; the landmark network (the brief's visual baseline, ``models.landmark_baseline``, trained
by ``models.train.train_landmark_baseline``) reads the shape of the face the Landmarker measured, which every
analysed frame has anyway. Their errors differ, so a product of experts,
``(1 - w) * log p_cnn + w * log p_landmarks``, beats either. Measured on PublicTest (FER2013's validation split
in this project) for each w in ``--weights``: faces without landmarks keep the CNN's answer. ``--write`` stores
the landmark network (fp16) and the best w in the ``--expression`` checkpoint.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from models.expression import load_expression_model, product_of_experts, save_checkpoint
from models.landmark_baseline import load_landmark_baseline

DATA = Path("../shared/data/fer2013/fer2013_train_publictest.npz")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, default=Path("/tmp/moodscore_cache/landmark_baseline.pt"))
    ap.add_argument(
        "--landmarks",
        type=Path,
        default=Path("/tmp/moodscore_cache/fer_landmarks.npz"),
        help="FER2013 landmarks from models.train.extract_fer_landmarks",
    )
    ap.add_argument("--data", type=Path, default=DATA, help="FER2013 npz (images for the CNN)")
    ap.add_argument("--expression", type=Path, default=Path("models/weights/expression.pt"))
    ap.add_argument("--weights", default="0.2,0.25,0.3,0.35,0.4,0.5", help="landmark-expert weights w to measure")
    ap.add_argument("--write", action="store_true", help="store the expert and the best w in --expression")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    c = np.load(args.landmarks)
    found, usage, labels = c["found"].astype(bool), c["usage"], c["labels"].astype(np.int64)
    test = np.flatnonzero(usage == "PublicTest")
    y = labels[test]
    cnn = load_expression_model(args.expression)
    cnn.geometry = None
    expert = load_landmark_baseline(args.baseline)
    images = np.load(args.data)["images"][test]
    p_cnn = np.concatenate([cnn.predict(images[i : i + 256]) for i in range(0, len(test), 256)])
    landmarks = np.where(found[test][:, None, None], c["landmarks"][test], np.nan)
    has = found[test]
    results: dict[str, float] = {
        "cnn": float((p_cnn.argmax(1) == y).mean()),
        "landmarks_on_found": float((expert.predict(landmarks[has]).argmax(1) == y[has]).mean()),
        "found_fraction": float(has.mean()),
    }
    log_p_cnn = np.log(np.clip(p_cnn, 1e-30, 1.0))
    p_geo = expert.predict(landmarks[has])  # each network once; the weights only change how they combine
    for w in (float(s) for s in args.weights.split(",")):
        pred = log_p_cnn.copy()
        pred[has] = product_of_experts(log_p_cnn[has], p_geo, w)
        results[f"product_w{w:g}"] = float((pred.argmax(1) == y).mean())
    print(json.dumps(results, indent=1))
    best = max((float(s) for s in args.weights.split(",")), key=lambda w: results[f"product_w{w:g}"])
    if args.write:
        cnn.geometry, cnn.geometry_weight = expert, best
        cnn.meta = {
            **cnn.meta,
            "geometry": {
                "what": "landmark-distance network (models.landmark_baseline) as a second expert",
                "baseline_meta": expert.meta,
                "command": "python -m models.train.train_expression_geometry "
                + " ".join(sys.argv[1:] if argv is None else argv),
                "publictest": results,
                "chosen_weight": best,
                "date": time.strftime("%Y-%m-%d"),
            },
        }
        save_checkpoint(cnn, args.expression)
        print(f"wrote {args.expression} (landmark expert weight {best:g})")


if __name__ == "__main__":
    main()
