"""A Discord server of many people, simulated: the bot's real discord.py code serving /score and /compose from
``--users`` distinct users against the local stand-in for Discord's API, its jobs on Celery workers through a
real redis-server on this machine.

Users arrive at random over ``--arrival`` seconds; most ask /compose, ``--score-share`` of them /score a short
clip with a face, and ``--retry-share`` of them send a second command a few seconds after their first (the
cooldown must refuse it). Measured per interaction from the moment the gateway delivers it: when it was deferred
(Discord's 3 s rule), whether the user was told their place while waiting, when and how the result arrived (the
follow-up inside the interaction window, or the channel fallback after it), and what was refused. The bot's
event loop is probed every 20 ms; a separate idle process probes at the same time, so that a stall of the whole
machine (the workers keep both cores busy) is told apart from a stall of the bot.

    python benchmarks/bench_discord_load.py --users 1000 --arrival 120 --workers 2 --record benchmarks/discord_load.md

The workers run the tiny test networks (``--debug-models``): the analysis of faces and voices is cheap, while
composing, FluidSynth rendering, MP3 encoding, muxing and every part of the job layer are the real ones. Real
models cost more per /score (``benchmarks/bench_throughput.py`` measures that).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

SLEEPER = """
import pathlib, sys, time
stop = pathlib.Path(sys.argv[1])
while not stop.exists():
    t = time.monotonic(); time.sleep(0.02); print(t, time.monotonic())
"""
TICK = 0.02


class StallSampler(threading.Thread):
    """Where the event loop's thread is while the loop is late: every 10 ms, if the probe has not ticked for
    100 ms, the loop thread's innermost frames of this project's or discord.py's code are counted."""

    def __init__(self, loop_thread: int, lags: list[tuple[float, float]]) -> None:
        super().__init__(daemon=True, name="stall-sampler")
        self.loop_thread, self.lags = loop_thread, lags
        self.sites: collections.Counter[str] = collections.Counter()
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.01):
            last = self.lags[-1][1] if self.lags else time.monotonic()
            if time.monotonic() - last < 0.1:
                continue
            frame = sys._current_frames().get(self.loop_thread)
            stack = traceback.extract_stack(frame) if frame is not None else []
            ours = [f for f in stack if "/site-packages/" not in f.filename or "/discord/" in f.filename]
            top = ours[-3:] if ours else stack[-3:]
            self.sites[" <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(top))] += 1

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, round(q / 100 * (len(v) - 1)))]


