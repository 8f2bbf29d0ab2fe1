"""Regenerate the listening examples: what the benchmark numbers describe, to hear and to see.

Per quadrant one piece of 16 bars (tempo and key left to the composer), a `--va 0.1,0.1` / `--va 0.9,0.9` pair,
and a transition piece that follows a timeline (calm, then sad, then happy). Each as MIDI, an MP3 (FluidSynth,
loudness-normalised, 96 kb/s to keep the folder small) and a piano-roll PNG; `index.md` lists them with their
key and tempo. Nothing is chosen: the seeds are fixed below.

    python benchmarks/listening/make.py            # writes into benchmarks/listening/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from moodscore.models.affect import CLASSES
from moodscore.models.jobs.work import SR, render_score
from moodscore.models.media.plots import piano_roll_png
from moodscore.models.music.composer import Composer
from moodscore.models.music.mix import export_mp3
from moodscore.models.types import ComposeRequest, Emotion, Segment, Timeline

HERE = Path(__file__).resolve().parent
SEED = 7


def _timeline(parts: list[tuple[float, float, str]]) -> Timeline:
    segs = []
    for a, b, label in parts:
        probs = [0.02] * len(CLASSES)
        probs[CLASSES.index(label)] = 1.0
        total = sum(probs)
        segs.append(Segment(start_s=a, end_s=b, emotion=Emotion.from_probs([p / total for p in probs])))
    return Timeline(duration_s=parts[-1][1], segments=tuple(segs))


def examples() -> list[tuple[str, ComposeRequest, str]]:
    out: list[tuple[str, ComposeRequest, str]] = [
        (f"{q}_seed{SEED}", ComposeRequest(emotion=q, bars=16, seed=SEED), f"quadrant {q}")
        for q in ("Q1", "Q2", "Q3", "Q4")
    ]
    out += [
        ("va_0.1_0.1", ComposeRequest(emotion=(0.1, 0.1), bars=8, seed=SEED), "valence 0.1, arousal 0.1"),
        ("va_0.9_0.9", ComposeRequest(emotion=(0.9, 0.9), bars=8, seed=SEED), "valence 0.9, arousal 0.9"),
    ]
    tl = _timeline([(0.0, 12.0, "calm"), (12.0, 24.0, "sad"), (24.0, 36.0, "happy")])
    out.append(("transition_Q4_Q3_Q1", ComposeRequest(emotion=tl, tempo=80, seed=SEED), "calm -> sad -> happy"))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    composer = Composer()
    rows = ["# Listening examples", "", "Regenerate: `python benchmarks/listening/make.py`.", "",
            "| example | emotion | key | tempo | bars | files |", "|---|---|---|---|---|---|"]  # fmt: skip
    for name, request, what in examples():
        (score,) = composer.compose(request)
        score.midi.write(str(args.out / f"{name}.mid"))
        export_mp3(args.out / f"{name}.mp3", render_score(score), SR, bitrate=96_000)
        piano_roll_png(score.midi, args.out / f"{name}.png", title=f"{name}: {what}, {score.key}")
        quads = " ".join(q for i, q in enumerate(score.bar_quadrants) if i == 0 or score.bar_quadrants[i - 1] != q)
        rows.append(
            f"| {name} | {what} ({quads}) | {score.key} | {score.tempo:g} | {score.n_bars} | "
            f"[mp3]({name}.mp3) [mid]({name}.mid) [png]({name}.png) |"
        )
        print(name, score.key, score.tempo)
    (args.out / "index.md").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
