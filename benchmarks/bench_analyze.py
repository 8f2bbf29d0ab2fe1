"""Time per stage and peak memory of `Engine.analyze` on a 30 s 1280x720 clip.

    python benchmarks/bench_analyze.py [--clip PATH] [--runs 3]

Without --clip it makes the synthetic benchmark clip (a moving face and speech) with
tests/data/make_example.py. Prints a Markdown table to paste into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    clip = args.clip
    if clip is None:  # made in a child process so that its memory does not count as the analysis's peak
        clip = Path(tempfile.mkdtemp()) / "bench_30s_720p.mp4"
        subprocess.run(
            [sys.executable, str(ROOT / "tests" / "data" / "make_example.py"), "--benchmark", str(clip)], check=True
        )

    from models import Engine
    from models.media import probe

    info = probe(clip)
    t = time.perf_counter()
    engine = Engine().warm_up()
    load_s = time.perf_counter() - t
    runs = []
    for _ in range(args.runs):
        t = time.perf_counter()
        tl = engine.analyze(clip)
        wall = time.perf_counter() - t
        runs.append((wall, tl.meta["timings"], tl.meta))
    walls = [r[0] for r in runs]
    med = statistics.median(walls)
    # the stages of the run nearest the median (with an even number of runs the median is between two runs)
    stages = runs[min(range(len(walls)), key=lambda i: abs(walls[i] - med))][1]
    meta = runs[0][2]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"clip: {info.width}x{info.height}, {info.duration_s:.1f} s, {info.fps:.0f} fps; "
        f"{meta['frames_with_face']}/{meta['frames_sampled']} sampled frames with a face"
    )
    print(f"engine load (all models): {load_s:.2f} s")
    print("| stage | seconds |\n|---|---|")
    for k, v in stages.items():
        print(f"| {k} | {v:.2f} |")
    print(f"| **wall, median of {args.runs}** | **{med:.2f}** ({med / info.duration_s:.3f}x real time) |")
    print(f"peak RSS of this process (engine + {args.runs} analyses): {peak_mb:.0f} MB")
    print("note: stages overlap (video decoding, face tracking and the voice run in parallel threads)")


if __name__ == "__main__":
    main()
