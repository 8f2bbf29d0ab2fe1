"""The conditional music generator: a small decoder-only Transformer over REMI tokens with emotion tokens.

One network for all emotions. The emotion is a token written after every bar line (``models.music.tokens``),
so sampling can switch emotion on any bar line while the music continues from its own context. Sampling
uses a key/value cache, temperature and nucleus (top-p) filtering, and a seeded ``torch.Generator``, so a
seed gives the same piece every time. The checkpoint stores :class:`GeneratorDims` and rebuilds the net.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.checkpoints import load_checkpoint
from models.errors import ModelLoadError

KVCache = list[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class GeneratorDims:
    vocab: int
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    max_len: int = 512
    dropout: float = 0.1

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


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

    def forward(
        self, x: torch.Tensor, cache: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        b, t, c = x.shape
        h = self.n_heads
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, h, c // h).transpose(1, 2) for z in (q, k, v))
        if cache is not None:
            k = torch.cat([cache[0], k], dim=2)
            v = torch.cat([cache[1], v], dim=2)
        # causal within the new tokens; every cached token is in the past
        causal = cache is None and t > 1
        mask = None
        if cache is not None and t > 1:
            past = k.shape[2] - t
            mask = torch.ones(t, k.shape[2], dtype=torch.bool, device=x.device).tril(diagonal=past)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal, dropout_p=self.p_attn if self.training else 0.0
        )
        y = y.transpose(1, 2).contiguous().view(b, t, c)
        x = x + self.drop(self.proj(y))
        x = x + self.drop(self.mlp(self.ln2(x)))
        return x, (k, v)


class MusicTransformer(nn.Module):
    """Token embedding + learned positions + pre-norm blocks + tied output layer."""

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
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, ids: torch.Tensor, cache: KVCache | None = None) -> tuple[torch.Tensor, KVCache]:
        """Logits for every position of ``ids`` (B, T), continuing ``cache`` if given."""
        past = 0 if cache is None else cache[0][0].shape[2]
        t = ids.shape[1]
        if past + t > self.dims.max_len:
            raise ValueError(f"sequence of {past + t} tokens exceeds max_len {self.dims.max_len}")
        pos = torch.arange(past, past + t, device=ids.device)
        x = self.tok(ids) + self.pos(pos)[None]
        new_cache: KVCache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if cache is None else cache[i])
            new_cache.append(kv)
        return self.head(self.ln(x)), new_cache


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of tokens whose probability reaches ``top_p``; the rest get -inf."""
    if top_p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, descending=True)
    cum = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
    drop = cum - torch.softmax(sorted_logits, dim=-1) >= top_p  # keep the token that crosses top_p
    sorted_logits[drop] = -math.inf
    return torch.full_like(logits, -math.inf).scatter(-1, order, sorted_logits)


@torch.inference_mode()
def sample(
    model: MusicTransformer,
    prompt: Sequence[int],
    *,
    max_new: int,
    force: Callable[[list[int]], int | None],
    stop: Callable[[list[int]], bool],
    temperature: float = 1.0,
    top_p: float = 0.95,
    seed: int = 0,
    banned: Sequence[int] = (),
    guidance: float = 0.0,
    uncond: Callable[[int], int] | None = None,
    logit_bias: Callable[[list[int]], torch.Tensor | None] | None = None,
) -> list[int]:
    """Sample up to ``max_new`` tokens after ``prompt`` with a KV cache.

    ``force(seq)`` may return a token that must come next (e.g. the emotion after a bar line); ``stop(seq)``
    ends sampling. When the context window is full, the cache is rebuilt from the last half window, so
    pieces can be longer than the network's ``max_len`` while each token still sees recent context.

    Classifier-free guidance: with ``guidance`` g > 0 and ``uncond`` (a token map that removes the condition,
    e.g. every emotion token to NONE), a second, unconditioned copy of the sequence runs in the same batch and
    the logits become ``cond + g * (cond - uncond)``, which sharpens what the condition changes.

    ``logit_bias(seq)`` may return a vector added to the next token's logits (a product of experts with a
    simple per-emotion model, e.g. the emotion's token log-ratios), or None.
    """
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    if not (0 < top_p <= 1):
        raise ValueError("top_p must be in (0, 1]")
    if not prompt:
        raise ValueError("the prompt needs at least one token")
    if guidance < 0 or (guidance > 0 and uncond is None):
        raise ValueError("guidance must be >= 0 and needs an uncond token map")
    model.eval()
    gen = torch.Generator().manual_seed(int(seed))
    seq = [int(i) for i in prompt]
    window = model.dims.max_len
    guided = guidance > 0 and uncond is not None

    def rows(ids: Sequence[int]) -> torch.Tensor:
        return torch.tensor([list(ids), [uncond(i) for i in ids]] if guided and uncond else [list(ids)])

    def mixed(logits: torch.Tensor) -> torch.Tensor:
        last = logits[:, -1]
        return last[0] + guidance * (last[0] - last[1]) if guided else last[0]

    logits, cache = model(rows(seq[-window:]))
    last = mixed(logits)
    ban = torch.tensor(list(banned), dtype=torch.long)
    for _ in range(max_new):
        nxt = force(seq)
        if nxt is None:
            bias = logit_bias(seq) if logit_bias is not None else None
            scores = (last if bias is None else last + bias) / temperature
            if len(ban):
                scores[ban] = -math.inf
            probs = torch.softmax(top_p_filter(scores, top_p), dim=-1)
            nxt = int(torch.multinomial(probs, 1, generator=gen))
        seq.append(nxt)
        if stop(seq):
            break
        if cache[0][0].shape[2] >= window:
            logits, cache = model(rows(seq[-(window // 2) :]))
        else:
            logits, cache = model(rows([nxt]), cache)
        last = mixed(logits)
    return seq


FORMAT = "moodscore.generator/1"


def load_generator(path: str | os.PathLike[str] | None = None, *, debug: bool = False) -> MusicTransformer:
    """The shipped generator (``models/weights/generator.pt``), a checkpoint at ``path``, or a tiny random net."""
    from models.music import tokens

    if debug:
        torch.manual_seed(0)
        dims = GeneratorDims(vocab=tokens.vocab_size(), d_model=32, n_layers=1, n_heads=2, max_len=128, dropout=0.0)
        return MusicTransformer(dims).eval()
    ckpt = load_checkpoint(path, default="generator.pt", what="music generator")
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
