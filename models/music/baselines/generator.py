"""The conditional music generator: a small decoder-only Transformer over REMI tokens with emotion tokens.

One network for all emotions. The emotion is a token written after every bar line (``models.music.baselines.tokens``),
so sampling can switch emotion on any bar line while the music continues from its own context. Sampling
uses a key/value cache, temperature and nucleus (top-p) filtering, and a seeded ``torch.Generator``, so a
seed gives the same piece every time. The checkpoint stores :class:`GeneratorDims` and rebuilds the net.

The product's music comes from :mod:`moodscore.models.music.composer`; this network is kept as a measured baseline
(sampled by :mod:`moodscore.models.music.baselines.sampling`, ``benchmarks/baseline_pieces.py``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import erf
from torch import nn

from moodscore.models.errors import ModelLoadError
from moodscore.models.files.checkpoints import load_checkpoint


@dataclass(frozen=True)
class GeneratorDims:
    vocab: int
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    max_len: int = 512
    dropout: float = 0.1
    # Token ids that set the condition (the emotion tokens, the last one meaning "no condition"). When given, a
    # learned vector of the condition in force (the last such token so far) is added at every position, so the
    # emotion reaches each note directly and not only through attention to a token far back.
    cond_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "cond_ids", tuple(int(i) for i in self.cond_ids))

    def to_dict(self) -> dict[str, float | int | list[int]]:
        d = asdict(self)
        d["cond_ids"] = list(self.cond_ids)
        return d

    def cond_table(self) -> np.ndarray:
        """(vocab,) int64: the condition index a token sets, or -1 for tokens that set none."""
        table = np.full(self.vocab, -1, dtype=np.int64)
        table[list(self.cond_ids)] = np.arange(len(self.cond_ids))
        return table


class KVCache:
    """Keys and values of every layer in buffers allocated once for the whole window.

    ``keys``/``values``: (layers, batch, heads, max_len, head_dim); the first ``length`` positions are filled.
    Decoding writes each new token's keys and values in place and attends over a view of the filled part, so a
    step costs the same at position 10 as at position 500 (growing the cache with ``torch.cat`` copied all of it
    on every token and took half the time of a step).
    """

    def __init__(self, dims: GeneratorDims, batch: int = 1) -> None:
        head = dims.d_model // dims.n_heads
        # the condition in force after the cached tokens, per row (index into dims.cond_ids; the last = none)
        self.none_cond = max(len(dims.cond_ids) - 1, 0)
        self.cond = np.full(batch, self.none_cond, dtype=np.int64)
        shape = (dims.n_layers, batch, dims.n_heads, dims.max_len, head)
        # NumPy arrays and torch views of the same memory: the network and FastDecoder share one cache
        self.keys_np = np.zeros(shape, dtype=np.float32)
        self.values_np = np.zeros(shape, dtype=np.float32)
        self.keys = torch.from_numpy(self.keys_np)
        self.values = torch.from_numpy(self.values_np)
        self.length = 0

    @property
    def capacity(self) -> int:
        return self.keys.shape[3]

    def reset(self, cond: Sequence[int] | None = None) -> None:
        """Empty the cache; ``cond``: the condition in force before the next tokens, per row (default: none)."""
        self.length = 0
        self.cond[:] = self.none_cond if cond is None else np.asarray(cond, dtype=np.int64)


class _Block(nn.Module):
    def __init__(self, d: GeneratorDims) -> None:
        super().__init__()
        self.n_heads = d.n_heads
        self.ln1 = nn.LayerNorm(d.d_model)
        self.qkv = nn.Linear(d.d_model, 3 * d.d_model)
        self.proj = nn.Linear(d.d_model, d.d_model)
        self.ln2 = nn.LayerNorm(d.d_model)
        self.mlp = nn.Sequential(nn.Linear(d.d_model, 4 * d.d_model), nn.GELU(), nn.Linear(4 * d.d_model, d.d_model))
        self.drop = nn.Dropout(d.dropout)
        self.p_attn = d.dropout

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        b, t, c = x.shape
        h = self.n_heads
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, h, c // h).transpose(1, 2) for z in (q, k, v))
        past = 0
        if cache is not None:
            past = cache.length
            cache.keys[layer, :, :, past : past + t] = k
            cache.values[layer, :, :, past : past + t] = v
            k = cache.keys[layer, :, :, : past + t]
            v = cache.values[layer, :, :, : past + t]
        # causal within the new tokens; every cached token is in the past
        causal = past == 0 and t > 1
        mask = None
        if past > 0 and t > 1:
            mask = torch.ones(t, past + t, dtype=torch.bool, device=x.device).tril(diagonal=past)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal, dropout_p=self.p_attn if self.training else 0.0
        )
        y = y.transpose(1, 2).contiguous().view(b, t, c)
        x = x + self.drop(self.proj(y))
        return x + self.drop(self.mlp(self.ln2(x)))


class MusicTransformer(nn.Module):
    """Token embedding + learned positions (+ the condition in force) + pre-norm blocks + tied output layer."""

    cond_of: torch.Tensor  # (vocab,) condition index each token sets, -1 for none (a buffer when dims.cond_ids)

    def __init__(self, dims: GeneratorDims) -> None:
        super().__init__()
        self.dims = dims
        self.sampling: dict[str, float] = {}  # sampling defaults stored in the checkpoint
        self.emotion_bias: torch.Tensor | None = None  # (4, vocab) per-quadrant token log-ratios, if stored
        self.tok = nn.Embedding(dims.vocab, dims.d_model)
        self.pos = nn.Embedding(dims.max_len, dims.d_model)
        self.blocks = nn.ModuleList(_Block(dims) for _ in range(dims.n_layers))
        self.ln = nn.LayerNorm(dims.d_model)
        self.head = nn.Linear(dims.d_model, dims.vocab, bias=False)
        self.head.weight = self.tok.weight
        self.cond: nn.Embedding | None = None
        if dims.cond_ids:
            self.cond = nn.Embedding(len(dims.cond_ids), dims.d_model)
            self.register_buffer("cond_of", torch.from_numpy(dims.cond_table()), persistent=False)
        self.apply(self._init)
        if self.cond is not None:
            nn.init.zeros_(self.cond.weight)  # starts as the network without it (fine-tuning from such a net)

    def conditions(self, ids: torch.Tensor, before: torch.Tensor) -> torch.Tensor:
        """(B, T) condition index in force at each position: the last condition token up to and including it,
        else ``before`` (B,)."""
        set_here = self.cond_of[ids]
        t = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)
        last = torch.where(set_here >= 0, t, -1).cummax(dim=1).values
        return torch.where(last >= 0, set_here.gather(1, last.clamp(min=0)), before[:, None])

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, ids: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Logits for every position of ``ids`` (B, T). With a ``cache``, ``ids`` continue the tokens already in
        it, and their keys and values are added to it."""
        past = 0 if cache is None else cache.length
        t = ids.shape[1]
        if past + t > self.dims.max_len:
            raise ValueError(f"sequence of {past + t} tokens exceeds max_len {self.dims.max_len}")
        if cache is not None and (cache.capacity != self.dims.max_len or cache.keys.shape[1] != ids.shape[0]):
            raise ValueError("the cache was made for another network or batch size")
        pos = torch.arange(past, past + t, device=ids.device)
        x = self.tok(ids) + self.pos(pos)[None]
        if self.cond is not None:
            if cache is not None:
                before = torch.from_numpy(cache.cond)
            else:
                before = torch.full((ids.shape[0],), len(self.dims.cond_ids) - 1, dtype=torch.long)
            cond = self.conditions(ids, before)
            x = x + self.cond(cond)
            if cache is not None:
                cache.cond[:] = cond[:, -1].numpy()
        for i, block in enumerate(self.blocks):
            x = block(x, cache, i)
        if cache is not None:
            cache.length = past + t
        return self.head(self.ln(x))


