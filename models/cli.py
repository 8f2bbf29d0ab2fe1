"""The ``moodscore`` command line. Argument parsing only up here; heavy imports happen after parsing."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from moodscore.models.commands import Command, registered
from moodscore.models.defaults import DEFAULTS, INSTRUMENTS, MAX_BARS, parse_instruments

TEMPO_HELP = "beats per minute, or 'auto' (default): the tempo the emotion suggests"
INSTRUMENTS_HELP = f"comma list of {','.join(INSTRUMENTS)} (default {','.join(DEFAULTS.instruments)})"


def _forced(text: str) -> tuple[float, float, str]:
    """``--set 0-4.5=Q3``: seconds from, seconds to, quadrant."""
    import math
    import re

    m = re.fullmatch(r"\s*([0-9.]+)\s*-\s*([0-9.]+)\s*=\s*([Qq][1-4])\s*", text)
    try:
        a, b = (float(m.group(1)), float(m.group(2))) if m else (math.nan, math.nan)
    except ValueError:
        a = b = math.nan
    if m is None or not (math.isfinite(a) and math.isfinite(b) and b > a):
        raise argparse.ArgumentTypeError(f"give a stretch and a quadrant as FROM-TO=Qn (e.g. 0-4.5=Q3), got {text!r}")
    return a, b, m.group(3).upper()


def _bar_range(text: str) -> tuple[int, int]:
    """``--bars 9-12``: first and last bar, 1-based, inclusive."""
    a, sep, b = text.partition("-")
    if not sep or not (a.strip().isdigit() and b.strip().isdigit()) or not 1 <= int(a) <= int(b):
        raise argparse.ArgumentTypeError(f"give the bars as FIRST-LAST, e.g. 9-12, got {text!r}")
    return int(a), int(b)


def _hits_file(text: str) -> list[float]:
    """``--hits FILE``: seconds, one per line or separated by commas; '#' starts a comment. At most 10,000."""
    import math

    path = Path(text)
    try:
        if path.stat().st_size > 1_000_000:
            raise argparse.ArgumentTypeError(f"{text} is larger than 1 MB; a hits file holds a list of seconds")
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise argparse.ArgumentTypeError(f"cannot read {text}: {getattr(exc, 'strerror', None) or exc}") from None
    out: list[float] = []
    for n, line in enumerate(raw.splitlines(), 1):
        for item in line.split("#", 1)[0].replace(",", " ").split():
            try:
                value = float(item)
            except ValueError:
                value = math.nan
            if not (math.isfinite(value) and value >= 0):
                raise argparse.ArgumentTypeError(f"{text} line {n}: {item!r} is not a number of seconds")
            out.append(value)
    if len(out) > 10_000:
        raise argparse.ArgumentTypeError(f"{text} holds {len(out)} moments; at most 10,000")
    return out


def _tempo_range(text: str) -> tuple[float, float]:
    """``--tempo-range 90-120``: the slowest and fastest tempo the picture lock may use (BPM)."""
    import math

    lo_s, sep, hi_s = text.partition("-")
    try:
        lo, hi = float(lo_s), float(hi_s)
    except ValueError:
        lo = hi = math.nan
    if not sep or not (math.isfinite(lo) and math.isfinite(hi) and 20 <= lo <= hi <= 400):
        raise argparse.ArgumentTypeError(f"give SLOW-FAST in BPM within 20-400 (e.g. 90-120), got {text!r}")
    return lo, hi


def _seconds(text: str) -> float:
    """A finite, non-negative number of seconds."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {text!r}")
    return value


