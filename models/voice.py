"""Voice: speech detection and speech emotion recognition over sliding windows of a clip.

Speech detection is Silero VAD (MIT, the ``silero-vad`` package, its TorchScript model) on 32 ms frames with
hysteresis, behind an energy floor. Emotion comes from a network over 2 s of audio centred on each window
(``ctx_s`` in the checkpoint), so a 1 s window is judged with its surrounding speech. Two networks exist:

- ``baseline``: the brief's 27 per-frame features (13 MFCC, 12 chroma, RMS, spectral centroid) into a 1-D CNN
  with hidden layers 256, 256, 128, 64 and max pooling.
- ``main``: 64-band log-mel into a small 2-D CNN (see :class:`MelCNN`).

Both pool over time, so they accept any length; the checkpoint says which one it holds and rebuilds it. The
shipped ``weights/voice.pt`` holds the baseline, which measured better (see ``weights/voice.md``); the debug model
is a tiny random ``MelCNN``.
"""

from __future__ import annotations

import importlib.resources
import itertools
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import affect
from .errors import InputError, ModelLoadError

SR = 16000
VAD_FRAME = 512  # samples per Silero frame (32 ms at 16 kHz); detect_speech returns one flag per frame
VAD_ON, VAD_OFF = 0.5, 0.35  # hysteresis thresholds on Silero's speech probability
ENERGY_FLOOR_DB = -60.0  # frames quieter than this (dBFS RMS) are never speech
MIN_SPEECH = 0.3  # a window with less speech than this fraction carries no vote

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


def _block1d(cin: int, cout: int, k: int, pool: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv1d(cin, cout, k, padding=k // 2), nn.BatchNorm1d(cout), nn.ReLU()]
    return [*layers, nn.MaxPool1d(2)] if pool else layers


class BaselineCNN(nn.Module):
    """The brief's 1-D CNN over per-frame features: conv layers 256, 256, 128, 64 with max pooling."""

    def __init__(self, n_in: int = 27, hidden: tuple[int, ...] = (256, 256, 128, 64), kernel: int = 5,
                 dropout: float = 0.3, n_classes: int = affect.N_CLASSES) -> None:  # fmt: skip
        super().__init__()
        layers: list[nn.Module] = []
        for i, h in enumerate(hidden):
            layers += _block1d(n_in if i == 0 else hidden[i - 1], h, kernel, pool=i < len(hidden) - 1)
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden[-1], n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, T) normalised
        h = self.body(x)
        return self.head(torch.cat([h.mean(-1), h.amax(-1)], dim=1))


class MelCNN(nn.Module):
    """A small 2-D CNN over a log-mel image: conv blocks with 2x2 pooling, frequency averaged, then time
    mean+max pooling and a linear classifier."""

    def __init__(self, n_mels: int = 64, channels: tuple[int, ...] = (16, 32, 64, 128), dropout: float = 0.3,
                 n_classes: int = affect.N_CLASSES) -> None:  # fmt: skip
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        for c in channels:
            layers += [nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2)]
            cin = c
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * cin, n_classes))
        self.n_mels = n_mels

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, n_mels, T) normalised
        h = self.body(x.unsqueeze(1)).mean(2)  # (B, C, T')
        return self.head(torch.cat([h.mean(-1), h.amax(-1)], dim=1))


class FunctionalsMLP(nn.Module):
    """Utterance functionals (:func:`functionals`), standardised with stored statistics, into an MLP
    (``hidden=()`` is multinomial logistic regression)."""

    def __init__(self, n_in: int = 406, hidden: tuple[int, ...] = (256,), n_classes: int = affect.N_CLASSES) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        sizes = [n_in, *hidden]
        for a, b in itertools.pairwise(sizes):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], n_classes))
        self.body = nn.Sequential(*layers)
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.zeros(n_in))
        self.register_buffer("std", torch.ones(n_in))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, n_in) raw functionals
        return self.body((x - self.mean) / self.std)


ARCHS: dict[str, type[nn.Module]] = {"baseline": BaselineCNN, "main": MelCNN}


def build_network(arch: str, dims: dict[str, Any]) -> nn.Module:
    if arch not in ARCHS:
        raise ModelLoadError(f"unknown voice network {arch!r}; expected one of {', '.join(ARCHS)}")
    return ARCHS[arch](**dims)


