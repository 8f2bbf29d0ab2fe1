"""Out of domain: does a voice checkpoint hear a fast, high, loud synthetic reading as more aroused than a slow, low,
quiet reading of the same sentence? The two espeak-ng styles of the example clip (``tests/data/make_example.py``),
4 voices x 8 sentences = 32 pairs, each utterance judged alone as one span. Nothing here trains or chooses; it reports
the share of pairs ordered right and the mean arousal margin, per checkpoint (a folder: its fold0..4.pt together).

    python benchmarks/bench_voice_synthetic.py --voice models/weights/voice.pt [--voice DIR_OF_FOLD_HEADS ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

VOICES = ("en-us+f3", "en-us+m3", "en-gb+f2", "en-gb+m1")
SENTENCES = (
    "I can't believe this is happening today.",
    "We are going to the sea this weekend.",
    "The letter arrived this morning.",
    "Everyone was waiting at the station.",
    "She opened the door and looked outside.",
    "They told me the news an hour ago.",
    "This is the last train of the night.",
    "He has finally finished the painting.",
)
HIGH = {"speed": 185, "pitch": 78, "amplitude": 170}  # the example's cheerful reading
LOW = {"speed": 100, "pitch": 18, "amplitude": 55}  # its slow, low, quiet reading


def speak(text: str, voice: str, style: dict[str, int]) -> np.ndarray:
    """16 kHz mono float32 of espeak-ng reading ``text``."""
    import soundfile as sf

    from moodscore.models.voices.vad import to_mono_16k

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SystemExit("espeak-ng is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "s.wav"
        args = ["-v", voice, "-s", str(style["speed"]), "-p", str(style["pitch"]), "-a", str(style["amplitude"])]
        subprocess.run([exe, *args, "-w", str(wav), text], check=True, capture_output=True, timeout=60)
        y, sr = sf.read(wav, dtype="float32")
    return to_mono_16k(y, sr)


def pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    """Every (high, low) reading, synthesised once for all the checkpoints judged."""
    return [(speak(text, voice, HIGH), speak(text, voice, LOW)) for voice in VOICES for text in SENTENCES]


def arousal_pairs(paths: list[Path], readings: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Share of pairs where the high reading gets the higher arousal, and the mean margin, averaged over ``paths``
    (several checkpoints: each judges every pair)."""
    from moodscore.models import affect
    from moodscore.models.voices.model import load_voice_model

    right, margins = [], []
    for m in (load_voice_model(p) for p in paths):
        for hi, lo in readings:
            a_hi, a_lo = (affect.probs_to_va(m.classify(m.whisper_features(y))[0])[1] for y in (hi, lo))
            right.append(a_hi > a_lo)
            margins.append(a_hi - a_lo)
    return {"pairs": len(readings), "ordered_right": float(np.mean(right)), "mean_margin": float(np.mean(margins))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--voice", action="append", type=Path, required=True, help="a checkpoint, or a folder of folds")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    out = {}
    readings = pairs()
    for v in args.voice:
        paths = sorted(v.glob("fold*.pt")) if v.is_dir() else [v]
        out[str(v)] = arousal_pairs(paths, readings)
        print(str(v), out[str(v)], flush=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