_Norm = tuple[np.ndarray, np.ndarray, float]  # LayerNorm weight, bias, eps
_Linear = tuple[np.ndarray, np.ndarray]  # weight transposed (in, out), bias


class _LayerWeights(NamedTuple):
    ln1: _Norm
    qkv: _Linear
    proj: _Linear
    ln2: _Norm
    fc1: _Linear
    fc2: _Linear


class FastDecoder:
    """One decoding step of a :class:`MusicTransformer` in NumPy, for sampling.

    The same arithmetic as ``MusicTransformer.forward`` for one new token per row (tests check that the logits
    agree), on float32 copies of the weights, pre-transposed. At batch 1 the network is so small (3 M weights)
    that PyTorch's per-operator dispatch, not arithmetic, set the speed: a step took about 2.5 ms in PyTorch and
    takes 1.0-1.5 ms here (measured in sampling; reading the weights from memory is most of it). The prompt
    still goes through the PyTorch network (one call for many tokens).
    Reads the network's weights once, when made: make a new one after changing them.
    """

    def __init__(self, net: MusicTransformer) -> None:
        sd = {k: v.detach().float().numpy() for k, v in net.state_dict().items()}

        def lin(name: str) -> _Linear:
            return np.ascontiguousarray(sd[f"{name}.weight"].T), sd[f"{name}.bias"].copy()

        self.dims = net.dims
        self.tok = sd["tok.weight"].copy()
        self.pos = sd["pos.weight"].copy()
        self.head = np.ascontiguousarray(sd["tok.weight"].T)  # tied output layer
        self.cond = sd["cond.weight"].copy() if net.cond is not None else None
        self.cond_of = net.dims.cond_table()
        self.ln = (sd["ln.weight"].copy(), sd["ln.bias"].copy(), float(net.ln.eps))
        self.layers: list[_LayerWeights] = []
        for i, block in enumerate(net.blocks):
            assert isinstance(block, _Block)
            b = f"blocks.{i}"
            self.layers.append(
                _LayerWeights(
                    ln1=(sd[f"{b}.ln1.weight"].copy(), sd[f"{b}.ln1.bias"].copy(), float(block.ln1.eps)),
                    qkv=lin(f"{b}.qkv"),
                    proj=lin(f"{b}.proj"),
                    ln2=(sd[f"{b}.ln2.weight"].copy(), sd[f"{b}.ln2.bias"].copy(), float(block.ln2.eps)),
                    fc1=lin(f"{b}.mlp.0"),
                    fc2=lin(f"{b}.mlp.2"),
                )
            )

    @staticmethod
    def _norm(x: np.ndarray, p: _Norm) -> np.ndarray:
        inv_n = np.float32(1.0 / x.shape[-1])  # np.add.reduce: ndarray.mean's Python wrapper cost more than the sum
        d = x - np.add.reduce(x, axis=-1, keepdims=True) * inv_n
        var = np.add.reduce(d * d, axis=-1, keepdims=True) * inv_n
        out: np.ndarray = d / np.sqrt(var + np.float32(p[2])) * p[0] + p[1]
        return out

    def step(self, ids: Sequence[int], cache: KVCache) -> np.ndarray:
        """Logits (batch, vocab) for one new token per row after the ``cache.length`` tokens in ``cache``."""
        d = self.dims
        t = cache.length
        if t >= d.max_len:
            raise ValueError(f"sequence of {t + 1} tokens exceeds max_len {d.max_len}")
        b, c, h = len(ids), d.d_model, d.n_heads
        dh = c // h
        scale = np.float32(1.0 / math.sqrt(dh))
        x = self.tok[np.asarray(ids)] + self.pos[t]
        if self.cond is not None:
            here = self.cond_of[np.asarray(ids)]
            cache.cond[:] = np.where(here >= 0, here, cache.cond)
            x = x + self.cond[cache.cond]
        for i, layer in enumerate(self.layers):
            w, bias = layer.qkv
            qkv = self._norm(x, layer.ln1) @ w + bias
            q = qkv[:, :c].reshape(b, h, dh)
            cache.keys_np[i, :, :, t] = qkv[:, c : 2 * c].reshape(b, h, dh)
            cache.values_np[i, :, :, t] = qkv[:, 2 * c :].reshape(b, h, dh)
            att = np.matmul(cache.keys_np[i, :, :, : t + 1], q[..., None])[..., 0] * scale  # (b, h, t+1)
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            y = np.matmul(att[:, :, None, :], cache.values_np[i, :, :, : t + 1])[:, :, 0].reshape(b, c)
            w, bias = layer.proj
            x = x + (y @ w + bias)
            w, bias = layer.fc1
            z = self._norm(x, layer.ln2) @ w + bias
            z = 0.5 * z * (1.0 + erf(z * np.float32(1.0 / math.sqrt(2.0))))
            w, bias = layer.fc2
            x = x + (z @ w + bias)
        cache.length = t + 1
        out: np.ndarray = self._norm(x, self.ln) @ self.head
        return out


