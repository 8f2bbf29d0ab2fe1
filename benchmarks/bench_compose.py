"""Speed of composing and scoring with a warm Engine.

    python benchmarks/bench_compose.py [--runs 20] [--clip PATH]

- compose: ``Engine.compose`` of 8 bars at 120 BPM (piano), each quadrant in turn, median and spread, with the
  default number of takes and with one; generator tokens per second.
- score: ``score_job`` end to end (analysis, composition, rendering, mixing, mux, picture) on the synthetic
  30 s 1280x720 benchmark clip (made with tests/data/make_example.py --benchmark), as a fraction of real time.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--score-runs", type=int, default=3)
    ap.add_argument("--clip", type=Path)
    args = ap.parse_args()

    from models import ComposeRequest, Engine, score_job
    from models.media import probe

    engine = Engine()
    composer = engine.composer
    engine.compose(ComposeRequest(emotion="Q1", bars=2, tempo=120))  # warm
    walls, walls_one, toks, gen_s = [], [], 0, 0.0
    for i in range(args.runs):
        q = ("Q1", "Q2", "Q3", "Q4")[i % 4]
        t = time.perf_counter()
        engine.compose(ComposeRequest(emotion=q, bars=8, tempo=120, seed=i))
        walls.append(time.perf_counter() - t)
        t = time.perf_counter()
        engine.compose(ComposeRequest(emotion=q, bars=8, tempo=120, seed=i, candidates=1))
        walls_one.append(time.perf_counter() - t)
        t = time.perf_counter()
        ids = composer.generate_ids((q,) * 8, seed=i, temperature=1.0, top_p=0.95)
        gen_s += time.perf_counter() - t
        toks += len(ids)
    q1, med, q3 = statistics.quantiles(walls, n=4)
    print("| measure | result |\n|---|---|")
    takes = ComposeRequest(emotion="Q1").candidates
    print(
        f"| compose 8 bars at 120 BPM, {takes} takes (the default), median of {args.runs} (quartiles) "
        f"| {med:.3f} s ({q1:.3f}-{q3:.3f}) |"
    )
    print(f"| the same, one take (`--candidates 1`), median | {statistics.median(walls_one):.3f} s |")
    print(f"| generator tokens per second (KV cache, sampling included) | {toks / gen_s:.0f} |")
    print(f"| tokens per 8-bar piece, mean | {toks / args.runs:.0f} |")

    clip = args.clip
    if clip is None:
        clip = Path(tempfile.mkdtemp()) / "bench_30s_720p.mp4"
        subprocess.run(
            [sys.executable, str(ROOT / "tests" / "data" / "make_example.py"), "--benchmark", str(clip)], check=True
        )
    duration = probe(clip).duration_s
    score_walls, timings = [], []
    for _ in range(args.score_runs):
        out = Path(tempfile.mkdtemp())
        t = time.perf_counter()
        result = score_job(engine, clip, out, tempo=100)
        score_walls.append(time.perf_counter() - t)
        timings.append(result.summary["timings"])
    med = statistics.median(score_walls)
    what = f"`score` of a {duration:.0f} s 1280x720 clip, median of {args.score_runs}"
    print(f"| {what} | {med:.2f} s = {med / duration:.3f}x real time |")
    last = timings[len(timings) // 2]
    for k in ("analyze_s", "compose_s", "render_s", "mix_s", "mux_s"):
        print(f"| - {k[:-2]} | {last.get(k, float('nan')):.2f} s |")


if __name__ == "__main__":
    main()
