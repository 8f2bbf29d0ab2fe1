"""Voice: speech emotion recognition over sliding windows of a clip.

This module holds the self-describing checkpoint and :class:`VoiceModel` / :func:`load_voice_model`, which judge the
windows that hold enough speech; the networks are in :mod:`moodscore.models.voices.nets`, speech detection (Silero VAD,
the 16 kHz mono conversion) in :mod:`moodscore.models.voices.vad` and the networks' input features in
:mod:`moodscore.models.voices.features`; all are re-exported here (``MelCNN``, ``FunctionalsMLP``, ``detect_speech``,
``SpeechDetector``, ``to_mono_16k``,
``SR``, ``VAD_FRAME``, ``FEATURES``, ``features``, ``frame_features``, ``functionals``, ...). Emotion comes from a
network over 2 s of audio centred on each window (``ctx_s`` in the checkpoint), so a 1 s window is judged with its
surrounding speech. Two networks exist:

- ``baseline``: the brief's 27 per-frame features (13 MFCC, 12 chroma, RMS, spectral centroid) into a 1-D CNN
  with hidden layers 256, 256, 128, 64 and max pooling.
- ``main``: 64-band log-mel into a small 2-D CNN (see :class:`MelCNN`).

Both pool over time, so they accept any length; the checkpoint says which one it holds and rebuilds it. A
checkpoint may add a functionals MLP (``func``) and a Whisper head (``whisper``): a linear classifier over the
mean + std of the speech frames of one or several blocks of Whisper base's encoder (:mod:`models.voices.encoder`;
several: each block pooled, then concatenated in the listed order), pooled over the same 2 s; the clip is encoded
once (30 s chunks, up to the deepest block listed) and pooled per window. The Whisper head's logits are divided by
its stored ``temperature`` (calibration; 1 when absent). Probabilities are averaged with the stored shares (a Whisper
share of 1 skips the other networks). A checkpoint written by :func:`add_whisper_head` without a base
(``moodscore-voice/2``) holds the Whisper head alone, at share 1. See ``weights/voice.md`` for what ships;
the debug model is a tiny random ``MelCNN``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from moodscore.models import affect
from moodscore.models.errors import InputError, ModelLoadError
from moodscore.models.files.checkpoints import DEBUG_INIT_LOCK, load_checkpoint, write_checkpoint
from moodscore.models.voices.encoder import FRAMES_PER_S, WhisperEncoder, encode_stages, load_whisper_encoder
from moodscore.models.voices.encoder import SHA256 as WHISPER_SHA256
from moodscore.models.voices.encoder import encode as encode
from moodscore.models.voices.features import FEATURES as FEATURES
from moodscore.models.voices.features import FUNC_HOP as FUNC_HOP
from moodscore.models.voices.features import N_STATS as N_STATS
from moodscore.models.voices.features import baseline_features as baseline_features
from moodscore.models.voices.features import features as features
from moodscore.models.voices.features import frame_features as frame_features
from moodscore.models.voices.features import frame_speech as frame_speech
from moodscore.models.voices.features import functionals as functionals
from moodscore.models.voices.features import logmel_features as logmel_features
from moodscore.models.voices.features import mel_filterbank as mel_filterbank
from moodscore.models.voices.features import pooled_stats as pooled_stats
from moodscore.models.voices.nets import ARCHS as ARCHS
from moodscore.models.voices.nets import BaselineCNN as BaselineCNN
from moodscore.models.voices.nets import FunctionalsMLP as FunctionalsMLP
from moodscore.models.voices.nets import MelCNN as MelCNN
from moodscore.models.voices.nets import build_network as build_network
from moodscore.models.voices.vad import ENERGY_FLOOR_DB as ENERGY_FLOOR_DB
from moodscore.models.voices.vad import SR as SR
from moodscore.models.voices.vad import VAD_FRAME as VAD_FRAME
from moodscore.models.voices.vad import VAD_OFF as VAD_OFF
from moodscore.models.voices.vad import VAD_ON as VAD_ON
from moodscore.models.voices.vad import SpeechDetector as SpeechDetector
from moodscore.models.voices.vad import detect_speech as detect_speech
from moodscore.models.voices.vad import to_mono_16k as to_mono_16k

MIN_SPEECH = 0.3  # a window with less speech than this fraction carries no vote
FORMATS = ("moodscore-voice/1", "moodscore-voice/2")  # /2: the Whisper entry names its blocks; base networks optional


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
    write_checkpoint(ckpt, path, provenance="voice")


@dataclass(frozen=True)
class VoiceTrack:
    """Per-window voice emotion: ``probs`` rows are NaN where the window holds too little speech."""

    starts: np.ndarray  # (W,) window start times in seconds
    probs: np.ndarray  # (W, 8) over affect.CLASSES, NaN rows = no vote
    speech: np.ndarray  # (W,) fraction of the window that is speech
    win_s: float
    hop_s: float


class VoiceModel:
    """A speech emotion network with its features and normalisation, plus the speech detector; optionally a
    functionals model and a Whisper-feature head, whose probabilities are averaged in (see ``weights/voice.md``)."""

    def __init__(self, net: nn.Module | None, ckpt: dict[str, Any], func: nn.Module | None = None,
                 whisper: tuple[nn.Module, WhisperEncoder] | None = None) -> None:  # fmt: skip
        if net is None and (whisper is None or float(ckpt["whisper"]["weight"]) < 1):
            raise ModelLoadError("a voice model without a base network needs a Whisper head with share 1")
        self.net = net.eval() if net is not None else None
        self.func = func.eval() if func is not None else None
        self.func_weight = float(ckpt["func"]["weight"]) if func is not None else 0.0
        self.whisper_head = whisper[0].eval() if whisper is not None else None
        self.encoder = whisper[1] if whisper is not None else None
        self.whisper_weight = float(ckpt["whisper"]["weight"]) if whisper is not None else 0.0
        self.whisper_temperature = float(ckpt["whisper"].get("temperature", 1.0)) if whisper is not None else 1.0
        self.whisper_layers = whisper_layers(ckpt["whisper"]["encoder"]) if whisper is not None else ()
        self.arch: str | None = ckpt.get("arch") if net is not None else None
        self.ckpt = {k: v for k, v in ckpt.items() if k not in ("state_dict", "func", "whisper")}
        if whisper is not None:
            self.ckpt["whisper"] = {k: v for k, v in ckpt["whisper"].items() if k != "state_dict"}
        self.ctx_s = float(ckpt["ctx_s"])
        if net is not None:
            self._mean = np.asarray(ckpt["norm"]["mean"], dtype=np.float32)[:, None]
            self._std = np.asarray(ckpt["norm"]["std"], dtype=np.float32)[:, None]
            self._hop = int(ckpt["features"]["hop"])

    def whisper_features(self, audio: np.ndarray, centres: np.ndarray | None = None,
                         mask: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
        """The Whisper head's input: (W, 2 D x blocks) pooled frames of 16 kHz mono audio, encoded once, for the
        ``ctx_s`` spans centred on ``centres`` (seconds; None = one row for the whole audio), over the speech frames
        of the VAD ``mask`` (computed when None). Each block's frames are pooled (mean + std), then the blocks are
        concatenated in the head's order."""
        if self.encoder is None:
            raise ValueError("this voice model has no Whisper head")
        y = np.asarray(audio, dtype=np.float32)
        frames = encode_stages(self.encoder, y, self.whisper_layers)  # (S, T, D)
        sp = frame_speech(detect_speech(y, SR) if mask is None else mask, frames.shape[1], FRAMES_PER_S)
        if centres is None:
            return np.concatenate([pooled_stats(f, sp) for f in frames])[None]
        n_s, n_t, d = frames.shape
        span = round(self.ctx_s * FRAMES_PER_S)
        flat = frames.transpose(0, 2, 1).reshape(n_s * d, n_t)
        at = centres * FRAMES_PER_S
        fs, ss = _spans(flat, at, span), _spans(sp[None].astype(np.float32), at, span)
        return np.stack([np.concatenate([pooled_stats(b.T, s[0] > 0) for b in f.reshape(n_s, d, -1)])
                         for f, s in zip(fs, ss, strict=True)])  # fmt: skip

    def emotion_probs(self, audio: np.ndarray) -> np.ndarray:
        """Class probabilities (8,) for a stretch of 16 kHz mono audio, judged as a whole."""
        y = np.asarray(audio, dtype=np.float32)
        pooled = self.whisper_features(y) if self.encoder is not None else None
        if self.whisper_weight >= 1 or self.arch is None:
            return self._classify(None, None, pooled)[0]
        return self._classify(features(self.arch, y)[None], frame_features(y)[None] if self.func else None, pooled)[0]

    def _classify(self, feats: np.ndarray | None, frames: np.ndarray | None = None,
                  pooled: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
        """Probabilities for a batch of feature spans (B, C, T), averaged with the functionals model's for the
        matching (B, 94, T') frame spans and with the Whisper head's for the (B, 2 D) pooled Whisper frames when
        the checkpoint has them (``feats`` may be None when the Whisper head has all the weight)."""
        with torch.no_grad():
            p = np.zeros(0)
            if feats is not None and self.net is not None:
                x = torch.from_numpy((feats - self._mean) / self._std).float()
                p = torch.softmax(self.net(x), dim=1).numpy().astype(np.float64)
                if self.func is not None and frames is not None:
                    v = torch.from_numpy(np.stack([functionals(f) for f in frames]))
                    q = torch.softmax(self.func(v), dim=1).numpy().astype(np.float64)
                    p = (1 - self.func_weight) * p + self.func_weight * q
            if self.whisper_head is not None and pooled is not None:
                z = self.whisper_head(torch.from_numpy(pooled).float()) / self.whisper_temperature
                w = torch.softmax(z, dim=1).numpy().astype(np.float64)
                p = w if feats is None else (1 - self.whisper_weight) * p + self.whisper_weight * w
        return p

    def analyze(
        self,
        audio: np.ndarray,
        sr: int = SR,
        *,
        win_s: float = 1.0,
        hop_s: float = 0.5,
        starts: np.ndarray | None = None,
    ) -> VoiceTrack:
        """Emotion per window, NaN where no speech. Windows start at ``starts`` (e.g. the fusion's grid, so
        every fusion window gets the voice's vote, the last, shorter one included) or else at 0, hop, 2 hop, ...
        until the audio is covered; a window reaching past the end is cut there."""
        if not (win_s > 0 and hop_s > 0):
            raise InputError(f"window and hop must be positive, got {win_s} and {hop_s}")
        y = to_mono_16k(audio, sr)
        dur = len(y) / SR
        if starts is None:
            n_win = 1 if dur <= win_s else math.ceil((dur - win_s) / hop_s - 1e-9) + 1
            starts = np.arange(n_win) * hop_s
        else:
            starts = np.asarray(starts, dtype=np.float64)
            n_win = len(starts)
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
            batch = frames = pooled = None
            if self.whisper_weight < 1 and self.arch is not None:
                feats = features(self.arch, y)  # computed once over the clip, then sliced per window
                batch = _spans(feats, centres * SR / self._hop, round(self.ctx_s * SR / self._hop))
                if self.func is not None:
                    ff = frame_features(y)
                    frames = _spans(ff, centres * SR / FUNC_HOP, round(self.ctx_s * SR / FUNC_HOP))
            if self.encoder is not None:  # the clip encoded once (30 s chunks), then pooled per window
                pooled = self.whisper_features(y, centres, mask)
            probs[voted] = self._classify(batch, frames, pooled)
        return VoiceTrack(starts=starts, probs=probs, speech=speech, win_s=win_s, hop_s=hop_s)


def _spans(feats: np.ndarray, centres: np.ndarray, span: int) -> np.ndarray:
    """(len(centres), C, span) slices of feats (C, T) centred on the given frame positions, kept inside."""
    span = min(span, feats.shape[1])
    a = np.clip(np.round(centres - span / 2).astype(int), 0, feats.shape[1] - span)
    return np.stack([feats[:, i : i + span] for i in a])


def _debug_model() -> VoiceModel:
    """A tiny random MelCNN with the real features and speech detector, for unit tests."""
    dims: dict[str, Any] = {"n_mels": FEATURES["main"]["n_mels"], "channels": (4, 8), "dropout": 0.0}
    ckpt: dict[str, Any] = {
        "arch": "main", "dims": dims, "features": FEATURES["main"], "ctx_s": 2.0, "sr": SR,
        "norm": {"mean": [-40.0] * dims["n_mels"], "std": [20.0] * dims["n_mels"]},
        "classes": list(affect.CLASSES), "meta": {"debug": True},
    }  # fmt: skip
    with DEBUG_INIT_LOCK:
        torch.manual_seed(0)
        net = MelCNN(**dims)
    return VoiceModel(net, ckpt)


def load_voice_model(path: str | Path | None = None, *, debug: bool = False) -> VoiceModel:
    """Load a voice checkpoint (None = the shipped ``models/weights/voice.pt``), or a tiny random net."""
    if debug:
        return _debug_model()
    name = str(path or "voice.pt")
    ckpt = load_checkpoint(path, default="voice.pt", what="voice emotion")
    if ckpt.get("format") not in FORMATS:
        raise ModelLoadError(f"{name} is not a moodscore voice checkpoint")
    if tuple(ckpt.get("classes", ())) != affect.CLASSES:
        raise ModelLoadError(f"{name} was trained for other classes than this code uses")
    whisper = _load_whisper_member(ckpt, name) if "whisper" in ckpt else None
    if "state_dict" not in ckpt:  # the Whisper head alone
        if whisper is None or float(ckpt["whisper"]["weight"]) < 1:
            raise ModelLoadError(f"{name} has neither a base network nor a Whisper head with share 1")
        return VoiceModel(None, ckpt, None, whisper)
    arch = str(ckpt["arch"])
    if arch not in FEATURES or ckpt["features"] != FEATURES[arch]:  # (its classes were checked above)
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
    return VoiceModel(net, ckpt, func, whisper)


def whisper_layers(encoder_entry: dict[str, Any]) -> tuple[int, ...]:
    """The encoder blocks a Whisper head reads, in its feature order: ``layers`` (a list), or the single ``layer``
    of checkpoints written before 2026-12-06."""
    if "layers" in encoder_entry:
        return tuple(int(b) for b in encoder_entry["layers"])
    return (int(encoder_entry["layer"]),)


def _load_whisper_member(ckpt: dict[str, Any], name: str) -> tuple[nn.Module, WhisperEncoder]:
    """The Whisper head of a checkpoint and the encoder it reads (cut after the deepest block it reads, loaded
    once)."""
    entry, enc = ckpt["whisper"], ckpt["whisper"].get("encoder")
    if not isinstance(enc, dict) or not {"dims", "weight", "state_dict"} <= set(entry):
        raise ModelLoadError(f"{name} has an incomplete Whisper head")
    try:
        layers = whisper_layers(enc)
    except (KeyError, TypeError, ValueError) as e:
        raise ModelLoadError(f"{name}: the Whisper head does not say which encoder blocks it reads") from e
    if not layers or min(layers) < 1 or len(set(layers)) != len(layers):
        raise ModelLoadError(f"{name}: the Whisper head reads blocks {layers}; expected distinct blocks from 1")
    debug = enc.get("name") == "debug"
    if not debug and (enc.get("name") != "whisper-base" or enc.get("sha256") != WHISPER_SHA256):
        raise ModelLoadError(f"{name} was trained on another Whisper encoder than this code loads")
    if enc.get("frames_per_s") != FRAMES_PER_S or enc.get("pool") != WHISPER_POOL:
        raise ModelLoadError(f"{name} was trained on other Whisper features than this code uses")
    head = FunctionalsMLP(**entry["dims"])
    try:
        head.load_state_dict(entry["state_dict"])
    except RuntimeError as e:
        raise ModelLoadError(f"voice checkpoint {name}: Whisper head does not match: {e}") from e
    if entry["dims"]["n_in"] % len(layers):
        raise ModelLoadError(f"{name}: the Whisper head's {entry['dims']['n_in']} inputs do not split over {layers}")
    return head, load_whisper_encoder(max(layers), debug=debug)


WHISPER_POOL = "mean+std over speech frames"


def add_whisper_head(base: str | Path | dict[str, Any] | None, out: str | Path, *, layer: int | tuple[int, ...],
                     mean: np.ndarray, std: np.ndarray, weight: np.ndarray, bias: np.ndarray, share: float,
                     meta: dict[str, Any], temperature: float = 1.0, encoder: str = "whisper-base",
                     ckpt_meta: dict[str, Any] | None = None) -> None:  # fmt: skip
    """Write ``base`` (a voice checkpoint, or its loaded dict) with a Whisper head added: a linear classifier
    (``weight`` (8, 2 D x blocks), ``bias``) over standardised (``mean``, ``std``) pooled frames of the encoder's
    block ``layer``, or of several blocks (a tuple: each block's mean + std, concatenated in that order), whose
    logits are divided by ``temperature`` (calibration) before the softmax; its probabilities get ``share`` of the
    ensemble (1 = the head alone). ``base=None``: a checkpoint of the Whisper head alone (``share`` must be 1), with
    ``ckpt_meta`` as its top-level meta. ``encoder="debug"``: the tiny test encoder."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    layers = (layer,) if isinstance(layer, int) else tuple(layer)
    if not layers or weight.shape[1] % len(layers):
        raise ValueError(f"a head of {weight.shape[1]} inputs cannot read blocks {layers}")
    if base is None:
        if share != 1:
            raise ValueError(f"a Whisper head without a base network must have share 1, got {share}")
        ckpt: dict[str, Any] = {"classes": list(affect.CLASSES), "sr": SR, "ctx_s": 2.0}
    else:
        ckpt = dict(base) if isinstance(base, dict) else torch.load(Path(base), map_location="cpu", weights_only=True)
    ckpt |= {"format": FORMATS[1]}
    if ckpt_meta is not None or base is None:
        ckpt["meta"] = dict(ckpt_meta or {})
    dims: dict[str, Any] = {"n_in": int(weight.shape[1]), "hidden": (), "n_classes": int(weight.shape[0])}
    head = FunctionalsMLP(**dims)
    linear = head.body[0]
    assert isinstance(linear, nn.Linear)
    with torch.no_grad():
        for dest, src in ((linear.weight, weight), (linear.bias, bias), (head.mean, mean), (head.std, std)):
            dest.copy_(torch.as_tensor(np.asarray(src), dtype=torch.float32))
    sha = WHISPER_SHA256 if encoder == "whisper-base" else None
    ckpt["whisper"] = {
        "encoder": {"name": encoder, "sha256": sha, "layers": [int(b) for b in layers], "frames_per_s": FRAMES_PER_S,
                    "pool": WHISPER_POOL}, "dims": dims, "weight": float(share), "meta": meta,
        "temperature": float(temperature),
        "state_dict": {k: v.detach().clone() for k, v in head.state_dict().items()},
    }  # fmt: skip
    write_checkpoint(ckpt, out, provenance="voice")