def _tempo(text: str) -> float | None:
    """``--tempo``: a number of BPM or 'auto' (None: the emotion's suggestion)."""
    if text.strip().lower() == "auto":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of BPM or 'auto', got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="moodscore", description="Music for a video from the emotions on screen.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("analyze", help="read faces and voices of a clip and print its emotion timeline")
    p.add_argument("clip", type=Path, help="a video (or audio) file")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the timeline JSON here ('-' = stdout)")
    p.add_argument(
        "--fps", type=float, default=DEFAULTS.fps, help=f"video frames analysed per second (default {DEFAULTS.fps:g})"
    )
    p.add_argument("--min-segment", type=_seconds, default=2.0, metavar="S", help="shortest segment in s (default 2)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("compose", help="compose music for an emotion: a .mid and a .wav per variation")
    emo = p.add_mutually_exclusive_group(required=True)
    emo.add_argument("--quadrant", metavar="Q", help="Q1 happy, Q2 tense, Q3 sad, Q4 calm")
    emo.add_argument("--va", metavar="V,A", help="a valence,arousal point, each in [-1, 1], e.g. 0.6,-0.4")
    emo.add_argument("--timeline", type=Path, metavar="JSON", help="follow a timeline.json (from analyze or score)")
    length = p.add_mutually_exclusive_group()
    length.add_argument(
        "--bars",
        type=int,
        help=f"length in 4/4 bars (default {DEFAULTS.bars}, or the timeline's length; max {MAX_BARS})",
    )
    length.add_argument("--seconds", type=float, help="length in seconds, rounded up to whole bars")
    p.add_argument("--tempo", type=_tempo, default=DEFAULTS.tempo, metavar="BPM", help=TEMPO_HELP)
    p.add_argument("--key", default=DEFAULTS.key, help=f"e.g. 'C', 'F# minor', 'Bbm'; default {DEFAULTS.key}")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed)
    p.add_argument(
        "--variations", type=int, default=DEFAULTS.variations, help="how many pieces (seeds seed, seed+1, ...)"
    )
    p.add_argument("--instruments", default=",".join(DEFAULTS.instruments), help=INSTRUMENTS_HELP)
    p.add_argument("--temperature", type=float, default=DEFAULTS.temperature,
                   help=f"variety of the composer's choices (default {DEFAULTS.temperature:g})")  # fmt: skip
    p.add_argument("--loop", action="store_true", help="music that loops: it ends on its way back to the start")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--debug-models", action="store_true", help=argparse.SUPPRESS)  # tiny random nets (tests)

    p = sub.add_parser("score", help="score a clip: timeline, MIDI, music, the scored video and a picture")
    p.add_argument("clip", type=Path, help="a video (or audio) file")
    _score_options(p, out_required=True)

    p = sub.add_parser("demo", help="score the bundled example clip (into ./moodscore-demo unless --out)")
    _score_options(p, out_required=False)

    p = sub.add_parser("rescore", help="write some bars of a scored clip again, keeping every other bar as it is")
    p.add_argument("dir", type=Path, help="the folder a `moodscore score` wrote (its score.json and timeline.json)")
    p.add_argument("--bars", type=_bar_range, required=True, metavar="A-B", help="bars A to B (1-based, inclusive)")
    p.add_argument("--seed", type=int, required=True, help="the seed those bars are written from")
    p.add_argument("--clip", type=Path, help="the clip, if it has moved since it was scored")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--debug-models", action="store_true", help=argparse.SUPPRESS)

    p = sub.add_parser("judge", help="the MIDI emotion judge: quadrant, valence and arousal of MIDI files")
    p.add_argument("midi", type=Path, nargs="+", help="MIDI files")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON here ('-' = stdout)")

    for name, command in commands().items():
        sub.add_parser(name, help=command.help, add_help=False)  # parsed by the command's own main(argv)
    return parser


# commands with their own argument parsers: ``moodscore NAME ...`` runs their main([...]); the core's own worker,
# and whatever the installed front ends registered (moodscore.models.commands)
CORE_COMMANDS: dict[str, Command] = {
    "worker": Command(
        "a Celery worker for jobs sent through Redis (moodscore worker --help)",
        "moodscore.models.jobs.celery:main",
        needs=(("celery", "scale"),),
    ),
}


def commands() -> dict[str, Command]:
    return {**registered(), **CORE_COMMANDS}


