"""Train the facial expression network on FER2013 (Training split; PublicTest is the validation set).

    python -m moodscore.models.train.train_expression --data ../shared/data/fer2013 --out models/weights/expression.pt \
        [--epochs N] [--resume]

Augmentation runs batched on tensors in the training process (random crop via a random affine with small
rotation and scale, horizontal flip, brightness/contrast, cutout); AdamW with linear warm-up and cosine decay,
label smoothing. A full training state is written to ``--cache`` after every epoch (``--resume`` continues
from it; ``--init`` starts a new schedule from another run's weights or from an expression checkpoint, a warm
restart); the best epoch on PublicTest's select half (``models.train.holdout``; the hold half is never looked at)
is written to ``--out`` as a self-describing checkpoint.
For faces as a video shows them: ``--video-aug`` (pose, blur, resolution, lighting, noise; ``fer_augment``) and
``--aligned`` (a share of each batch re-framed from MediaPipe landmarks the way the product aligns faces).
``--ferplus`` trains on FER+ vote distributions mixed with FER2013's label and drops what FER+ calls non-faces;
it refuses votes that are not in the images' row order (``ferplus.check_alignment``).
``--eval-only`` evaluates ``--out`` on PublicTest (plain, flip-averaged) and prints the confusion matrix;
``moodscore.models.train.eval_expression`` grades a checkpoint on both halves and fits its temperature.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from moodscore.models.train.fer_augment import augment

__all__ = ["augment", "evaluate", "load_fer", "main", "parse_args"]

DEFAULT_DATA = "../shared/data/fer2013"
NPZ_NAME = "fer2013_train_publictest.npz"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", default=DEFAULT_DATA, help=f"folder holding {NPZ_NAME}")
    p.add_argument("--out", default="models/weights/expression.pt", help="where the best checkpoint goes")
    p.add_argument("--cache", default="/tmp/moodscore_cache/expression", help="folder for per-epoch states")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--wd", type=float, default=0.05)
    p.add_argument("--warmup", type=float, default=0.06, help="fraction of steps with linear warm-up")
    p.add_argument("--smoothing", type=float, default=0.1)
    p.add_argument("--input-size", type=int, default=40)
    p.add_argument("--widths", default="32,64,128,256")
    p.add_argument("--blocks", default="0,1,1,1")
    p.add_argument("--stem", type=int, default=32)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--bf16",
        action="store_true",
        help="bfloat16 autocast for the forward pass (1.7x faster on CPUs with AVX512-BF16; weights stay float32)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument(
        "--init",
        help="a training state (another run's last.pt) or an expression checkpoint (e.g. the shipped one) whose "
        "network weights start a new schedule (a warm restart); a checkpoint's landmark expert is kept",
    )
    p.add_argument(
        "--aligned",
        help="MediaPipe landmarks of the Training images (extract_fer_landmarks --usage Training): each image is "
        "also re-framed the way the product aligns faces, and a batch takes that view with --aligned-p",
    )
    p.add_argument("--aligned-p", type=float, default=0.5)
    p.add_argument(
        "--select-landmarks",
        help="landmarks of PublicTest (extract_fer_landmarks --usage PublicTest): the epoch is chosen on the mean of "
        "the select half's accuracy on its own framing and on the run-time alignment",
    )
    p.add_argument("--video-aug", action="store_true", help="pose, blur, scale, lighting and noise augmentation")
    p.add_argument(
        "--ferplus",
        help="FER+ votes csv in the images' row order: soft targets, and rows FER+ calls not a face are dropped",
    )
    p.add_argument(
        "--ferplus-mix",
        type=float,
        default=0.5,
        help="target = (1 - mix) * FER+ vote distribution + mix * FER2013's own label",
    )
    p.add_argument(
        "--teacher",
        help="an expression checkpoint (with its partner CNNs) to distil from: the student matches the teacher's "
        "product of experts on the same augmented view (consistent teaching)",
    )
    p.add_argument("--distill", type=float, default=0.7, help="weight of the teacher term (the rest: cross-entropy)")
    p.add_argument("--temperature", type=float, default=2.0, help="softmax temperature of the teacher term")
    p.add_argument("--eval-only", action="store_true")
    return p.parse_args(argv)


def load_fer(data: str) -> dict[str, np.ndarray]:
    """Training and PublicTest images and labels; ``sel``/``hold``: PublicTest's halves as indices into ``xva``."""
    from moodscore.models.train.holdout import publictest_halves

    d = np.load(Path(data) / NPZ_NAME)
    usage = d["usage"]
    tr, va = usage == "Training", usage == "PublicTest"
    sel, hold = publictest_halves(usage)
    first = int(np.flatnonzero(va)[0]) if va.any() else 0  # PublicTest rows follow the Training rows
    return {
        "xtr": d["images"][tr],
        "ytr": d["labels"][tr],
        "xva": d["images"][va],
        "yva": d["labels"][va],
        "sel": sel - first,
        "hold": hold - first,
        "usage": usage,
        "labels": d["labels"],
    }


