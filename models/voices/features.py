"""Voice features: what the speech emotion networks of :mod:`models.voices.model` read, from 16 kHz mono audio.

- :func:`baseline_features`: the brief's 27 per-frame features (13 MFCC, 12 chroma, RMS, spectral centroid),
  the input of the ``baseline`` network.
- :func:`logmel_features`: 64-band log-mel (torch STFT with :func:`mel_filterbank`, equal to librosa's), the
  input of the ``main`` network.
- :func:`frame_features` and :func:`functionals`: 10 ms frame descriptors and their utterance-level statistics,
  the input of the optional functionals model.

``FEATURES`` holds each network's feature settings (stored in, and checked against, the checkpoint).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from moodscore.models.voices.vad import SR

FEATURES: dict[str, dict[str, Any]] = {
    "baseline": {"n_fft": 1024, "hop": 256, "n_mfcc": 13},
    "main": {"n_fft": 1024, "win": 640, "hop": 320, "n_mels": 64, "fmin": 50.0, "fmax": 8000.0},
}


def baseline_features(audio: np.ndarray, cfg: dict[str, Any] = FEATURES["baseline"]) -> np.ndarray:
    """(27, T) per-frame features: 13 MFCC, 12 chroma, RMS, spectral centroid (kHz)."""
    import librosa

    y = np.asarray(audio, dtype=np.float32)
    mag = np.abs(librosa.stft(y, n_fft=cfg["n_fft"], hop_length=cfg["hop"]))  # one STFT for MFCC, chroma, centroid
    mel = librosa.feature.melspectrogram(S=mag**2, sr=SR)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=cfg["n_mfcc"])
    chroma = librosa.feature.chroma_stft(S=mag**2, sr=SR, n_fft=cfg["n_fft"], hop_length=cfg["hop"])
    rms = librosa.feature.rms(y=y, frame_length=cfg["n_fft"], hop_length=cfg["hop"])
    cent = librosa.feature.spectral_centroid(S=mag, sr=SR) / 1000.0
    return np.concatenate([mfcc, chroma, rms, cent], axis=0).astype(np.float32)


FUNC_HOP = 160  # functionals: 10 ms frames (n_fft 512 = 32 ms)
N_STATS = 6  # mean, std, p10, p50, p90, slope over the active frames


def frame_features(audio: np.ndarray) -> np.ndarray:
    """(94, T) frames at 10 ms: MFCC 1-20 and deltas, centroid, bandwidth, rolloff (kHz), flatness, 7 contrast
    bands, RMS dB, ZCR, 40 log-mel dB bands, f0 (semitones above 55 Hz, NaN unvoiced). Level (gain) is kept in
    RMS dB and log-mel; :func:`functionals` makes both relative to the span."""
    import librosa

    y = np.asarray(audio, dtype=np.float32)
    if len(y) < 1024:
        y = np.pad(y, (0, 1024 - len(y)))
    kw: dict[str, Any] = {"n_fft": 512, "hop_length": FUNC_HOP}
    mag = np.abs(librosa.stft(y, **kw))
    power = mag**2
    logmel = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=SR, n_mels=40, fmax=8000), top_db=None)
    mfcc = librosa.feature.mfcc(S=logmel, n_mfcc=21)[1:]
    spec = [librosa.feature.spectral_centroid(S=mag, sr=SR) / 1000, librosa.feature.spectral_bandwidth(S=mag, sr=SR)
            / 1000, librosa.feature.spectral_rolloff(S=mag, sr=SR) / 1000, librosa.feature.spectral_flatness(S=mag),
            librosa.feature.spectral_contrast(S=mag, sr=SR, fmin=100.0, n_bands=6)]  # fmt: skip
    rms = 20 * np.log10(librosa.feature.rms(S=mag, frame_length=512) + 1e-5)
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=512, hop_length=FUNC_HOP)
    f0 = librosa.yin(y, fmin=60, fmax=500, sr=SR, frame_length=1024, hop_length=FUNC_HOP)[None, : mag.shape[1]]
    st = 12 * np.log2(f0 / 55.0)
    voiced = (f0 > 63) & (f0 < 475) & (zcr < 0.2) & (rms > rms.max() - 30)
    st = np.where(voiced, st, np.nan)
    cols = [mfcc, librosa.feature.delta(mfcc), *spec, rms, zcr, logmel, st]
    return np.concatenate([c[:, : mag.shape[1]] for c in cols], axis=0).astype(np.float32)


def _stats(x: np.ndarray) -> np.ndarray:  # x (D, T) -> (D * N_STATS,)
    t = np.arange(x.shape[1], dtype=np.float32) - (x.shape[1] - 1) / 2
    slope = (x * t).sum(1) / max(float((t * t).sum()), 1.0) * 100  # per second
    p10, p50, p90 = np.percentile(x, [10, 50, 90], axis=1)
    return np.concatenate([x.mean(1), x.std(1), p10, p50, p90, slope])


def functionals(frames: np.ndarray) -> np.ndarray:
    """Utterance-level statistics (406,) of :func:`frame_features` over a span: six statistics of the 53
    non-mel features over the active frames (within 35 dB of the span's loudest), mean and std of the 40
    log-mel bands, and pitch statistics (6 of f0, its range and voiced fraction). Level-invariant."""
    rms = frames[51]
    act = rms > rms.max() - 35
    fr = frames[:, act] if act.sum() >= 3 else frames
    base = fr[:53].copy()
    base[51] -= np.percentile(base[51], 90)  # RMS relative to the span
    mel = fr[53:93] - fr[53:93].mean()  # log-mel relative to the span's mean level
    st = fr[93][np.isfinite(fr[93])]
    pitch = _stats(st[None]) if len(st) >= 3 else np.zeros(N_STATS)
    extra = [float(np.ptp(st)) if len(st) >= 3 else 0.0, len(st) / fr.shape[1]]
    return np.concatenate([_stats(base), mel.mean(1), mel.std(1), pitch, extra]).astype(np.float32)


def _hz_to_mel(f: np.ndarray) -> np.ndarray:  # Slaney's mel scale (librosa's default, htk=False)
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3)
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (np.log(6.4) / 27.0), lin)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))


def mel_filterbank(n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) Slaney-normalised triangular filters, equal to ``librosa.filters.mel``."""
    fft_f = np.fft.rfftfreq(n_fft, 1.0 / SR)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(np.array(fmin)), _hz_to_mel(np.array(fmax)), n_mels + 2))
    ramps = mel_f[:, None] - fft_f[None, :]
    fdiff = np.diff(mel_f)[:, None]
    w = np.maximum(0.0, np.minimum(-ramps[:-2] / fdiff[:-1], ramps[2:] / fdiff[1:]))
    return (w * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]).astype(np.float32)


