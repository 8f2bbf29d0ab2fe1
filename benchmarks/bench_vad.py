"""Speech detection on material it never saw: the share of 1 s windows (hop 0.5 s) that get a voice vote (speech
>= ``MIN_SPEECH``) in rendered POP909 music, noise (white, pink, brown, mains hum), RAVDESS speech, and that speech
with music 10 dB under it.

    python benchmarks/bench_vad.py --data ../shared/data/ravdess_speech_16k --pop909 ../shared/data/pop909
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from moodscore.models.train.ravdess import list_ravdess


def evaluate_vad(ravdess: Path, pop909: Path, sf2: str, n_songs: int = 24, seed: int = 1) -> dict[str, float]:
    """Share of 1 s windows (hop 0.5 s) that get a vote (speech >= MIN_SPEECH) per kind of material."""
    import pretty_midi
    import soundfile as sf

    from moodscore.models.voices.model import MIN_SPEECH
    from moodscore.models.voices.vad import SR, VAD_FRAME, detect_speech

    rng = np.random.default_rng(seed)

    def voted(y: np.ndarray) -> list[bool]:
        m, per = detect_speech(y.astype(np.float32), SR), SR // VAD_FRAME
        return [bool(m[i : i + per].mean() >= MIN_SPEECH) for i in range(0, max(len(m) - per, 0) + 1, per // 2)]

    out: dict[str, list[bool]] = {"music": [], "noise": [], "speech": [], "speech+music 10 dB": []}
    programs = [0, 4, 11, 19, 24, 33, 40, 48, 52, 56, 65, 73, 80, 81, 88]  # piano, organ, strings, voice pad, lead...
    songs, music = sorted(pop909.glob("*/*.mid"))[-n_songs:], []
    for i, song in enumerate(songs):
        pm = pretty_midi.PrettyMIDI(str(song))
        for inst in pm.instruments:
            inst.program = programs[(i + len(inst.name)) % len(programs)]
        y = pm.fluidsynth(fs=SR, synthesizer=sf2)[SR * 30 : SR * 50]
        music.append(y / (np.abs(y).max() + 1e-9) * 10 ** (rng.uniform(-30, -3) / 20))
        out["music"] += voted(music[-1])
    t = np.arange(SR * 10) / SR
    for k in range(12):
        w = rng.standard_normal(SR * 10)
        w = np.fft.irfft(np.fft.rfft(w) / (np.arange(len(w) // 2 + 1) + 1.0) ** (0.5 * (k % 3)))  # white/pink/brown
        out["noise"] += voted(w / np.abs(w).max() * 10 ** (rng.uniform(-40, -3) / 20))
    out["noise"] += voted(0.1 * np.sin(2 * np.pi * 50 * t) + 0.05 * np.sin(2 * np.pi * 150 * t))  # mains hum
    for j, p in enumerate(list_ravdess(ravdess)[0][::10]):
        y = sf.read(p, dtype="float32")[0]
        mid = y[int(0.8 * SR) : int(1.8 * SR)]  # RAVDESS speech mostly fills 0.8-1.8 s
        out["speech"] += voted(mid)
        mu = music[j % len(music)][: len(mid)]
        mix = mid + mu / (np.std(mu) + 1e-9) * np.std(mid) * 10 ** (-10 / 20)
        out["speech+music 10 dB"] += voted(mix)
    return {k: float(np.mean(v)) for k, v in out.items()} | {f"n {k}": float(len(v)) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/ravdess_speech_16k"), help="RAVDESS speech")
    ap.add_argument("--pop909", type=Path, default=Path("../shared/data/pop909"), help="POP909 (the music)")
    ap.add_argument("--sf2", default="/usr/share/sounds/sf2/FluidR3_GM.sf2", help="soundfont for the music")
    args = ap.parse_args()
    print(json.dumps(evaluate_vad(args.data, args.pop909, args.sf2), indent=1))


if __name__ == "__main__":
    main()
