"""The voice head: pooled Whisper features, standardised with stored statistics, into multinomial logistic
regression (one linear layer). Its state dict (``body.0.weight``, ``body.0.bias``, ``mean``, ``std``) is what
``weights/voice.pt`` stores."""

from __future__ import annotations

import torch
from torch import nn

from moodscore.models import affect


class VoiceHead(nn.Module):
    """Logistic regression over standardised inputs (B, n_in) -> logits (B, n_classes)."""

    def __init__(self, n_in: int, n_classes: int = affect.N_CLASSES, hidden: tuple[int, ...] = ()) -> None:
        super().__init__()
        if hidden:  # (checkpoints name their hidden layers; every head shipped or trained here has none)
            raise ValueError(f"a voice head is one linear layer; got hidden layers {tuple(hidden)}")
        self.body = nn.Sequential(nn.Linear(n_in, n_classes))
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.zeros(n_in))
        self.register_buffer("std", torch.ones(n_in))

    @property
    def linear(self) -> nn.Linear:
        layer = self.body[0]
        assert isinstance(layer, nn.Linear)
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, n_in) raw pooled features
        return self.body((x - self.mean) / self.std)
