"""``moodscore send ableton``: compose for an emotion and put the MIDI into an Ableton Live clip slot, or score
a video and put its music into Live (a clip per section, the tempo, the cuts as locators).

By default the running bridge composes (its Engine is warm) and talks to AbletonOSC; ``--local`` composes in
this process instead (slower: it loads the generator first) and talks to AbletonOSC directly. A video is always
scored by the bridge.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from moodscore.bridge.ableton import REPLY_PORT, SEND_PORT
from moodscore.bridge.protocol import DEFAULT_HOST, DEFAULT_PORT, PREFIX


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="moodscore send", description="Compose and put the MIDI on a DAW track.")
    sub = p.add_subparsers(dest="daw", required=True)
    a = sub.add_parser("ableton", help="into an empty clip slot of Ableton Live (needs AbletonOSC)")
    a.add_argument("--track", type=int, required=True, help="track index, from 0")
    a.add_argument("--slot", type=int, required=True, help="clip slot (scene) index, from 0")
    emo = a.add_mutually_exclusive_group(required=True)
    emo.add_argument("--quadrant", help="Q1 happy, Q2 tense, Q3 sad, Q4 calm")
    emo.add_argument("--va", metavar="V,A", help="valence,arousal, each in [-1, 1]")
    emo.add_argument("--video", metavar="PATH", help="score this video (through the bridge): a clip per section "
                     "from --slot on, Live's tempo set to the score's, the cuts as locators")  # fmt: skip
    a.add_argument("--hits", default=None, metavar="S,S,...", help="with --video: moments (s) the music accents")
    a.add_argument("--bars", type=int, default=None, help="with an emotion: length in 4/4 bars (default 16)")
    a.add_argument("--parts", action="store_true",
                   help="with --video: each part (piano, bass, pad) on its own track, from --track on")  # fmt: skip
    a.add_argument("--tempo", type=float, default=None, help="BPM (default: the Live set's tempo)")
    a.add_argument("--key", default="auto")
    a.add_argument("--instruments", default=None, help="comma list of piano,bass,pad (default piano)")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--bridge", default=f"{DEFAULT_HOST}:{DEFAULT_PORT}", metavar="HOST:PORT",
                   help=f"the running bridge (default {DEFAULT_HOST}:{DEFAULT_PORT})")  # fmt: skip
    a.add_argument("--local", action="store_true", help="compose here instead of in the bridge")
    a.add_argument("--ableton-host", default="127.0.0.1", help="with --local: where AbletonOSC runs")
    a.add_argument("--ableton-port", type=int, default=SEND_PORT, help=f"with --local (default {SEND_PORT})")
    a.add_argument("--ableton-reply-port", type=int, default=REPLY_PORT, help=f"with --local (default {REPLY_PORT})")
    a.add_argument("--timeout", type=float, default=None, help="seconds to wait for the bridge (60; a video 900)")
    a.add_argument("--debug-models", action="store_true", help=argparse.SUPPRESS)
    return p


def _options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {"track": args.track, "slot": args.slot, "key": args.key, "seed": args.seed}
    if args.instruments:
        opts["instruments"] = args.instruments
    if args.video:
        if args.bars is not None or args.local:
            raise SystemExit("moodscore send: error: --video is scored by the bridge, to its own length: "
                             "give no --bars or --local")  # fmt: skip
        from pathlib import Path

        opts["path"] = str(Path(args.video).expanduser().resolve())
        if args.hits:
            opts["hits"] = args.hits
        if args.parts:
            opts["parts"] = 1
    else:
        if args.parts or args.hits:
            raise SystemExit("moodscore send: error: --parts and --hits go with --video")
        if args.bars is not None:
            opts["bars"] = args.bars
    if args.quadrant:
        opts["quadrant"] = args.quadrant
    elif args.va:
        try:
            opts["valence"], opts["arousal"] = (float(x) for x in args.va.split(","))
        except ValueError:
            raise SystemExit(f"moodscore send: error: --va needs two numbers like 0.6,-0.4, got {args.va!r}") from None
    if args.tempo is not None:
        opts["tempo"] = float(args.tempo)
    return opts


def _local(args: argparse.Namespace, opts: dict[str, Any]) -> tuple[int, str, float]:
    from moodscore.bridge import handlers
    from moodscore.bridge.ableton import AbletonLink
    from moodscore.bridge.protocol import emotion_name, emotion_of, notes_of
    from moodscore.models import Engine

    link = AbletonLink(args.ableton_host, args.ableton_port, args.ableton_reply_port)
    try:
        tempo = float(opts["tempo"]) if "tempo" in opts else link.tempo()
        request = handlers.compose_request(opts, tempo=tempo)
        (score,) = Engine(debug=args.debug_models).compose(request)
        name = emotion_name(emotion_of(opts), score.bar_quadrants)
        sent = link.put_clip(args.track, args.slot, notes_of(score.midi, score.tempo), score.n_bars * 4.0, name)
        return sent, name, score.tempo
    finally:
        link.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    opts = _options(args)
    from moodscore.bridge.ableton import AbletonError
    from moodscore.bridge.protocol import RequestError
    from moodscore.models import MoodscoreError

    try:
        if args.local:
            sent, name, tempo = _local(args, opts)
        else:
            from moodscore.bridge.client import request
            from moodscore.bridge.protocol import read_secret

            host, _, port = args.bridge.rpartition(":")
            secret = read_secret()  # the bridge's, when it runs as this user
            if secret is not None:
                opts["secret"] = secret
            timeout = args.timeout or (900.0 if args.video else 60.0)
            r = request(f"{PREFIX}/ableton", opts, host=host or DEFAULT_HOST, port=int(port), timeout=timeout)
            if r.error is not None:
                print(f"moodscore send: error: {r.error}", file=sys.stderr)
                return 2
            if args.video:
                tempo = float(r.clips[0][4]) if r.clips else 0.0
                top = max((int(c[0]) for c in r.clips), default=args.track)
                where = f"tracks {args.track}-{top}" if args.parts else f"track {args.track}"
                print(f"put {len(r.clips)} clips (one per section) into {where} from slot {args.slot}, "
                      f"set the tempo to {tempo:g} BPM and added {len(r.markers)} locators")  # fmt: skip
                return 0
            sent, name, tempo = int(r.info[2]), str(r.info[3]), float(r.info[4])
    except (MoodscoreError, AbletonError, RequestError) as exc:
        print(f"moodscore send: error: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return 2
    print(f"put {sent} notes into track {args.track} slot {args.slot} as '{name}' at {tempo:g} BPM")
    return 0
