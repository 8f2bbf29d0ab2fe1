"""Voice: speech emotion recognition over sliding windows of a clip.

:class:`VoiceModel` judges the windows that hold enough speech (Silero VAD, :mod:`moodscore.models.voices.vad`) with
a **Whisper head**: a linear classifier (:class:`moodscore.models.voices.nets.VoiceHead`) over the mean + std of the
speech frames of one or several blocks of Whisper base's encoder (:mod:`moodscore.models.voices.encoder`; several:
each block pooled, then concatenated in the listed order), pooled over ``ctx_s`` (2 s) of audio centred on each
window, so a 1 s window is judged with its surrounding speech. The clip is encoded once (30 s chunks, up to the
deepest block the head reads) and pooled per window; the head's logits are divided by its stored ``temperature``
(calibration). The checkpoint (``moodscore-voice/2``, written by :func:`save_voice_head`) is self-describing: the
encoder it reads (by sha256), its blocks, the pooling, the head's weights and standardisation, the classes. See
``weights/voice.md`` for what ships; the debug model is a random head over the tiny debug encoder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from moodscore.models import affect
from moodscore.models.errors import InputError, ModelLoadError
from moodscore.models.files.checkpoints import DEBUG_INIT_LOCK, load_checkpoint, write_checkpoint
from moodscore.models.voices.encoder import FRAMES_PER_S, WhisperEncoder, encode_stages, load_whisper_encoder
from moodscore.models.voices.encoder import SHA256 as WHISPER_SHA256
from moodscore.models.voices.features import frame_speech, pooled_stats
from moodscore.models.voices.nets import VoiceHead
from moodscore.models.voices.vad import SR, VAD_FRAME, detect_speech, to_mono_16k

MIN_SPEECH = 0.3  # a window with less speech than this fraction carries no vote
FORMAT = "moodscore-voice/2"
READABLE = ("moodscore-voice/1", FORMAT)  # /1: written before 2026-12-06 (one block, other networks beside the head)
WHISPER_POOL = "mean+std over speech frames"


@dataclass(frozen=True)
class VoiceTrack:
    """Per-window voice emotion: ``probs`` rows are NaN where the window holds too little speech."""

    starts: np.ndarray  # (W,) window start times in seconds
    probs: np.ndarray  # (W, 8) over affect.CLASSES, NaN rows = no vote
    speech: np.ndarray  # (W,) fraction of the window that is speech
    win_s: float
    hop_s: float


class VoiceModel:
    """The Whisper head, the encoder blocks it reads and its calibration, plus the speech detector."""

    def __init__(self, head: VoiceHead, encoder: WhisperEncoder, ckpt: dict[str, Any]) -> None:
        self.head = head.eval()
        self.encoder = encoder
        entry = ckpt["whisper"]
        self.temperature = float(entry.get("temperature", 1.0))
        self.layers = whisper_layers(entry["encoder"])
        self.ctx_s = float(ckpt["ctx_s"])
        self.ckpt = {k: v for k, v in ckpt.items() if k not in ("state_dict", "func", "whisper")}
        self.ckpt["whisper"] = {k: v for k, v in entry.items() if k != "state_dict"}

    def whisper_features(self, audio: np.ndarray, centres: np.ndarray | None = None,
                         mask: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
        """The head's input: (W, 2 D x blocks) pooled frames of 16 kHz mono audio, encoded once, for the ``ctx_s``
        spans centred on ``centres`` (seconds; None = one row for the whole audio), over the speech frames of the
        VAD ``mask`` (computed when None). Each block's frames are pooled (mean + std), then the blocks are
        concatenated in the head's order."""
        y = np.asarray(audio, dtype=np.float32)
        frames = encode_stages(self.encoder, y, self.layers)  # (S, T, D)
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

    def classify(self, pooled: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities (B, 8) for a batch of pooled Whisper features (B, 2 D x blocks)."""
        with torch.no_grad():
            z = self.head(torch.from_numpy(np.asarray(pooled)).float()) / self.temperature
            return torch.softmax(z, dim=1).numpy().astype(np.float64)

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
        if voted.size:  # the clip encoded once (30 s chunks), then pooled per window
            centres = starts[voted] + np.minimum(win_s, dur - starts[voted]) / 2
            probs[voted] = self.classify(self.whisper_features(y, centres, mask))
        return VoiceTrack(starts=starts, probs=probs, speech=speech, win_s=win_s, hop_s=hop_s)


def _spans(feats: np.ndarray, centres: np.ndarray, span: int) -> np.ndarray:
    """(len(centres), C, span) slices of feats (C, T) centred on the given frame positions, kept inside."""
    span = min(span, feats.shape[1])
    a = np.clip(np.round(centres - span / 2).astype(int), 0, feats.shape[1] - span)
    return np.stack([feats[:, i : i + span] for i in a])


def _debug_model() -> VoiceModel:
    """A random head over the tiny debug encoder's block 2, with the real speech detector, for unit tests."""
    with DEBUG_INIT_LOCK:
        rng = np.random.default_rng(0)
        n_in = 2 * 2 * 32  # mean + std of blocks 1 and 2, 32 wide
        weight = rng.standard_normal((affect.N_CLASSES, n_in)) * 0.3
        ckpt = _head_checkpoint(layers=(2, 1), mean=np.zeros(n_in), std=np.full(n_in, 0.5), weight=weight,
                                bias=np.zeros(affect.N_CLASSES), meta={"debug": True}, ckpt_meta={"debug": True},
                                encoder="debug")  # fmt: skip
    return _from_checkpoint(ckpt, "the debug voice model")


def load_voice_model(path: str | Path | None = None, *, debug: bool = False) -> VoiceModel:
    """Load a voice checkpoint (None = the shipped ``models/weights/voice.pt``), or a tiny random one."""
    if debug:
        return _debug_model()
    return _from_checkpoint(load_checkpoint(path, default="voice.pt", what="voice emotion"), str(path or "voice.pt"))


def _from_checkpoint(ckpt: dict[str, Any], name: str) -> VoiceModel:
    if ckpt.get("format") not in READABLE:
        raise ModelLoadError(f"{name} is not a moodscore voice checkpoint")
    if tuple(ckpt.get("classes", ())) != affect.CLASSES:
        raise ModelLoadError(f"{name} was trained for other classes than this code uses")
    entry = ckpt.get("whisper")
    if not isinstance(entry, dict) or not isinstance(entry.get("encoder"), dict):
        raise ModelLoadError(f"{name} has no Whisper head")
    if not {"dims", "weight", "state_dict"} <= set(entry):
        raise ModelLoadError(f"{name} has an incomplete Whisper head")
    if float(entry["weight"]) != 1:  # a share below 1: the rest came from networks this version no longer runs
        raise ModelLoadError(f"{name} mixes its Whisper head (share {float(entry['weight'])}) with networks this "
                             "version no longer runs; a voice checkpoint's head must have share 1 "
                             "(retrain with python -m moodscore.models.train.train_voice_whisper)")  # fmt: skip
    enc = entry["encoder"]
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
    if entry["dims"]["n_in"] % len(layers):
        raise ModelLoadError(f"{name}: the Whisper head's {entry['dims']['n_in']} inputs do not split over {layers}")
    head = VoiceHead(**entry["dims"])
    try:
        head.load_state_dict(entry["state_dict"])
    except RuntimeError as e:
        raise ModelLoadError(f"voice checkpoint {name}: Whisper head does not match: {e}") from e
    return VoiceModel(head, load_whisper_encoder(max(layers), debug=debug), ckpt)


def whisper_layers(encoder_entry: dict[str, Any]) -> tuple[int, ...]:
    """The encoder blocks a Whisper head reads, in its feature order: ``layers`` (a list), or the single ``layer``
    of checkpoints written before 2026-12-06."""
    if "layers" in encoder_entry:
        return tuple(int(b) for b in encoder_entry["layers"])
    return (int(encoder_entry["layer"]),)


def _head_checkpoint(*, layers: tuple[int, ...], mean: np.ndarray, std: np.ndarray, weight: np.ndarray,
                     bias: np.ndarray, meta: dict[str, Any], temperature: float = 1.0, encoder: str = "whisper-base",
                     ckpt_meta: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if not layers or weight.shape[1] % len(layers):
        raise ValueError(f"a head of {weight.shape[1]} inputs cannot read blocks {layers}")
    dims: dict[str, Any] = {"n_in": int(weight.shape[1]), "hidden": (), "n_classes": int(weight.shape[0])}
    head = VoiceHead(**dims)
    with torch.no_grad():
        for dest, src in ((head.linear.weight, weight), (head.linear.bias, bias), (head.mean, mean), (head.std, std)):
            dest.copy_(torch.as_tensor(np.asarray(src), dtype=torch.float32))
    sha = WHISPER_SHA256 if encoder == "whisper-base" else None
    return {
        "format": FORMAT, "classes": list(affect.CLASSES), "sr": SR, "ctx_s": 2.0, "meta": dict(ckpt_meta or {}),
        "whisper": {
            "encoder": {"name": encoder, "sha256": sha, "layers": [int(b) for b in layers],
                        "frames_per_s": FRAMES_PER_S, "pool": WHISPER_POOL},
            "dims": dims, "weight": 1.0, "meta": meta, "temperature": float(temperature),
            "state_dict": {k: v.detach().clone() for k, v in head.state_dict().items()},
        },
    }  # fmt: skip


def save_voice_head(out: str | Path, *, layer: int | tuple[int, ...], mean: np.ndarray, std: np.ndarray,
                    weight: np.ndarray, bias: np.ndarray, meta: dict[str, Any], temperature: float = 1.0,
                    encoder: str = "whisper-base", ckpt_meta: dict[str, Any] | None = None) -> None:  # fmt: skip
    """Write a voice checkpoint: a linear classifier (``weight`` (8, 2 D x blocks), ``bias``) over standardised
    (``mean``, ``std``) pooled frames of the encoder's block ``layer``, or of several blocks (a tuple: each block's
    mean + std, concatenated in that order), whose logits are divided by ``temperature`` (calibration) before the
    softmax. ``meta`` is the head's record (recipe, cross-validation), ``ckpt_meta`` the file's top-level meta.
    ``encoder="debug"``: the tiny test encoder."""
    layers = (layer,) if isinstance(layer, int) else tuple(layer)
    ckpt = _head_checkpoint(layers=layers, mean=mean, std=std, weight=weight, bias=bias, meta=meta,
                            temperature=temperature, encoder=encoder, ckpt_meta=ckpt_meta)  # fmt: skip
    write_checkpoint(ckpt, out, provenance="voice")
