"""``moodscore discord``: run the Discord bot (``/score``, ``/compose``, ``/help``).

The token comes from the environment (``DISCORD_TOKEN``) or a file (``--token-file``), never from the command
line (where other users of the machine could read it), and never appears in logs or error messages.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from pathlib import Path

from moodscore.bots.replies import MIB
from moodscore.models import add_broker_options, broker_problem

log = logging.getLogger("moodscore.discord")
PROG = "moodscore discord"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Run the moodscore Discord bot. The bot token is read from the DISCORD_TOKEN environment "
        "variable, or from the file given with --token-file.",
    )
    p.add_argument("--token-file", type=Path, metavar="PATH", help="read the bot token from this file")
    p.add_argument("--guild", type=int, metavar="ID", help="sync the commands to this server only (instant)")
    p.add_argument("--max-input-mb", type=float, default=50.0, metavar="MB", help="largest clip in MiB (50)")
    p.add_argument("--max-duration", type=float, default=120.0, metavar="S", help="longest clip in seconds (120)")
    p.add_argument("--cooldown", type=float, default=30.0, metavar="S", help="seconds between one user's jobs (30)")
    p.add_argument("--max-jobs", type=int, default=4, metavar="N", help="jobs in flight, running or waiting (4)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="jobs running at once (1)")
    p.add_argument(
        "--job-time-limit",
        type=float,
        default=10.0,
        metavar="MIN",
        help="stop a job still running after this many minutes (10)",
    )
    p.add_argument(
        "--upload-mb", type=float, default=10.0, metavar="MB", help="upload limit when Discord does not say (10)"
    )
    p.add_argument("--warm", action="store_true", help="load the models before connecting")
    add_broker_options(p)
    p.add_argument("--debug-engine", action="store_true", help="tiny random networks (to try the bot without weights)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


class RedactToken(logging.Filter):
    """Replace the token wherever it would appear in a log line (message, arguments or traceback)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        withheld = False
        if record.exc_info or record.exc_text:
            trace = record.exc_text or logging.Formatter().formatException(record.exc_info)  # type: ignore[arg-type]
            if self.token in trace:
                record.exc_info, record.exc_text, withheld = None, None, True
                text += " (traceback withheld: it held the token)"
        if withheld or self.token in text:
            record.msg, record.args = text.replace(self.token, "[token]"), None
        return True


def read_token(args: argparse.Namespace) -> str:
    """The token from --token-file (readable by its owner only) or DISCORD_TOKEN (removed from the environment);
    raises SystemExit(2) with one line when there is none."""
    # out of the environment either way, so that the worker processes that parse untrusted media never hold it
    from_env = os.environ.pop("DISCORD_TOKEN", "").strip()
    if args.token_file is not None:
        try:
            mode = args.token_file.stat().st_mode
            if mode & 0o077:  # like ssh with a private key: a token others can read is refused
                raise _exit(
                    f"the token file {args.token_file} can be read by other users (mode {mode & 0o777:o}); "
                    f"run: chmod 600 {args.token_file}"
                )
            token = args.token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise _exit(f"cannot read the token file {args.token_file}: {reason}") from None
        if not token:
            raise _exit(f"the token file {args.token_file} is empty")
        return token
    token = from_env
    if not token:
        raise _exit("no bot token: set DISCORD_TOKEN or pass --token-file PATH (see the README's Discord section)")
    return token


def _exit(message: str) -> SystemExit:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name, value in (("--max-jobs", args.max_jobs), ("--workers", args.workers)):
        if value < 1:
            print(f"{PROG}: error: {name} must be at least 1", file=sys.stderr)
            return 2
    if not args.job_time_limit > 0:
        print(f"{PROG}: error: --job-time-limit must be more than 0 minutes", file=sys.stderr)
        return 2
    problem = broker_problem(args.broker, args.storage)
    if problem:
        print(f"{PROG}: error: {problem}", file=sys.stderr)
        return 2
    try:
        token = read_token(args)
    except SystemExit as exc:
        return int(exc.code or 2)

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactToken(token))
    logging.basicConfig(level=args.log_level, handlers=[handler], force=True)

    import discord

    from moodscore.bots.app import BotSettings, MoodscoreBot
    from moodscore.models import Engine, MoodscoreError, ProcessRunner, Runner, make_runner

    settings = BotSettings(
        max_input_bytes=round(args.max_input_mb * MIB),
        max_duration_s=args.max_duration,
        cooldown_s=max(0.0, args.cooldown),
        max_jobs=args.max_jobs,
        workers=min(args.workers, args.max_jobs),
        upload_limit=round(args.upload_mb * MIB),
        guild_id=args.guild,
        job_time_limit_s=args.job_time_limit * 60,
        work_dir=args.storage if args.broker else None,
    )
    try:
        runner: Runner = make_runner(
            broker=args.broker,
            storage=args.storage,
            factory=functools.partial(Engine, debug=args.debug_engine),
            workers=settings.workers,
            max_queue=max(0, settings.max_jobs - settings.workers),
            time_limit=settings.job_time_limit_s,
        )
    except MoodscoreError as exc:
        print(f"{PROG}: error: {exc.message}", file=sys.stderr)
        return 2
    if args.warm and isinstance(runner, ProcessRunner):
        log.info("starting %d worker process(es) and loading the models", settings.workers)
        runner.start()
    bot = MoodscoreBot(settings, runner=runner)
    try:
        bot.run(token, log_handler=None)
    except discord.LoginFailure:
        print(f"{PROG}: error: Discord refused the token; copy it again from the Developer Portal", file=sys.stderr)
        return 2
    except discord.HTTPException as exc:
        print(f"{PROG}: error: Discord answered HTTP {exc.status} while starting", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        runner.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
