"""Mine EMOPIA's train clips for one-bar piano accompaniment patterns, labelled with their clip's quadrant.

    python -m moodscore.models.train.train_emopia_patterns --emopia /work/shared/data/emopia \\
        --out models/weights/emopia_patterns.json

EMOPIA's MIDI is transcribed piano (GiantMIDI) at a nominal 120 BPM, so every clip is beat-tracked first: an
onset-strength curve is built from the notes themselves (velocity-weighted, low notes counted more) and given to
librosa's dynamic-programming beat tracker. The bar lines are the beat phase (of four) on which one chord per bar
fits the notes best. Per bar:

- the chord: the maj / min / 7 / maj7 / min7 chord whose tones hold most of the bar's sounding time (a bass note on
  its root counts extra);
- the tune is the skyline (the highest note of each sixteenth's onsets, if at or above middle C) and is left out:
  the pattern is what the hands play under it;
- the bar is kept if its notes sit near the sixteenth grid (mean error <= 0.12 of a sixteenth), 2-24 notes remain,
  >= 75% of them are chord tones, and its lowest note is the chord's root (an inversion, moved onto another chord,
  would blur that chord);
- stored over a C chord with a major third (a minor chord's third is written as E, its seventh as B flat), so the
  composer bends it onto any chord (:func:`moodscore.models.music.accompaniment._move`); the register is kept (the root
  moves by -6..+5 semitones), and a bar whose notes would then leave the keyboard is dropped.

Only the official train split is read; val and test stay held out for evaluation. EMOPIA is CC BY-NC-SA 4.0, so
the file this writes is non-commercial (``models/weights/emopia_patterns.md``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from moodscore.models.errors import InputError
from moodscore.models.music.data import EmopiaClip, emopia_split

VERSION = 1
DATE = "2026-12-06"
FPS = 100  # onset curve frames per second
TEMPLATES = {"maj": (0, 4, 7), "min": (0, 3, 7), "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11), "min7": (0, 3, 7, 10)}
MINOR = frozenset({"min", "min7"})
MAX_GRID_ERROR = 0.12  # mean distance of a bar's onsets from the sixteenth grid, in sixteenths
CHORD_TONE_SHARE = 0.75
PATTERN_NOTES = (2, 24)
MELODY_FLOOR = 60  # the skyline counts as the tune from middle C up
PER_QUADRANT = 900  # patterns stored per quadrant


def track_beats(onsets: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Beat times (s) of a transcribed performance: librosa's beat tracker over an onset curve made of the notes."""
    import librosa

    env = np.zeros(int(onsets.max() * FPS) + FPS)
    np.add.at(env, np.rint(onsets * FPS).astype(int), weights)
    env = np.convolve(env, np.exp(-0.5 * (np.arange(-4, 5) / 1.5) ** 2), mode="same")
    _, beats = librosa.beat.beat_track(
        onset_envelope=env, sr=FPS * 512, hop_length=512, start_bpm=100, units="time", trim=False
    )
    return np.asarray(beats, float)


def best_chord(weights: np.ndarray, bass_pc: int) -> tuple[int, str]:
    """(root, quality) of the template chord that best explains a bar's pitch-class weights."""
    total = float(weights.sum())
    best: tuple[float, int, str] = (-np.inf, 0, "maj")
    for quality, intervals in TEMPLATES.items():
        for root in range(12):
            tones = [(root + i) % 12 for i in intervals]
            inside = float(weights[tones].sum())
            score = 2 * inside - total - 0.08 * len(intervals) * total / 12 + (0.15 * total if bass_pc == root else 0)
            if score > best[0]:
                best = (score, root, quality)
    return best[1], best[2]


def over_c(pitch: int, root: int, quality: str) -> int:
    """A chord's note written over a C chord with a major third (the register kept: the root moves -6..+5)."""
    p = pitch - ((root + 6) % 12 - 6)
    if quality in MINOR and p % 12 == 3:
        p += 1
    return p