def logmel_features(audio: np.ndarray, cfg: dict[str, Any] = FEATURES["main"]) -> np.ndarray:
    """(n_mels, T) log-mel power in dB (floor 1e-10), frame t centred at t * hop; equal to librosa's
    ``melspectrogram`` (centred, zero-padded, periodic Hann) but without importing librosa."""
    n_fft, hop, win = cfg["n_fft"], cfg["hop"], cfg["win"]
    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    x = torch.nn.functional.pad(x, (n_fft // 2, n_fft // 2))
    if len(x) < n_fft:
        x = torch.nn.functional.pad(x, (0, n_fft - len(x)))
    spec = torch.stft(x, n_fft, hop, win, torch.hann_window(win), center=False, return_complex=True).abs() ** 2
    mel = torch.from_numpy(mel_filterbank(n_fft, cfg["n_mels"], cfg["fmin"], cfg["fmax"])) @ spec
    return (10.0 * torch.log10(torch.clamp(mel, min=1e-10))).numpy()


def features(arch: str, audio: np.ndarray) -> np.ndarray:
    """The input features of network ``arch`` for 16 kHz mono audio, (C, T)."""
    return baseline_features(audio) if arch == "baseline" else logmel_features(audio)


def frame_speech(vad_mask: np.ndarray, n_frames: int, frames_per_s: float) -> np.ndarray:
    """(n_frames,) speech flags for frames at ``frames_per_s`` (frame i at i / frames_per_s seconds), read off a
    :func:`moodscore.models.voices.vad.detect_speech` mask (one flag per ``VAD_FRAME`` samples)."""
    from moodscore.models.voices.vad import VAD_FRAME

    if len(vad_mask) == 0:
        return np.zeros(n_frames, dtype=bool)
    idx = np.floor(np.arange(n_frames) / frames_per_s * SR / VAD_FRAME).astype(int)
    return np.asarray(vad_mask, dtype=bool)[np.minimum(idx, len(vad_mask) - 1)]


MIN_POOL_FRAMES = 5  # fewer speech frames than this in a span: pool over all of its frames


def pooled_stats(frames: np.ndarray, speech: np.ndarray | None = None) -> np.ndarray:
    """(2 D,) mean and standard deviation over time of frames (T, D), over the speech frames when ``speech``
    (T,) flags at least ``MIN_POOL_FRAMES`` of them, else over all frames."""
    if speech is not None and int(np.sum(speech)) >= MIN_POOL_FRAMES:
        frames = frames[np.asarray(speech, dtype=bool)]
    return np.concatenate([frames.mean(0), frames.std(0)]).astype(np.float32)