async def run(args: argparse.Namespace, broker: str, storage: Path, clip: bytes) -> dict[str, Any]:
    import discord
    from discord_payloads import TOKEN, attachment, interaction_payload
    from discord_standin import StandIn

    from moodscore.bots.app import BotSettings, MoodscoreBot
    from moodscore.models.jobs.celery import CeleryRunner

    rng = random.Random(args.seed)
    with StandIn() as api:
        discord.http.Route.BASE = api.api_base  # type: ignore[misc]
        runner = CeleryRunner(broker, storage=storage, max_queue=args.users * 2)
        settings = BotSettings(
            max_jobs=args.users * 2,
            workers=args.workers,
            cooldown_s=args.cooldown,
            progress_every_s=2.0,
            window_s=args.window,
            work_dir=storage,
        )
        bot = MoodscoreBot(settings, runner=runner)
        await bot.login(TOKEN)
        loop = asyncio.get_running_loop()
        if args.debug_loop:  # asyncio names every callback that holds the loop longer than 100 ms
            loop.set_debug(True)
            loop.slow_callback_duration = 0.1
        lags: list[tuple[float, float]] = []
        stop = asyncio.Event()

        async def probe() -> None:
            while not stop.is_set():
                t = time.monotonic()
                await asyncio.sleep(TICK)
                lags.append((t, time.monotonic()))

        plan: list[tuple[float, dict[str, Any], str]] = []
        for uid in range(1, args.users + 1):
            at = rng.uniform(0, args.arrival)
            if rng.random() < args.score_share:
                att = attachment(api, f"clip{uid}.mp4", clip, "video/mp4")
                options: dict[str, Any] = {"clip": "", "tempo": 100}
                payload = interaction_payload("score", options, user_id=uid, attachments={"clip": att})
                kind = "score"
            else:
                options = {"quadrant": rng.choice(["Q1", "Q2", "Q3", "Q4"]), "bars": rng.choice([2, 4, 8])}
                payload = interaction_payload("compose", options, user_id=uid)
                kind = "compose"
            plan.append((at, payload, kind))
            if rng.random() < args.retry_share:
                again = interaction_payload("compose", {"quadrant": "Q1", "bars": 2}, user_id=uid)
                plan.append((at + rng.uniform(1.0, 5.0), again, "retry"))
        plan.sort(key=lambda x: x[0])
        gc_pauses: list[tuple[float, float]] = []  # (start, end) of every garbage collection in this process
        gc_started: list[float] = []

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                gc_started[:] = [time.monotonic()]
            elif gc_started:
                gc_pauses.append((gc_started[0], time.monotonic()))

        gc.callbacks.append(on_gc)
        cpu0 = time.process_time()
        prober = asyncio.create_task(probe())  # (from the first interaction on: making the plan is the benchmark's)
        watchdog = StallSampler(threading.get_ident(), lags)
        watchdog.start()
        sent: dict[str, tuple[float, str, int]] = {}
        t0 = time.monotonic()
        for at, payload, kind in plan:
            delay = t0 + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            payload["id"] = str(discord.utils.time_snowflake(discord.utils.utcnow()))  # created now
            sent[payload["token"]] = (time.monotonic(), kind, int(payload["member"]["user"]["id"]))
            bot._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
        # every command task to its end (a result, a fallback or a refusal)
        deadline = time.monotonic() + args.window + 120
        while True:
            running = [t for t in asyncio.all_tasks() if t.get_name() == "CommandTree-invoker" and not t.done()]
            if not running or time.monotonic() > deadline:
                break
            await asyncio.wait(running, timeout=1.0)
        stuck = len(running)
        t_end = time.monotonic()
        cpu = time.process_time() - cpu0
        stop.set()
        watchdog.stop()
        gc.callbacks.remove(on_gc)
        await prober
        await bot.close()
        requests = api.snapshot()
    return {
        "sent": sent,
        "requests": requests,
        "lags": lags,
        "t0": t0,
        "t_end": t_end,
        "stuck": stuck,
        "stall_sites": watchdog.sites.most_common(8),
        "gc_pauses": gc_pauses,
        "cpu_s": cpu,
    }


