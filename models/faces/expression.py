"""Facial expression network: a compact VGG/ResNet-style CNN over FER2013-framed grey faces.

The checkpoint describes itself (``dims``, the class list, the input size and the normalisation), so
:func:`load_expression_model` rebuilds the network from the file alone::

    model = load_expression_model()          # the shipped models/weights/expression.pt
    probs = model.predict(crops)             # crops: (N, S, S) uint8 -> (N, 7) over FER_CLASSES

Crops are framed like FER2013 (48x48 grey, the face filling the frame); the network sees a centre crop of
``input_size`` pixels of a 48x48 face, as in training (random crops of the same size).
"""

from __future__ import annotations

import copy
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from moodscore.models.affect import FER_CLASSES
from moodscore.models.errors import InputError, ModelLoadError
from moodscore.models.faces.landmark_baseline import LandmarkBaseline, baseline_from_checkpoint
from moodscore.models.files.checkpoints import DEBUG_INIT_LOCK, load_checkpoint, write_checkpoint

FORMAT = "moodscore.expression/1"
BF16_ENV = "MOODSCORE_BF16"  # "0": always float32; "1": bfloat16 even where the CPU has no native support


def bf16_default() -> bool:
    """Whether the CNNs run under bfloat16 autocast: where the CPU computes bfloat16 natively (AVX512-BF16 or
    AMX; about 2.5x the float32 speed here), unless ``MOODSCORE_BF16`` says otherwise. Elsewhere bfloat16 is
    emulated and slower than float32."""
    env = os.environ.get(BF16_ENV, "").strip()
    if env in ("0", "1"):
        return env == "1"
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


FER_SIZE = 48  # FER2013 images are 48x48; the network takes a centre crop of `input_size` from that frame


@dataclass(frozen=True)
class ExpressionDims:
    """Architecture of :class:`ExpressionNet`: ``blocks[i]`` residual blocks of ``widths[i]`` channels per stage."""

    widths: tuple[int, ...] = (32, 64, 128, 256)
    blocks: tuple[int, ...] = (1, 1, 1, 1)
    stem: int = 32
    n_classes: int = len(FER_CLASSES)
    dropout: float = 0.3

    @staticmethod
    def from_dict(d: dict[str, Any]) -> ExpressionDims:
        return ExpressionDims(
            widths=tuple(d["widths"]),
            blocks=tuple(d["blocks"]),
            stem=int(d["stem"]),
            n_classes=int(d["n_classes"]),
            dropout=float(d.get("dropout", 0.0)),
        )


def _conv_bn(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
    )


