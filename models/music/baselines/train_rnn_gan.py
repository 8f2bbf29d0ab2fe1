"""Train the brief's two generators as baselines on the EMOPIA train split: one LSTM per quadrant, and a
label-conditioned piano-roll WGAN-GP. Checkpoints go to ``--out`` (not shipped: they are measured, not used).

    python -m moodscore.models.music.baselines.train_rnn_gan --which lstm --steps 300 --minutes 60
    python -m moodscore.models.music.baselines.train_rnn_gan --which gan --steps 500 --minutes 60
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from moodscore.models.music.baselines import tokens
from moodscore.models.music.baselines.rnn_gan import QUADS, QuadrantLSTM, RollCritic, RollGenerator, midi_to_phrases
from moodscore.models.music.data import emopia_split, load_midi


def _lstm_batches(seqs: list[np.ndarray], rng: np.random.Generator, n: int, length: int) -> torch.Tensor:
    out = []
    for _ in range(n):
        s = seqs[int(rng.integers(len(seqs)))]
        a = int(rng.integers(0, max(1, len(s) - length - 1)))
        crop = s[a : a + length + 1]
        out.append(np.pad(crop, (0, length + 1 - len(crop)), constant_values=tokens.token_id("PAD_None")))
    return torch.from_numpy(np.stack(out).astype(np.int64))


def train_lstm(args: argparse.Namespace) -> None:
    emotion = {tokens.emotion_id(e) for e in tokens.EMOTIONS}
    by_quad: dict[str, list[np.ndarray]] = {q: [] for q in QUADS}
    for clip in emopia_split(args.emopia, "train"):
        ids = np.array([i for i in tokens.encode(load_midi(clip.path)) if i not in emotion], np.int64)
        by_quad[clip.quadrant].append(ids)
    pad = tokens.token_id("PAD_None")
    for q in QUADS:
        torch.manual_seed(0)
        rng = np.random.default_rng(0)
        model = QuadrantLSTM(tokens.vocab_size())
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        t_end, step = time.monotonic() + 60 * args.minutes / len(QUADS), 0
        while time.monotonic() < t_end and (not args.steps or step < args.steps):
            batch = _lstm_batches(by_quad[q], rng, 16, 256)
            logits, _ = model(batch[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), ignore_index=pad)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            if step % 50 == 0:
                print(json.dumps({"quadrant": q, "step": step, "loss": round(loss.item(), 4)}), flush=True)
        torch.save(
            {
                "format": "moodscore.baseline-lstm/1",
                "quadrant": q,
                "dims": model.dims,
                "state_dict": model.state_dict(),
                "steps": step,
                "clips": len(by_quad[q]),
            },
            args.out / f"lstm_{q}.pt",
        )


def train_gan(args: argparse.Namespace) -> None:
    phrases, labels = [], []
    for clip in emopia_split(args.emopia, "train"):
        p = midi_to_phrases(load_midi(clip.path))
        phrases.append(p)
        labels += [QUADS.index(clip.quadrant)] * len(p)
    x_all = torch.from_numpy(np.concatenate(phrases).astype(np.float32))
    y_all = torch.tensor(labels)
    print(json.dumps({"phrases": len(x_all), "per_quadrant": np.bincount(labels).tolist()}), flush=True)
    torch.manual_seed(0)
    gen, critic = RollGenerator(args.gan_ch), RollCritic(args.gan_ch)
    opt_g = torch.optim.Adam(gen.parameters(), lr=1e-4, betas=(0.5, 0.9))
    opt_c = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.9))
    t_end, step, bs = time.monotonic() + 60 * args.minutes, 0, 32
    while time.monotonic() < t_end and (not args.steps or step < args.steps):
        for _ in range(5):  # critic steps per generator step (WGAN-GP)
            idx = torch.randint(len(x_all), (bs,))
            real, q = x_all[idx], y_all[idx]
            fake = gen(torch.randn(bs, 64), q).detach()
            eps = torch.rand(bs, 1, 1)
            mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(critic(mix, q).sum(), mix, create_graph=True)
            gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
            loss_c = critic(fake, q).mean() - critic(real, q).mean() + 10 * gp
            opt_c.zero_grad()
            loss_c.backward()
            opt_c.step()
        q = torch.randint(len(QUADS), (bs,))
        loss_g = -critic(gen(torch.randn(bs, 64), q), q).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        step += 1
        if step % 50 == 0:
            print(
                json.dumps({"step": step, "critic": round(loss_c.item(), 3), "gen": round(loss_g.item(), 3)}),
                flush=True,
            )
    torch.save(
        {"format": "moodscore.baseline-gan/1", "ch": args.gan_ch, "state_dict": gen.state_dict(), "steps": step},
        args.out / "gan.pt",
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emopia", type=Path, default=Path("../shared/data/emopia"))
    ap.add_argument("--which", choices=("lstm", "gan"), required=True)
    ap.add_argument("--minutes", type=float, default=10.0, help="time budget (the LSTM's is split over 4 quadrants)")
    ap.add_argument("--steps", type=int, default=0, help="stop after this many steps (per quadrant for the LSTM)")
    ap.add_argument("--gan-ch", type=int, default=32, help="GAN width (channels of the first layer)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/moodscore_cache/baselines"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    (train_lstm if args.which == "lstm" else train_gan)(args)


if __name__ == "__main__":
    main()
