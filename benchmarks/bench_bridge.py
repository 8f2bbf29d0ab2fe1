"""Bridge latency: from sending /moodscore/compose (8 bars) to the last note delivered, with the Engine warm.

Runs a bridge in this process on a free loopback port and a plain OSC peer against it; also times the
``moodscore osc`` client as a separate process (what the ReaScripts run) and the Ableton path against the
AbletonOSC stand-in from the tests (to the clip read back), with the shipped composer.

    python benchmarks/bench_bridge.py [--runs 20] [--threads 1] [--record benchmarks/bridge.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def _stats(xs: list[float]) -> str:
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, round(0.9 * (len(xs) - 1)))]
    return f"median {statistics.median(xs):.3f} s, p90 {p90:.3f} s, min {xs[0]:.3f} s, max {xs[-1]:.3f} s (n={len(xs)})"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--bars", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the bridge's --threads)")
    ap.add_argument("--record", type=Path, default=None, help="write the results to this markdown file (replacing it)")
    args = ap.parse_args()

    import torch
    from ableton_standin import AbletonStandIn
    from osc_helpers import Peer

    from moodscore.bridge.ableton import AbletonLink
    from moodscore.bridge.server import BridgeServer
    from moodscore.models import Engine

    torch.set_num_threads(args.threads)
    engine = Engine()
    t = time.perf_counter()
    engine.composer  # noqa: B018  (load the composer now, as the bridge does at start)
    load_s = time.perf_counter() - t
    label = "the composer (models/weights/composer.md)"

    osc, cli, live_times = [], [], []
    with tempfile.TemporaryDirectory() as out, AbletonStandIn(tempo=120.0, clip_delay=0.1) as live:
        link = AbletonLink("127.0.0.1", live.port, reply_port=0)
        live.response_port = link.reply_port
        with BridgeServer(engine, port=0, out_dir=out, ableton=lambda: link) as bridge, Peer() as peer:
            host, port = bridge.address
            peer.send(bridge.address, "/moodscore/compose", "warm", "quadrant", "Q1", "bars", 1)
            peer.until("warm", 120)
            for i in range(args.runs):
                q = ("Q1", "Q2", "Q3", "Q4")[i % 4]
                t = time.perf_counter()
                peer.send(bridge.address, "/moodscore/compose", f"b{i}", "quadrant", q, "bars", args.bars,
                          "tempo", 120.0, "seed", i)  # fmt: skip
                replies = peer.until(f"b{i}", 120)
                osc.append(time.perf_counter() - t)
                assert replies[-1][0] == "/moodscore/done", replies[-1]
            for i in range(max(3, args.runs // 4)):
                t = time.perf_counter()
                proc = subprocess.run(
                    [sys.executable, "-m", "moodscore.models.cli",
                     "osc", "--host", host, "--port", str(port), "compose",
                     "--quadrant", "Q4", "--bars", str(args.bars), "--tempo", "120", "--seed", str(i)],
                    capture_output=True, text=True, cwd=ROOT, check=False,
                )  # fmt: skip
                cli.append(time.perf_counter() - t)
                assert proc.returncode == 0 and proc.stdout.rstrip().endswith("end"), proc.stdout[-300:]
            for i in range(max(3, args.runs // 4)):
                t = time.perf_counter()
                peer.send(bridge.address, "/moodscore/ableton", f"a{i}", "track", 0, "slot", i, "quadrant", "Q3",
                          "bars", args.bars)  # fmt: skip
                replies = peer.until(f"a{i}", 120)
                live_times.append(time.perf_counter() - t)
                assert replies[-1][0] == "/moodscore/done", replies[-1]
        link.close()

    load = os.getloadavg()
    lines = [
        f"## {time.strftime('%Y-%m-%d %H:%M')} — {label}",
        "",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, torch threads {args.threads}, "
        f"load average {load[0]:.1f}, composer load {load_s:.2f} s",
        f"- /moodscore/compose, {args.bars} bars at 120 BPM, request to last note (OSC peer): {_stats(osc)}",
        f"- `moodscore osc compose` as a process (what REAPER runs; includes Python start-up): {_stats(cli)}",
        f"- /moodscore/ableton, {args.bars} bars, request to clip confirmed by the AbletonOSC stand-in: "
        f"{_stats(live_times)}",
        f"- command: `python benchmarks/bench_bridge.py --runs {args.runs} --threads {args.threads}`",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.record:  # the file holds the latest measurement; earlier ones are in git
        head = "# Bridge latency\n\nGoal: request to last note, 8 bars, at most 1 s median, Engine warm.\n\n"
        args.record.write_text(head + text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