def save_checkpoint(path: str | Path, net: nn.Module, *, arch: str, dims: dict[str, Any], norm: dict[str, Any],
                    meta: dict[str, Any] | None = None, ctx_s: float = 2.0,
                    func: tuple[nn.Module, dict[str, Any], float] | None = None) -> None:  # fmt: skip
    """Write a self-describing checkpoint: architecture, dimensions, features, normalisation, classes; with
    ``func = (FunctionalsMLP, dims, weight)`` also a functionals model whose probabilities get ``weight``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {
        "format": "moodscore-voice/1", "arch": arch, "dims": dict(dims), "features": dict(FEATURES[arch]),
        "norm": {k: [float(v) for v in norm[k]] for k in ("mean", "std")}, "classes": list(affect.CLASSES),
        "sr": SR, "ctx_s": float(ctx_s), "meta": meta or {},
        "state_dict": {k: v.detach().to(torch.float32).clone() for k, v in net.state_dict().items()},
    }  # fmt: skip
    if func is not None:
        fnet, fdims, weight = func
        state = {k: v.detach().to(torch.float32).clone() for k, v in fnet.state_dict().items()}
        ckpt["func"] = {"dims": dict(fdims), "weight": float(weight), "hop": FUNC_HOP, "state_dict": state}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(path)


def to_mono_16k(audio: np.ndarray, sr: int) -> np.ndarray:
    """Validate audio (samples,) or (samples, channels) / (channels, samples) and return float32 mono 16 kHz."""
    a = np.asarray(audio)
    if a.ndim == 2:
        a = a.mean(axis=0 if a.shape[0] < a.shape[1] else 1)
    if a.ndim != 1 or a.size == 0:
        raise InputError(f"audio must be a non-empty 1-D or 2-D array, got shape {np.shape(audio)}")
    if not np.issubdtype(a.dtype, np.number) or not np.all(np.isfinite(a)):
        raise InputError("audio must hold finite numbers")
    if sr <= 0:
        raise InputError(f"sample rate must be positive, got {sr}")
    a = a.astype(np.float32)
    if np.issubdtype(np.asarray(audio).dtype, np.integer):
        a /= float(np.iinfo(np.asarray(audio).dtype).max)
    if sr != SR:
        import librosa

        a = librosa.resample(a, orig_sr=sr, target_sr=SR).astype(np.float32)
    return a


class SpeechDetector:
    """Silero VAD (TorchScript, from the ``silero-vad`` package) with hysteresis and an energy floor."""

    def __init__(self) -> None:
        try:
            from silero_vad import load_silero_vad
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ModelLoadError("speech detection needs the silero-vad package: pip install silero-vad") from e
        self.model = load_silero_vad(onnx=False)
        self._lock = threading.Lock()  # the network keeps state between frames: one clip at a time
        self._lstm: nn.LSTM | None = None
        try:  # Silero's 16 kHz network: stateless STFT + encoder per frame, then an LSTM cell, then a 1x1 conv
            inner = self.model._model
            cell = inner.decoder.rnn
            self._lstm = nn.LSTM(cell.weight_ih.shape[1], cell.weight_hh.shape[1], batch_first=True)
            with torch.no_grad():
                for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(self._lstm, k + "_l0").copy_(getattr(cell, k))
            self._parts = (inner.stft, inner.encoder, inner.decoder.decoder, int(inner.context_size_samples))
        except (AttributeError, RuntimeError):  # pragma: no cover - another silero-vad layout: frame loop
            self._lstm = None

    def probs(self, audio: np.ndarray, *, loop: bool = False) -> np.ndarray:
        """Silero's speech probability per 32 ms frame of 16 kHz audio (the last partial frame zero-padded).

        The frames go through Silero's stateless front end as one batch and its LSTM as one sequence, which
        equals calling the network frame by frame (``loop=True``, the package's own way) to ~1e-4, 50x faster."""
        n = math.ceil(len(audio) / VAD_FRAME)
        x = torch.zeros(n * VAD_FRAME)
        x[: len(audio)] = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
        with self._lock, torch.no_grad():
            if loop or self._lstm is None:
                self.model.reset_states()
                return np.array([float(self.model(x[i * VAD_FRAME : (i + 1) * VAD_FRAME], SR)) for i in range(n)])
            stft, encoder, head, ctx = self._parts
            chunks = x.view(n, VAD_FRAME)
            prev = torch.cat([torch.zeros(1, ctx), chunks[:-1, -ctx:]], 0)  # each frame sees the previous 64 samples
            with torch.jit.optimized_execution(False):  # no profiling pass: the first call is as fast as later ones
                h, _ = self._lstm(encoder(stft(torch.cat([prev, chunks], 1))).squeeze(-1)[None])
                out = head(h[0].unsqueeze(-1))
            return out.reshape(n, -1).mean(1).numpy().astype(np.float64)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        p = self.probs(audio)
        n = len(p)
        frames = np.zeros(n * VAD_FRAME, dtype=np.float32)
        frames[: len(audio)] = audio
        rms_db = 10 * np.log10(np.mean(frames.reshape(n, VAD_FRAME) ** 2, axis=1) + 1e-12)
        mask = np.zeros(n, dtype=bool)
        on = False
        for i, q in enumerate(p):
            on = q >= VAD_ON or (on and q >= VAD_OFF)
            mask[i] = on
        return mask & (rms_db > ENERGY_FLOOR_DB)


_DETECTOR: SpeechDetector | None = None
_DETECTOR_LOCK = threading.Lock()


def detect_speech(audio: np.ndarray, sr: int = SR) -> np.ndarray:
    """A boolean speech flag per 32 ms frame (``VAD_FRAME`` samples at 16 kHz; frame i starts at i * 0.032 s)."""
    global _DETECTOR
    with _DETECTOR_LOCK:
        if _DETECTOR is None:
            _DETECTOR = SpeechDetector()
    return _DETECTOR(to_mono_16k(audio, sr))


@dataclass(frozen=True)
class VoiceTrack:
    """Per-window voice emotion: ``probs`` rows are NaN where the window holds too little speech."""

    starts: np.ndarray  # (W,) window start times in seconds
    probs: np.ndarray  # (W, 8) over affect.CLASSES, NaN rows = no vote
    speech: np.ndarray  # (W,) fraction of the window that is speech
    win_s: float
    hop_s: float


class VoiceModel:
    """A speech emotion network with its features and normalisation, plus the speech detector."""

    def __init__(self, net: nn.Module, ckpt: dict[str, Any], func: nn.Module | None = None) -> None:
        self.net = net.eval()
        self.func = func.eval() if func is not None else None
        self.func_weight = float(ckpt["func"]["weight"]) if func is not None else 0.0
        self.arch: str = ckpt["arch"]
        self.ckpt = {k: v for k, v in ckpt.items() if k not in ("state_dict", "func")}
        self.ctx_s = float(ckpt["ctx_s"])
        self._mean = np.asarray(ckpt["norm"]["mean"], dtype=np.float32)[:, None]
        self._std = np.asarray(ckpt["norm"]["std"], dtype=np.float32)[:, None]
        self._hop = int(ckpt["features"]["hop"])

    def emotion_probs(self, audio: np.ndarray) -> np.ndarray:
        """Class probabilities (8,) for a stretch of 16 kHz mono audio, judged as a whole."""
        y = np.asarray(audio, dtype=np.float32)
        return self._classify(features(self.arch, y)[None], frame_features(y)[None] if self.func else None)[0]

    def _classify(self, feats: np.ndarray, frames: np.ndarray | None = None) -> np.ndarray:
        """Probabilities for a batch of feature spans (B, C, T), averaged with the functionals model's for the
        matching (B, 94, T') frame spans when the checkpoint has one."""
        x = torch.from_numpy((feats - self._mean) / self._std).float()
        with torch.no_grad():
            p = torch.softmax(self.net(x), dim=1).numpy().astype(np.float64)
            if self.func is not None and frames is not None:
                v = torch.from_numpy(np.stack([functionals(f) for f in frames]))
                q = torch.softmax(self.func(v), dim=1).numpy().astype(np.float64)
                p = (1 - self.func_weight) * p + self.func_weight * q
        return p

    def analyze(self, audio: np.ndarray, sr: int = SR, *, win_s: float = 1.0, hop_s: float = 0.5) -> VoiceTrack:
        """Emotion per window (starts 0, hop, 2 hop, ... until the audio is covered), NaN where no speech."""
        if not (win_s > 0 and hop_s > 0):
            raise InputError(f"window and hop must be positive, got {win_s} and {hop_s}")
        y = to_mono_16k(audio, sr)
        dur = len(y) / SR
        n_win = 1 if dur <= win_s else math.ceil((dur - win_s) / hop_s - 1e-9) + 1
        starts = np.arange(n_win) * hop_s
        mask = detect_speech(y, SR)
        t_frame = VAD_FRAME / SR
        speech = np.zeros(n_win)
        for i, s in enumerate(starts):
            a, b = round(float(s) / t_frame), round(min(float(s) + win_s, dur) / t_frame)
            speech[i] = float(mask[a : max(b, a + 1)].mean()) if a < len(mask) else 0.0
        probs = np.full((n_win, affect.N_CLASSES), np.nan)
        voted = np.flatnonzero(speech >= MIN_SPEECH)
        if voted.size:
            centres = starts[voted] + np.minimum(win_s, dur - starts[voted]) / 2
            feats = features(self.arch, y)  # computed once over the clip, then sliced per window
            batch = _spans(feats, centres * SR / self._hop, round(self.ctx_s * SR / self._hop))
            frames = None
            if self.func is not None:
                ff = frame_features(y)
                frames = _spans(ff, centres * SR / FUNC_HOP, round(self.ctx_s * SR / FUNC_HOP))
            probs[voted] = self._classify(batch, frames)
        return VoiceTrack(starts=starts, probs=probs, speech=speech, win_s=win_s, hop_s=hop_s)


def _spans(feats: np.ndarray, centres: np.ndarray, span: int) -> np.ndarray:
    """(len(centres), C, span) slices of feats (C, T) centred on the given frame positions, kept inside."""
    span = min(span, feats.shape[1])
    a = np.clip(np.round(centres - span / 2).astype(int), 0, feats.shape[1] - span)
    return np.stack([feats[:, i : i + span] for i in a])


def _debug_model() -> VoiceModel:
    """A tiny random MelCNN with the real features and speech detector, for unit tests."""
    dims: dict[str, Any] = {"n_mels": FEATURES["main"]["n_mels"], "channels": (4, 8), "dropout": 0.0}
    torch.manual_seed(0)
    ckpt: dict[str, Any] = {
        "arch": "main", "dims": dims, "features": FEATURES["main"], "ctx_s": 2.0, "sr": SR,
        "norm": {"mean": [-40.0] * dims["n_mels"], "std": [20.0] * dims["n_mels"]},
        "classes": list(affect.CLASSES), "meta": {"debug": True},
    }  # fmt: skip
    return VoiceModel(MelCNN(**dims), ckpt)


def load_voice_model(path: str | Path | None = None, *, debug: bool = False) -> VoiceModel:
    """Load a voice checkpoint (None = the shipped ``models/weights/voice.pt``), or a tiny random net."""
    if debug:
        return _debug_model()
    name = str(path or "voice.pt")
    try:
        if path is None:
            with importlib.resources.as_file(importlib.resources.files("models.weights") / "voice.pt") as p:
                ckpt = torch.load(p, map_location="cpu", weights_only=True)
        else:
            ckpt = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises OSError, RuntimeError, UnpicklingError, EOFError, ...
        raise ModelLoadError(f"cannot load voice model {name}: {e}") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != "moodscore-voice/1":
        raise ModelLoadError(f"{name} is not a moodscore voice checkpoint")
    arch = str(ckpt["arch"])
    if tuple(ckpt["classes"]) != affect.CLASSES or arch not in FEATURES or ckpt["features"] != FEATURES[arch]:
        raise ModelLoadError(f"{name} was trained for other classes or features than this code uses")
    net = build_network(arch, dict(ckpt["dims"]))
    try:
        net.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise ModelLoadError(f"voice checkpoint {name} does not match its architecture: {e}") from e
    func = None
    if "func" in ckpt:
        if ckpt["func"].get("hop") != FUNC_HOP:
            raise ModelLoadError(f"{name} was trained for other functionals than this code uses")
        func = FunctionalsMLP(**ckpt["func"]["dims"])
        try:
            func.load_state_dict(ckpt["func"]["state_dict"])
        except RuntimeError as e:
            raise ModelLoadError(f"voice checkpoint {name}: functionals model does not match: {e}") from e
    return VoiceModel(net, ckpt, func)
