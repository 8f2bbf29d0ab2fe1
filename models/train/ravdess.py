"""RAVDESS speech as the voice training reads it: the files with their class and actor, and the clips with two
augmented copies (noise; time stretch and pitch shift), cached in /tmp/moodscore_cache/ (never in the repo).

Actor folds for cross-validation are in :mod:`moodscore.models.train.holdout`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

CACHE = Path("/tmp/moodscore_cache")
RAVDESS_RE = re.compile(r"^03-01-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)\.(flac|wav)$")


def list_ravdess(root: Path) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """Files with their class index (0..7, RAVDESS order = affect.CLASSES) and actor number."""
    paths, labels, actors = [], [], []
    for p in sorted(root.glob("Actor_*/*")):
        m = RAVDESS_RE.match(p.name)
        if m:
            paths.append(p)
            labels.append(int(m.group(1)) - 1)
            actors.append(int(m.group(5)))
    if not paths:
        raise SystemExit(f"no RAVDESS files under {root}")
    return paths, np.array(labels), np.array(actors)


def augmented_audio(paths: list[Path], seed: int = 0) -> np.ndarray:
    """(N, 3, L) float32: original, + noise, stretched and pitch-shifted; cached."""
    import librosa
    import soundfile as sf

    cache = CACHE / f"ravdess_audio_{len(paths)}_s{seed}.npy"
    if cache.exists():
        return np.load(cache)
    rng = np.random.default_rng(seed)
    clips = [sf.read(p, dtype="float32")[0] for p in paths]
    length = max(len(c) for c in clips)
    out = np.zeros((len(clips), 3, length), dtype=np.float32)
    for i, y in enumerate(clips):
        y = y if y.ndim == 1 else y.mean(axis=1)
        out[i, 0, : len(y)] = y
        snr = rng.uniform(10, 30)
        out[i, 1, : len(y)] = y + rng.standard_normal(len(y)) * np.sqrt(np.mean(y**2) / 10 ** (snr / 10))
        z = librosa.effects.time_stretch(y, rate=rng.uniform(0.85, 1.15))
        z = librosa.effects.pitch_shift(z, sr=16000, n_steps=rng.uniform(-2, 2))[:length]
        out[i, 2, : len(z)] = z
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(cache, out)
    return out