class _Block(nn.Module):
    """Pre-downsampled residual block: conv-bn-relu, conv-bn, plus identity (or a 1x1 projection)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn(c_in, c_out, stride)
        self.conv2 = nn.Sequential(nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out))
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.skip = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(self.conv1(x)) + self.skip(x), inplace=True)


class ExpressionNet(nn.Module):
    """Stem conv, then stages of residual blocks (the first block of stages 2.. halves the size), GAP, linear."""

    def __init__(self, dims: ExpressionDims) -> None:
        super().__init__()
        self.dims = dims
        self.stem = _conv_bn(1, dims.stem)
        layers: list[nn.Module] = []
        c = dims.stem
        for i, (w, n) in enumerate(zip(dims.widths, dims.blocks, strict=True)):
            for j in range(n):
                layers.append(_Block(c, w, 2 if (i > 0 and j == 0) else 1))
                c = w
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dims.dropout)
        self.head = nn.Linear(c, dims.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.stem(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.head(self.dropout(x))


@dataclass
class ExpressionModel:
    """A loaded expression network with its preprocessing; :meth:`predict` turns face crops into probabilities."""

    net: ExpressionNet
    input_size: int = 44
    mean: float = 0.5
    std: float = 0.25
    classes: tuple[str, ...] = FER_CLASSES
    tta_flip: bool = True
    tta_shift: int = 0  # > 0: also average the crops shifted by this many pixels up, down, left and right
    meta: dict[str, Any] = field(default_factory=dict)
    # optional second expert on the face's geometry (the landmark-distance network, models.faces.landmark_baseline),
    # used when landmarks are given: log p = (1 - w) * log p_cnn + w * log p_geometry, renormalised
    geometry: LandmarkBaseline | None = None
    geometry_weight: float = 0.0
    # optional other CNNs (their own preprocessing) whose log-probabilities join this one's, each with its weight
    # (this network keeps 1 - their sum): a product of experts of CNNs, before the geometry expert
    partners: list[tuple[ExpressionModel, float]] = field(default_factory=list)
    bf16: bool = False  # run this CNN under bfloat16 autocast (logits back in float32); see bf16_default()
    store_int8: bool = False  # the checkpoint stores this CNN's conv/linear weights as int8 (per output channel)
    fused: bool = False  # BatchNorm folded into the convolutions (inference only; such a model is not saved)
    # calibration: the combined log-probabilities (CNNs x geometry) are divided by this before the softmax; fitted
    # on held-out faces so that the probabilities fusion multiplies are calibrated (1.0: as the networks say)
    temperature: float = 1.0

    def set_bf16(self, on: bool) -> None:
        """bfloat16 autocast on or off for this CNN and its partners."""
        for m, _ in self.members():
            m.bf16 = on

    def fuse_for_inference(self) -> ExpressionModel:
        """Fold every BatchNorm into the convolution before it, in this CNN and its partners (10-15% faster).

        The answers stay the same up to float rounding. A fused model is for inference only: it can no longer be
        saved or trained (load the checkpoint again for that)."""
        for m, _ in self.members():
            if not m.fused:
                m.net, m.fused = fuse_conv_bn(m.net), True
        return self

    def members(self) -> list[tuple[ExpressionModel, float]]:
        """This CNN and its partners, each with its weight in the product (this one keeps 1 - the partners')."""
        return [(self, 1 - sum(w for _, w in self.partners)), *self.partners]

    def cnn_log_probs(self, crops: np.ndarray) -> np.ndarray:
        """(N, 7) log-probabilities of this CNN and its partners combined (no geometry)."""
        x = self.preprocess(crops)
        log_p: np.ndarray = torch.log_softmax(self.logits(x).float(), dim=1).numpy()
        if self.partners:
            (_, own), *partners = self.members()
            log_p = own * log_p
            for partner, w in partners:
                log_p = log_p + w * partner.cnn_log_probs(crops)
        return log_p

    def preprocess(self, crops: np.ndarray) -> torch.Tensor:
        """(N, S, S) uint8 faces -> (N, 1, 48, 48) normalised float frames (resized when S != 48)."""
        a = np.asarray(crops)
        if a.ndim != 3 or a.shape[1] != a.shape[2] or a.shape[1] < 8:
            raise InputError(f"expected square face crops of shape (N, S, S), got {a.shape}")
        x = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32) / 255.0).unsqueeze(1)
        if x.shape[-1] != FER_SIZE and x.shape[0] > 0:
            x = F.interpolate(x, size=(FER_SIZE, FER_SIZE), mode="bilinear", align_corners=False, antialias=True)
        return (x - self.mean) / self.std

    def _crop(self, x: torch.Tensor, dy: int = 0, dx: int = 0) -> torch.Tensor:
        off = (FER_SIZE - self.input_size) // 2
        y0, x0 = min(max(off + dy, 0), FER_SIZE - self.input_size), min(max(off + dx, 0), FER_SIZE - self.input_size)
        crop = x[..., y0 : y0 + self.input_size, x0 : x0 + self.input_size]
        return crop.contiguous(memory_format=torch.channels_last)

    @torch.inference_mode()
    def logits(self, frames: torch.Tensor) -> torch.Tensor:
        """Mean logits over the test-time views (centre crop, shifted crops, their mirror images)."""
        s = self.tta_shift
        shifts = [(0, 0)] + ([(-s, 0), (s, 0), (0, -s), (0, s)] if s > 0 else [])
        views = [self._crop(frames, dy, dx) for dy, dx in shifts]
        if self.tta_flip:
            views += [torch.flip(v, dims=[-1]) for v in views]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            out = self.net(torch.cat(views)).float()
        return out.view(len(views), frames.shape[0], -1).mean(0)

    def predict(self, crops: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """(N, S, S) uint8 grey faces framed like FER2013 -> (N, 7) probabilities over FER_CLASSES.

        The combined log-probabilities are divided by :attr:`temperature` (the checkpoint's calibration) before the
        softmax. ``landmarks``: the faces' (N, 478, 2 or 3) MediaPipe landmarks in any pixel frame; when given and the
        checkpoint has a geometry expert, its opinion is combined with the CNN's (a face whose landmarks are
        NaN: the CNN alone)."""
        if len(crops) == 0:
            self.preprocess(crops)  # still checks the shape
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        log_p = self.cnn_log_probs(crops)
        if landmarks is not None and self.geometry is not None and self.geometry_weight > 0:
            lm = np.asarray(landmarks, dtype=np.float64)
            if lm.ndim != 3 or lm.shape[0] != len(log_p) or lm.shape[1] != 478 or lm.shape[2] < 2:
                raise InputError(f"expected landmarks of shape ({len(log_p)}, 478, 2 or 3), got {lm.shape}")
            ok = np.isfinite(lm).all(axis=(1, 2))
            if ok.any():
                log_p[ok] = product_of_experts(log_p[ok], self.geometry.predict(lm[ok]), self.geometry_weight)
        log_p = log_p / self.temperature
        p = np.exp(log_p - log_p.max(axis=1, keepdims=True))
        out: np.ndarray = (p / p.sum(axis=1, keepdims=True)).astype(np.float32)
        return out


def fuse_conv_bn(net: ExpressionNet) -> ExpressionNet:
    """An inference copy of ``net`` in which each BatchNorm is folded into the convolution before it."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    fused = copy.deepcopy(net).eval()
    for mod in fused.modules():
        if isinstance(mod, nn.Sequential) and len(mod) >= 2:
            conv, bn = mod[0], mod[1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                mod[0], mod[1] = fuse_conv_bn_eval(conv, bn), nn.Identity()
    return fused


def product_of_experts(log_p_cnn: np.ndarray, p_geometry: np.ndarray, weight: float) -> np.ndarray:
    """Unnormalised log-probabilities ``(1 - weight) * log p_cnn + weight * log p_geometry`` (N, 7)."""
    out: np.ndarray = (1 - weight) * log_p_cnn + weight * np.log(np.clip(p_geometry, 1e-7, 1.0))
    return out


def build_model(dims: ExpressionDims, **kwargs: Any) -> ExpressionModel:
    net = ExpressionNet(dims).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    net.eval()
    return ExpressionModel(net=net, **kwargs)


def save_checkpoint(model: ExpressionModel, path: str | Path, *, extra: dict[str, Any] | None = None) -> None:
    """Write a self-describing checkpoint (fp16 weights, BN statistics included) via a temp file and rename.

    Its ``provenance`` names the licence (FER2013's: research / non-commercial), the data and the model card."""
    write_checkpoint(_checkpoint(model, extra), path, provenance="expression")


def quantize_int8(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per output channel (dim 0): ``w ~ q * scale``; returns (q int8, scale float32 (C_out,))."""
    flat = w.detach().float().reshape(w.shape[0], -1)
    scale = (flat.abs().amax(dim=1) / 127).clamp_min(1e-12)
    q = torch.round(flat / scale[:, None]).clamp_(-127, 127).to(torch.int8)
    return q.reshape(w.shape), scale


def _stored_state(model: ExpressionModel) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The state dict as stored: float16, or int8 + per-channel scales for weights of 2+ dimensions."""
    state, scales = {}, {}
    for k, v in model.net.state_dict().items():
        if model.store_int8 and v.is_floating_point() and v.ndim >= 2:
            state[k], scales[k] = quantize_int8(v)
        else:
            state[k] = v.half() if v.is_floating_point() else v
    return state, scales


def _checkpoint(model: ExpressionModel, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    if model.fused:
        raise ValueError("this expression model was fused for inference; load the checkpoint again to save it")
    state, scales = _stored_state(model)
    ckpt = {
        "format": FORMAT,
        "dims": asdict(model.net.dims),
        "classes": list(model.classes),
        "input_size": model.input_size,
        "fer_size": FER_SIZE,
        "normalisation": {"mean": model.mean, "std": model.std, "scale": "uint8/255"},
        "tta_flip": model.tta_flip,
        "tta_shift": model.tta_shift,
        "temperature": model.temperature,
        "state_dict": state,
        "meta": {**model.meta, **(extra or {})},
    }
    if scales:
        ckpt["int8_scales"] = scales
    if model.geometry is not None:
        ckpt["geometry"] = {**model.geometry.checkpoint(half=True), "weight": model.geometry_weight}
    if model.partners:
        ckpt["partners"] = [{**_checkpoint(m), "weight": w} for m, w in model.partners]
    return ckpt


def _from_checkpoint(ckpt: dict[str, Any]) -> ExpressionModel:
    if ckpt.get("format") != FORMAT:
        raise ModelLoadError(f"not an expression checkpoint (format {ckpt.get('format')!r}, expected {FORMAT!r})")
    if tuple(ckpt["classes"]) != FER_CLASSES:
        raise ModelLoadError(f"checkpoint classes {ckpt['classes']} differ from FER_CLASSES {list(FER_CLASSES)}")
    norm = ckpt["normalisation"]
    model = build_model(
        ExpressionDims.from_dict(ckpt["dims"]),
        input_size=int(ckpt["input_size"]),
        mean=float(norm["mean"]),
        std=float(norm["std"]),
        tta_flip=bool(ckpt.get("tta_flip", True)),
        tta_shift=int(ckpt.get("tta_shift", 0)),
        meta=dict(ckpt.get("meta", {})),
    )
    scales = ckpt.get("int8_scales") or {}
    state = {}
    for k, v in ckpt["state_dict"].items():
        if k in scales:
            state[k] = v.float() * scales[k].float().view(-1, *([1] * (v.ndim - 1)))
        else:
            state[k] = v.float() if v.is_floating_point() else v
    model.net.load_state_dict(state)
    model.store_int8 = bool(scales)
    if isinstance(ckpt.get("geometry"), dict):
        model.geometry = baseline_from_checkpoint(ckpt["geometry"], "the expression checkpoint's geometry expert")
        model.geometry_weight = float(ckpt["geometry"]["weight"])
    model.partners = [(_from_checkpoint(c), float(c["weight"])) for c in ckpt.get("partners", [])]
    model.temperature = float(ckpt.get("temperature", 1.0))
    if not 0 < model.temperature < float("inf"):
        raise ValueError(f"temperature must be positive and finite, got {model.temperature}")
    return model


def load_expression_model(
    path: str | Path | None = None, *, debug: bool = False, fuse: bool = False
) -> ExpressionModel:
    """Load the expression network: ``None`` = the shipped weights; ``debug=True`` = a tiny random net (no file).

    ``fuse=True``: ready for inference only (:meth:`ExpressionModel.fuse_for_inference`), as the Engine loads it."""
    if debug:
        with DEBUG_INIT_LOCK:
            torch.manual_seed(0)
            model = build_model(ExpressionDims(widths=(8, 16), blocks=(1, 1), stem=8, dropout=0.0), input_size=44)
    else:
        ckpt = load_checkpoint(path, default="expression.pt", what="expression network")
        try:
            model = _from_checkpoint(ckpt)
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise ModelLoadError(f"expression checkpoint does not match the network: {e}") from e
        model.set_bf16(bf16_default())
    return model.fuse_for_inference() if fuse else model