FORMAT = "moodscore.generator/1"
WEIGHTS = Path(__file__).with_name("generator.pt")  # kept in the repository for the benchmarks, not installed


def load_generator(path: str | os.PathLike[str] | None = None, *, debug: bool = False) -> MusicTransformer:
    """The baseline generator (``generator.pt`` beside this module, in the repository), a checkpoint at ``path``, or
    a tiny random net."""
    from moodscore.models.music.baselines import tokens

    if debug:
        torch.manual_seed(0)
        dims = GeneratorDims(vocab=tokens.vocab_size(), d_model=32, n_layers=1, n_heads=2, max_len=128, dropout=0.0)
        return MusicTransformer(dims).eval()
    ckpt = load_checkpoint(path if path is not None else WEIGHTS, default="generator.pt", what="music generator")
    if ckpt.get("format") != FORMAT:
        raise ModelLoadError(f"{path or 'generator.pt'} is not a {FORMAT} checkpoint")
    if int(ckpt.get("vocab_size", -1)) != tokens.vocab_size():
        raise ModelLoadError("the generator was trained with another token vocabulary than this code uses")
    try:
        net = MusicTransformer(GeneratorDims(**ckpt["dims"]))
        net.load_state_dict({k: v.float() for k, v in ckpt["state_dict"].items()})
    except (KeyError, TypeError, RuntimeError) as e:
        raise ModelLoadError(f"the generator checkpoint does not match the network: {e}") from e
    bias = ckpt.get("emotion_bias")
    if isinstance(bias, torch.Tensor) and tuple(bias.shape) == (len(tokens.QUADRANTS), tokens.vocab_size()):
        net.emotion_bias = bias.float()
    sampling = ckpt.get("sampling", {})
    net.sampling = dict(sampling) if isinstance(sampling, dict) else {}  # e.g. {"guidance": 1.5}, measured defaults
    return net.eval()
