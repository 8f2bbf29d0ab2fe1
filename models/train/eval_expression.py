"""Grade an expression checkpoint on FER2013 PublicTest, fit its temperature on the select half, and store it.

    python -m moodscore.models.train.eval_expression --expression models/weights/expression.pt \
        --landmarks /tmp/moodscore_cache/fer_landmarks_publictest.npz [--ferplus CSV] [--weights 0.2,0.25,0.3] \
        [--write OUT.pt] [--json REPORT.json]

Reported for PublicTest's select half, hold half (``models.train.holdout``) and all of it, three ways: ``image``
(the CNN on the 48x48 originals, no landmarks), ``product`` (the CNN x the landmark expert where the Landmarker
found the face: what the Engine computes) and ``aligned`` (the same on the crop the run-time alignment cuts from
the upscaled image, as the video path sees it). For each: accuracy with FER2013's labels, per-class recall, and
the expected calibration error (15 bins, top label) before and after temperature scaling; with ``--ferplus``
also accuracy with FER+ majority labels (ties, non-faces and rows without an emotion vote left out), if the votes
are in the images' row order (``ferplus.check_alignment``; otherwise the reason is reported instead).

Every choice uses the select half only: the landmark weight (``--weights``, best FER2013 accuracy of ``product``)
and the temperature (cross-entropy of ``product`` against the FER+ vote distributions when available, else the
FER2013 labels). ``--write`` saves the checkpoint with them (and this report in its meta).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from moodscore.models.affect import FER_CLASSES
from moodscore.models.train.calibration import ece, fit_temperature, softmax_t

DATA = "../shared/data/fer2013"


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    out: np.ndarray = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return out


def scores(log_p: np.ndarray, y: np.ndarray, t: float, y_plus: np.ndarray | None) -> dict[str, Any]:
    """Accuracy, per-class recall and ECE (at T = 1 and at ``t``) of raw combined log-probabilities."""
    pred = log_p.argmax(1)
    recall = [float((pred[y == k] == k).mean()) if (y == k).any() else float("nan") for k in range(len(FER_CLASSES))]
    out: dict[str, Any] = {
        "n": len(y),
        "acc_fer2013": round(float((pred == y).mean()), 4),
        "recall_fer2013": dict(zip(FER_CLASSES, np.round(recall, 3).tolist(), strict=True)),
        "ece_fer2013": round(ece(softmax_t(log_p, 1.0), y), 4),
        "ece_fer2013_T": round(ece(softmax_t(log_p, t), y), 4),
    }
    if y_plus is not None:
        has = y_plus >= 0
        out["n_ferplus"] = int(has.sum())
        out["acc_ferplus"] = round(float((pred[has] == y_plus[has]).mean()), 4)
        out["ece_ferplus"] = round(ece(softmax_t(log_p[has], 1.0), y_plus[has]), 4)
        out["ece_ferplus_T"] = round(ece(softmax_t(log_p[has], t), y_plus[has]), 4)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--expression", default="models/weights/expression.pt")
    ap.add_argument("--data", default=DATA, help="folder holding fer2013_train_publictest.npz")
    ap.add_argument(
        "--landmarks", required=True, help="PublicTest's landmarks (extract_fer_landmarks --usage PublicTest)"
    )
    ap.add_argument("--ferplus", help="FER+ votes csv in the npz's row order")
    ap.add_argument("--weights", help="landmark-expert weights to choose from on the select half (default: keep)")
    ap.add_argument("--write", help="save the checkpoint with the chosen temperature (and weight) here")
    ap.add_argument("--json", help="also write the report here")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    import torch

    from moodscore.models.faces.expression import load_expression_model, save_checkpoint
    from moodscore.models.train.train_expression import aligned_views, load_fer

    torch.set_num_threads(args.threads)
    data = load_fer(args.data)
    x, y, sel, hold = data["xva"], data["yva"], data["sel"], data["hold"]
    model = load_expression_model(args.expression)
    c = np.load(args.landmarks)
    found = c["found"].astype(bool)
    if len(found) != len(x):
        raise SystemExit(f"{args.landmarks} holds {len(found)} rows, PublicTest {len(x)}")
    y_plus, ferplus_note, soft = None, None, None
    if args.ferplus:
        from moodscore.models.train.ferplus import check_alignment, load_ferplus, majority_labels, soft_targets

        fp = load_ferplus(args.ferplus)
        try:
            check_alignment(fp, data["labels"], data["usage"])
            va = data["usage"] == "PublicTest"
            y_plus, soft = majority_labels(fp)[va], soft_targets(fp)[va]
        except ValueError as e:
            ferplus_note = str(e)
            print(f"FER+ labels not used: {e}", file=sys.stderr)

    def cnn(images: np.ndarray) -> np.ndarray:
        return np.concatenate([model.cnn_log_probs(images[i : i + 256]) for i in range(0, len(images), 256)])

    geo = model.geometry
    log_geo = np.zeros((len(x), len(FER_CLASSES)))
    if geo is not None:
        log_geo[found] = np.log(np.clip(geo.predict(c["landmarks"][found].astype(np.float64)), 1e-7, 1.0))
    views = {"image": cnn(x), "aligned": cnn(aligned_views(x, args.landmarks, "PublicTest"))}

    def combined(log_cnn: np.ndarray, w: float) -> np.ndarray:
        out = log_cnn.copy()
        if geo is not None and w > 0:
            out[found] = (1 - w) * log_cnn[found] + w * log_geo[found]
        return _log_softmax(out)

    w = model.geometry_weight
    if args.weights and geo is not None:
        grid = [float(v) for v in args.weights.split(",")]
        accs = [float((combined(views["image"], g)[sel].argmax(1) == y[sel]).mean()) for g in grid]
        w = grid[int(np.argmax(accs))]  # the first best wins ties
        print("landmark weight on the select half:", dict(zip(grid, np.round(accs, 4).tolist(), strict=True)))
    log_p = {"image": _log_softmax(views["image"]), "product": combined(views["image"], w)}
    log_p["aligned"] = combined(views["aligned"], w)
    fit_on_plus = soft is not None and np.isfinite(soft[sel]).all(axis=1).any()
    if fit_on_plus and soft is not None:
        ok = sel[np.isfinite(soft[sel]).all(axis=1)]
        t = fit_temperature(log_p["product"][ok], soft[ok])
    else:
        t = fit_temperature(log_p["product"][sel], y[sel])
    report: dict[str, Any] = {
        "checkpoint": str(args.expression),
        "landmark_weight": w,
        "temperature": t,
        "temperature_fitted_on": "select half, product, " + ("FER+ vote distributions" if fit_on_plus else "FER2013"),
        "stored_temperature": model.temperature,
        "bf16": model.bf16,
        "landmarks_found": round(float(found.mean()), 4),
        "ferplus": ferplus_note or ("majority labels" if y_plus is not None else "not given"),
    }
    for name, lp in log_p.items():
        for split, idx in (("select", sel), ("hold", hold), ("all", np.arange(len(y)))):
            report[f"{name}/{split}"] = scores(lp[idx], y[idx], t, None if y_plus is None else y_plus[idx])
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    if args.write:
        model.temperature, model.geometry_weight = t, w
        cmd = "python -m moodscore.models.train.eval_expression " + " ".join(sys.argv[1:] if argv is None else argv)
        model.meta = {**model.meta, "calibration": {"command": cmd, "date": time.strftime("%Y-%m-%d"), **report}}
        save_checkpoint(model, args.write)
        print(f"wrote {args.write} (temperature {t:g}, landmark weight {w:g})")
    return report


if __name__ == "__main__":
    main()
