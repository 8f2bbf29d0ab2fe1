"""Write pieces by a baseline generator for the benchmarks, with the manifest music_eval.py reads.

Per quadrant ``--n-per-quadrant`` pieces of ``--bars`` bars at ``--tempo``, seeds ``--seed0`` and up (the same
seeds for every quadrant; a piece's group is its seed). One take each: nothing is chosen, judged or discarded.

- ``transformer``: the emotion-conditioned Transformer (``models/music/baselines/generator.pt``, or
  ``--generator``) sampled bar by bar with the bar's emotion token forced after each bar line
  (``moodscore.models.music.baselines.sampling.sample_bars``),
  temperature 1, top-p 0.95, the checkpoint's per-quadrant emotion bias at the weight of its ``sampling``
  defaults (if stored); decoded from its tokens at the tempo, no other processing.
- ``lstm``: one token LSTM per quadrant continued from random seed notes (``moodscore.models.music.baselines.rnn_gan``);
  ``--baselines DIR`` must hold ``lstm_Q1.pt`` .. ``lstm_Q4.pt`` from
  ``python -m moodscore.models.music.baselines.train_rnn_gan --which lstm``.
- ``gan``: the label-conditioned piano-roll WGAN-GP; ``DIR/gan.pt`` from ``train_rnn_gan --which gan``.

Each piece is a type-1 MIDI file with one track named "Piano" (program 0), a tempo and a 4/4 time signature,
cut to its bars.

    python benchmarks/baseline_pieces.py --model transformer --n-per-quadrant 50 --bars 16 --seed0 1000 \\
        --out benchmarks/results/pieces_transformer
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moodscore.models.music.baselines import tokens
from moodscore.models.music.baselines.generator import FastDecoder, load_generator
from moodscore.models.music.baselines.rnn_gan import QUADS, QuadrantLSTM, RollGenerator, sample_gan, sample_lstm
from moodscore.models.music.baselines.sampling import sample_bars

MODELS = ("transformer", "lstm", "gan")
TEMPERATURE, TOP_P = 1.0, 0.95
Maker = Callable[[str, int], pretty_midi.PrettyMIDI]  # (quadrant, seed) -> a piece


def piano_piece(pm: pretty_midi.PrettyMIDI, *, tempo: float, bars: int) -> pretty_midi.PrettyMIDI:
    """Every note of ``pm`` in one track named "Piano", at ``tempo`` in 4/4, cut to ``bars`` bars."""
    end = bars * 4 * 60.0 / tempo
    out = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    out.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    piano = pretty_midi.Instrument(program=0, name="Piano")
    for inst in pm.instruments:
        for n in inst.notes:
            if n.start < end and n.end > n.start:
                piano.notes.append(pretty_midi.Note(int(n.velocity), int(n.pitch), n.start, min(n.end, end)))
    piano.notes.sort(key=lambda n: (n.start, n.pitch))
    out.instruments.append(piano)
    return out


def transformer_maker(args: argparse.Namespace) -> tuple[Maker, dict[str, Any]]:
    net = load_generator(args.generator)
    decoder = FastDecoder(net)
    bias_weight = float(net.sampling.get("bias_weight", 0.0)) if net.emotion_bias is not None else 0.0
    guidance = float(net.sampling.get("guidance", 0.0))

    def make(q: str, seed: int) -> pretty_midi.PrettyMIDI:
        ids = sample_bars(
            net, (q,) * args.bars, seed=seed, temperature=TEMPERATURE, top_p=TOP_P, guidance=guidance, decoder=decoder
        )
        return tokens.decode(ids, tempo=args.tempo)

    info = {
        "checkpoint": str(args.generator or "models/music/baselines/generator.pt"),
        "temperature": TEMPERATURE,
        "top_p": TOP_P,
        "emotion_bias_weight": bias_weight,
        "guidance": guidance,
    }
    return make, info


def _load(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise SystemExit(
            f"{path} not found: train the {what} baseline with python -m moodscore.models.music.baselines.train_rnn_gan"
        )
    ck: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return ck


def lstm_maker(args: argparse.Namespace) -> tuple[Maker, dict[str, Any]]:
    nets, steps = {}, {}
    for q in QUADS:
        ck = _load(args.baselines / f"lstm_{q}.pt", "lstm")
        net = QuadrantLSTM(**ck["dims"])
        net.load_state_dict(ck["state_dict"])
        nets[q], steps[q] = net.eval(), int(ck.get("steps", 0))

    def make(q: str, seed: int) -> pretty_midi.PrettyMIDI:
        return tokens.decode(sample_lstm(nets[q], args.bars, seed=seed, temperature=TEMPERATURE), tempo=args.tempo)

    return make, {"checkpoints": str(args.baselines), "training_steps": steps, "temperature": TEMPERATURE}


def gan_maker(args: argparse.Namespace) -> tuple[Maker, dict[str, Any]]:
    ck = _load(args.baselines / "gan.pt", "gan")
    gan = RollGenerator(int(ck.get("ch", 64)))
    gan.load_state_dict(ck["state_dict"])

    def make(q: str, seed: int) -> pretty_midi.PrettyMIDI:
        return sample_gan(gan, q, args.bars, seed=seed, tempo=args.tempo)

    return make, {"checkpoint": str(args.baselines / "gan.pt"), "training_steps": int(ck.get("steps", 0))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=MODELS, required=True)
    ap.add_argument("--n-per-quadrant", type=int, default=50)
    ap.add_argument("--bars", type=int, default=16)
    ap.add_argument("--tempo", type=float, default=100.0, help="BPM of every piece")
    ap.add_argument("--seed0", type=int, default=1000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--generator", type=Path, default=None, help="transformer checkpoint (default: the shipped one)")
    ap.add_argument("--baselines", type=Path, default=Path("/tmp/moodscore_cache/baselines"), help="lstm/gan weights")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if args.n_per_quadrant < 1 or args.bars < 1 or not 0 < args.tempo <= 400:
        ap.error("--n-per-quadrant and --bars must be at least 1, --tempo in (0, 400]")
    torch.set_num_threads(args.threads)
    make, info = {"transformer": transformer_maker, "lstm": lstm_maker, "gan": gan_maker}[args.model](args)
    args.out.mkdir(parents=True, exist_ok=True)
    pieces, times = [], []
    for q in QUADS:
        for i in range(args.n_per_quadrant):
            seed = args.seed0 + i
            t = time.perf_counter()
            pm = piano_piece(make(q, seed), tempo=args.tempo, bars=args.bars)
            times.append(time.perf_counter() - t)
            name = f"{q}_{i:03d}_seed{seed}.mid"
            pm.write(str(args.out / name))
            pieces.append(
                {
                    "file": name,
                    "quadrant": q,
                    "valence": None,
                    "arousal": None,
                    "tempo": args.tempo,
                    "bars": args.bars,
                    "group": str(seed),
                }
            )
    manifest = {
        "generator": f"baseline: {args.model}",
        "settings": info,
        "command": " ".join(["python", *sys.argv]),
        "pieces": pieces,
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(f"{len(pieces)} pieces in {args.out}; median {1000 * np.median(times):.0f} ms a piece")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