def training_targets(data: dict[str, np.ndarray], ferplus: str | None, mix: float) -> tuple[np.ndarray, np.ndarray]:
    """(N, 7) target distributions for the Training rows and the mask of rows kept: FER2013's one-hot labels, or
    ``(1 - mix) * FER+ votes + mix * one-hot`` with the rows FER+ calls not a face (or gives no emotion) dropped."""
    onehot = np.eye(7, dtype=np.float32)[data["ytr"]]
    if not ferplus:
        return onehot, np.ones(len(onehot), bool)
    from moodscore.models.train.ferplus import check_alignment, load_ferplus, soft_targets

    fp = load_ferplus(ferplus)
    check_alignment(fp, data["labels"], data["usage"])
    tr = data["usage"] == "Training"
    soft = soft_targets(fp)[tr]
    keep = np.isfinite(soft).all(axis=1)
    target = np.where(keep[:, None], (1 - mix) * np.nan_to_num(soft) + mix * onehot, onehot).astype(np.float32)
    return target, keep


def aligned_views(images: np.ndarray, landmarks_path: str, usage: str) -> np.ndarray:
    """The images of one split re-framed by the run-time alignment (``fer_augment.aligned_faces``), cached beside
    the landmarks file."""
    from moodscore.models.train.fer_augment import aligned_faces

    cache = Path(landmarks_path).with_suffix(f".aligned_{usage}.npy")
    if cache.exists():
        out: np.ndarray = np.load(cache)
        if out.shape == images.shape:
            return out
    c = np.load(landmarks_path)
    found = c["found"].astype(bool) & (c["usage"] == usage)
    if int(found.size) != len(images):
        raise SystemExit(f"{landmarks_path} holds {found.size} rows, the {usage} split {len(images)}")
    out = aligned_faces(images, c["landmarks"], found)
    np.save(cache, out)
    return out


def evaluate(
    model: Any, x: np.ndarray, y: np.ndarray, *, tta: bool, shift: int = 0, batch: int = 256
) -> tuple[float, np.ndarray]:
    """Accuracy and the 7x7 confusion matrix (rows = true, columns = predicted) of ``model.predict``."""
    model.net.eval()
    old = model.tta_flip, model.tta_shift
    model.tta_flip, model.tta_shift = tta, shift
    pred = np.concatenate([model.predict(x[i : i + batch]).argmax(1) for i in range(0, len(x), batch)])
    model.tta_flip, model.tta_shift = old
    cm = np.zeros((7, 7), dtype=np.int64)
    np.add.at(cm, (y, pred), 1)
    return float((pred == y).mean()), cm


def teacher_log_probs(teacher: Any, xb: Any, temperature: float) -> Any:
    """The teacher's combined log-probabilities (its CNN and partners, weighted as in ``cnn_log_probs``) on
    normalised crops ``xb`` that are already the networks' input, at ``temperature``."""
    import torch

    with torch.inference_mode():
        out = sum(w * torch.log_softmax(m.net(xb).float() / temperature, dim=1) for m, w in teacher.members())
        return torch.log_softmax(out, dim=1)


