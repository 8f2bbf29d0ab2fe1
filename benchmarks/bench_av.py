"""Faces and voices together: clips made of held-out faces and held-out voices with known segments, read back by
the analysis and scored against the truth.

    python benchmarks/bench_av.py --data ../shared/data --set test [--clips 24] [--voice-folds DIR] [--md FILE]

The clips (made once, kept in ``benchmarks/results/cache/av/``, not committed): each is one RAVDESS actor's voice
and a face on screen, about 30 s long, cut into segments of 2-8 s whose face and voice carry the same emotion;
neighbouring segments differ in quadrant (so every segment boundary is a change the timeline should show). A
segment's quadrant is drawn uniformly, then its class within the quadrant (Q1 happy/surprised, Q2
angry/fearful/disgust, Q3 sad, Q4 neutral/calm; a calm voice is shown with a neutral face, since faces have no
calm). The face: a FER2013 PublicTest face of that class (FER2013's label; the FER+ votes in the shared data are not in
the images' order, so they cannot be used), upscaled to 256 px on a 640x480 grey frame, drifting a few pixels;
each segment shows a new face.
The voice: the actor's utterances of that emotion (either intensity, leading silence trimmed to 0.15 s) joined
until the segment is full; every other clip hears it in a room (synthetic reverberation, RT60 0.3-0.7 s, and
pink noise 12-24 dB below the speech). 25 fps H.264, AAC.

Which data (``models.train.holdout``): ``--set test`` takes faces from PublicTest's hold half (never used for a
choice) and the actors of voice folds 2-4; ``--set dev`` takes the select half and the actors of folds 0-1, for
tuning fusion. With ``--voice-folds DIR`` (``DIR/fold{k}.pt``, written by ``train_voice_whisper --fold-heads``) each
clip's voice is judged by the head that never heard its actor; without it the shipped head judges actors it was
trained on, and the output says so.

Reported per fusion setting (the shipped defaults, and the face alone and the voice alone): time-weighted quadrant
accuracy (the share of the clip's time whose timeline quadrant is the truth's), time-weighted class accuracy (the
segment's label), and the boundaries: for each true boundary the nearest timeline boundary within 1.5 s (its
error; the share within 0.5 s; the ones missed), the timeline's boundaries with no true one within 1.5 s
(spurious), and the share of time whose segment's probability-weighted valence-arousal point lies in the segment's
quadrant before it is moved there. Also the windows one by one: each modality's quadrant accuracy, mean top
probability and expected calibration error (15 bins) of its class probabilities against the window's class, and
the same for the fused windows.

Prints one JSON line (and writes ``--md``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from moodscore.models import affect  # noqa: E402
from moodscore.models.fusion.timeline import FusionOptions, build_timeline, fuse, window_starts  # noqa: E402
from moodscore.models.train.calibration import ece  # noqa: E402
from moodscore.models.train.holdout import publictest_halves, voice_fold_actors, voice_fold_of_actor  # noqa: E402

CACHE = ROOT / "benchmarks" / "results" / "cache" / "av"
SR, FPS, SIZE, W, H = 16000, 25, 256, 640, 480
SEGMENT_S = (2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
SEGMENT_P = (0.2, 0.2, 0.2, 0.15, 0.15, 0.1)
CLIP_S = 30.0
QUADRANT_CLASSES = {"Q1": ("happy", "surprised"), "Q2": ("angry", "fearful", "disgust"), "Q3": ("sad",),
                    "Q4": ("neutral", "calm")}  # fmt: skip
RAVDESS_CODE = {"neutral": "01", "calm": "02", "happy": "03", "sad": "04", "angry": "05", "fearful": "06",
                "disgust": "07", "surprised": "08"}  # fmt: skip
FACE_OF = {"calm": "neutral"}  # the face shown for a class faces do not have
FER_NAMES = ("angry", "disgust", "fearful", "happy", "sad", "surprised", "neutral")  # FER2013's label order
SETS = {"test": ("hold", (2, 3, 4)), "dev": ("select", (0, 1))}
BOUNDARY_REACH_S = 1.5


@dataclass(frozen=True)
class Truth:
    """A clip's segments: (start, end, class) with the class in ``affect.CLASSES``."""

    actor: int
    segments: tuple[tuple[float, float, str], ...]
    room: bool = False  # the voice heard in a reverberant room with noise (every other clip)

    @property
    def duration_s(self) -> float:
        return self.segments[-1][1]

    def boundaries(self) -> list[float]:
        return [a for a, _, _ in self.segments[1:]]

    def at(self, t: np.ndarray) -> np.ndarray:
        """The true class index at each time."""
        out = np.zeros(len(t), dtype=np.int64)
        for a, _, name in self.segments:
            out[t >= a] = affect.CLASS_INDEX[name]
        return out