def _score_options(p: argparse.ArgumentParser, *, out_required: bool) -> None:
    p.add_argument(
        "--out",
        type=Path,
        required=out_required,
        default=None if out_required else Path("moodscore-demo"),
        metavar="DIR",
        help="output folder (created if missing)",
    )
    p.add_argument("--tempo", type=_tempo, default=DEFAULTS.tempo, metavar="BPM", help=TEMPO_HELP)
    p.add_argument("--instruments", default=",".join(DEFAULTS.instruments), help=INSTRUMENTS_HELP)
    p.add_argument("--key", default=DEFAULTS.key, help=f"e.g. 'C', 'F# minor'; default {DEFAULTS.key}")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed)
    p.add_argument("--timeline", type=Path, metavar="JSON",
                   help="follow this timeline.json (a previous run's, edited or not) instead of analysing")  # fmt: skip
    p.add_argument("--set", type=_forced, action="append", default=[], metavar="A-B=Qn", dest="force",
                   help="force a stretch of the clip to a quadrant, e.g. --set 0-4.5=Q3 (repeatable)")  # fmt: skip
    p.add_argument("--hit", type=_seconds, action="append", default=[], metavar="S", dest="hits",
                   help="a moment (s) the music must hit with a downbeat, e.g. --hit 12.4 (repeatable)")  # fmt: skip
    p.add_argument("--hits", type=_hits_file, default=[], metavar="FILE", dest="hit_file",
                   help="moments to hit, from a file: seconds, one per line or comma-separated")  # fmt: skip
    p.add_argument("--tempo-range", type=_tempo_range, default=None, metavar="SLOW-FAST",
                   help="tempi the music may take to land on cuts and hits (default: the tempo +-15%%)")  # fmt: skip
    p.add_argument("--music-db", type=float, default=None, metavar="DB",
                   help="the music's loudness against the dialogue's, in LU (default -6)")  # fmt: skip
    p.add_argument("--duck-db", type=float, default=None, metavar="DB",
                   help="how much further the music goes down while someone speaks (default -8; 0: never)")  # fmt: skip
    p.add_argument("--loop", action="store_true", help="music.wav loops seamlessly (it ends leading back to its start)")
    p.add_argument("--stems", action="store_true",
                   help="also stems/: a WAV and a MIDI file per part and the mix, for a DAW")  # fmt: skip
    p.add_argument("--no-cache", action="store_true",
                   help="analyse again even if this clip's analysis is kept (~/.cache/moodscore/analysis)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--debug-models", action="store_true", help=argparse.SUPPRESS)


def _progress_bar(quiet: bool) -> tuple[Any, Any]:
    """A tqdm bar on stderr fed by the core's ``progress(fraction, message)`` callback."""
    from tqdm import tqdm

    if quiet:
        return None, None
    bar = tqdm(total=100, file=sys.stderr, unit="%", bar_format="{l_bar}{bar}| {elapsed}", leave=False)

    def progress(fraction: float, message: str) -> None:
        bar.n = round(100 * min(max(fraction, 0.0), 1.0))
        bar.set_description_str(message[:40], refresh=False)
        bar.refresh()

    return bar, progress


def format_timeline(timeline: Any) -> str:
    """A readable table of segments."""
    rows = ["  start     end  quad  label      valence  arousal  conf  modalities"]
    for s in timeline.segments:
        mods = "+".join(s.modalities) or "none"
        rows.append(
            f"{s.start_s:7.2f} {s.end_s:7.2f}  {s.emotion.quadrant:<4}  {s.emotion.label:<9} "
            f"{s.emotion.valence:+8.2f} {s.emotion.arousal:+8.2f}  {s.emotion.confidence:4.2f}  {mods}"
        )
    missing = [m for m in ("face", "voice") if m not in timeline.modalities]
    if missing:
        rows.append(f"(no {' and no '.join(missing)} evidence anywhere in the clip)")
    return "\n".join(rows)


def _write_text_atomic(path: Path, text: str) -> None:
    from moodscore.models.errors import OutputError

    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _check_writable(path: Path | None) -> None:
    """Refuse an output path whose folder is missing or not writable before any work is done."""
    import os

    from moodscore.models.errors import OutputError

    if path is None or str(path) == "-":
        return
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"cannot write {path}: the folder {folder} is not writable")
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder")
    if path.is_symlink():
        raise OutputError(f"cannot write {path}: it is a symbolic link; give the file itself")
    if path.exists() and not path.is_file():
        raise OutputError(f"cannot write {path}: it is a special file (a device, a pipe or a socket), not a file")


