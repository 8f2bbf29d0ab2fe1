"""Put the landmark-distance network beside the expression CNN as a second expert, and choose its weight.

    python -m models.train.train_expression_geometry --baseline /tmp/moodscore_cache/landmark_baseline.pt \
        [--expression models/weights/expression.pt] [--partner OTHER_CNN.pt] [--write]

The CNN reads pixels; the landmark network (the brief's visual baseline, ``models.landmark_baseline``, trained
by ``models.train.train_landmark_baseline``) reads the shape of the face the Landmarker measured, which every
analysed frame has anyway. Their errors differ, so a product of experts,
``(1 - w) * log p_cnn + w * log p_landmarks``, beats either. Measured on PublicTest (FER2013's validation split
in this project) for each w in ``--weights``: faces without landmarks keep the CNN's answer. ``--write`` stores
the landmark network (fp16) and the best w in the ``--expression`` checkpoint.

With ``--partner``, a second CNN (another architecture, trained by ``models.train.train_expression``) joins
first: ``(1 - a) * log p_cnn + a * log p_partner``, then the landmark expert as above; (a, w) are chosen together
and ``--write`` stores the partner inside the checkpoint too.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

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
    ap.add_argument(
        "--partner",
        type=Path,
        help="another expression CNN checkpoint to combine with --expression (product of experts, weight a)",
    )
    ap.add_argument("--partner-weights", default="0.3,0.4,0.5,0.6,0.7", help="partner weights a to measure")
    ap.add_argument("--write", action="store_true", help="store the expert and the best w in --expression")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    c = np.load(args.landmarks)
    found, usage, labels = c["found"].astype(bool), c["usage"], c["labels"].astype(np.int64)
    test = np.flatnonzero(usage == "PublicTest")
    y = labels[test]
    cnn = load_expression_model(args.expression)
    cnn.geometry, cnn.partners = None, []
    partner = load_expression_model(args.partner) if args.partner else None
    if partner is not None:
        partner.geometry, partner.partners = None, []
    expert = load_landmark_baseline(args.baseline)
    images = np.load(args.data)["images"][test]

    def probs(model: Any) -> np.ndarray:
        return np.concatenate([model.predict(images[i : i + 256]) for i in range(0, len(test), 256)])

    p_cnn = probs(cnn)
    p_partner = probs(partner) if partner is not None else None
    landmarks = np.where(found[test][:, None, None], c["landmarks"][test], np.nan)
    has = found[test]
    p_geo = expert.predict(landmarks[has])  # each network once; the weights only change how they combine
    results: dict[str, Any] = {
        "cnn": float((p_cnn.argmax(1) == y).mean()),
        "landmarks_on_found": float((p_geo.argmax(1) == y[has]).mean()),
        "found_fraction": float(has.mean()),
    }
    log_p_main = np.log(np.clip(p_cnn, 1e-30, 1.0))
    partner_weights = [0.0]
    if p_partner is not None:
        results["partner"] = float((p_partner.argmax(1) == y).mean())
        partner_weights = [float(s) for s in args.partner_weights.split(",")]
    grid = []
    for a in partner_weights:
        log_p_cnn = log_p_main
        if p_partner is not None:
            log_p_cnn = (1 - a) * log_p_main + a * np.log(np.clip(p_partner, 1e-30, 1.0))
            results[f"cnns_a{a:g}"] = float((log_p_cnn.argmax(1) == y).mean())
        for w in (float(s) for s in args.weights.split(",")):
            pred = log_p_cnn.copy()
            pred[has] = product_of_experts(log_p_cnn[has], p_geo, w)
            name = f"product_w{w:g}" if p_partner is None else f"product_a{a:g}_w{w:g}"
            results[name] = float((pred.argmax(1) == y).mean())
            grid.append((results[name], a, w, pred.argmax(1)))
    print(json.dumps(results, indent=1))
    _, best_a, best, chosen = max(grid, key=lambda g: g[0])  # the first best wins ties
    confusion = np.zeros((7, 7), dtype=np.int64)
    np.add.at(confusion, (y, chosen), 1)
    results["chosen_confusion"] = confusion.tolist()  # rows true, columns predicted, FER_CLASSES order
    print("confusion of the chosen combination (rows true, columns predicted):")
    print(confusion)
    if args.write:
        cnn.geometry, cnn.geometry_weight = expert, best
        if partner is not None:
            cnn.partners = [(partner, best_a)]
        cnn.meta = {
            **cnn.meta,
            "geometry": {
                "what": "landmark-distance network (models.landmark_baseline) as a second expert",
                "baseline_meta": expert.meta,
                "command": "python -m models.train.train_expression_geometry "
                + " ".join(sys.argv[1:] if argv is None else argv),
                "publictest": results,
                "chosen_weight": best,
                "chosen_partner_weight": best_a if partner is not None else None,
                "date": time.strftime("%Y-%m-%d"),
            },
        }
        save_checkpoint(cnn, args.expression)
        print(f"wrote {args.expression} (landmark expert weight {best:g}, partner weight {best_a:g})")


if __name__ == "__main__":
    main()
