"""Emotion control and musical statistics of the generators, judged by the MIDI emotion judge.

For each quadrant, ``--n`` pieces of ``--bars`` bars from the shipped generator and from the two baselines
(one LSTM per quadrant; the label-conditioned piano-roll GAN); the MIDI emotion judge classifies each: the
shipped judge (fitted on EMOPIA train + val) and, with ``--judge``, others, such as the same configuration
fitted on train only (``models.train.train_judge --train-only-out``). Musical statistics of the shipped
generator's pieces are compared with the EMOPIA test clips of the same quadrant, both read on the token grid
at 120 BPM (so note density is per beat).

    python benchmarks/eval_control.py --n 25 --bars 16 --out benchmarks/control.json
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.music import tokens
from models.music.baselines import QUADS, QuadrantLSTM, RollGenerator, sample_gan, sample_lstm
from models.music.compose import Composer
from models.music.data import emopia_split, load_midi
from models.music.features import music_stats
from models.music.generator import load_generator
from models.music.judge import load_judge

TEMPO = 120.0


def control(judge, pieces: dict[str, list]) -> dict:  # type: ignore[no-untyped-def]
    per_q, confusion = {}, np.zeros((4, 4), int)
    for q, pms in pieces.items():
        preds = [r.quadrant for r in judge.predict_many(pms)]
        for p in preds:
            confusion[QUADS.index(q), QUADS.index(p)] += 1
        per_q[q] = float(np.mean([p == q for p in preds]))
    return {
        "per_quadrant": per_q,
        "overall": float(np.trace(confusion) / confusion.sum()),
        "confusion": confusion.tolist(),
    }


def stats_table(pieces: dict[str, list], emopia: Path) -> dict:  # type: ignore[no-untyped-def]
    out = {}
    test = emopia_split(emopia, "test")
    for q, pms in pieces.items():
        real = [tokens.decode(tokens.encode(load_midi(c.path)), tempo=TEMPO) for c in test if c.quadrant == q]
        gen_stats = [music_stats(pm) for pm in pms]
        real_stats = [music_stats(pm) for pm in real]
        row = {}
        for k in gen_stats[0]:
            g, r = float(np.mean([s[k] for s in gen_stats])), float(np.mean([s[k] for s in real_stats]))
            row[k] = {"generated": g, "emopia_test": r, "rel_diff": abs(g - r) / abs(r) if r else float("nan")}
        out[q] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=25)
    ap.add_argument("--bars", type=int, default=16)
    ap.add_argument("--generator", type=Path, default=None, help="default: the shipped weights")
    ap.add_argument(
        "--configs",
        default="default",
        help="comma list of sampling settings G:W[:M] (guidance G, emotion-bias weight W, mode weight M), "
        "e.g. 0:0,0:1.5,0:1:2; 'default' = the checkpoint's own",
    )
    ap.add_argument("--models", default="transformer,lstm,gan", help="which of transformer,lstm,gan")
    ap.add_argument("--baselines", type=Path, default=Path("/tmp/moodscore_cache/baselines"))
    ap.add_argument("--emopia", type=Path, default=Path("../shared/data/emopia"))
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument(
        "--valence-contrast", type=float, default=None, help="Composer valence contrast (default: the checkpoint's)"
    )
    ap.add_argument("--no-dynamics", action="store_true", help="keep the sampled velocities (no match_dynamics)")
    ap.add_argument(
        "--judge", type=Path, action="append", default=[], help="another judge checkpoint to report control by"
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed-offset", type=int, default=0, help="seeds used: offset .. offset + n - 1")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/control.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    which = set(args.models.split(","))
    judge = load_judge()
    pieces: dict[str, dict[str, list]] = {}
    timing: dict[str, dict[str, float]] = {}
    if "transformer" in which:
        composer = Composer(load_generator(args.generator))
        if args.no_dynamics:
            composer.velocity_targets = None
        for config in args.configs.split(","):
            if config == "default":
                g, w, m = composer.guidance, composer.bias_weight, composer.mode_weight
            else:
                g, w, m = (float(x) for x in (config + ":0").split(":")[:3])
            name = f"transformer_g{g:g}_w{w:g}" + (f"_m{m:g}" if m else "")
            if args.valence_contrast:
                name += f"_c{args.valence_contrast:g}"
            pieces[name], timing[name] = {}, {"tokens": 0, "seconds": 0.0}
            for q in QUADS:
                pieces[name][q] = []
                for seed in tqdm(
                    range(args.seed_offset, args.seed_offset + args.n), desc=f"{name} {q}", file=sys.stderr
                ):
                    t = time.perf_counter()
                    ids = composer.generate_ids(
                        (q,) * args.bars,
                        seed=seed,
                        temperature=args.temperature,
                        top_p=args.top_p,
                        guidance=g,
                        bias_weight=w,
                        mode_weight=m,
                        valence_contrast=args.valence_contrast,
                    )
                    timing[name]["seconds"] += time.perf_counter() - t
                    timing[name]["tokens"] += len(ids)
                    pieces[name][q].append(composer.decode(ids, (q,) * args.bars, TEMPO))
    if "lstm" in which:
        pieces["lstm_per_quadrant"] = {}
        for q in QUADS:
            ck = torch.load(args.baselines / f"lstm_{q}.pt", weights_only=True)
            lstm = QuadrantLSTM(**ck["dims"])
            lstm.load_state_dict(ck["state_dict"])
            pieces["lstm_per_quadrant"][q] = [
                tokens.decode(sample_lstm(lstm, args.bars, seed=seed), tempo=TEMPO)
                for seed in tqdm(range(args.seed_offset, args.seed_offset + args.n), desc=f"lstm {q}", file=sys.stderr)
            ]
    if "gan" in which:
        ck = torch.load(args.baselines / "gan.pt", weights_only=True)
        gan = RollGenerator(int(ck.get("ch", 64)))
        gan.load_state_dict(ck["state_dict"])
        pieces["rollgan"] = {
            q: [
                sample_gan(gan, q, args.bars, seed=s, tempo=TEMPO)
                for s in range(args.seed_offset, args.seed_offset + args.n)
            ]
            for q in QUADS
        }
    result = {
        "settings": {k: str(v) for k, v in vars(args).items()},
        "control": {name: control(judge, p) for name, p in pieces.items()},
        "control_by_other_judges": {
            str(path): {name: control(other, p) for name, p in pieces.items()}
            for path, other in ((path, load_judge(path)) for path in args.judge)
        },
        "stats_vs_emopia_test": {name: stats_table(p, args.emopia) for name, p in pieces.items()},
        "tokens_per_s": {k: v["tokens"] / max(v["seconds"], 1e-9) for k, v in timing.items()},
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for judged_by, table in [("shipped judge", result["control"]), *result["control_by_other_judges"].items()]:
        print(f"judged by {judged_by}:")
        for name, c in table.items():
            per = "  ".join(f"{q} {c['per_quadrant'][q]:.0%}" for q in QUADS)
            print(f"  {name:<18} overall {c['overall']:.1%}   {per}")
    for name, table in result["stats_vs_emopia_test"].items():
        worst = max(v["rel_diff"] for row in table.values() for v in row.values())
        print(f"{name}: largest relative difference from EMOPIA test {worst:.0%}")
        for q, row in table.items():
            print(
                " ",
                q,
                "  ".join(
                    f"{k} {v['generated']:.3g}/{v['emopia_test']:.3g} ({v['rel_diff']:.0%})" for k, v in row.items()
                ),
            )
    for k, v in result["tokens_per_s"].items():
        print(f"{k}: {v:.0f} tokens/s")


if __name__ == "__main__":
    main()
