"""The voice networks a checkpoint may hold beside (or instead of) the Whisper head: the brief's 1-D CNN over per-frame
features, a small 2-D CNN over log-mel, and an MLP (or logistic regression) over utterance-level vectors with stored
standardisation, which is also the Whisper head's form. :func:`build_network` rebuilds one from a checkpoint's arch
and dims. Re-exported by :mod:`moodscore.models.voices.model`."""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import nn

from moodscore.models import affect
from moodscore.models.errors import ModelLoadError


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
    """Utterance-level vectors (:func:`functionals`, or pooled Whisper frames), standardised with stored
    statistics, into an MLP (``hidden=()`` is multinomial logistic regression)."""

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
