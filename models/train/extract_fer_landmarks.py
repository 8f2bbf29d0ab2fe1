"""Run the Face Landmarker (IMAGE mode) over FER2013 once and cache landmarks and blendshapes.

Each 48x48 image is upscaled to 256 px (bilinear) and pasted in the middle of a 640x480 mid-grey canvas (the
set-up that finds ~94% of FER faces); landmarks are mapped back to 48x48 FER pixel coordinates (z scaled like x).

    python -m moodscore.models.train.extract_fer_landmarks --data ../shared/data/fer2013/fer2013_train_publictest.npz \
        --out /tmp/moodscore_cache/fer_landmarks.npz

Output arrays: found (N,) bool, landmarks (N, 478, 3) float32 (NaN where not found), blendshapes (N, 52)
float16, labels, usage. It then prints the alignment template (``--template-only`` prints it again).
Resumable: a partial file (``<out>.partial.npz``) is written every 2,000 images.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

UPSCALE = 256
CANVAS = (480, 640)  # height, width
GREY = 128


def fer_canvas(image: np.ndarray) -> tuple[np.ndarray, int, int]:
    """48x48 grey -> (640x480 RGB canvas, x offset, y offset of the upscaled face)."""
    import cv2

    up = cv2.resize(image, (UPSCALE, UPSCALE), interpolation=cv2.INTER_LINEAR)
    h, w = CANVAS
    y0, x0 = (h - UPSCALE) // 2, (w - UPSCALE) // 2
    canvas = np.full((h, w), GREY, np.uint8)
    canvas[y0 : y0 + UPSCALE, x0 : x0 + UPSCALE] = up
    return np.ascontiguousarray(np.repeat(canvas[:, :, None], 3, axis=2)), x0, y0


def template_from_cache(path: str | Path) -> dict[str, tuple[float, float]]:
    """Mean anchor positions (models.faces.tracker.ANCHORS) in 48x48 FER pixels over the found faces, mirrored and
    averaged so the template is symmetric (eyes level): the numbers behind models.faces.tracker.FER_TEMPLATE."""
    from moodscore.models.faces.tracker import ANCHORS, FER_SIZE, anchor_points

    c = np.load(path)
    mean = np.mean([anchor_points(lm) for lm in c["landmarks"][c["found"]]], axis=0)  # (4, 2)
    names = list(ANCHORS)
    mirrored = mean.copy()
    mirrored[:, 0] = FER_SIZE - mean[:, 0]
    li, ri = names.index("eye_left"), names.index("eye_right")
    mirrored[[li, ri]] = mirrored[[ri, li]]
    sym = (mean + mirrored) / 2
    print("raw mean anchors:", {n: tuple(round(float(v), 2) for v in mean[i]) for i, n in enumerate(names)})
    return {n: (round(float(sym[i, 0]), 2), round(float(sym[i, 1]), 2)) for i, n in enumerate(names)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/fer2013/fer2013_train_publictest.npz")
    ap.add_argument("--out", default="/tmp/moodscore_cache/fer_landmarks.npz")
    ap.add_argument("--limit", type=int, default=0, help="only the first N images (0 = all)")
    ap.add_argument("--usage", choices=("Training", "PublicTest"), help="only the images of this split")
    ap.add_argument("--model", default=None, help="face_landmarker.task (default: the bundled one)")
    ap.add_argument("--template-only", action="store_true", help="print the FER template from an existing --out")
    args = ap.parse_args(argv)
    if args.template_only:
        print("FER_TEMPLATE =", template_from_cache(args.out))
        return

    from moodscore.models.faces.tracker import (
        BLENDSHAPE_NAMES,
        N_LANDMARKS,
        _to_mp_image,
        create_landmarker,
        result_faces,
    )

    data = np.load(args.data)
    images, labels, usage = data["images"], data["labels"], data["usage"]
    index = np.arange(len(images))  # each row's position in --data
    if args.usage:
        index = np.flatnonzero(usage == args.usage)
        images, labels, usage = images[index], labels[index], usage[index]
    n = len(images) if args.limit <= 0 else min(args.limit, len(images))
    out = Path(args.out)
    partial = out.with_suffix(".partial.npz")
    found = np.zeros(n, bool)
    landmarks = np.full((n, N_LANDMARKS, 3), np.nan, np.float32)
    blend = np.zeros((n, len(BLENDSHAPE_NAMES)), np.float16)
    start = 0
    if partial.exists():
        p = np.load(partial)
        start = int(p["done"])
        found[:start], landmarks[:start], blend[:start] = p["found"][:start], p["landmarks"][:start], p["blend"][:start]
        print(f"resuming at {start}")
    scale = 48.0 / UPSCALE
    t0 = time.perf_counter()
    with create_landmarker(args.model, video=False) as lm:
        for i in range(start, n):
            rgb, x0, y0 = fer_canvas(images[i])
            faces = result_faces(lm.detect(_to_mp_image(rgb)), rgb.shape[1], rgb.shape[0])
            if faces:
                pts, bs = faces[0]
                pts = pts.copy()
                pts[:, 0] -= x0
                pts[:, 1] -= y0
                landmarks[i] = pts * scale
                blend[i] = bs
                found[i] = True
            if (i + 1) % 2000 == 0 or i + 1 == n:
                np.savez(partial, done=i + 1, found=found, landmarks=landmarks, blend=blend)
                rate = (i + 1 - start) / (time.perf_counter() - t0)
                print(f"{i + 1}/{n} found {found[: i + 1].mean():.3f} {rate:.1f} img/s", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(
        tmp, found=found, landmarks=landmarks, blendshapes=blend, labels=labels[:n], usage=usage[:n], index=index[:n]
    )
    tmp.replace(out)
    partial.unlink(missing_ok=True)
    print(f"wrote {out}: {found.sum()}/{n} found ({found.mean():.3f})")
    print("FER_TEMPLATE =", template_from_cache(out))


if __name__ == "__main__":
    main()
