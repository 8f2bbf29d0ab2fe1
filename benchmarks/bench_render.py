"""Render speed: 60 s of piano through FluidSynth with each soundfont, plus loudness, mix, MP3 and mux.

    python benchmarks/bench_render.py [--seconds 60] [--runs 3] [--out benchmarks/render.md]

The piece is deterministic: a two-hand piano part (arpeggios plus sustained chords, about 8 notes per
second, sustain pedal per bar). Speed is "x real time" = audio seconds / wall seconds (median of the
runs; the first, soundfont-loading render is reported apart). Writes a Markdown report.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np
import pretty_midi

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from moodscore.models.media.mux import mux_audio_into_video  # noqa: E402
from moodscore.models.music import render  # noqa: E402
from moodscore.models.music.mix import export_mp3, mix_under  # noqa: E402


def piano_piece(seconds: float) -> pretty_midi.PrettyMIDI:
    pm = pretty_midi.PrettyMIDI(initial_tempo=96)
    piano = pretty_midi.Instrument(program=0, name="piano")
    bar = 2.5  # 4/4 at 96 bpm
    chords = ((48, 55, 60, 64), (45, 52, 57, 60), (41, 48, 53, 57), (43, 50, 55, 59))
    t, k = 0.0, 0
    while t + bar <= seconds:
        chord = chords[k % len(chords)]
        piano.notes += [pretty_midi.Note(velocity=62, pitch=p, start=t, end=t + bar) for p in chord]
        for i in range(16):  # right-hand arpeggio in sixteenths... of a half-speed bar
            pitch = chord[i % 4] + 12 + 12 * (i // 8)
            piano.notes.append(
                pretty_midi.Note(
                    velocity=70 + 8 * (i % 3), pitch=pitch, start=t + i * bar / 16, end=t + (i + 1) * bar / 16
                )
            )
        piano.control_changes += [
            pretty_midi.ControlChange(64, 100, t),
            pretty_midi.ControlChange(64, 0, t + bar - 0.05),
        ]
        t, k = t + bar, k + 1
    pm.instruments.append(piano)
    return pm


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """(first call, median of the following ``runs`` calls) in seconds."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    walls = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t)
    return first, statistics.median(walls)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "render.md")
    args = ap.parse_args()

    pm = piano_piece(args.seconds)
    fonts = [p for p in render.FLUIDR3_PATHS if p.is_file()][:1]
    fonts.append(Path(str(resources.files("pretty_midi").joinpath("TimGM6mb.sf2"))))
    rows = []
    audio = np.zeros((0, 2), np.float32)
    for font in fonts:
        first, med = timed(lambda font=font: render.render_midi(pm, sr=44100, soundfont=font), args.runs)
        audio = render.render_midi(pm, sr=44100, soundfont=font)
        secs = len(audio) / 44100
        mb = font.stat().st_size / 1e6
        rows.append(f"| render_midi, {font.name} ({mb:.0f} MB) | {first:.2f} | {med:.2f} | {secs / med:.0f}x |")
        ref_first, ref = timed(lambda font=font: pm.fluidsynth(fs=44100, synthesizer=str(font)), args.runs)
        rows.append(
            f"| reference: pretty_midi.fluidsynth (mono), {font.name} | {ref_first:.2f} | {ref:.2f} | "
            f"{secs / ref:.0f}x |"
        )
    secs = len(audio) / 44100
    _, med = timed(lambda: render.normalize_loudness(audio, 44100), args.runs)
    rows.append(f"| normalize_loudness (-16 LUFS, limiter) | | {med:.2f} | {secs / med:.0f}x |")
    speech = 0.1 * np.sin(np.arange(len(audio)) * 0.03) * (np.arange(len(audio)) // 44100 % 4 < 2)
    _, med = timed(lambda: mix_under(speech, audio, 44100), args.runs)
    rows.append(f"| mix_under (energy mask, ducking, loudness) | | {med:.2f} | {secs / med:.0f}x |")
    with tempfile.TemporaryDirectory() as tmp:
        _, med = timed(lambda: export_mp3(Path(tmp) / "m.mp3", audio, 44100), args.runs)
        rows.append(f"| export_mp3 (libmp3lame 192 kb/s) | | {med:.2f} | {secs / med:.0f}x |")
        clip = ROOT / "models" / "examples" / "example.mp4"
        if clip.is_file():
            _, med = timed(lambda: mux_audio_into_video(clip, audio, 44100, Path(tmp) / "v.mp4"), args.runs)
            rows.append(f"| mux_audio_into_video (14 s example.mp4, AAC) | | {med:.2f} | {14.0 / med:.0f}x |")

    notes = sum(len(i.notes) for i in pm.instruments)
    report = [
        "# Render benchmark",
        "",
        f"Command: `python benchmarks/bench_render.py --seconds {args.seconds:g} --runs {args.runs}`",
        "",
        f"Machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}; "
        f"2 cores shared with other jobs (load average {os.getloadavg()[0]:.1f} at the end). "
        f"Piece: {args.seconds:g} s of piano, {notes} notes, sustain pedal; "
        f"rendered audio {secs:.1f} s (with tail), 44.1 kHz stereo float32.",
        "",
        "| step | first call (s) | median (s) | x real time |",
        "|---|---|---|---|",
        *rows,
        "",
        "The first render of a soundfont includes reading it from disk (once per process); later renders",
        "make a fresh synthesiser (about 2 ms) that borrows the loaded soundfont.",
    ]
    text = "\n".join(report) + "\n"
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
