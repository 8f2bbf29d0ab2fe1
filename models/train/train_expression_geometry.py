"""Put the landmark-distance network beside the expression CNN as a second expert, and choose its weight.

    python -m moodscore.models.train.train_expression_geometry --baseline /tmp/moodscore_cache/landmark_baseline.pt \
        [--expression models/weights/expression.pt] [--partner OTHER_CNN.pt] [--write]
    python -m moodscore.models.train.train_expression_geometry \
        --expression models/weights/expression.pt --solo --no-flip \
        --landmarks /tmp/moodscore_cache/fer_landmarks_publictest.npz --write

The CNN reads pixels; the landmark network (the brief's visual baseline, ``models.faces.landmark_baseline``, trained
by ``moodscore.models.train.train_landmark_baseline``) reads the shape of the face the Landmarker measured, which every
analysed frame has anyway. Their errors differ, so a product of experts,
``(1 - w) * log p_cnn + w * log p_landmarks``, beats either. Measured on PublicTest (FER2013's validation split
in this project) for each w in ``--weights``: faces without landmarks keep the CNN's answer. ``--write`` stores
the landmark network (fp16) and the best w in the ``--expression`` checkpoint.

With ``--partner`` (repeatable), other CNNs (trained by ``moodscore.models.train.train_expression``) join first:
``(1 - sum a_i) * log p_cnn + sum a_i * log p_partner_i``, then the landmark expert as above; the partner weights
and w are chosen together and ``--write`` stores the partners inside the checkpoint too. With two or more
partners, each entry of ``--partner-weights`` gives one weight per partner, joined by ``:`` (``0.4:0.3``).

``--solo`` keeps only one CNN of ``--expression`` (``--member``: 0 = its own, k = its k-th stored partner) and, without
``--baseline``, takes the landmark expert stored in it; ``--no-flip`` turns the mirror view off, so the CNN runs
once per face. Only PublicTest's landmarks are read (``extract_fer_landmarks --usage PublicTest`` makes them).
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

from moodscore.models.faces.expression import load_expression_model, product_of_experts, save_checkpoint
from moodscore.models.faces.landmark_baseline import load_landmark_baseline

DATA = Path("../shared/data/fer2013/fer2013_train_publictest.npz")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--baseline",
        type=Path,
        help="the landmark network (default /tmp/moodscore_cache/landmark_baseline.pt; with --solo the one in "
        "--expression)",
    )
    ap.add_argument(
        "--landmarks",
        type=Path,
        default=Path("/tmp/moodscore_cache/fer_landmarks.npz"),
        help="FER2013 landmarks from moodscore.models.train.extract_fer_landmarks",
    )
    ap.add_argument("--data", type=Path, default=DATA, help="FER2013 npz (images for the CNN)")
    ap.add_argument("--expression", type=Path, default=Path("models/weights/expression.pt"))
    ap.add_argument("--weights", default="0.2,0.25,0.3,0.35,0.4,0.5", help="landmark-expert weights w to measure")
    ap.add_argument(
        "--partner",
        type=Path,
        action="append",
        default=[],
        help="another expression CNN checkpoint to combine with --expression (product of experts, weight a); "
        "repeat for more than one",
    )
    ap.add_argument(
        "--partner-weights",
        default="0.3,0.4,0.5,0.6,0.7",
        help="partner weights a to measure, comma-separated; with several partners one a per partner joined by ':'",
    )
    ap.add_argument("--solo", action="store_true", help="keep one CNN of --expression, drop the others")
    ap.add_argument("--member", type=int, default=0, help="with --solo: 0 = the main CNN, k = the k-th partner")
    ap.add_argument("--no-flip", action="store_true", help="one view per face: no mirror-image test-time view")
    ap.add_argument("--write", action="store_true", help="store the expert and the best w in --expression")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    c = np.load(args.landmarks)
    found, usage, labels = c["found"].astype(bool), c["usage"], c["labels"].astype(np.int64)
    test = np.flatnonzero(usage == "PublicTest")
    y = labels[test]
    cnn = load_expression_model(args.expression)
    stored_expert, stored_meta = cnn.geometry, cnn.meta
    if args.solo and args.member:
        if not 0 < args.member <= len(cnn.partners):
            raise SystemExit(f"--member {args.member}: {args.expression} holds {len(cnn.partners)} partner CNN(s)")
        cnn = cnn.partners[args.member - 1][0]
        cnn.meta = {**cnn.meta, "kept_from": {"file_meta": stored_meta, "member": args.member}}
    if args.solo and args.partner:
        raise SystemExit("--solo drops the partners; do not give --partner with it")
    if args.no_flip:
        cnn.tta_flip = False
    cnn.geometry, cnn.partners = None, []
    partners = [load_expression_model(path) for path in args.partner]
    for partner in partners:
        partner.geometry, partner.partners = None, []
    partner_grid = _partner_grid(args.partner_weights, len(partners))
    if args.baseline is None and args.solo:
        if stored_expert is None:
            raise SystemExit(f"{args.expression} holds no landmark expert; give --baseline")
        expert = stored_expert
    else:
        expert = load_landmark_baseline(args.baseline or Path("/tmp/moodscore_cache/landmark_baseline.pt"))
    rows = c["index"][test] if "index" in c.files else test  # a file of one split records its rows in --data
    images = np.load(args.data)["images"][rows]

    def probs(model: Any) -> np.ndarray:
        return np.concatenate([model.predict(images[i : i + 256]) for i in range(0, len(test), 256)])

    p_cnn = probs(cnn)
    log_p_partners = [np.log(np.clip(probs(partner), 1e-30, 1.0)) for partner in partners]
    landmarks = np.where(found[test][:, None, None], c["landmarks"][test], np.nan)
    has = found[test]
    p_geo = expert.predict(landmarks[has])  # each network once; the weights only change how they combine
    results: dict[str, Any] = {
        "cnn": float((p_cnn.argmax(1) == y).mean()),
        "landmarks_on_found": float((p_geo.argmax(1) == y[has]).mean()),
        "found_fraction": float(has.mean()),
    }
    log_p_main = np.log(np.clip(p_cnn, 1e-30, 1.0))
    for i, log_p in enumerate(log_p_partners):
        results["partner" if len(partners) == 1 else f"partner{i + 1}"] = float((log_p.argmax(1) == y).mean())
    grid = []
    for a in partner_grid:
        log_p_cnn = (1 - sum(a)) * log_p_main + sum(ai * lp for ai, lp in zip(a, log_p_partners, strict=True))
        tag = ":".join(f"{ai:g}" for ai in a)
        if partners:
            results[f"cnns_a{tag}"] = float((log_p_cnn.argmax(1) == y).mean())
        for w in (float(s) for s in args.weights.split(",")):
            pred = log_p_cnn.copy()
            pred[has] = product_of_experts(log_p_cnn[has], p_geo, w)
            name = f"product_w{w:g}" if not partners else f"product_a{tag}_w{w:g}"
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
        cnn.partners = list(zip(partners, best_a, strict=True))
        cnn.meta = {
            **cnn.meta,
            "geometry": {
                "what": "landmark-distance network (moodscore.models.faces.landmark_baseline) as a second expert",
                "baseline_meta": expert.meta,
                "command": "python -m moodscore.models.train.train_expression_geometry "
                + " ".join(sys.argv[1:] if argv is None else argv),
                "publictest": results,
                "chosen_weight": best,
                "chosen_partner_weight": (best_a[0] if len(best_a) == 1 else list(best_a)) if partners else None,
                "date": time.strftime("%Y-%m-%d"),
            },
        }
        save_checkpoint(cnn, args.expression)
        print(f"wrote {args.expression} (landmark expert weight {best:g}, partner weights {list(best_a)})")


def _partner_grid(spec: str, n_partners: int) -> list[tuple[float, ...]]:
    """The partner-weight tuples to measure: ``[()]`` without partners, else one tuple per comma-separated entry."""
    if n_partners == 0:
        return [()]
    grid = []
    for entry in spec.split(","):
        a = tuple(float(x) for x in entry.split(":"))
        if len(a) != n_partners:
            raise SystemExit(f"--partner-weights entry {entry!r}: expected {n_partners} weight(s) joined by ':'")
        if any(x < 0 for x in a) or sum(a) > 1 + 1e-9:
            raise SystemExit(f"--partner-weights entry {entry!r}: weights must be >= 0 and sum to at most 1")
        grid.append(a)
    return grid


if __name__ == "__main__":
    main()
