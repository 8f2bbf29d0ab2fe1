"""A corpus of hostile and careless inputs for the command line (and, through :mod:`hostile_fronts`, for the web
page and the OSC bridge), made by script into a folder.

    from hostile_corpus import build_corpus     # tests/ is on sys.path under pytest
    cases = build_corpus(folder)                # [Case(name, argv, ok, job, media, options), ...]

Each case is one `moodscore` command line: media files of every kind the issue tracker has seen go wrong (empty,
text, truncated, a picture named .mp4, 39 audio channel layouts, browser and camera codecs, frames too large),
MIDI files that are empty, drums only, SMPTE-timed or built to ask for gigabytes, options out of range and
output paths that are links, pipes or busy. ``ok`` says whether the command should succeed (exit 0) or refuse
(exit 2 with one line). ``benchmarks/bench_hostile.py`` runs them all and counts crashes, hangs and leftovers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import media_fixtures as fx
import numpy as np


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]  # after `moodscore`
    ok: bool  # True: exit 0 expected; False: exit 2 with a one-line error
    # the same input as the web page and the bridge are asked for it (:mod:`hostile_fronts`):
    # the job ("score" or "compose"; "" where the case is the command line's alone: output paths, the judge,
    # analysis options), the media file and the options (tempo, seed, key, instruments, quadrant, bars, va)
    job: str = ""
    media: Path | None = None
    options: tuple[tuple[str, object], ...] = ()


END = fx.END_OF_TRACK


def build_corpus(folder: Path) -> list[Case]:
    """Make every input in ``folder`` and return the command lines that use them."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    out = str(folder / "out")
    cases: list[Case] = []

    def analyze(name: str, path: Path, ok: bool) -> None:
        cases.append(Case(f"analyze {name}", ("analyze", str(path), "--quiet"), ok, "score", path))

    # media: refused
    refused = {
        "zero byte": fx.zero_byte,
        "text named .mp4": fx.text_as_mp4,
        "subtitles only": fx.subtitles_only,
        "truncated, index lost": fx.truncated_mp4,
    }
    for name, build in refused.items():
        analyze(name, build(folder), False)
    ok_png, png = cv2.imencode(".png", np.full((120, 160, 3), 128, np.uint8))
    assert ok_png
    (folder / "photo.mp4").write_bytes(png.tobytes())
    analyze("PNG named .mp4", folder / "photo.mp4", False)
    analyze("128x4608 frames", fx.tall_clip(folder / "tall.mp4"), False)
    analyze("a folder", folder, False)
    os.mkfifo(folder / "pipe.mp4")
    analyze("a pipe", folder / "pipe.mp4", False)
    analyze("missing file", folder / "nope.mp4", False)
    # media: accepted
    for name, build in (("truncated, index first", lambda d: fx.truncated_mp4(d, faststart=True, keep=0.6)),
                        ("audio only m4a", fx.audio_only), ("audio only wav", lambda d: fx.audio_only(d, "wav")),
                        ("video only", fx.video_only), ("no face", fx.no_face_clip), ("silent", fx.silent_clip),
                        ("rotated", fx.rotated_clip), ("audio with cover art", fx.audio_with_cover)):  # fmt: skip
        analyze(name, build(folder), True)
    for layout in fx.CHANNEL_LAYOUTS:
        analyze(f"audio layout {layout}", fx.layout_clip(folder, layout, seconds=1.0), True)
    analyze("7.1 AAC under video", fx.surround_clip(folder, "7.1"), True)
    for kind in fx.CODEC_CLIPS:
        clip = fx.codec_clip(folder, kind)
        cases.append(
            Case(f"score {kind}", ("score", str(clip), "--out", f"{out}-{kind}", "--quiet"), True, "score", clip)
        )
    # options
    face = fx.face_clip(folder)
    bad_options: list[tuple[str, tuple[str, str], tuple[str, object]]] = [
        ("tempo 0.01", ("--tempo", "0.01"), ("tempo", 0.01)),
        ("tempo 3", ("--tempo", "3"), ("tempo", 3.0)),
        ("seed -1", ("--seed", "-1"), ("seed", -1)),
        ("key H#", ("--key", "H#"), ("key", "H#")),
        ("instruments drums", ("--instruments", "drums"), ("instruments", "drums")),
    ]
    for name, extra, option in bad_options:
        argv = ("score", str(face), "--out", f"{out}-opt", "--quiet", *extra)
        cases.append(Case(f"score {name}", argv, False, "score", face, (option,)))
    cases.append(Case("analyze --min-segment nan", ("analyze", str(face), "--min-segment", "nan"), False))
    for name, extra, options in (("--bars 0", ("--quadrant", "Q1", "--bars", "0"), (("quadrant", "Q1"), ("bars", 0))),
                                 ("--quadrant Q5", ("--quadrant", "Q5"), (("quadrant", "Q5"),)),
                                 ("--va 2,0", ("--va", "2,0"), (("va", (2.0, 0.0)),))):  # fmt: skip
        cases.append(Case(f"compose {name}", ("compose", *extra, "--out", out), False, "compose", None, options))
    # output paths
    (folder / "real.json").write_text("keep")
    (folder / "link.json").symlink_to(folder / "real.json")
    os.mkfifo(folder / "pipe.json")
    for name in ("link.json", "pipe.json"):
        cases.append(Case(f"analyze --json {name}", ("analyze", str(face), "--json", str(folder / name)), False))
    cases.append(
        Case("score into a missing, unwritable place", ("score", str(face), "--out", "/proc/moodscore"), False)
    )
    # MIDI for the judge
    midis = {
        "MIDI asking for 640 GB": (
            fx.smf(
                b"\x00\xff\x51\x03\xff\xff\xff\x00\x90\x3c\x64" + fx.vlq(9_999_000) + b"\x80\x3c\x00" + END,
                b"\x00\x01",
            ),
            False,
        ),
        "MIDI of 33 M ticks": (
            fx.smf(b"\x00\x90\x3c\x64" + fx.vlq(2**25 - 1) + b"\x80\x3c\x00" + END, b"\x00\x01"),
            False,
        ),
        "MIDI without notes": (fx.smf(END), False),
        "MIDI of drums only": (fx.smf(b"\x00\x99\x24\x64\x60\x89\x24\x00" + END), False),
        "MIDI cut short": (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x00\x60MTrk\x00\x00\xff\xff", False),
        "SMPTE-timed MIDI": (fx.smf(b"\x00\x90\x3c\x64\x83\x60\x80\x3c\x00" + END, b"\xe7\x28"), True),
    }
    for i, (name, (data, ok)) in enumerate(midis.items()):
        path = folder / f"m{i}.mid"
        path.write_bytes(data)
        cases.append(Case(f"judge {name}", ("judge", str(path)), ok))
    return cases
