"""Train the emotion-conditioned music generator: pre-train on POP909 (no labels), fine-tune on EMOPIA.

    python -m moodscore.models.music.baselines.train_generator \\
        --emopia ../shared/data/emopia --pop909 ../shared/data/pop909 \\
        --out models/music/baselines/generator.pt --stage pretrain --minutes 60
    python -m moodscore.models.music.baselines.train_generator ... --stage finetune \\
        --init /tmp/moodscore_cache/generator/pretrain_last.pt --minutes 40

Sequences are crops of ``max_len + 1`` tokens that start on a bar line. POP909 songs (all tracks merged into
one piano stream) carry ``Emotion_NONE`` after every bar; EMOPIA train clips carry their quadrant. In
fine-tuning, half of the sequences join the end of one clip to the start of a clip of another quadrant at a
bar line, so the network sees the emotion token change inside a sequence. Pitches are transposed by a
random -5..+6 semitones (token-level). Runs are time-budgeted, checkpoint every ``--save-every`` steps and
resume with ``--resume``; the best checkpoint on the EMOPIA val split goes to ``--out``.

The product does not use this network (the composer in ``moodscore.models.music.composer`` writes the music); it is kept
as a measured baseline, sampled by ``benchmarks/baseline_pieces.py --model transformer``. ``--set-emotion-bias W``
and ``--set-guidance G`` store the two sampling defaults that sampling reads
(``moodscore.models.music.baselines.sampling.sample_bars``).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from moodscore.models.files.checkpoints import write_checkpoint
from moodscore.models.music.baselines import tokens
from moodscore.models.music.baselines.generator import FORMAT, GeneratorDims, MusicTransformer
from moodscore.models.music.data import emopia_split, load_midi, pop909_songs


def tokenize_corpus(args: argparse.Namespace, cache: Path) -> dict[str, list[tuple[np.ndarray, str]]]:
    """Token arrays per split, cached: ``{"pop909": [(ids, "NONE")], "train": [(ids, "Q1")], "val": [...]}``."""
    path = cache / "corpus.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        meta = json.loads(str(z["meta"]))
        return {k: [(z[f"{k}_{i}"], q) for i, q in enumerate(qs)] for k, qs in meta.items()}
    corpus: dict[str, list[tuple[np.ndarray, str]]] = {"pop909": [], "train": [], "val": []}
    if args.pop909:
        for song in pop909_songs(args.pop909)[: args.limit or None]:
            corpus["pop909"].append((np.asarray(tokens.encode(load_midi(song.path)), np.int16), "NONE"))
    for split in ("train", "val"):
        for clip in emopia_split(args.emopia, split)[: args.limit or None]:
            ids = tokens.encode(load_midi(clip.path), clip.quadrant)
            corpus[split].append((np.asarray(ids, np.int16), clip.quadrant))
    arrays = {f"{k}_{i}": ids for k, items in corpus.items() for i, (ids, _) in enumerate(items)}
    meta = {k: [q for _, q in items] for k, items in corpus.items()}
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, meta=json.dumps(meta), **arrays)  # type: ignore[arg-type]
    return corpus


def emotion_log_ratios(items: list[tuple[np.ndarray, str]], *, clip: float = 2.0) -> torch.Tensor:
    """(4, vocab): log p(token | quadrant) - log p(token) over the clips' note tokens (add-one smoothed, clipped).

    Bar lines, emotion and special tokens get 0, so the bias never moves the bar grid or the emotion itself.
    """
    v = tokens.vocab_size()
    counts = np.ones((len(tokens.QUADRANTS), v))
    for ids, q in items:
        counts[tokens.QUADRANTS.index(q)] += np.bincount(ids.astype(np.int64), minlength=v)
    overall = counts.sum(axis=0) / counts.sum()
    ratios = np.log(counts / counts.sum(axis=1, keepdims=True)) - np.log(overall)
    keep = [i for name, i in tokens.tokenizer().vocab.items() if name.split("_")[0] in NOTE_TOKEN_TYPES]
    mask = np.zeros(v, bool)
    mask[keep] = True
    return torch.from_numpy(np.where(mask, np.clip(ratios, -clip, clip), 0.0).astype(np.float32))


NOTE_TOKEN_TYPES = ("Pitch", "Velocity", "Duration", "Position")


def _transpose_table(shift: int) -> np.ndarray:
    """Token id -> id after moving every pitch by ``shift`` semitones (pitches leaving the range stay)."""
    vocab = tokens.tokenizer().vocab
    table = np.arange(len(vocab), dtype=np.int64)
    for name, i in vocab.items():
        if name.startswith("Pitch_"):
            target = f"Pitch_{int(name[6:]) + shift}"
            if target in vocab:
                table[i] = vocab[target]
    return table


class Batcher:
    """Random bar-aligned crops, optional emotion switches, random transposition."""

    def __init__(
        self,
        items: list[tuple[np.ndarray, str]],
        seq_len: int,
        *,
        switch_prob: float,
        seed: int,
        drop_emotion: float = 0.0,
    ) -> None:
        self.items = [ids.astype(np.int64) for ids, _ in items if len(ids) > 8]
        self.quads = [q for ids, q in items if len(ids) > 8]
        self.seq_len, self.switch_prob = seq_len, switch_prob
        self.rng = np.random.default_rng(seed)
        self.bar = tokens.token_id("Bar_None")
        self.pad = tokens.token_id("PAD_None")
        self.bars = [np.flatnonzero(ids == self.bar) for ids in self.items]
        self.tables = {s: _transpose_table(s) for s in range(-5, 7)}
        # condition dropout: some sequences have every emotion token replaced by NONE, so the same network
        # also models music without an emotion (what classifier-free guidance compares against when sampling)
        self.drop_emotion = drop_emotion
        self.none = tokens.emotion_id("NONE")
        self.emotion_ids = np.array([tokens.emotion_id(e) for e in tokens.EMOTIONS if e != "NONE"])

    def _crop(self, i: int, *, from_start: bool = False, to_end: bool = False) -> np.ndarray:
        ids, bars = self.items[i], self.bars[i]
        if to_end and len(bars):  # a tail that starts on a bar line
            return ids[bars[self.rng.integers(0, len(bars))] :]
        start = 0 if from_start or not len(bars) else bars[self.rng.integers(0, len(bars))]
        return ids[start:]

    def sequence(self) -> np.ndarray:
        i = int(self.rng.integers(0, len(self.items)))
        seq = self._crop(i)
        if self.switch_prob and self.rng.random() < self.switch_prob:
            others = [j for j, q in enumerate(self.quads) if q != self.quads[i]]
            if others:
                j = int(self.rng.choice(others))
                b = self.items[j][1:]  # drop its BOS: the piece goes on
                a = self._crop(i, to_end=True)
                bars = np.flatnonzero(a == self.bar)
                ends = bars[(bars > 0) & (bars <= self.seq_len // 2)]  # cut A just before one of its bar lines
                a = a[: ends[-1]] if len(ends) else (a[: bars[1]] if len(bars) > 1 else a)
                seq = np.concatenate([a, b])
        seq = seq[: self.seq_len + 1]
        if len(seq) < self.seq_len + 1:
            seq = np.concatenate([seq, np.full(self.seq_len + 1 - len(seq), self.pad)])
        if self.drop_emotion and self.rng.random() < self.drop_emotion:
            seq = np.where(np.isin(seq, self.emotion_ids), self.none, seq)
        return self.tables[int(self.rng.integers(-5, 7))][seq]

    def batch(self, n: int) -> torch.Tensor:
        return torch.from_numpy(np.stack([self.sequence() for _ in range(n)]))


def loss_of(model: MusicTransformer, batch: torch.Tensor) -> torch.Tensor:
    logits = model(batch[:, :-1])
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), ignore_index=tokens.token_id("PAD_None")
    )


@torch.no_grad()
def evaluate(
    model: MusicTransformer, batcher: Batcher, n_batches: int, batch: int, *, wrong_emotion: bool = False
) -> float:
    """Mean loss on the same validation crops every time; ``wrong_emotion``: each quadrant token replaced by the
    next quadrant's (Q1->Q2, ..., Q4->Q1), so the gap to the true loss shows how much the emotion is used."""
    model.eval()
    rng_state = batcher.rng.bit_generator.state
    batcher.rng = np.random.default_rng(12345)
    remap = torch.arange(tokens.vocab_size())
    if wrong_emotion:
        for i, q in enumerate(tokens.QUADRANTS):
            remap[tokens.emotion_id(q)] = tokens.emotion_id(tokens.QUADRANTS[(i + 1) % len(tokens.QUADRANTS)])
    losses = [float(loss_of(model, remap[batcher.batch(batch)])) for _ in range(n_batches)]
    batcher.rng.bit_generator.state = rng_state
    model.train()
    return float(np.mean(losses))


