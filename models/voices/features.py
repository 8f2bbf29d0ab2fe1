"""Voice features: the Slaney mel filterbank of Whisper's front end (:func:`mel_filterbank`, equal to librosa's),
and how the head's input is pooled from encoder frames: :func:`frame_speech` reads the speech detector's flags at
the encoder's frame rate, :func:`pooled_stats` takes the mean and standard deviation over a span's speech frames.
"""

from __future__ import annotations

import numpy as np

from moodscore.models.voices.vad import SR, VAD_FRAME


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


def frame_speech(vad_mask: np.ndarray, n_frames: int, frames_per_s: float) -> np.ndarray:
    """(n_frames,) speech flags for frames at ``frames_per_s`` (frame i at i / frames_per_s seconds), read off a
    :func:`moodscore.models.voices.vad.detect_speech` mask (one flag per ``VAD_FRAME`` samples)."""
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