def _cmd_analyze(args: argparse.Namespace, clip: Path) -> int:
    from moodscore.models.engine import Engine
    from moodscore.models.fusion.timeline import FusionOptions

    _check_writable(args.json)
    bar, progress = _progress_bar(args.quiet)
    try:
        fusion = FusionOptions(min_segment_s=getattr(args, "min_segment", 2.0))
        timeline = Engine().analyze(clip, fps=getattr(args, "fps", DEFAULTS.fps), fusion=fusion, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    print(format_timeline(timeline))
    for warning in timeline.meta.get("warnings", []):
        print(f"moodscore: warning: {warning}", file=sys.stderr)
    if args.json is not None:
        if str(args.json) == "-":
            print(timeline.to_json())
        else:
            _write_text_atomic(args.json, timeline.to_json() + "\n")
    return 0


def _parse_va(text: str) -> tuple[float, float]:
    from moodscore.models.errors import InvalidOptionError

    try:
        v, a = (float(x) for x in text.split(","))
    except ValueError:
        raise InvalidOptionError(f"--va needs two numbers as V,A (e.g. 0.6,-0.4), got {text!r}") from None
    return (v, a)


def _timeline_file(path: Path) -> Any:
    from moodscore.models.errors import InputError
    from moodscore.models.types import Timeline

    try:
        return Timeline.from_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not a moodscore timeline JSON ({' '.join(str(exc).split())[:200]})") from None


def _emotion(args: argparse.Namespace) -> Any:
    if args.timeline is not None:
        return _timeline_file(args.timeline)
    return args.quadrant if args.quadrant is not None else _parse_va(args.va)


def _cmd_compose(args: argparse.Namespace) -> int:
    from moodscore.models.engine import Engine
    from moodscore.models.jobs.work import compose_job
    from moodscore.models.types import ComposeRequest

    request = ComposeRequest(
        emotion=_emotion(args),
        bars=args.bars,
        seconds=args.seconds,
        tempo=args.tempo,
        key=args.key,
        seed=args.seed,
        variations=args.variations,
        instruments=parse_instruments(args.instruments),
        temperature=args.temperature,
        loop=args.loop,
    )
    bar, progress = _progress_bar(args.quiet)
    try:
        result = compose_job(Engine(debug=args.debug_models), request, args.out, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    for piece in result.summary.pieces:
        quads = " ".join(piece.bar_quadrants) if len(set(piece.bar_quadrants)) > 1 else piece.bar_quadrants[0]
        files = f"{args.out / piece.midi}  {args.out / str(piece.audio)}"
        print(f"{files}  {piece.duration_s:.1f} s  {piece.key}  {quads}")
    return 0


def _cmd_score(args: argparse.Namespace, clip: Path) -> int:
    from moodscore.models.engine import Engine
    from moodscore.models.jobs.work import score_job

    bar, progress = _progress_bar(args.quiet)
    try:
        result = score_job(
            Engine(debug=args.debug_models),
            clip,
            args.out,
            tempo=args.tempo,
            instruments=parse_instruments(args.instruments),
            key=args.key,
            seed=args.seed,
            progress=progress,
            timeline=_timeline_file(args.timeline) if args.timeline is not None else None,
            cache=not args.no_cache,
            force=tuple(args.force),
            tempo_range=args.tempo_range,
            hits=tuple(sorted({*args.hits, *args.hit_file})),
            stems=args.stems,
            loop=args.loop,
            music_db=args.music_db,
            duck_db=args.duck_db,
        )
    finally:
        if bar is not None:
            bar.close()
    print(format_timeline(result.timeline))
    s = result.summary
    for warning in s.warnings:
        print(f"moodscore: warning: {warning}", file=sys.stderr)
    print(f"\n{s.bars} bars at {s.tempo:g} BPM in {s.key}; {s.timings.get('total_s', 0):.1f} s analysis")
    for run in s.judge:
        q = run.asked
        print(f"judge: bars {run.first}-{run.last} asked {q}, heard {run.heard} (p {run.p_asked:.2f} for {q})")
    for what, path in result.files.items():
        print(f"{what:>9}: {path}")
    return 0


def _cmd_rescore(args: argparse.Namespace) -> int:
    """Score the clip again from its folder's timeline and options, with bars A-B from another seed."""
    from moodscore.models.engine import Engine
    from moodscore.models.jobs.rescore import rescore_job

    first, last = args.bars
    bar, progress = _progress_bar(args.quiet)
    try:
        result = rescore_job(
            Engine(debug=args.debug_models),
            args.dir,
            args.dir,
            first=first,
            last=last,
            seed=args.seed,
            clip=args.clip,
            progress=progress,
            cache=True,  # (only the pictures of the faces read come from it: nothing is analysed)
        )
    finally:
        if bar is not None:
            bar.close()
    print(f"bars {first}-{last} written again from seed {args.seed}; the other bars are as they were")
    for what, path in result.files.items():
        print(f"{what:>9}: {path}")
    return 0


def _cmd_judge(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    from moodscore.models.errors import InputError
    from moodscore.models.music.judge import load_judge

    _check_writable(args.json)
    judge = load_judge()
    rows: list[dict[str, Any]] = []
    for path in args.midi:
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        rows.append({"path": str(path), **asdict(judge.predict(path))})
    print(f"{'quadrant':<9}{'p':>5}  {'valence':<9}{'p':>5}  {'arousal':<8}{'p':>5}  file")
    for r in rows:
        print(
            f"{r['quadrant']:<9}{r['probs'][r['quadrant']]:5.2f}  {r['valence']:<9}{r['valence_prob']:5.2f}  "
            f"{r['arousal']:<8}{r['arousal_prob']:5.2f}  {r['path']}"
        )
    if args.json is not None:
        text = json.dumps(rows, indent=2)
        if str(args.json) == "-":
            print(text)
        else:
            _write_text_atomic(args.json, text + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    found = commands() if argv else {}
    if argv and argv[0] in found:
        return found[argv[0]].run(argv[1:])
    args = build_parser().parse_args(argv)
    from moodscore.models.errors import MoodscoreError

    try:
        if args.command == "analyze":
            return _cmd_analyze(args, args.clip)
        if args.command == "compose":
            return _cmd_compose(args)
        if args.command == "score":
            return _cmd_score(args, args.clip)
        if args.command == "demo":
            from moodscore.models.engine import default_example_clip

            return _cmd_score(args, default_example_clip())
        if args.command == "judge":
            return _cmd_judge(args)
        if args.command == "rescore":
            return _cmd_rescore(args)
    except MoodscoreError as exc:
        print(f"moodscore: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except ValueError as exc:  # invalid option values caught by the core's own checks
        print(f"moodscore: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("moodscore: interrupted", file=sys.stderr)
        return 130
    return 2


ONE_SHOT = ("analyze", "compose", "score", "demo", "judge", "rescore")


def run() -> None:
    """The console script: :func:`main`, then, after a one-shot command (whose outputs are complete and whose
    temporary files are gone when it returns), an exit that skips tearing down PyTorch and MediaPipe (about
    0.6 s). A one-shot command stopped by SIGTERM or SIGHUP removes what its job has staged, its lock and an
    output folder made for it, and exits at once. The servers exit normally, so that their own clean-up runs."""
    import os

    argv = sys.argv[1:]
    if argv and argv[0] in ONE_SHOT:
        import signal

        from moodscore.models.files.folders import abandon_jobs

        stderr = os.dup(2)  # the terminal's, even while native libraries' chatter is sent to /dev/null

        def stop(signum: int, frame: object) -> None:
            # no unwinding (a signal can land inside any cleanup): remove what the job has in progress and go
            abandon_jobs()
            os.write(stderr, f"moodscore: stopped by signal {signum}; nothing was written\n".encode())
            os._exit(128 + signum)

        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, stop)
    code = main(argv)
    if argv and argv[0] in ONE_SHOT:
        import logging

        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)


if __name__ == "__main__":
    run()