# -- data ------------------------------------------------------------------------------------------------------
def face_pool(data: Path, half: str) -> dict[str, np.ndarray]:
    """48x48 faces per class name (FER2013's labels) from one half of PublicTest."""
    npz = np.load(data / "fer2013" / "fer2013_train_publictest.npz")
    select, hold = publictest_halves(npz["usage"])
    idx = select if half == "select" else hold
    labels = npz["labels"][idx]
    return {name: npz["images"][idx[labels == k]] for k, name in enumerate(FER_NAMES)}


def voice_files(data: Path, actors: tuple[int, ...]) -> dict[tuple[int, str], list[Path]]:
    """RAVDESS files per (actor, class name)."""
    out: dict[tuple[int, str], list[Path]] = {}
    code_to_name = {v: k for k, v in RAVDESS_CODE.items()}
    for actor in actors:
        for f in sorted((data / "ravdess_speech_16k" / f"Actor_{actor:02d}").glob("*.*")):
            parts = f.stem.split("-")
            if len(parts) == 7 and parts[2] in code_to_name:
                out.setdefault((actor, code_to_name[parts[2]]), []).append(f)
    return out


def load_utterance(path: Path) -> np.ndarray:
    """An utterance at 16 kHz with its leading silence cut to 0.15 s."""
    import soundfile as sf

    y, sr = sf.read(str(path), dtype="float32", always_2d=False)
    if y.ndim > 1:
        y = y.mean(axis=1)
    if sr != SR:
        raise ValueError(f"{path}: expected {SR} Hz, got {sr}")
    hop = SR // 100
    rms = np.sqrt(np.convolve(y**2, np.ones(hop) / hop, mode="same") + 1e-12)
    loud = np.flatnonzero(rms > 10 ** (-40 / 20) * max(rms.max(), 1e-6))
    first = int(loud[0]) if len(loud) else 0
    return y[max(0, first - int(0.15 * SR)) :]


# -- clips -----------------------------------------------------------------------------------------------------
def plan_clip(rng: np.random.Generator, actor: int, *, room: bool) -> Truth:
    segments: list[tuple[float, float, str]] = []
    t, last_q = 0.0, ""
    while t < CLIP_S - 1.0:
        q = str(rng.choice([x for x in affect.QUADRANTS if x != last_q]))
        name = str(rng.choice(QUADRANT_CLASSES[q]))
        d = float(rng.choice(SEGMENT_S, p=SEGMENT_P))
        d = min(d, max(2.0, CLIP_S - t))
        segments.append((t, t + d, name))
        t, last_q = t + d, q
    return Truth(actor, tuple(segments), room)


