"""``moodscore osc``: send one request to the bridge, wait for its replies, print them.

The default output is tab-separated lines that a ReaScript (or any script) parses without a JSON library::

    ok	compose
    piece	0	120.0	C major	8	Q1,Q1,...	57	Q1 happy / excited	/tmp/moodscore-bridge/.../piece0_seed0.mid
    note	60	0.0	1.0	90          (pitch, start in beats from the item start, length in beats, velocity)
    segment	0.0	2.5	Q1	happy      (score only: start s, end s, quadrant, label)
    section	0	0.0	8.1	1	4	Q1	C major	Q1 happy / excited	15905076   (score: start s, end s, first and
                                    last bar, quadrant, key, name, colour 0xRRGGBB)
    marker	0	4.52	cut	cut 1	0.0   (score: time s, cut or hit, name, its distance from its downbeat in ms)
    stem	0	piano	/tmp/.../stems/clip_piano.wav	/tmp/.../stems/clip_piano.mid   (score --stems)
    end

With ``--progress-lines`` every progress report is printed at once as ``progress<TAB>fraction<TAB>message`` (and
flushed), so a script that reads the output while the request runs (the REAPER scripts do) can show it.

An error prints ``error<TAB>reason`` and exits with status 2. ``--json`` prints one JSON object instead.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moodscore.bridge import osc_io
from moodscore.bridge.protocol import (
    CANCELLED,
    CLIP,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DONE,
    ERROR,
    MARKER,
    NOTES,
    PIECE,
    PONG,
    PREFIX,
    PROGRESS,
    SECTION,
    SEGMENT,
    STATUS,
    STEM,
    TIMELINE,
    Note,
    Piece,
    read_secret,
)
from moodscore.models import DEFAULTS


@dataclass
class Result:
    kind: str = ""
    error: str | None = None
    pieces: list[Piece] = field(default_factory=list)
    notes: dict[int, dict[int, Note]] = field(default_factory=dict)  # piece -> note index -> note
    segments: list[tuple[float, float, str, str]] = field(default_factory=list)
    sections: list[list[Any]] = field(default_factory=list)  # /moodscore/section arguments after the index
    markers: list[list[Any]] = field(default_factory=list)
    stems: list[list[Any]] = field(default_factory=list)
    clips: list[list[Any]] = field(default_factory=list)  # /moodscore/clip arguments (ableton)
    timeline_parts: dict[int, str] = field(default_factory=dict)
    timeline_path: str = ""
    info: list[Any] = field(default_factory=list)  # pong / status / clip arguments

    def piece_notes(self, index: int) -> list[Note]:
        """The notes of a piece in order; if a datagram was lost, read them from the piece's MIDI instead."""
        piece = self.pieces[index]
        got = self.notes.get(index, {})
        if len(got) == piece.n_notes:
            return [got[i] for i in range(piece.n_notes)]
        return _notes_from_midi(piece)

    @property
    def timeline_json(self) -> str:
        return "".join(self.timeline_parts[i] for i in sorted(self.timeline_parts))


def _notes_from_midi(piece: Piece) -> list[Note]:
    import io

    import pretty_midi

    from moodscore.bridge.protocol import notes_of

    source: Any = io.BytesIO(piece.blob) if piece.blob else piece.midi_path
    return notes_of(pretty_midi.PrettyMIDI(source), piece.tempo)


def request(
    address: str,
    options: dict[str, Any],
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    timeout: float = 60.0,
    rid: str | None = None,
    on_progress: Callable[[float, str], None] | None = None,
) -> Result:
    """Send ``address`` with ``options`` and collect the replies until the last one (or an error, or timeout)."""
    rid = rid or f"osc-{os.getpid()}-{int(time.time() * 1000) % 10**8}"
    args: list[Any] = [rid, *itertools.chain.from_iterable(options.items())]
    result = Result()
    with osc_io.udp_socket("0.0.0.0" if host not in ("127.0.0.1", "localhost") else "127.0.0.1") as sock:
        if not osc_io.send(sock, (host, port), address, args):
            result.error = f"could not send to the bridge at {host}:{port}"
            return result
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data = sock.recv(osc_io.MAX_DATAGRAM)
            except TimeoutError:
                break
            except ConnectionError:  # ICMP port unreachable: nothing listens there
                result.error = f"no bridge at {host}:{port} (start it with: moodscore bridge)"
                return result
            try:
                messages = osc_io.parse(data)
            except ValueError:
                continue
            for m in messages:
                params = list(m.params)
                if not params or str(params[0]) != rid:
                    continue
                if _take(result, m.address, params[1:], on_progress):
                    return result
    result.error = f"no complete reply from the bridge at {host}:{port} within {timeout:g} s"
    return result