def lr_at(step: int, total: int, peak: float, warmup: float) -> float:
    w = max(1, int(total * warmup))
    if step < w:
        return peak * (step + 1) / w
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - w) / max(1, total - w))))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import torch
    import torch.nn.functional as F

    from moodscore.models.affect import FER_CLASSES
    from moodscore.models.faces.expression import ExpressionDims, build_model, load_expression_model, save_checkpoint

    torch.set_num_threads(args.threads)
    data = load_fer(args.data)
    if args.eval_only:
        model = load_expression_model(args.out)
        for tta, shift in ((False, 0), (True, 0), (True, 2), (True, 3)):
            acc, cm = evaluate(model, data["xva"], data["yva"], tta=tta, shift=shift)
            per = cm.diagonal() / cm.sum(1)
            print(
                json.dumps(
                    {
                        "tta_flip": tta,
                        "tta_shift": shift,
                        "acc": round(acc, 4),
                        "per_class": dict(zip(FER_CLASSES, per.round(4).tolist(), strict=True)),
                    }
                )
            )
            print(cm)
        return

    config = {k: v for k, v in vars(args).items() if k not in ("resume", "eval_only")}
    xtr = torch.from_numpy(data["xtr"]).float().div_(255).unsqueeze(1)
    mean, std = float(xtr.mean()), float(xtr.std())  # the same for a warm restart: computed from the same data
    target_np, keep = training_targets(data, args.ferplus, args.ferplus_mix)
    ytr = torch.from_numpy(target_np)
    rows = torch.from_numpy(np.flatnonzero(keep))  # Training rows used (FER+ drops the non-faces)
    xtr_aligned = None
    if args.aligned:
        xtr_aligned = torch.from_numpy(aligned_views(data["xtr"], args.aligned, "Training")).float().div_(255)
        xtr_aligned = xtr_aligned.unsqueeze(1)
    xva_aligned = aligned_views(data["xva"], args.select_landmarks, "PublicTest") if args.select_landmarks else None
    if args.ferplus:
        print(f"FER+ targets (mix {args.ferplus_mix}); {int((~keep).sum())} Training rows dropped", flush=True)
    dims = ExpressionDims(
        widths=tuple(int(v) for v in args.widths.split(",")),
        blocks=tuple(int(v) for v in args.blocks.split(",")),
        stem=args.stem,
        dropout=args.dropout,
    )
    torch.manual_seed(args.seed)
    model = build_model(dims, input_size=args.input_size, mean=mean, std=std)
    net = model.net
    decay = [p for n, p in net.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in net.named_parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0.0}])
    gen = torch.Generator().manual_seed(args.seed)
    steps_per_epoch = len(rows) // args.batch
    total = steps_per_epoch * args.epochs
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    state_path = cache / "last.pt"
    start_epoch, best, history = 0, -1.0, []
    teacher = None
    if args.teacher:
        teacher = load_expression_model(args.teacher)
        for m, _ in teacher.members():
            if m.input_size != args.input_size or abs(m.mean - mean) > 1e-4 or abs(m.std - std) > 1e-4:
                raise SystemExit(f"teacher network in {args.teacher} takes other input than the student")
            m.net.eval()
        print(f"distilling from {args.teacher} ({len(teacher.members())} CNNs), weight {args.distill}", flush=True)
    if args.init:  # a warm restart: the weights only; optimiser state and schedule start afresh
        init_state = torch.load(args.init, map_location="cpu", weights_only=False)
        if "format" in init_state:  # an expression checkpoint: its CNN (same input) and its landmark expert
            init = load_expression_model(args.init)
            if init.net.dims != dims or init.input_size != args.input_size or abs(init.mean - mean) > 1e-4:
                raise SystemExit(f"{args.init} holds another network or input than this run's")
            net.load_state_dict(init.net.state_dict())
            model.geometry, model.geometry_weight, model.store_int8 = init.geometry, init.geometry_weight, True
            print(f"warm restart from the expression checkpoint {args.init}", flush=True)
        else:
            net.load_state_dict(init_state["net"])
            print(f"warm restart from {args.init} (after its epoch {init_state['epoch']})", flush=True)
    if args.resume and state_path.exists():
        st = torch.load(state_path, map_location="cpu", weights_only=False)
        net.load_state_dict(st["net"])
        opt.load_state_dict(st["opt"])
        gen.set_state(st["gen"])
        start_epoch, best, history = st["epoch"], st["best"], st["history"]
        print(f"resumed after epoch {start_epoch}, best {best:.4f}", flush=True)
    print(f"{sum(p.numel() for p in net.parameters()) / 1e6:.2f} M parameters; {total} steps", flush=True)

    for epoch in range(start_epoch, args.epochs):
        net.train()
        perm = rows[torch.randperm(len(rows), generator=gen)]
        t0, seen, loss_sum = time.time(), 0, 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * args.batch : (i + 1) * args.batch]
            xb = xtr[idx]
            if xtr_aligned is not None:  # the run-time framing for a share of the batch
                use = (torch.rand(len(idx), generator=gen) < args.aligned_p).view(-1, 1, 1, 1)
                xb = torch.where(use, xtr_aligned[idx], xb)
            xb = augment(xb, args.input_size, gen, video=args.video_aug)
            xb = ((xb - mean) / std).contiguous(memory_format=torch.channels_last)
            for g in opt.param_groups:
                g["lr"] = lr_at(epoch * steps_per_epoch + i, total, args.lr, args.warmup)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                out = net(xb)
            out = out.float()
            loss = F.cross_entropy(out, ytr[idx], label_smoothing=args.smoothing)
            if teacher is not None:
                t = args.temperature
                kl = F.kl_div(
                    F.log_softmax(out / t, dim=1),
                    teacher_log_probs(teacher, xb, t),
                    log_target=True,
                    reduction="batchmean",
                )
                loss = (1 - args.distill) * loss + args.distill * t * t * kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(idx)
            loss_sum += float(loss.detach()) * len(idx)
            if i % 100 == 0:
                print(
                    f"epoch {epoch + 1} step {i}/{steps_per_epoch} loss {loss_sum / seen:.4f} "
                    f"{seen / (time.time() - t0):.0f} img/s",
                    flush=True,
                )
        sel = data["sel"]
        acc, _ = evaluate(model, data["xva"][sel], data["yva"][sel], tta=False)
        entry = {"epoch": epoch + 1, "loss": round(loss_sum / seen, 4), "select_acc": round(acc, 4)}
        if xva_aligned is not None:
            acc_aligned, _ = evaluate(model, xva_aligned[sel], data["yva"][sel], tta=False)
            entry["select_acc_aligned"] = round(acc_aligned, 4)
            acc = (acc + acc_aligned) / 2
        history.append({**entry, "score": round(acc, 4), "seconds": round(time.time() - t0, 1)})
        print(json.dumps(history[-1]), flush=True)
        if acc > best:
            best = acc
            meta = {"train_config": config, "epoch": epoch + 1, "select_score": round(acc, 4), "history": history}
            save_checkpoint(model, args.out, extra=meta)
            save_checkpoint(model, cache / "best.pt", extra=meta)
        torch.save(
            {
                "net": net.state_dict(),
                "opt": opt.state_dict(),
                "gen": gen.get_state(),
                "epoch": epoch + 1,
                "best": best,
                "history": history,
                "config": config,
            },
            cache / "last.pt.tmp",
        )
        (cache / "last.pt.tmp").replace(state_path)
    print(f"done; best score on PublicTest's select half (no TTA) {best:.4f}", flush=True)


if __name__ == "__main__":
    main()