def save(path: Path, model: MusicTransformer, extra: dict[str, Any]) -> None:
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    ckpt = {"format": FORMAT, "dims": model.dims.to_dict(), "vocab_size": tokens.vocab_size(), "state_dict": state}
    write_checkpoint({**ckpt, **extra}, path, provenance="generator")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emopia", type=Path, default=Path("../shared/data/emopia"))
    ap.add_argument("--pop909", type=Path, default=Path("../shared/data/pop909"))
    ap.add_argument("--out", type=Path, default=Path("models/music/baselines/generator.pt"))
    ap.add_argument("--cache", type=Path, default=Path("/tmp/moodscore_cache/generator"))
    ap.add_argument("--stage", choices=("pretrain", "finetune"))
    ap.add_argument(
        "--set-emotion-bias",
        type=float,
        metavar="W",
        help="only store per-quadrant token log-ratios from the EMOPIA train split, with weight W, in --out",
    )
    ap.add_argument(
        "--set-guidance",
        type=float,
        metavar="G",
        help="only store G as the sampling default (classifier-free guidance) in the checkpoint --out",
    )
    ap.add_argument("--init", type=Path, help="start from these weights (fine-tuning after pre-training)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--steps", type=int, default=0, help="stop after this many steps (0 = time budget only)")
    ap.add_argument("--dims", default="256,4,4,512", help="d_model,n_layers,n_heads,max_len")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save-every", type=int, default=200)
    ap.add_argument("--drop-emotion", type=float, default=0.15, help="fine-tuning: P(emotion tokens -> NONE)")
    ap.add_argument("--limit", type=int, default=0, help="use only this many files per set (smoke tests)")
    ap.add_argument("--cond-lr-mult", type=float, default=10.0, help="learning-rate factor of the emotion vectors")
    ap.add_argument(
        "--cond",
        action="store_true",
        help="add a learned emotion vector at every position (GeneratorDims.cond_ids); from --init it starts at 0",
    )
    args = ap.parse_args(argv)
    if args.set_guidance is not None or args.set_emotion_bias is not None:
        ck = torch.load(args.out, map_location="cpu", weights_only=True)
        if args.set_guidance is not None:
            ck["sampling"] = {**ck.get("sampling", {}), "guidance": args.set_guidance}
        if args.set_emotion_bias is not None:
            ck["emotion_bias"] = emotion_log_ratios(tokenize_corpus(args, args.cache)["train"])
            ck["sampling"] = {**ck.get("sampling", {}), "bias_weight": args.set_emotion_bias}
        write_checkpoint(ck, args.out, provenance="generator")
        return
    if args.stage is None:
        ap.error("--stage is required")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    args.cache.mkdir(parents=True, exist_ok=True)
    corpus = tokenize_corpus(args, args.cache)
    d, n_layers, h, max_len = (int(x) for x in args.dims.split(","))
    cond_ids = tuple(tokens.emotion_id(e) for e in tokens.EMOTIONS) if args.cond else ()  # NONE last
    dims = GeneratorDims(
        vocab=tokens.vocab_size(), d_model=d, n_layers=n_layers, n_heads=h, max_len=max_len, cond_ids=cond_ids
    )
    model = MusicTransformer(dims)
    last = args.cache / f"{args.stage}_last.pt"
    start = args.init if args.init else (last if args.resume and last.exists() else None)
    history: list[dict[str, float]] = []
    step = 0
    if start is not None:
        ck = torch.load(start, map_location="cpu", weights_only=True)
        missing, unexpected = model.load_state_dict({k: v.float() for k, v in ck["state_dict"].items()}, strict=False)
        if unexpected or set(missing) - {"cond.weight"} or ("cond.weight" in missing and not args.init):
            raise SystemExit(f"{start} does not fit this network: missing {missing}, unexpected {unexpected}")
        if args.resume and not args.init:
            step, history = int(ck["step"]), list(ck["history"])
    items = corpus["pop909"] if args.stage == "pretrain" else corpus["train"]
    finetune = args.stage == "finetune"
    train = Batcher(
        items,
        max_len,
        switch_prob=0.5 if finetune else 0.0,
        seed=step,
        drop_emotion=args.drop_emotion if finetune else 0.0,
    )
    val = Batcher(corpus["val"], max_len, switch_prob=0.5, seed=0)
    cond = [p for n, p in model.named_parameters() if n == "cond.weight"]
    rest = [p for n, p in model.named_parameters() if n != "cond.weight"]
    groups = [{"params": rest, "lr_mult": 1.0}] + ([{"params": cond, "lr_mult": args.cond_lr_mult}] if cond else [])
    opt = torch.optim.AdamW(groups, lr=args.lr, weight_decay=0.01)
    best = min((r["val"] for r in history), default=math.inf)
    t_end = time.monotonic() + 60 * args.minutes
    model.train()
    t0, tokens_seen = time.monotonic(), 0
    while time.monotonic() < t_end and (not args.steps or step < args.steps):
        # warm-up, then a cosine decay to 10% over this run's time budget (runs are time-budgeted)
        frac = min(1.0, (time.monotonic() - t0) / (60 * args.minutes))
        lr = args.lr * min(1.0, (step + 1) / 200) * (0.1 + 0.45 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr * g["lr_mult"]
        batch = train.batch(args.batch)
        loss = loss_of(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens_seen += batch.numel()
        if step % args.save_every == 0 or time.monotonic() >= t_end or step == args.steps:
            v = evaluate(model, val, 4, args.batch)
            rec = {"step": step, "train": loss.item(), "val": v, "tok_per_s": tokens_seen / (time.monotonic() - t0)}
            if finetune:  # how much the emotion is used: val loss with every emotion token moved to another quadrant
                rec["val_wrong_emotion"] = evaluate(model, val, 4, args.batch, wrong_emotion=True)
            history.append(rec)
            print(json.dumps(rec), flush=True)
            extra = {
                "step": step,
                "history": history,
                "stage": args.stage,
                "config": {**vars(args), "dims": asdict(dims)},
            }
            extra["config"] = {k: str(v) if isinstance(v, Path) else v for k, v in extra["config"].items()}
            save(last, model, extra)
            if v < best:
                best = v
                args.out.parent.mkdir(parents=True, exist_ok=True)
                save(args.out, model, extra)


if __name__ == "__main__":
    main()