def clip_patterns(clip: EmopiaClip) -> tuple[str, dict[str, Any]]:
    """One clip's kept bars as patterns over C, and counts of what was kept and why bars were not."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(clip.path))
    notes = sorted((n for i in pm.instruments if not i.is_drum for n in i.notes), key=lambda n: (n.start, -n.pitch))
    report: dict[str, Any] = {"clip": clip.clip_id, "song": clip.song_id, "quadrant": clip.quadrant, "patterns": []}
    counts: Counter[str] = Counter()
    if len(notes) < 20:
        report["counts"] = {"too_few_notes": 1}
        return clip.clip_id, report
    on = np.array([n.start for n in notes])
    off = np.array([n.end for n in notes])
    pitch = np.array([n.pitch for n in notes])
    beats = track_beats(on, np.array([n.velocity / 127 * (1.5 if n.pitch < 55 else 1.0) for n in notes]))
    if len(beats) < 12:
        report["counts"] = {"too_few_beats": 1}
        return clip.clip_id, report
    period = float(np.median(np.diff(beats)))
    report["tempo"] = round(60 / period, 1)
    idx = np.arange(len(beats), dtype=float)
    b_on = np.interp(on, beats, idx, left=np.nan, right=np.nan)
    b_off = np.where(off <= beats[-1], np.interp(off, beats, idx), b_on + (off - on) / period)
    grid16 = np.rint(b_on * 4)
    melody = np.zeros(len(notes), bool)  # the skyline: the highest onset of each sixteenth, from middle C up
    tops: dict[float, int] = {}
    for i, g in enumerate(grid16):
        if not np.isnan(g) and (g not in tops or pitch[i] > pitch[tops[g]]):
            tops[g] = i
    for i in tops.values():
        melody[i] = pitch[i] >= MELODY_FLOOR

    def bars(phase: int) -> list[dict[str, Any]]:
        out = []
        for start in range(phase, len(beats) - 4, 4):
            inb = np.flatnonzero((b_on >= start - 0.125) & (b_on < start + 3.875))
            if not len(inb):
                continue
            w = np.zeros(12)
            np.add.at(w, pitch[inb] % 12, np.minimum(b_off[inb], start + 4) - b_on[inb])
            root, quality = best_chord(w, int(pitch[inb[np.argmin(pitch[inb])]] % 12))
            acc = inb[~melody[inb]]
            tones = {(root + i) % 12 for i in TEMPLATES[quality]}
            share = float(np.mean([p % 12 in tones for p in pitch[acc]])) if len(acc) else 0.0
            err = float(np.mean(np.abs(b_on[inb] * 4 - np.rint(b_on[inb] * 4))))
            out.append({"start": start, "root": root, "quality": quality, "share": share, "err": err, "acc": acc})
        return out

    # the bar lines: the beat phase on which one chord per bar fits best
    chosen = max((bars(k) for k in range(4)), key=lambda bs: float(np.mean([b["share"] for b in bs])) if bs else 0.0)
    for b in chosen:
        acc = b["acc"]
        if b["err"] > MAX_GRID_ERROR:
            counts["off_grid"] += 1
            continue
        if not PATTERN_NOTES[0] <= len(acc) <= PATTERN_NOTES[1]:
            counts["wrong_size"] += 1
            continue
        if b["share"] < CHORD_TONE_SHARE:
            counts["not_one_chord"] += 1
            continue
        pat = set()
        for i in acc:
            o = int(np.rint((b_on[i] - b["start"]) * 4))
            d = int(np.clip(np.rint((b_off[i] - b_on[i]) * 4), 1, 16))
            if 0 <= o < 16:
                pat.add((o, d, over_c(int(pitch[i]), b["root"], b["quality"])))
        if min(p for _, _, p in pat) % 12 != 0:  # an inversion moved onto another chord blurs its harmony
            counts["not_root_position"] += 1
        elif not all(21 <= p <= 108 for _, _, p in pat):  # moved onto C, a note of the piano's edge may fall off it
            counts["off_the_keyboard"] += 1
        elif len(pat) >= PATTERN_NOTES[0]:
            report["patterns"].append(sorted(pat))
            counts["kept"] += 1
    counts["bars"] = len(chosen)
    report["counts"] = dict(counts)
    return clip.clip_id, report


def mine(clips: Sequence[EmopiaClip], *, workers: int = 1) -> dict[str, Any]:
    if workers > 1:
        with ProcessPoolExecutor(workers) as ex:
            reports = dict(ex.map(clip_patterns, clips, chunksize=8))
    else:
        reports = dict(map(clip_patterns, clips))
    totals: Counter[str] = Counter()
    found: dict[str, Counter[tuple[tuple[int, int, int], ...]]] = defaultdict(Counter)
    songs: dict[tuple[tuple[int, int, int], ...], set[str]] = defaultdict(set)
    tempi = []
    for r in reports.values():
        totals.update(r["counts"])
        if "tempo" in r:
            tempi.append(r["tempo"])
        for p in r["patterns"]:
            key = tuple(tuple(x) for x in p)
            found[r["quadrant"]][key] += 1
            songs[key].add(r["song"])
    accompaniment: dict[str, list[dict[str, Any]]] = {}
    for q in sorted(found):
        # most songs first, then most uses; one song gives at most PER_QUADRANT / 40 patterns, so no song dominates
        per_song: Counter[str] = Counter()
        kept = []
        for key in sorted(found[q], key=lambda k: (-len(songs[k]), -found[q][k], k)):
            song = min(songs[key])
            if per_song[song] >= PER_QUADRANT // 40:
                continue
            per_song[song] += 1
            pitches = [x[2] for x in key]
            kept.append(
                {
                    "notes": [list(x) for x in key],
                    "count": found[q][key],
                    "songs": len(songs[key]),
                    "density": len(key),
                    "low": min(pitches),
                    "high": max(pitches),
                }
            )
            if len(kept) >= PER_QUADRANT:
                break
        accompaniment[q] = kept
    return {
        "meta": {
            "version": VERSION,
            "date": DATE,
            "data": "EMOPIA 1.0 train split (CC BY-NC-SA 4.0: this file is non-commercial)",
            "clips": sorted(reports),
            "songs": len({r["song"] for r in reports.values()}),
        },
        "stats": {
            "bars": {k: int(v) for k, v in sorted(totals.items())},
            "tempo_bpm_quartiles": [round(float(x), 1) for x in np.percentile(tempi, [25, 50, 75])] if tempi else [],
            "patterns_per_quadrant": {q: len(v) for q, v in accompaniment.items()},
        },
        "accompaniment": accompaniment,
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--emopia", required=True, help="EMOPIA root (midis/, label.csv, split/)")
    ap.add_argument("--out", default="models/weights/emopia_patterns.json")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="only the first N train clips (for a quick look)")
    args = ap.parse_args(argv)
    t0 = time.time()
    try:
        clips = emopia_split(args.emopia, "train")
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.limit:
        clips = clips[: args.limit]
    doc = mine(clips, workers=args.workers)
    cmd = [
        "python",
        "-m",
        "moodscore.models.train.train_emopia_patterns",
        "--emopia",
        str(args.emopia),
        "--out",
        str(args.out),
    ]
    doc["meta"]["command"] = " ".join(cmd + (["--limit", str(args.limit)] if args.limit else []))
    doc["stats"]["runtime_seconds"] = round(time.time() - t0, 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, separators=(",", ":"))
    tmp = out.with_suffix(".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(out)
    print(f"{len(clips)} clips, {doc['stats']} -> {out} ({len(text) / 1e6:.2f} MB) in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
