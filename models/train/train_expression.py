"""Train the facial expression network on FER2013 (Training split; PublicTest is the validation set).

    python -m models.train.train_expression --data ../shared/data/fer2013 --out models/weights/expression.pt \
        [--epochs N] [--resume]

Augmentation runs batched on tensors in the training process (random crop via a random affine with small
rotation and scale, horizontal flip, brightness/contrast, cutout); AdamW with linear warm-up and cosine decay,
label smoothing. A full training state is written to ``--cache`` after every epoch (``--resume`` continues
from it; ``--init`` starts a new schedule from another run's weights, a warm restart); the best epoch on
PublicTest is written to ``--out`` as a self-describing fp16 checkpoint.
``--eval-only`` evaluates ``--out`` on PublicTest (plain, flip-averaged) and prints the confusion matrix.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

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
        help="a training state (another run's last.pt) whose network weights start a new schedule (a warm restart)",
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
    d = np.load(Path(data) / NPZ_NAME)
    usage = d["usage"]
    tr, va = usage == "Training", usage == "PublicTest"
    return {"xtr": d["images"][tr], "ytr": d["labels"][tr], "xva": d["images"][va], "yva": d["labels"][va]}


def augment(x: Any, size: int, gen: Any) -> Any:
    """(B,1,48,48) float in [0,1] -> (B,1,size,size): random affine crop + flip, brightness/contrast, cutout."""
    import torch
    import torch.nn.functional as F

    b = x.shape[0]
    ang = (torch.rand(b, generator=gen) * 2 - 1) * math.radians(12)
    scale = (size / 48) * (1 + (torch.rand(b, generator=gen) * 2 - 1) * 0.12)  # fraction of the frame seen
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
    max_shift = 1 - size / 48
    tx, ty = ((torch.rand(2, b, generator=gen) * 2 - 1) * max_shift).unbind(0)
    cos, sin = torch.cos(ang) * scale, torch.sin(ang) * scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, [b, 1, size, size], align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    contrast = 1 + (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1) * 0.3
    bright = (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1) * 0.12
    m = out.mean(dim=(2, 3), keepdim=True)
    out = ((out - m) * contrast + m + bright).clamp(0, 1)
    cut = size // 3  # cutout on half of the batch
    cy, cx = (torch.randint(0, size, (2, b), generator=gen)).unbind(0)
    yy = torch.arange(size).view(1, size, 1)
    xx = torch.arange(size).view(1, 1, size)
    box = ((yy - cy.view(b, 1, 1)).abs() <= cut // 2) & ((xx - cx.view(b, 1, 1)).abs() <= cut // 2)
    box &= (torch.rand(b, generator=gen) < 0.5).view(b, 1, 1)
    return out.masked_fill(box.unsqueeze(1), 0.5)


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

    from models.affect import FER_CLASSES
    from models.expression import ExpressionDims, build_model, load_expression_model, save_checkpoint

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
    ytr = torch.from_numpy(data["ytr"])
    mean, std = float(xtr.mean()), float(xtr.std())  # the same for a warm restart: computed from the same data
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
    steps_per_epoch = len(xtr) // args.batch
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
        perm = torch.randperm(len(xtr), generator=gen)
        t0, seen, loss_sum = time.time(), 0, 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * args.batch : (i + 1) * args.batch]
            xb = augment(xtr[idx], args.input_size, gen)
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
        acc, _ = evaluate(model, data["xva"], data["yva"], tta=False)
        history.append(
            {
                "epoch": epoch + 1,
                "loss": round(loss_sum / seen, 4),
                "public_acc": round(acc, 4),
                "seconds": round(time.time() - t0, 1),
            }
        )
        print(json.dumps(history[-1]), flush=True)
        if acc > best:
            best = acc
            meta = {"train_config": config, "epoch": epoch + 1, "public_acc_no_tta": round(acc, 4), "history": history}
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
    print(f"done; best PublicTest accuracy (no TTA) {best:.4f}", flush=True)


if __name__ == "__main__":
    main()