def make_clip(path: Path, truth: Truth, faces: dict[str, np.ndarray], voices: dict[tuple[int, str], list[Path]],
              rng: np.random.Generator) -> None:  # fmt: skip
    import cv2

    from tests.media_fixtures import make_example

    maker = make_example()  # tests/data/make_example.py, loaded once per process
    audio = np.zeros(round(truth.duration_s * SR), dtype=np.float32)
    shown: list[np.ndarray] = []
    for a, b, name in truth.segments:
        pool = faces[FACE_OF.get(name, name)]
        shown.append(cv2.resize(pool[int(rng.integers(len(pool)))], (SIZE, SIZE), interpolation=cv2.INTER_CUBIC))
        files = list(voices[(truth.actor, name)])
        rng.shuffle(files)  # type: ignore[arg-type]
        parts, n = [], round((b - a) * SR)
        while sum(len(p) for p in parts) < n:
            parts.append(load_utterance(files[len(parts) % len(files)]))
        seg = np.concatenate(parts)[:n]
        audio[round(a * SR) : round(a * SR) + len(seg)] = 0.5 * seg / max(float(np.abs(seg).max()), 1e-6)

    if truth.room:
        audio = in_a_room(audio, rng)

    def frames() -> Any:
        n_frames = round(truth.duration_s * FPS)
        for k in range(n_frames):
            t = k / FPS
            j = max(i for i, (a, _, _) in enumerate(truth.segments) if a <= t + 1e-9)
            frame = np.full((H, W), 118, np.uint8)
            dx = round(12 * np.sin(2 * np.pi * (t / 3 + j * 0.37)))
            dy = round(6 * np.cos(2 * np.pi * (t / 3 + j * 0.21)))
            x0, y0 = (W - SIZE) // 2 + dx, (H - SIZE) // 2 + dy
            frame[y0 : y0 + SIZE, x0 : x0 + SIZE] = shown[j]
            yield np.repeat(frame[:, :, None], 3, axis=2)

    tmp = path.with_name(f".{path.stem}.partial.mp4")
    maker.encode(tmp, frames(), audio, sr=SR, fps=FPS, crf=20, preset="veryfast")
    tmp.replace(path)


def build_set(data: Path, which: str, n_clips: int) -> list[tuple[Path, Truth]]:
    half, folds = SETS[which]
    actors = tuple(sorted(a for k in folds for a in voice_fold_actors(k)))
    faces = face_pool(data, half)
    voices = voice_files(data, actors)
    CACHE.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n_clips):
        rng = np.random.default_rng([0xA5, len(which), i, sum(map(ord, which))])
        truth = plan_clip(rng, actors[i % len(actors)], room=i % 2 == 1)
        path = CACHE / f"{which}_{i:02d}.mp4"
        meta = path.with_suffix(".json")
        if not (path.exists() and meta.exists() and json.loads(meta.read_text()) == _truth_json(truth)):
            make_clip(path, truth, faces, voices, rng)
            meta.write_text(json.dumps(_truth_json(truth)))
        out.append((path, truth))
    return out


def _truth_json(truth: Truth) -> dict[str, Any]:
    return {"actor": truth.actor, "segments": [list(s) for s in truth.segments], "room": truth.room}


