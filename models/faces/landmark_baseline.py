"""The brief's visual baseline: pairwise landmark distances -> a small fully connected network.

68 of MediaPipe's 478 face-mesh points (the ones that correspond to the classic iBUG/dlib 68-point layout)
give 68 * 67 / 2 = 2,278 pairwise distances, divided by the inter-ocular distance (eye centre to eye centre)
so they do not depend on the face's size. A stack of ``hidden`` fully connected layers (a 1-D network over
the distance vector: Linear, BatchNorm, ReLU, Dropout) classifies them into FER2013's seven classes::

    model = load_landmark_baseline(path)    # a file train_landmark_baseline wrote (the shipped one is in expression.pt)
    probs = model.predict(landmarks)        # (N, 478, 2 or 3) in any pixel frame -> (N, 7) over FER_CLASSES

The checkpoint describes itself (``dims``, classes, feature standardisation), so it rebuilds from the file.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from moodscore.models.affect import FER_CLASSES
from moodscore.models.errors import InputError, ModelLoadError
from moodscore.models.faces.tracker import ANCHORS
from moodscore.models.files.checkpoints import load_checkpoint

FORMAT = "moodscore.landmark_baseline/1"
# MediaPipe face-mesh indices in the order of the 68-point layout: jaw 17, brows 10, nose 9, eyes 12, lips 20.
KEYPOINTS_68: tuple[int, ...] = (
    127, 234, 93, 132, 58, 172, 136, 150, 176, 152, 400, 379, 365, 397, 288, 361, 323,
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    168, 197, 5, 4, 75, 97, 2, 326, 305,
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181, 78, 82, 13, 312, 308, 317, 14, 87,
)  # fmt: skip
_I, _J = np.triu_indices(len(KEYPOINTS_68), k=1)
N_FEATURES = len(_I)  # 2,278


def landmark_features(landmarks: np.ndarray, keypoints: tuple[int, ...] = KEYPOINTS_68) -> np.ndarray:
    """(N, 478, 2+) landmarks -> (N, K*(K-1)/2) float32 pairwise 2-D distances / inter-ocular distance."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[1] < 478 or lm.shape[2] < 2:
        raise InputError(f"expected landmarks of shape (N, 478, 2 or 3), got {lm.shape}")
    xy = lm[:, :, :2]
    eye_l = xy[:, list(ANCHORS["eye_left"])].mean(axis=1)
    eye_r = xy[:, list(ANCHORS["eye_right"])].mean(axis=1)
    iod = np.maximum(np.linalg.norm(eye_r - eye_l, axis=1), 1e-6)
    pts = xy[:, list(keypoints)]
    i, j = np.triu_indices(len(keypoints), k=1)
    d = np.linalg.norm(pts[:, i] - pts[:, j], axis=2)
    return (d / iod[:, None]).astype(np.float32)


@dataclass(frozen=True)
class LandmarkBaselineDims:
    n_features: int = N_FEATURES
    hidden: tuple[int, ...] = (512, 512, 512, 512)
    dropout: float = 0.02
    n_classes: int = len(FER_CLASSES)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> LandmarkBaselineDims:
        return LandmarkBaselineDims(
            n_features=int(d["n_features"]),
            hidden=tuple(int(h) for h in d["hidden"]),
            dropout=float(d["dropout"]),
            n_classes=int(d["n_classes"]),
        )


class LandmarkNet(nn.Module):
    def __init__(self, dims: LandmarkBaselineDims) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = dims.n_features
        for h in dims.hidden:
            layers += [
                nn.Linear(width, h, bias=False),
                nn.BatchNorm1d(h),
                nn.ReLU(inplace=True),
                nn.Dropout(dims.dropout),
            ]
            width = h
        layers.append(nn.Linear(width, dims.n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@dataclass
class LandmarkBaseline:
    """A loaded baseline: standardisation + network. :meth:`predict` maps landmarks to FER probabilities."""

    net: LandmarkNet
    dims: LandmarkBaselineDims
    mean: np.ndarray  # (n_features,) feature standardisation
    std: np.ndarray
    classes: tuple[str, ...] = FER_CLASSES
    meta: dict[str, Any] = field(default_factory=dict)

    def features_to_tensor(self, feats: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(((feats - self.mean) / self.std).astype(np.float32))

    @torch.inference_mode()
    def predict(self, landmarks: np.ndarray) -> np.ndarray:
        """(N, 478, 2+) landmarks -> (N, 7) probabilities over FER_CLASSES."""
        feats = landmark_features(landmarks)
        if len(feats) == 0:
            return np.zeros((0, self.dims.n_classes), np.float32)
        self.net.eval()
        return torch.softmax(self.net(self.features_to_tensor(feats)), dim=1).numpy()

    def checkpoint(self, *, half: bool = False) -> dict[str, Any]:
        """Self-describing checkpoint dict (``half``: float16 weights, for storing inside another checkpoint)."""
        state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in self.net.state_dict().items()}
        return {
            "format": FORMAT,
            "dims": asdict(self.dims),
            "classes": list(self.classes),
            "keypoints": list(KEYPOINTS_68),
            "feature_mean": torch.from_numpy(self.mean.astype(np.float32)),
            "feature_std": torch.from_numpy(self.std.astype(np.float32)),
            "state_dict": state,
            "meta": self.meta,
        }


def build_baseline(dims: LandmarkBaselineDims | None = None, *, seed: int = 0) -> LandmarkBaseline:
    """A fresh (random) baseline with identity standardisation."""
    dims = dims or LandmarkBaselineDims()
    torch.manual_seed(seed)
    return LandmarkBaseline(LandmarkNet(dims), dims, np.zeros(dims.n_features), np.ones(dims.n_features))


def debug_baseline() -> LandmarkBaseline:
    """A tiny random model for unit tests."""
    return build_baseline(LandmarkBaselineDims(hidden=(16, 16), dropout=0.0))


def load_landmark_baseline(path: str | os.PathLike[str]) -> LandmarkBaseline:
    """Rebuild a baseline from its self-describing checkpoint."""
    return baseline_from_checkpoint(
        load_checkpoint(path, default="landmark_baseline.pt", what="landmark baseline"), str(path)
    )


def baseline_from_checkpoint(ckpt: dict[str, Any], where: str = "the checkpoint") -> LandmarkBaseline:
    """Rebuild a baseline from the dict :meth:`LandmarkBaseline.checkpoint` wrote (fp16 or fp32 weights)."""
    if ckpt.get("format") != FORMAT:
        raise ModelLoadError(f"{where} is not a {FORMAT} checkpoint")
    if tuple(ckpt["keypoints"]) != KEYPOINTS_68:
        raise ModelLoadError(f"{where} was trained on other key points than this code uses")
    dims = LandmarkBaselineDims.from_dict(ckpt["dims"])
    net = LandmarkNet(dims)
    net.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in ckpt["state_dict"].items()})
    net.eval()
    return LandmarkBaseline(
        net, dims, ckpt["feature_mean"].numpy(), ckpt["feature_std"].numpy(), tuple(ckpt["classes"]), ckpt["meta"]
    )
