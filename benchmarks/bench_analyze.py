"""Time per stage and peak memory of `Engine.analyze` on a 30 s 1280x720 clip, beside the decode floor.

    python benchmarks/bench_analyze.py [--clip PATH] [--runs 3] [--startup]

Without --clip it makes the synthetic benchmark clip (a moving face and speech) with
tests/data/make_example.py. In the same run it measures the floor: a bare PyAV decode of the clip with every
5th frame converted to RGB (what the analysis samples at 5 fps), median of ``--runs``; the goal is an analysis
within 2.5x of it. ``--startup`` also times a fresh ``moodscore analyze`` process (median of 3) against the warm
analysis (the start-up it adds). The CPU's features and whether bfloat16 was used are printed with the results, so that
a figure says what kind of machine it came from; to see a CPU without AVX-512 on one that has it, run with
``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 MOODSCORE_BF16=0`` (PyTorch's kernels then stop at AVX2;
MediaPipe's XNNPACK and FFmpeg still use what the CPU has). Prints a Markdown table for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
    ap.add_argument("--startup", action="store_true", help="also time a fresh `moodscore analyze` process")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")

    clip = args.clip
    if clip is None:  # made in a child process so that its memory does not count as the analysis's peak
        clip = Path(tempfile.mkdtemp()) / "bench_30s_720p.mp4"
        subprocess.run(
            [sys.executable, str(ROOT / "tests" / "data" / "make_example.py"), "--benchmark", str(clip)], check=True
        )

    from moodscore.models import Engine
    from moodscore.models.faces.expression import bf16_default
    from moodscore.models.media.decode import probe

    info = probe(clip)
    t = time.perf_counter()
    engine = Engine().warm_up()
    load_s = time.perf_counter() - t
    runs, floors = [], []
    for _ in range(args.runs):  # floor and analysis in turn, so that both see the same load on the machine
        floors.append(decode_floor(clip))
        t = time.perf_counter()
        tl = engine.analyze(clip)
        wall = time.perf_counter() - t
        runs.append((wall, tl.meta["timings"], tl.meta))
    floor = statistics.median(floors)
    ratios = sorted(w / f for (w, _, _), f in zip(runs, floors, strict=True))
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
    print(f"CPU: {cpu_description()}; expression networks in {'bfloat16' if bf16_default() else 'float32'}")
    print(f"engine load (all models): {load_s:.2f} s")
    print("| stage | seconds |\n|---|---|")
    for k, v in stages.items():
        print(f"| {k} | {v:.2f} |")
    print(f"| **wall, median of {args.runs}** | **{med:.2f}** ({med / info.duration_s:.3f}x real time) |")
    print(f"| decode floor (PyAV, every 5th frame to RGB), median of {args.runs} | {floor:.2f} |")
    print(
        f"| **analysis / decode floor**, median of the {args.runs} runs' ratios | **{statistics.median(ratios):.2f}x** "
        f"(range {ratios[0]:.2f}-{ratios[-1]:.2f}; goal <= 2.5x) |"
    )
    if args.startup:
        fresh_runs = []
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "moodscore.models.cli", "analyze", str(clip)],
                check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            fresh_runs.append(time.perf_counter() - t)
        fresh = statistics.median(fresh_runs)
        print(
            f"| fresh `moodscore analyze` process, median of 3 | {fresh:.2f} (start-up {fresh - med:+.2f} s beside "
            "the warm analysis; goal <= 3 s) |"
        )
    print(f"peak RSS of this process (engine + {args.runs} analyses): {peak_mb:.0f} MB")
    print("note: stages overlap (video decoding, face tracking and the voice run in parallel threads)")


def decode_floor(clip: Path) -> float:
    """Seconds to decode every frame of ``clip`` and convert every 5th to RGB with PyAV, nothing else."""
    import av

    t = time.perf_counter()
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if i % 5 == 0:
                frame.to_ndarray(format="rgb24")
    return time.perf_counter() - t


def cpu_description() -> str:
    """The CPU model, its SIMD features that matter here, torch's kernel level and the relevant overrides."""
    import torch

    flags: set[str] = set()
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("", platform.machine()):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    simd = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    env = {k: v for k, v in os.environ.items() if k in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MOODSCORE_BF16")}
    return (
        f"{model}, {os.cpu_count()} cores, flags {' '.join(simd) or 'unknown'}, "
        f"torch kernels {torch.backends.cpu.get_cpu_capability()}" + (f", {json.dumps(env)}" if env else "")
    )


if __name__ == "__main__":
    main()
