"""The voice model's accuracy on unseen actors through the run-time path, `VoiceModel.analyze` itself.

    python benchmarks/bench_voice.py --data ../shared/data/ravdess_speech_16k --folds /tmp/moodscore_cache/voice_folds \
        [--degrade none,reverb,codec,music] [--uncalibrated] [--out benchmarks/results/voice_runtime.json]

``--folds DIR`` holds the five fold checkpoints written by
``python -m moodscore.models.train.train_voice_whisper ... --fold-heads DIR``: DIR/fold{k}.pt never heard the actors
``models.train.holdout.voice_fold_actors(k)``. For each fold, its held-out actors' clips (optionally degraded as
in the training entry's test copies: reverb, codec or music under the speech, other songs and seeds than any
training copy) are joined in random groups of 12 (~29 s, one encoder chunk) and judged by ``analyze`` with one
window per clip (window = hop = the clip's length, the windows starting on the clips), so each clip is judged on
the 2 s centred on it, its speech found by the VAD over the joined audio. A clip whose window gets no vote (under
30% speech) counts as wrong. Prints accuracy per fold and pooled, accuracy of the windows that voted, per-class
recall, accuracy on normal and strong intensity, the confusion matrix, and calibration (ECE, 15 bins; mean top
probability) of the votes (``--uncalibrated``: with the temperature set to 1).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
GROUP = 12


def run(data: Path, folds: Path, degrade: str, pop909: Path, seed: int = 0, *, uncalibrated: bool = False) -> dict:
    import torch

    from moodscore.models import affect
    from moodscore.models.train.holdout import N_VOICE_FOLDS, voice_fold_actors
    from moodscore.models.train.ravdess import list_ravdess
    from moodscore.models.train.train_voice_whisper import copy_audio
    from moodscore.models.train.voice_head import calibration, confusion
    from moodscore.models.voices.model import load_voice_model
    from moodscore.models.voices.vad import SR

    torch.set_num_threads(1)
    paths, labels, actors = list_ravdess(data)
    clips = copy_audio("c0" if degrade == "none" else f"t_{degrade}", paths, pop909)
    probs = np.full((len(paths), affect.N_CLASSES), np.nan)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for k in range(N_VOICE_FOLDS):
        model = load_voice_model(folds / f"fold{k}.pt")
        if uncalibrated:
            model.temperature = 1.0  # the head's raw probabilities, as before the temperature existed
        held = model.ckpt["whisper"]["meta"].get("held_out_actors")
        if held is not None and sorted(held) != sorted(voice_fold_actors(k)):
            raise SystemExit(f"{folds}/fold{k}.pt held out {held}, not {voice_fold_actors(k)}")
        idx = rng.permutation(np.flatnonzero(np.isin(actors, voice_fold_actors(k))))
        for g in range(0, len(idx), GROUP):
            group = idx[g : g + GROUP]
            lengths = np.array([len(clips[i]) for i in group])
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) / SR
            track = model.analyze(np.concatenate([clips[i] for i in group]), SR, win_s=lengths.max() / SR,
                                  hop_s=lengths.max() / SR, starts=starts)  # fmt: skip
            probs[group] = track.probs
    seconds = time.perf_counter() - t0
    voted = ~np.isnan(probs).any(axis=1)
    intensity = np.array([int(p.name.split("-")[3]) for p in paths])  # RAVDESS: 01 normal, 02 strong
    pred = np.where(voted, np.nan_to_num(probs).argmax(1), -1)
    right = pred == labels
    fold_of = np.array([next(k for k in range(N_VOICE_FOLDS) if a in voice_fold_actors(k)) for a in actors])
    conf = confusion(labels[voted], pred[voted])
    return {
        "degrade": degrade, "folds_dir": str(folds), "pooled": float(right.mean()),
        "folds": [float(right[fold_of == k].mean()) for k in range(N_VOICE_FOLDS)],
        "voted": int(voted.sum()), "clips": len(labels), "acc_of_votes": float(right[voted].mean()),
        "intensity": {name: float(right[intensity == i].mean()) for i, name in ((1, "normal"), (2, "strong"))},
        "recall": [float(right[labels == c].mean()) for c in range(affect.N_CLASSES)],  # a clip without a vote: missed
        "confusion_of_votes": conf.tolist(), "calibration_of_votes": calibration(probs[voted], labels[voted]),
        "seconds": seconds,
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "ravdess_speech_16k")
    ap.add_argument("--pop909", type=Path, default=ROOT.parent / "shared" / "data" / "pop909")
    ap.add_argument("--folds", type=Path, required=True, help="directory with fold0.pt .. fold4.pt")
    ap.add_argument("--degrade", default="none", help="comma-separated: none, reverb, codec, music")
    ap.add_argument("--uncalibrated", action="store_true", help="ignore the checkpoints' temperature")
    ap.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    results = []
    for d in args.degrade.split(","):
        r = run(args.data, args.folds, d, args.pop909, uncalibrated=args.uncalibrated)
        results.append(r)
        c = r["calibration_of_votes"]
        print(f"{d:7s} pooled {100 * r['pooled']:.1f}% (folds {', '.join(f'{100 * a:.1f}' for a in r['folds'])}); "
              f"{r['voted']}/{r['clips']} voted, {100 * r['acc_of_votes']:.1f}% of votes right; ECE "
              f"{100 * c['ece']:.1f}, mean top {c['mean_top']:.3f}; normal/strong intensity "
              f"{100 * r['intensity']['normal']:.1f}/{100 * r['intensity']['strong']:.1f}; recall "
              + " ".join(f"{n[:3]} {v:.2f}" for n, v in zip(_classes(), r["recall"], strict=True))
              + f"; {r['seconds']:.0f} s", flush=True)  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


def _classes() -> tuple[str, ...]:
    from moodscore.models import affect

    return affect.CLASSES


if __name__ == "__main__":
    main()
