"""``moodscore web``: serve the Gradio demo.

    moodscore web                                 # http://127.0.0.1:7860, one job at a time
    moodscore web --max-jobs 2 --max-queue 16
    moodscore web --share --auth alice:secret     # a public link needs --auth (or an explicit --no-auth)

Gradio is imported only after the arguments are parsed (it takes about 2 s).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from moodscore.models import add_broker_options, broker_problem


def _auth(text: str) -> tuple[str, str]:
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise argparse.ArgumentTypeError("give --auth as USER:PASS")
    return user, password


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="moodscore web", description="Serve the moodscore web demo (Gradio).")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument(
        "--share", action="store_true", help="also make a public Gradio share link (anyone with it can use the app)"
    )
    p.add_argument(
        "--auth",
        type=_auth,
        metavar="USER:PASS",
        default=None,
        help="require this login (or set MOODSCORE_WEB_AUTH=USER:PASS to keep it out of the process list)",
    )
    p.add_argument(
        "--no-auth",
        action="store_true",
        help="allow --share or a --host other than this machine without a login (anyone who reaches it can use it)",
    )
    p.add_argument("--max-jobs", type=_positive, default=1, metavar="N", help="jobs run at once (default 1)")
    p.add_argument("--max-queue", type=int, default=8, metavar="N", help="jobs that may wait (default 8)")
    p.add_argument("--max-upload-mb", type=_positive, default=200, metavar="MB", help="upload size limit (200)")
    p.add_argument("--max-seconds", type=float, default=120.0, metavar="S", help="longest clip accepted (120)")
    p.add_argument("--keep-minutes", type=float, default=60.0, metavar="M", help="results kept on disk (60)")
    p.add_argument("--max-job-seconds", type=float, default=600.0, metavar="S", help="a running job's time limit (600)")
    p.add_argument(
        "--visitor-upload-mb",
        type=_positive,
        default=None,
        metavar="MB",
        help="uploads one visitor may store within --keep-minutes (default: 4 x --max-upload-mb)",
    )
    p.add_argument(
        "--total-upload-mb",
        type=_positive,
        default=None,
        metavar="MB",
        help="uploads all visitors may store within --keep-minutes (default: 20 x --max-upload-mb)",
    )
    p.add_argument("--debug-engine", action="store_true", help="tiny random networks (to try the app quickly)")
    add_broker_options(p)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    auth = args.auth
    if auth is None and os.environ.get("MOODSCORE_WEB_AUTH"):
        try:
            auth = _auth(os.environ["MOODSCORE_WEB_AUTH"])
        except argparse.ArgumentTypeError as exc:
            parser.error(f"MOODSCORE_WEB_AUTH: {exc}")
    if args.max_queue < 0 or args.max_seconds <= 0 or args.keep_minutes <= 0 or not args.max_job_seconds > 0:
        parser.error("--max-queue must be >= 0; --max-seconds, --keep-minutes, --max-job-seconds must be positive")
    exposed = args.share or args.host not in ("127.0.0.1", "localhost", "::1")
    if exposed and auth is None and not args.no_auth:
        what = "--share makes a public link" if args.share else f"--host {args.host} serves other machines"
        parser.error(f"{what}: add --auth USER:PASS (or MOODSCORE_WEB_AUTH), or --no-auth to open it to anyone")
    if exposed and auth is None:
        print("warning: no login: anyone who reaches this app can use it", file=sys.stderr)
    problem = broker_problem(args.broker, args.storage)
    if problem:
        parser.error(problem)

    import functools

    from moodscore.models import Engine, MoodscoreError, make_runner
    from moodscore.web.jobs import WebSettings
    from moodscore.web.ui import build_app, launch_options

    settings = WebSettings(
        max_jobs=args.max_jobs,
        max_queue=args.max_queue,
        max_upload_mb=args.max_upload_mb,
        max_seconds=args.max_seconds,
        keep_minutes=args.keep_minutes,
        max_job_seconds=args.max_job_seconds,
        visitor_upload_mb=args.visitor_upload_mb,
        total_upload_mb=args.total_upload_mb,
    )
    try:
        runner = make_runner(
            broker=args.broker,
            storage=args.storage,
            factory=functools.partial(Engine, debug=args.debug_engine),
            workers=settings.max_jobs,
            max_queue=settings.max_queue,
            time_limit=settings.max_job_seconds,
        )
    except MoodscoreError as exc:
        parser.error(exc.message)
    demo = build_app(settings=settings, runner=runner, storage=args.storage if args.broker else None)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # so that the job folders are removed below, as on Ctrl-C

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        demo.launch(
            server_name=args.host,
            server_port=args.port,
            share=args.share,
            auth=auth,
            **launch_options(settings),
        )
    except KeyboardInterrupt:
        pass
    finally:
        demo.moodscore_jobs.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
