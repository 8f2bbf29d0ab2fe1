"""Write a set of pieces by the shipped composer for the benchmarks, with the manifest music_eval.py reads.

Per quadrant ``--n`` pieces of ``--bars`` bars, the tempo and key left to the composer (``auto``): half at the
quadrant's representative point, half at random points inside the quadrant (each axis 0.15..0.95 from the centre),
so the set covers the plane, not four points. Seeds ``--seed0`` and up; nothing is chosen or discarded.

    python benchmarks/make_pieces.py --n 50 --bars 16 --seed0 1000 --out benchmarks/results/pieces_composer
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moodscore.models import affect
from moodscore.models.music.composer import Composer
from moodscore.models.types import ComposeRequest

SIGNS = {"Q1": (1, 1), "Q2": (-1, 1), "Q3": (-1, -1), "Q4": (1, -1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50, help="pieces per quadrant")
    ap.add_argument("--bars", type=int, default=16)
    ap.add_argument("--seed0", type=int, default=1000)
    ap.add_argument("--instruments", default="piano")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    composer = Composer()
    rng = np.random.default_rng(args.seed0)
    pieces, times = [], []
    for q in affect.QUADRANTS:
        sv, sa = SIGNS[q]
        for i in range(args.n):
            seed = args.seed0 + i
            if i % 2 == 0:
                emotion: str | tuple[float, float] = q
                v, a = affect.quadrant_va(q)
            else:
                v, a = sv * rng.uniform(0.15, 0.95), sa * rng.uniform(0.15, 0.95)
                emotion = (round(v, 3), round(a, 3))
            request = ComposeRequest(
                emotion=emotion, bars=args.bars, seed=seed, instruments=tuple(args.instruments.split(","))
            )
            t = time.perf_counter()
            (score,) = composer.compose(request)
            times.append(time.perf_counter() - t)
            name = f"{q}_{i:03d}_seed{seed}.mid"
            score.midi.write(str(args.out / name))
            pieces.append(
                {
                    "file": name,
                    "quadrant": q,
                    "valence": round(float(v), 3),
                    "arousal": round(float(a), 3),
                    "tempo": score.tempo,
                    "bars": args.bars,
                    "key": score.key,
                    "group": f"{q}-{seed}",
                }
            )
    manifest = {"generator": "moodscore composer", "command": " ".join(sys.argv), "pieces": pieces}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(f"{len(pieces)} pieces in {args.out}; compose median {1000 * np.median(times):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