def _take(r: Result, address: str, a: list[Any], on_progress: Callable[[float, str], None] | None) -> bool:
    """Fold one reply into ``r``; True when it was the last one."""
    if address == ERROR:
        r.error = str(a[-1]) if a else "unknown error"
        return True
    if address in (PONG, STATUS, CANCELLED):
        r.kind, r.info = address.rsplit("/", 1)[-1], a
        return True
    if address == DONE:
        r.kind = str(a[0])
        return True
    if address == PROGRESS and on_progress is not None:
        on_progress(float(a[0]), str(a[1]))
    elif address == PIECE:
        blob = a[8] if len(a) > 8 and isinstance(a[8], bytes) else None
        r.pieces.append(Piece(a[0], float(a[1]), a[2], a[3], a[4], a[5], a[7], blob=blob, name=a[6]))
    elif address == NOTES:
        piece, first, flat = int(a[0]), int(a[1]), a[2:]
        got = r.notes.setdefault(piece, {})
        for k in range(len(flat) // 4):
            p, s, d, v = flat[4 * k : 4 * k + 4]
            got[first + k] = (int(p), float(s), float(d), int(v))
    elif address == SEGMENT:
        r.segments.append((float(a[1]), float(a[2]), str(a[3]), str(a[4])))
    elif address == TIMELINE:
        r.timeline_parts[int(a[0])] = str(a[3])
        r.timeline_path = str(a[2])
    elif address == SECTION:
        r.sections.append(a[1:])
    elif address == MARKER:
        r.markers.append(a[1:])
    elif address == STEM:
        r.stems.append(a[1:])
    elif address == CLIP:
        r.info = a
        r.clips.append(a)
    return False


def print_lines(r: Result, out: Any = None) -> None:
    out = out or sys.stdout  # (looked up now: a test or a caller may have replaced it)

    def line(*fields: Any) -> None:
        out.write("\t".join(str(f).replace("\t", " ").replace("\n", " ") for f in fields) + "\n")

    line("ok", r.kind)
    if r.info:
        line(r.kind or "info", *r.info)
    for piece in r.pieces:
        line("piece", piece.index, piece.tempo, piece.key, piece.bars, piece.quadrants, piece.n_notes, piece.name,
             piece.midi_path)  # fmt: skip
        for p, s, d, v in r.piece_notes(piece.index):
            line("note", p, repr(s), repr(d), v)
    for seg in r.segments:
        line("segment", *seg)
    for i, sec in enumerate(r.sections):
        line("section", i, *sec)
    for i, marker in enumerate(r.markers):
        line("marker", i, *marker)
    for i, stem in enumerate(r.stems):
        line("stem", i, *stem)
    for clip in r.clips if len(r.clips) > 1 else ():
        line("clip", *clip)
    if r.timeline_path:
        line("timeline", r.timeline_path)
    line("end")


def as_json(r: Result) -> dict[str, Any]:
    out: dict[str, Any] = {"ok": r.error is None, "kind": r.kind, "info": r.info}
    out["pieces"] = [
        {**{k: v for k, v in vars(p).items() if k != "blob"}, "notes": [list(n) for n in r.piece_notes(p.index)]}
        for p in r.pieces
    ]
    out["segments"] = [list(s) for s in r.segments]
    out["sections"], out["markers"], out["stems"], out["clips"] = r.sections, r.markers, r.stems, r.clips
    if r.timeline_parts:
        out["timeline"] = json.loads(r.timeline_json)
    return out


def build_parser() -> argparse.ArgumentParser:
    def common(parser: argparse.ArgumentParser, top: bool) -> argparse.ArgumentParser:
        # accepted before or after the request name; the sub-level copies only override when given
        d: dict[str, Any] = {} if top else {"default": argparse.SUPPRESS}
        parser.add_argument("--host", **({"default": DEFAULT_HOST} | d), help=f"bridge address ({DEFAULT_HOST})")
        parser.add_argument("--port", type=int, **({"default": DEFAULT_PORT} | d), help=f"bridge port ({DEFAULT_PORT})")
        parser.add_argument("--timeout", type=float, **({"default": None} | d), help="seconds (60; score 900)")
        parser.add_argument("--json", action="store_true", **d, help="print one JSON object instead of lines")
        parser.add_argument("--progress", action="store_true", **d, help="print progress to stderr")
        parser.add_argument(
            "--progress-lines",
            action="store_true",
            **d,
            help="print progress as 'progress<TAB>fraction<TAB>message' lines to stdout at once",
        )
        parser.add_argument("--id", **({"default": None} | d), help="the request's id (default: made up)")
        parser.add_argument("--secret-file", type=Path, **({"default": None} | d), metavar="PATH",
                            help="the bridge's secret (default: MOODSCORE_BRIDGE_SECRET, else "
                            "~/.config/moodscore/bridge-secret)")  # fmt: skip
        return parser

    p = common(argparse.ArgumentParser(prog="moodscore osc", description="Send one request to the bridge."), True)
    sub = p.add_subparsers(dest="request", required=True)
    sub.add_parser("ping", help="is the bridge there?")
    s = sub.add_parser("status", help="the bridge's load, or one request's state")
    s.add_argument("--of", help="a request id")

    def music(sp: argparse.ArgumentParser) -> None:
        emo = sp.add_mutually_exclusive_group(required=True)
        emo.add_argument("--quadrant", help="Q1 happy, Q2 tense, Q3 sad, Q4 calm")
        emo.add_argument("--va", metavar="V,A", help="valence,arousal, each in [-1, 1]")
        sp.add_argument("--bars", type=int, default=DEFAULTS.bars)

    c = sub.add_parser("compose", help="compose for an emotion")
    music(c)
    c.add_argument("--timesig", default="4/4")
    c.add_argument("--variations", type=int, default=DEFAULTS.variations)
    a = sub.add_parser("ableton", help="compose (or score a video) into Ableton clip slots (through the bridge)")
    what = a.add_mutually_exclusive_group(required=True)
    what.add_argument("--quadrant", help="Q1 happy, Q2 tense, Q3 sad, Q4 calm")
    what.add_argument("--va", metavar="V,A", help="valence,arousal, each in [-1, 1]")
    what.add_argument("--path", help="score this video (on the bridge's machine): a clip per section from --slot on")
    a.add_argument("--bars", type=int, default=None, help=f"with an emotion: length in bars (default {DEFAULTS.bars})")
    a.add_argument("--track", type=int, required=True)
    a.add_argument("--slot", type=int, required=True)
    a.add_argument("--parts", action="store_true", help="with --path: each part on its own track from --track on")
    sc = sub.add_parser("score", help="score a video file on the bridge's machine")
    sc.add_argument("path")
    sc.add_argument("--stems", action="store_true", help="also a WAV and a MIDI file per part (stem lines)")
    x = sub.add_parser("cancel", help="cancel an earlier request that is queued or running")
    x.add_argument("--of", required=True, help="the id of the request to cancel")
    for sp in (sub.choices["ping"], s, c, a, sc, x):
        common(sp, False)
    for sp in (a, sc):
        sp.add_argument("--hits", default=None, metavar="S,S,...", help="moments (s) the music accents")
        sp.add_argument("--set", default=None, dest="force", metavar="A-B=Qn,...",
                        help="stretches forced to a quadrant, e.g. 0-4.5=Q3,9-12=Q1")  # fmt: skip
    for sp in (c, a, sc):
        sp.add_argument("--tempo", type=float, default=None, help="BPM (default: the emotion's; ableton: Live's tempo)")
        sp.add_argument("--key", default="auto")
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--instruments", default="piano")
    return p


def options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if getattr(args, "quadrant", None):
        opts["quadrant"] = args.quadrant
    if getattr(args, "va", None):
        try:
            opts["valence"], opts["arousal"] = (float(x) for x in args.va.split(","))
        except ValueError:
            raise SystemExit(f"moodscore osc: error: --va needs two numbers like 0.6,-0.4, got {args.va!r}") from None
    if getattr(args, "stems", False):
        opts["stems"] = 1
    if getattr(args, "parts", False):
        opts["parts"] = 1
    if getattr(args, "force", None):
        opts["set"] = args.force
    for name in ("bars", "timesig", "variations", "track", "slot", "path", "tempo", "key", "seed", "instruments",
                 "hits"):  # fmt: skip
        value = getattr(args, name, None)
        if value is not None:
            opts[name] = float(value) if name == "tempo" else value
    if getattr(args, "of", None):
        opts["of"] = args.of
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    long = args.request == "score" or (args.request == "ableton" and args.path)
    timeout = args.timeout or (900.0 if long else 60.0)
    progress = (lambda f, m: print(f"{100 * f:5.1f}% {m}", file=sys.stderr)) if args.progress else None
    if args.progress_lines:

        def progress(fraction: float, message: str) -> None:
            clean = " ".join(str(message).split())
            print(f"progress\t{fraction:.4f}\t{clean}", flush=True)

    opts = options_from_args(args)
    secret = read_secret(args.secret_file)  # the bridge's, when it runs as this user
    if secret is not None and args.request != "ping":
        opts["secret"] = secret
    r = request(f"{PREFIX}/{args.request}", opts, host=args.host, port=args.port,
                timeout=timeout, rid=args.id, on_progress=progress)  # fmt: skip
    if r.error is not None:
        if args.json:
            print(json.dumps({"ok": False, "error": r.error}))
        else:
            print(f"error\t{r.error}")
        return 2
    if args.json:
        print(json.dumps(as_json(r)))
    else:
        print_lines(r)
    return 0