def analyse(res: dict[str, Any], stalls: list[tuple[float, float]], args: argparse.Namespace) -> dict[str, Any]:
    by_token: dict[str, list[Any]] = {tok: [] for tok in res["sent"]}
    channel_posts = []
    for r in res["requests"]:
        for tok in (p for p in r.path.split("/") if p.startswith("interaction-token-")):
            if tok in by_token:
                by_token[tok].append(r)
        if r.method == "POST" and r.path.endswith("/messages") and "/channels/" in r.path:
            channel_posts.append(r)
    defer_s: list[float] = []
    result_s: list[float] = []
    placed = refused = delivered = fallback = lost = retry_refused = retry_ran = 0
    kinds = {"score": 0, "compose": 0}
    for tok, (t, kind, uid) in res["sent"].items():
        calls = by_token[tok]
        first = next((r for r in calls if r.path.endswith("/callback")), None)
        if first is not None:
            defer_s.append(first.at - t)
        if kind == "retry":
            cb = (first.json or {}) if first is not None else {}
            text = str((cb.get("data") or {}).get("content", ""))
            if cb.get("type") == 4 and "Slow down" in text:
                retry_refused += 1
            else:
                retry_ran += 1
            continue
        kinds[kind] += 1
        edits = [str(r.json.get("content", "")) for r in calls if r.method == "PATCH" and isinstance(r.json, dict)]
        if any("in the queue" in e for e in edits):
            placed += 1
        follow = [r for r in calls if r.method == "POST" and "/webhooks/" in r.path and r.files]
        mention = f"<@{uid}>"
        fell_back = [r for r in channel_posts if r.files and mention in str((r.json or {}).get("content", ""))]
        if follow:
            delivered += 1
            result_s.append(follow[0].at - t)
        elif fell_back:
            fallback += 1
            result_s.append(fell_back[0].at - t)
        elif any(e.startswith("❌") for e in edits):
            refused += 1
        else:
            lost += 1
    lags = [b - a - TICK for a, b in res["lags"]]
    bot_stalls = [(a, b) for a, b in res["lags"] if b - a - TICK > 0.1]
    own = [(a, b) for a, b in bot_stalls if not any(x < b and y > a for x, y in stalls)]
    long_gc = [(a, b) for a, b in res["gc_pauses"] if b - a > 0.05]
    in_gc = [(a, b) for a, b in own if any(x < b and y > a for x, y in long_gc)]
    n = len([1 for _, k, _ in res["sent"].values() if k != "retry"])
    return {
        "users": args.users,
        "interactions": len(res["sent"]),
        "commands": kinds,
        "deferred_within_3s": sum(d <= 3.0 for d in defer_s),
        "defer_p50_s": statistics.median(defer_s) if defer_s else float("nan"),
        "defer_max_s": max(defer_s) if defer_s else float("nan"),
        "told_queue_place": placed,
        "delivered_in_window": delivered,
        "channel_fallback": fallback,
        "refused_with_message": refused,
        "lost": lost,
        "stuck_tasks": res["stuck"],
        "retries_refused_by_cooldown": retry_refused,
        "retries_that_ran": retry_ran,
        "result_p50_s": pct(result_s, 50),
        "result_p90_s": pct(result_s, 90),
        "result_max_s": max(result_s) if result_s else float("nan"),
        "loop_lag_p99_ms": 1000 * pct(lags, 99),
        "loop_lag_max_ms": 1000 * max(lags) if lags else float("nan"),
        "loop_stalls_over_100ms": len(bot_stalls),
        "loop_stalls_over_100ms_not_machine_wide": len(own),
        "machine_stalls_over_50ms": len(stalls),
        "garbage_collections_over_50ms": len(long_gc),
        "loop_stalls_over_100ms_during_a_garbage_collection": len(in_gc),
        "wall_s": res["t_end"] - res["t0"],
        "where_the_loop_was_when_late (10 ms samples)": "; ".join(f"{n}x {site}" for site, n in res["stall_sites"]),
        "jobs_per_hour": 3600 * n / max(res["t_end"] - res["t0"], 1e-9),
        "bot_process_cpu_ms_per_interaction (with the stand-in)": 1000 * res["cpu_s"] / max(len(res["sent"]), 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--arrival", type=float, default=120.0, help="seconds over which the users arrive")
    ap.add_argument("--score-share", type=float, default=0.1)
    ap.add_argument("--retry-share", type=float, default=0.05)
    ap.add_argument("--workers", type=int, default=2, help="Celery pool processes on this machine")
    ap.add_argument("--cooldown", type=float, default=30.0)
    ap.add_argument("--window", type=float, default=15 * 60 - 45, help="the bot's interaction window (s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--debug-loop", action="store_true", help="log what holds the bot's event loop over 100 ms")
    ap.add_argument("--record", type=Path, help="write the report here (Markdown)")
    args = ap.parse_args(argv)

    from celery_helpers import Worker, redis_server
    from media_fixtures import face_clip

    tmp = Path(tempfile.mkdtemp(prefix="moodscore-load-"))
    storage = tmp / "storage"
    storage.mkdir()
    clip = face_clip(tmp, seconds=3.0).read_bytes()
    stop_file = tmp / "stop"
    with redis_server(tmp) as broker:
        worker = Worker(broker, storage, concurrency=args.workers, job_seconds=600, name="load").wait_ready()
        sleeper = subprocess.Popen([sys.executable, "-c", SLEEPER, str(stop_file)], stdout=subprocess.PIPE)
        try:
            res = asyncio.run(run(args, broker, storage, clip))
        finally:
            stop_file.touch()
            out, _ = sleeper.communicate(timeout=30)
            worker.stop()
    pairs = [tuple(map(float, line.split())) for line in out.decode().splitlines() if line.strip()]
    stalls = [(a, b) for a, b in pairs if b - a - TICK >= 0.05]
    report = analyse(res, stalls, args)
    shutil.rmtree(tmp, ignore_errors=True)
    lines = [
        "# A Discord server of many people, simulated (`benchmarks/bench_discord_load.py`)",
        "",
        f"Command: `python benchmarks/bench_discord_load.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
        f"({args.workers} Celery pool processes on this 2-core machine, the bot and a redis-server beside them; "
        "tiny test networks in the workers, everything else real).",
        "",
        "| measure | value |",
        "|---|---|",
        *[f"| {k} | {v:.3f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in report.items()],
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.record:
        args.record.write_text(text, encoding="utf-8")
    return 0 if report["lost"] == 0 and report["stuck_tasks"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
