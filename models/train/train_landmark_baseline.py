"""Train the landmark-distance baseline (models.faces.landmark_baseline) on FER2013 landmarks and write its model card.

Needs the landmark cache of ``python -m moodscore.models.train.extract_fer_landmarks``. Trains on FER2013 Training
images whose face was found (10% of them held out to pick the epoch), evaluates on PublicTest::

    python -m moodscore.models.train.train_landmark_baseline --cache /tmp/moodscore_cache/fer_landmarks.npz \
        --out /tmp/moodscore_cache/landmark_baseline.pt --card models/weights/landmark_baseline.md
"""

from __future__ import annotations

import argparse
import datetime
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from moodscore.models.affect import FER_CLASSES
from moodscore.models.faces.landmark_baseline import LandmarkBaselineDims, build_baseline, landmark_features

COMMAND = (
    "python -m moodscore.models.train.extract_fer_landmarks --data ../shared/data/fer2013/fer2013_train_publictest.npz"
    "\n"
    "python -m moodscore.models.train.train_landmark_baseline --cache /tmp/moodscore_cache/fer_landmarks.npz"
)


def confusion(y: np.ndarray, p: np.ndarray, n: int) -> np.ndarray:
    m = np.zeros((n, n), int)
    np.add.at(m, (y, p), 1)
    return m


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", default="/tmp/moodscore_cache/fer_landmarks.npz")
    ap.add_argument("--out", default="/tmp/moodscore_cache/landmark_baseline.pt")
    ap.add_argument(
        "--card", default=None, help="also write a report of this run here (the shipped card is written by hand)"
    )
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)

    c = np.load(args.cache)
    found, usage, labels = c["found"], c["usage"], c["labels"].astype(np.int64)
    feats = np.zeros((len(found), LandmarkBaselineDims().n_features), np.float32)
    feats[found] = landmark_features(c["landmarks"][found])
    train_all = np.flatnonzero(found & (usage == "Training"))
    held = rng.random(len(train_all)) < 0.1
    tr, va = train_all[~held], train_all[held]
    te = np.flatnonzero(found & (usage == "PublicTest"))
    n_test_total = int((usage == "PublicTest").sum())

    model = build_baseline(seed=args.seed)
    model.mean = feats[tr].mean(axis=0).astype(np.float64)
    model.std = feats[tr].std(axis=0).astype(np.float64) + 1e-6
    x_all = model.features_to_tensor(feats)
    y_all = torch.from_numpy(labels)
    opt = torch.optim.AdamW(model.net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps = args.epochs * int(np.ceil(len(tr) / args.batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)

    def predict(idx: np.ndarray) -> np.ndarray:
        model.net.eval()
        with torch.inference_mode():
            return torch.cat([model.net(x_all[idx[i : i + 2048]]) for i in range(0, len(idx), 2048)]).argmax(1).numpy()

    best, best_state, t0 = -1.0, None, time.perf_counter()
    for epoch in range(args.epochs):
        model.net.train()
        order = rng.permutation(tr)
        for i in range(0, len(order), args.batch):
            b = order[i : i + args.batch]
            if len(b) < 2:
                continue
            loss = F.cross_entropy(model.net(x_all[b]), y_all[b], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        acc = float((predict(va) == labels[va]).mean())
        if acc > best:
            best, best_epoch = acc, epoch + 1
            best_state = {k: v.clone() for k, v in model.net.state_dict().items()}
        print(
            f"epoch {epoch + 1} loss {loss.item():.3f} held-out acc {acc:.4f} ({time.perf_counter() - t0:.0f}s)",
            flush=True,
        )
    assert best_state is not None
    model.net.load_state_dict(best_state)
    pred = predict(te)
    acc_found = float((pred == labels[te]).mean())
    acc_all = float((pred == labels[te]).sum() / n_test_total)
    cm = confusion(labels[te], pred, len(FER_CLASSES))
    model.meta = {
        "data": "FER2013 Training (landmarks found), 10% held out for epoch choice",
        "publictest_acc_found": acc_found,
        "publictest_acc_all": acc_all,
        "epoch": best_epoch,
        "args": vars(args),
        "date": str(datetime.date.today()),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.checkpoint(), out.with_suffix(".tmp"))
    out.with_suffix(".tmp").replace(out)
    n_params = sum(p.numel() for p in model.net.parameters())
    size_mb = out.stat().st_size / 1e6
    print(f"PublicTest acc {acc_found:.4f} on {len(te)} found, {acc_all:.4f} on all {n_test_total}")
    rows = "\n".join(
        f"| {FER_CLASSES[i]} | " + " | ".join(str(v) for v in cm[i]) + f" | {cm[i, i] / max(cm[i].sum(), 1):.2f} |"
        for i in range(len(FER_CLASSES))
    )
    hidden = f"{len(model.dims.hidden)} hidden layers of {model.dims.hidden[0]}"
    found_tr, found_te = found[usage == "Training"].mean(), found[usage == "PublicTest"].mean()
    minutes = (time.perf_counter() - t0) / 60
    card = f"""# Landmark-distance baseline (FER2013)

The brief's visual baseline: 2,278 pairwise distances between 68 MediaPipe face-mesh points (the iBUG 68-point
layout), divided by the inter-ocular distance and standardised, into a fully connected network of {hidden}
(BatchNorm, ReLU, dropout {model.dims.dropout}), {n_params:,} parameters. Code: `models/faces/landmark_baseline.py`;
training: `models/train/train_landmark_baseline.py`.

- Data: FER2013 (Goodfellow et al. 2013), `fer2013_train_publictest.npz`. Landmarks from the MediaPipe Face
  Landmarker (IMAGE mode) on each 48x48 image upscaled to 256 px on a 640x480 grey canvas; a face was found in
  {found_tr:.1%} of Training and {found_te:.1%} of PublicTest images.
- Split: trained on {len(tr):,} Training images with landmarks; the epoch was chosen on {len(va):,} held-out
  Training images (best epoch {best_epoch} of {args.epochs}); PublicTest was used once, for the numbers below.
- Licence: FER2013 is research-only (Kaggle challenge data), so these weights are research / non-commercial.
- Date: {model.meta["date"]}. The checkpoint is {size_mb:.1f} MB (float32); it ships only inside expression.pt
  (float16, its geometry branch: models/train/train_expression_geometry.py). Training took {minutes:.0f} min on
  {args.threads} thread(s), after the landmark extraction.

## Measured accuracy (FER2013 PublicTest)

- {acc_found:.1%} on the {len(te):,} PublicTest images where the landmarker found a face.
- {acc_all:.1%} on all {n_test_total:,} PublicTest images, counting the {n_test_total - len(te)} not found as wrong.
- Held-out Training accuracy at the chosen epoch: {best:.1%}.

Confusion matrix (PublicTest, faces found; rows true, columns predicted):

| true \\ pred | {" | ".join(FER_CLASSES)} | recall |
|---|{"---|" * (len(FER_CLASSES) + 1)}
{rows}

## Command

```
{COMMAND}
```
"""
    if args.card:
        Path(args.card).write_text(card)
    print(f"wrote {out} ({size_mb:.1f} MB){' and ' + args.card if args.card else ''}")


if __name__ == "__main__":
    main()
