"""Calibrate the generator's per-quadrant token bias so that its music has the statistics of EMOPIA's.

    python -m models.train.calibrate_bias --generator models/weights/generator.pt [--iterations 6]

The shipped sampling adds a per-quadrant vector to the network's logits (a product of experts,
``models.music.compose``). Set to the raw log-ratios log p(token | quadrant) - log p(token) from EMOPIA train,
that bias double-counts what the network already knows and overshoots: Q2 pieces had twice EMOPIA's note
density and Q4 pieces a fifth less velocity. Here part of the bias is fitted instead, by moment matching:
sample pieces for each quadrant with the current bias, count the sampled tokens, and move the bias by
``step * (log f_emopia_train - log f_sampled)``; repeat. What is fitted:

- the velocity and duration distributions, each within its own family (every note has one of each), so
  loudness and note lengths follow EMOPIA's for the quadrant;
- one offset for all Position tokens and one for the bar line, against the Pitch tokens, so that notes per
  onset and notes per bar (hence note density and polyphony) follow EMOPIA's.

Which pitches and which onset positions stay with the raw log-ratios: they carry mode and register, which the
emotion is heard in. (Fitting every token on its own was tried first: with 272 free values and the noise of a
few dozen pieces per round it oscillated and the judge agreed with the asked quadrant less and less.)

Outcome, 2026-11-22 (``--iterations 7 --pieces 12 --bars 12``, written to a copy, evaluated with
benchmarks/eval_control.py on seeds 1000-1024): NOT shipped. The statistics came closer (note density within 16%
except Q3, velocity within 14%) but polyphony stayed 26-31% low and Q3's density 67% high, while the judge's
agreement with the asked quadrant fell from 84% to 50%: music as plain as EMOPIA's is heard by the judge about
as well as EMOPIA itself (68%), and the round-to-round noise of a few dozen pieces kept the fit from settling.

Only EMOPIA's train split is used (the test split stays for evaluation), with seeds from ``--seed-base``
(the evaluation in benchmarks/eval_control.py uses 1000-1024). Writes the bias into ``--out`` (default: the
generator checkpoint itself) with ``sampling.bias_weight`` 1 and the calibration's history in
``emotion_bias_meta``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from models.checkpoints import write_checkpoint
from models.music import tokens
from models.music.compose import Composer
from models.music.features import music_stats
from models.music.generator import load_generator
from models.music.judge import load_judge

SAMPLED_TYPES = ("Bar", "Position", "Pitch", "Velocity", "Duration")  # what the sampler draws (emotions are forced)


STAT_KEYS = ("note_density", "polyphony", "mean_velocity", "pitch_class_entropy", "groove_consistency")


def family_masks() -> dict[str, np.ndarray]:
    """Token family -> boolean mask over the vocabulary, for the families the sampler draws."""
    masks = {f: np.zeros(tokens.vocab_size(), bool) for f in SAMPLED_TYPES}
    for name, i in tokens.tokenizer().vocab.items():
        fam = name.split("_")[0]
        if fam in masks:
            masks[fam][i] = True
    return masks


def sampled_mask() -> np.ndarray:
    return np.logical_or.reduce(list(family_masks().values()))


def bias_update(target: np.ndarray, counts: np.ndarray, args: argparse.Namespace) -> np.ndarray:
    """(4, vocab) change of the bias that moves the sampled counts towards the target counts (module doc)."""
    fam = family_masks()
    delta = np.zeros_like(target, dtype=np.float64)
    for name in ("Velocity", "Duration"):  # within-family distributions, token by token
        m = fam[name]
        t, c = target[:, m], counts[:, m]
        ok = (t >= args.min_count) | (c >= args.min_count)
        gap = np.log((t + 0.5) / (t + 0.5).sum(1, keepdims=True)) - np.log((c + 0.5) / (c + 0.5).sum(1, keepdims=True))
        delta[:, m] = np.where(ok, gap, 0.0)
    pitch_t, pitch_c = target[:, fam["Pitch"]].sum(1), counts[:, fam["Pitch"]].sum(1)
    for name in ("Position", "Bar"):  # one offset per family, relative to the Pitch tokens
        m = fam[name]
        gap = np.log(target[:, m].sum(1) / pitch_t) - np.log((counts[:, m].sum(1) + 0.5) / (pitch_c + 0.5))
        delta[:, m] = gap[:, None]
    return np.clip(args.step * delta, -args.max_change, args.max_change)


def target_counts(corpus: Path) -> np.ndarray:
    """(4, vocab) token counts of the EMOPIA train clips per quadrant (from train_generator's corpus cache)."""
    z = np.load(corpus, allow_pickle=False)
    meta = json.loads(str(z["meta"]))
    counts = np.zeros((len(tokens.QUADRANTS), tokens.vocab_size()))
    for i, q in enumerate(meta["train"]):
        counts[tokens.QUADRANTS.index(q)] += np.bincount(z[f"train_{i}"].astype(np.int64), minlength=counts.shape[1])
    return counts


def train_stats(corpus: Path) -> dict[str, dict[str, float]]:
    """Mean music statistics of the EMOPIA train clips per quadrant, read on the token grid at 120 BPM."""
    z = np.load(corpus, allow_pickle=False)
    meta = json.loads(str(z["meta"]))
    per_q: dict[str, list[dict[str, float]]] = {q: [] for q in tokens.QUADRANTS}
    for i, q in enumerate(meta["train"]):
        per_q[q].append(music_stats(tokens.decode([int(t) for t in z[f"train_{i}"]], tempo=120.0)))
    return {q: {k: round(float(np.mean([s[k] for s in rows])), 3) for k in STAT_KEYS} for q, rows in per_q.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", type=Path, default=Path("models/weights/generator.pt"))
    ap.add_argument("--out", type=Path, help="default: --generator (the bias is written into it)")
    ap.add_argument(
        "--corpus",
        type=Path,
        default=Path("/tmp/moodscore_cache/generator/corpus.npz"),
        help="token corpus written by models.train.train_generator (EMOPIA train split)",
    )
    ap.add_argument("--iterations", type=int, default=6)
    ap.add_argument("--pieces", type=int, default=10, help="pieces per quadrant per iteration")
    ap.add_argument("--bars", type=int, default=16)
    ap.add_argument("--step", type=float, default=0.5, help="fraction of the log-frequency gap closed per iteration")
    ap.add_argument("--max-change", type=float, default=0.5, help="largest change of one bias value per iteration")
    ap.add_argument("--limit", type=float, default=4.0, help="bias values stay within +-limit")
    ap.add_argument("--min-count", type=float, default=5.0, help="tokens rarer than this in both are left alone")
    ap.add_argument("--seed-base", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    out = args.out or args.generator
    torch.set_num_threads(args.threads)

    net = load_generator(args.generator)
    composer = Composer(net)
    judge = load_judge()
    mask = sampled_mask()
    target = target_counts(args.corpus) * mask
    target_f = (target + 0.5) / (target + 0.5).sum(axis=1, keepdims=True)
    start = net.emotion_bias * float(net.sampling.get("bias_weight", 1.0)) if net.emotion_bias is not None else None
    bias = np.zeros_like(target_f) if start is None else start.numpy().astype(np.float64)
    composer.bias_weight = 1.0
    history: list[dict[str, object]] = [{"emopia_train_stats": train_stats(args.corpus)}]
    print(json.dumps(history[0]), flush=True)
    seed = args.seed_base
    for it in range(args.iterations + 1):  # the last round only measures
        composer.emotion_bias = bias.astype(np.float32)
        counts = np.zeros_like(target)
        right, n_tokens, t0 = 0, 0, time.perf_counter()
        stats: dict[str, dict[str, float]] = {}
        for qi, q in enumerate(tokens.QUADRANTS):
            pieces = []
            for _ in tqdm(range(args.pieces), desc=f"round {it} {q}", file=sys.stderr, leave=False):
                ids = composer.generate_ids((q,) * args.bars, seed=seed, temperature=1.0, top_p=0.95)
                seed += 1
                gen = np.asarray(ids[3:], np.int64)  # after the prompt BOS Bar Emotion
                counts[qi] += np.bincount(gen, minlength=counts.shape[1])
                n_tokens += len(ids)
                pieces.append(tokens.decode(ids, tempo=120.0))
            right += sum(r.quadrant == q for r in judge.predict_many(pieces))
            stats[q] = {k: round(float(np.mean([music_stats(p)[k] for p in pieces])), 3) for k in STAT_KEYS}
        counts *= mask
        gen_f = (counts + 0.5) / (counts + 0.5).sum(axis=1, keepdims=True)
        l1 = {q: float(np.abs(target_f[i] - gen_f[i]).sum()) for i, q in enumerate(tokens.QUADRANTS)}
        per_bar = {
            q: float(counts[i].sum() / (args.pieces * args.bars)) for i, q in enumerate(tokens.QUADRANTS)
        }  # sampled tokens per bar
        row = {
            "round": it,
            "l1_token_frequencies": l1,
            "tokens_per_bar": per_bar,
            "judge_agrees": right / (4 * args.pieces),
            "stats": stats,
            "seconds": time.perf_counter() - t0,
            "tokens_per_s": n_tokens / (time.perf_counter() - t0),
        }
        history.append(row)
        print(json.dumps(row), flush=True)
        if it == args.iterations:
            break
        bias = np.clip(bias + bias_update(target, counts, args), -args.limit, args.limit) * mask

    ck = torch.load(args.generator, map_location="cpu", weights_only=True)
    ck["emotion_bias"] = torch.from_numpy(bias.astype(np.float32))
    ck["sampling"] = {**ck.get("sampling", {}), "bias_weight": 1.0}
    ck["emotion_bias_meta"] = {
        "method": "moment matching of sampled token frequencies to EMOPIA train per quadrant",
        "command": "python -m models.train.calibrate_bias " + " ".join(argv if argv is not None else sys.argv[1:]),
        "settings": {k: str(v) for k, v in vars(args).items()},
        "history": history,
        "date": time.strftime("%Y-%m-%d"),
    }
    write_checkpoint(ck, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
