"""``moodscore bridge``: its command-line options, and starting the :class:`bridge.server.BridgeServer` with the
engine, the job runner, the request secret and the Ableton connection they ask for."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from moodscore.bridge.protocol import DEFAULT_HOST, DEFAULT_PORT, default_secret_file, make_secret
from moodscore.bridge.server import BridgeServer, private_folder
from moodscore.models import add_broker_options, broker_problem


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="moodscore bridge", description="The moodscore OSC bridge (bridge/PROTOCOL.md).")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"UDP port (default {DEFAULT_PORT})")
    p.add_argument("--out", type=Path, default=None, metavar="DIR", help="where MIDI and scores are written "
                   "(default: moodscore-bridge-UID in the system temp folder, private to you)")  # fmt: skip
    p.add_argument("--allow", type=Path, action="append", default=[], metavar="DIR",
                   help="a folder whose videos may be scored (repeatable; default: your Videos, Movies, Desktop, "
                   "Downloads, Documents and Music folders that exist, else your home folder)")  # fmt: skip
    p.add_argument("--secret-file", type=Path, default=None, metavar="PATH",
                   help="requests must carry the secret in this file (default ~/.config/moodscore/bridge-secret, "
                   "made on first start, readable by you only; `moodscore osc` reads it)")  # fmt: skip
    p.add_argument(
        "--no-secret",
        action="store_true",
        help="serve requests without the secret (any user of this machine can then use the bridge)",
    )
    p.add_argument("--queue", type=int, default=8, help="jobs that may wait (default 8); more get an error")
    p.add_argument("--job-seconds", type=float, default=600.0, metavar="S",
                   help="a running job's time limit (default 600; 0: none); longer ones end with an error")  # fmt: skip
    p.add_argument("--keep", type=int, default=200, help="request folders kept in --out (default 200, oldest go)")
    p.add_argument("--ableton-host", default="127.0.0.1", help="where AbletonOSC runs (default 127.0.0.1)")
    p.add_argument("--ableton-port", type=int, default=11000, help="AbletonOSC's port (default 11000)")
    p.add_argument("--ableton-reply-port", type=int, default=11001, help="AbletonOSC replies here (default 11001)")
    p.add_argument("--threads", type=int, default=None, help="PyTorch threads (default: PyTorch's choice)")
    p.add_argument("--verbose", "-v", action="store_true", help="log every request")
    p.add_argument("--debug-models", action="store_true", help=argparse.SUPPRESS)
    add_broker_options(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not (args.job_seconds >= 0):
        parser.error(f"--job-seconds must be 0 (no limit) or more, got {args.job_seconds}")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(message)s")
    problem = broker_problem(args.broker, args.storage)
    if problem:
        parser.error(problem)
    import functools

    from moodscore.bridge.ableton import AbletonLink
    from moodscore.models import Engine, MoodscoreError, ProcessRunner, make_runner

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    runner = make_runner(
        broker=args.broker,
        storage=args.storage,
        factory=functools.partial(Engine, debug=args.debug_models),
        max_queue=args.queue,
        time_limit=args.job_seconds or None,
    )
    links: list[AbletonLink] = []

    def ableton() -> AbletonLink:  # opened at the first Ableton request, then kept
        if not links:
            links.append(AbletonLink(args.ableton_host, args.ableton_port, args.ableton_reply_port))
        return links[0]

    secret = None
    if not args.no_secret:
        path = args.secret_file or default_secret_file()
        try:
            if path.exists() and path.stat().st_mode & 0o077:
                print(f"moodscore bridge: error: {path} can be read by other users; run: chmod 600 {path}", flush=True)
                return 2
            secret = make_secret(args.secret_file)
        except OSError as exc:
            print(f"moodscore bridge: error: cannot make the request secret {path}: {exc.strerror}", flush=True)
            return 2
    out = args.out
    if out is None and args.broker:  # the request folders must be where the workers see them
        out = private_folder(Path(args.storage) / f"moodscore-bridge-{os.getuid()}")
    try:
        server = BridgeServer(runner=runner, host=args.host, port=args.port, out_dir=out, allowed_roots=args.allow,
                              ableton=ableton, max_queue=args.queue, keep=max(1, args.keep),
                              secret=secret, job_seconds=args.job_seconds or None)  # fmt: skip
    except MoodscoreError as exc:
        print(f"moodscore bridge: error: {exc.message}", flush=True)
        return 2
    except OSError as exc:
        print(f"moodscore bridge: error: cannot listen on {args.host}:{args.port}: {exc.strerror}", flush=True)
        return 2
    if isinstance(runner, ProcessRunner):
        runner.start()  # the worker process loads the models now, not at the first request
    host, port = server.address
    print(f"moodscore bridge: listening on {host}:{port}, writing to {server.ctx.out_dir}", flush=True)
    if secret is None:
        print("moodscore bridge: warning: --no-secret: any user of this machine can use the bridge", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        runner.shutdown()
    return 0
