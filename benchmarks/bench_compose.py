"""Speed of the composer, and optionally of a whole ``score`` with a warm Engine.

    python benchmarks/bench_compose.py [--runs 20] [--clip PATH [--score-runs 3]]

- compose: ``Composer().compose`` of 8 and of 64 bars at 120 BPM (piano), each quadrant in turn (seed = run
  index), warm (one piece composed first); median and quartiles of the wall time.
- score (only with ``--clip``): ``score_job`` end to end (analysis, composition, rendering, mixing, mux, picture)
  on that clip, as a fraction of real time. The synthetic 30 s 1280x720 benchmark clip is made with
  ``python tests/data/make_example.py --benchmark PATH``.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUADRANTS = ("Q1", "Q2", "Q3", "Q4")
STAGES = ("analyze_s", "compose_s", "render_s", "mix_s", "mux_s")  # score_job's timings


def _summary(walls: list[float]) -> dict[str, float]:
    q1, med, q3 = statistics.quantiles(walls, n=4) if len(walls) > 1 else (walls[0],) * 3
    return {"median_s": round(med, 4), "q1_s": round(q1, 4), "q3_s": round(q3, 4), "runs": len(walls)}


def time_compose(runs: int) -> dict[str, Any]:
    from moodscore.models.music.composer import Composer
    from moodscore.models.types import ComposeRequest

    composer = Composer()
    composer.compose(ComposeRequest(emotion="Q1", bars=8, tempo=120, seed=0))  # warm
    out: dict[str, Any] = {}
    for bars in (8, 64):
        walls = []
        for i in range(runs):
            request = ComposeRequest(emotion=QUADRANTS[i % 4], bars=bars, tempo=120, seed=i)
            t = time.perf_counter()
            composer.compose(request)
            walls.append(time.perf_counter() - t)
        out[f"compose_{bars}_bars"] = _summary(walls)
    return out


def time_score(clip: Path, runs: int) -> dict[str, Any]:
    from moodscore.models import Engine, score_job
    from moodscore.models.media.decode import probe

    engine = Engine()
    duration = probe(clip).duration_s
    walls, timings = [], []
    for _ in range(runs):
        out = Path(tempfile.mkdtemp())
        t = time.perf_counter()
        result = score_job(engine, clip, out, tempo=100)
        walls.append(time.perf_counter() - t)
        timings.append(result.summary["timings"])
    med = statistics.median(walls)
    last = timings[len(timings) // 2]
    return {
        "clip": str(clip),
        "clip_s": round(duration, 2),
        "median_s": round(med, 3),
        "real_time_factor": round(med / duration, 4),
        "runs": runs,
        "stages_s": {k[:-2]: round(float(last.get(k, float("nan"))), 3) for k in STAGES},
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20, help="pieces per length (the quadrants in turn)")
    ap.add_argument("--clip", type=Path, help="also time a whole `score` of this clip")
    ap.add_argument("--score-runs", type=int, default=3)
    args = ap.parse_args(argv)
    if args.runs < 1 or args.score_runs < 1:
        ap.error("--runs and --score-runs must be at least 1")
    result: dict[str, Any] = {"benchmark": "compose", "tempo": 120, **time_compose(args.runs)}
    if args.clip is not None:
        result["score"] = time_score(args.clip, args.score_runs)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