def in_a_room(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The voice as a camera across a room hears it: a synthetic reverberation (exponentially decaying noise,
    RT60 0.3-0.7 s, direct-to-reverberant ratio 0-6 dB) and pink noise 12-24 dB below the speech."""
    rt60 = rng.uniform(0.3, 0.7)
    n = int(rt60 * SR)
    tail = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
    tail *= 10 ** (-rng.uniform(0, 6) / 20) / np.sqrt(np.sum(tail**2))
    tail[0] = 1.0
    wet = np.convolve(audio, tail)[: len(audio)]
    white = rng.standard_normal(len(audio) + 1)
    pink = np.fft.irfft(np.fft.rfft(white) / np.sqrt(np.arange(1, len(white) // 2 + 2)), len(white))[: len(audio)]
    speech_rms = np.sqrt(np.mean(wet[np.abs(wet) > 1e-3] ** 2)) if np.any(np.abs(wet) > 1e-3) else 1e-3
    pink *= speech_rms * 10 ** (-rng.uniform(12, 24) / 20) / np.sqrt(np.mean(pink**2))
    out = wet + pink
    return (0.5 * out / max(float(np.abs(out).max()), 1e-6)).astype(np.float32)


# -- scoring ---------------------------------------------------------------------------------------------------
def score_timeline(timeline: Any, truth: Truth, step: float = 0.02) -> dict[str, Any]:
    t = np.arange(0, truth.duration_s, step) + step / 2
    true_cls = truth.at(t)
    true_q = np.array([affect.QUADRANTS.index(affect.QUADRANT_OF_CLASS[affect.CLASSES[c]]) for c in true_cls])
    pred_q = np.zeros(len(t), dtype=np.int64)
    pred_c = np.zeros(len(t), dtype=np.int64)
    for seg in timeline.segments:
        m = t >= seg.start_s
        pred_q[m] = affect.QUADRANTS.index(seg.emotion.quadrant)
        pred_c[m] = affect.CLASS_INDEX[seg.emotion.label]
    pred_b = [s.start_s for s in timeline.segments[1:]]
    # the segment's own valence-arousal mean (before it is moved into the quadrant) lies in its quadrant
    va_agree = sum(
        seg.duration_s for seg in timeline.segments
        if affect.quadrant_of_va(*affect.probs_to_va(np.asarray(seg.emotion.probs))) == seg.emotion.quadrant
    )  # fmt: skip
    errors, missed = [], 0
    for b in truth.boundaries():
        near = min((abs(p - b) for p in pred_b), default=np.inf)
        if near <= BOUNDARY_REACH_S:
            errors.append(near)
        else:
            missed += 1
    spurious = sum(min((abs(p - b) for b in truth.boundaries()), default=np.inf) > BOUNDARY_REACH_S for p in pred_b)
    return {
        "quadrant_right_s": float((pred_q == true_q).sum() * step),
        "class_right_s": float((pred_c == true_cls).sum() * step),
        "va_agree_s": float(va_agree),
        "duration_s": float(len(t) * step),
        "boundary_errors": errors,
        "missed": missed,
        "spurious": int(spurious),
        "true_boundaries": len(truth.boundaries()),
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    dur = sum(r["duration_s"] for r in rows)
    errors = [e for r in rows for e in r["boundary_errors"]]
    n_true = sum(r["true_boundaries"] for r in rows)
    return {
        "quadrant_acc": round(sum(r["quadrant_right_s"] for r in rows) / dur, 4),
        "class_acc": round(sum(r["class_right_s"] for r in rows) / dur, 4),
        "va_agreement": round(sum(r["va_agree_s"] for r in rows) / dur, 4),
        "boundaries": n_true,
        "boundary_found": round(len(errors) / max(n_true, 1), 4),
        "boundary_within_0_5s": round(sum(e <= 0.5 for e in errors) / max(n_true, 1), 4),
        "boundary_error_median_s": round(float(np.median(errors)), 3) if errors else None,
        "boundary_error_mean_s": round(float(np.mean(errors)), 3) if errors else None,
        "spurious": sum(r["spurious"] for r in rows),
    }


def window_truth(truth: Truth, starts: np.ndarray, opts: FusionOptions) -> tuple[np.ndarray, np.ndarray]:
    """Each window's class, and whether the window lies inside one segment (windows across a boundary are left out)."""
    cls = truth.at(starts + opts.win_s / 2)
    inside = np.array([any(a <= s and s + opts.win_s <= b for a, b, _ in truth.segments) for s in starts])
    return cls, inside


def window_stats(probs: np.ndarray, cls: np.ndarray) -> dict[str, Any]:
    ok = np.isfinite(probs).all(axis=1)
    p, c = probs[ok], cls[ok]
    if not len(p):
        return {"windows": 0}
    qp = affect.quadrant_scores(p)  # the decision
    qmass = p @ affect.QUADRANT_MATRIX  # the probability
    tq = np.array([affect.QUADRANTS.index(affect.QUADRANT_OF_CLASS[affect.CLASSES[i]]) for i in c])
    return {
        "windows": len(p),
        "quadrant_acc": round(float((qp.argmax(axis=1) == tq).mean()), 4),
        "class_acc": round(float((p.argmax(axis=1) == c).mean()), 4),
        "mean_top_prob": round(float(p.max(axis=1).mean()), 4),
        "ece": round(ece(p, c), 4),
        "quadrant_ece": round(ece(qmass, tq), 4),
    }


# -- the run ---------------------------------------------------------------------------------------------------
def read_evidence(clips: list[tuple[Path, Truth]], voice_folds: Path | None, opts: FusionOptions) -> list[Any]:
    from moodscore.models.analysis import cache as analysis_cache
    from moodscore.models.engine import Engine

    engines: dict[int, Engine] = {}
    out = []
    for path, truth in clips:
        fold = voice_fold_of_actor(truth.actor)
        if fold not in engines:  # the models load on first use
            engines[fold] = Engine(voice_path=voice_folds / f"fold{fold}.pt") if voice_folds else Engine()
        settings = {"win_s": opts.win_s, "hop_s": opts.hop_s, "min_face_fraction": opts.min_face_fraction}
        key = analysis_cache.analysis_key(engines[fold], path, settings)[:16]
        cached = path.with_name(f"{path.stem}.{key}.npz")
        if cached.exists():
            z = np.load(cached)
            out.append((float(z["duration"]), z["face"], z["voice"], float(z["seconds"])))
            continue
        t0 = time.perf_counter()
        ev = engines[fold].evidence(path, fusion=opts)
        seconds = time.perf_counter() - t0
        np.savez(cached, duration=ev.duration_s, face=ev.face, voice=ev.voice, seconds=seconds)
        out.append((ev.duration_s, ev.face, ev.voice, seconds))
    return out


# the fusion before bench_av existed: a linear mix at fixed weights, 4 nats a switch, no smoothing or sharpening,
# and a quadrant decided by summed probability
PREVIOUS = FusionOptions(pooling="linear", confidence_power=0.0, switch_cost=4.0, smooth_s=0.0, sharpness=1.0)


def evaluate(
    clips: list[tuple[Path, Truth]], evidence: list[Any], settings: dict[str, FusionOptions]
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, opts in settings.items():
        rule = affect.QUADRANT_RULE
        affect.QUADRANT_RULE = "mass" if opts is PREVIOUS else rule
        try:
            rows = []
            for (_, truth), (duration, face, voice, _) in zip(clips, evidence, strict=True):
                tl = build_timeline(duration, face, voice, opts)
                rows.append(score_timeline(tl, truth))
        finally:
            affect.QUADRANT_RULE = rule
        result[name] = summarise(rows)
    return result


SWEEP = {
    "pooling": ("linear", "log"),
    "confidence_power": (0.0, 0.5, 1.0, 2.0),
    "switch_cost": (0.5, 1.0, 2.0, 4.0),
    "min_segment_s": (1.5, 2.0),
    "smooth_s": (0.0, 0.5, 1.0),
}


def sweep(clips: list[tuple[Path, Truth]], evidence: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every combination of SWEEP (the prior weights stay the brief's 75/25), best first by time-weighted quadrant
    accuracy + 0.5 x the share of boundaries found within 0.5 s."""
    settings = {}
    for combo in itertools.product(*SWEEP.values()):
        kw = dict(zip(SWEEP, combo, strict=True))
        settings[", ".join(f"{k}={v}" for k, v in kw.items())] = FusionOptions(**kw)  # type: ignore[arg-type]
    result = evaluate(clips, evidence, settings)
    return sorted(result.items(), key=lambda kv: -(kv[1]["quadrant_acc"] + 0.5 * kv[1]["boundary_within_0_5s"]))


def windows_report(clips: list[tuple[Path, Truth]], evidence: list[Any], opts: FusionOptions) -> dict[str, Any]:
    """Window by window (windows across a true boundary left out): the face, the voice and their fusion."""
    parts: dict[str, list[np.ndarray]] = {"face": [], "voice": [], "fused": []}
    cls_all = []
    for (_, truth), (duration, face, voice, _) in zip(clips, evidence, strict=True):
        starts = window_starts(duration, opts)
        cls, inside = window_truth(truth, starts, opts)
        parts["face"].append(face[inside])
        parts["voice"].append(voice[inside])
        parts["fused"].append(fuse(face, voice, opts)[inside])
        cls_all.append(cls[inside])
    cls = np.concatenate(cls_all)
    return {name: window_stats(np.concatenate(rows), cls) for name, rows in parts.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="the shared data folder (fer2013/, ravdess_speech_16k/)")
    ap.add_argument("--set", choices=sorted(SETS), default="test")
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--voice-folds", type=Path, default=None, help="folder of fold{k}.pt voice heads")
    ap.add_argument("--md", type=Path, default=None, help="also write the result as a Markdown table here")
    ap.add_argument("--sweep", action="store_true", help="rank every setting of SWEEP (use --set dev)")
    args = ap.parse_args(argv)

    opts = FusionOptions()
    clips = build_set(args.data, args.set, args.clips)
    evidence = read_evidence(clips, args.voice_folds, opts)
    if args.sweep:
        ranked = sweep(clips, evidence)
        for name, s in ranked:
            print(
                f"{name:44s} quadrant {s['quadrant_acc']:.3f} class {s['class_acc']:.3f} boundaries found "
                f"{s['boundary_found']:.2f}, within 0.5 s {s['boundary_within_0_5s']:.2f}, spurious {s['spurious']}"
            )
        return 0
    settings = {
        "fused (shipped defaults)": opts,
        "previous fusion (linear 75/25, 4 nats, quadrant by summed mass)": PREVIOUS,
        "face alone": FusionOptions(face_weight=1.0, voice_weight=0.0),
        "voice alone": FusionOptions(face_weight=0.0, voice_weight=1.0),
    }
    result = {
        "set": args.set,
        "clips": len(clips),
        "seconds": round(sum(t.duration_s for _, t in clips), 1),
        "segments": sum(len(t.segments) for _, t in clips),
        "voice_heads": "fold heads (each actor unheard)" if args.voice_folds else "shipped head (heard these actors)",
        "timelines": evaluate(clips, evidence, settings),
        "windows": windows_report(clips, evidence, opts),
        "analysis_s_per_clip_s": round(sum(e[3] for e in evidence) / sum(e[0] for e in evidence), 4),
    }
    print(json.dumps(result))
    if args.md:
        args.md.write_text(to_markdown(result))
    return 0


def to_markdown(result: dict[str, Any]) -> str:
    lines = [
        f"## Faces and voices together: {result['clips']} clips, {result['seconds']} s, {result['segments']} "
        f"segments ({result['set']} set; voice: {result['voice_heads']})",
        "",
        "| timeline | quadrant acc (time) | class acc (time) | boundaries found | within 0.5 s | median error "
        "| spurious | point in quadrant |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, s in result["timelines"].items():
        lines.append(
            f"| {name} | {s['quadrant_acc']:.1%} | {s['class_acc']:.1%} | {s['boundary_found']:.1%} of "
            f"{s['boundaries']} | {s['boundary_within_0_5s']:.1%} | {s['boundary_error_median_s']} s "
            f"| {s['spurious']} | {s['va_agreement']:.1%} |"
        )
    lines += ["", "| windows | n | quadrant acc | class acc | mean top prob | ECE (class) | ECE (quadrant) |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, s in result["windows"].items():
        if s.get("windows"):
            lines.append(
                f"| {name} | {s['windows']} | {s['quadrant_acc']:.1%} | {s['class_acc']:.1%} | "
                f"{s['mean_top_prob']:.2f} | {s['ece']:.3f} | {s['quadrant_ece']:.3f} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
