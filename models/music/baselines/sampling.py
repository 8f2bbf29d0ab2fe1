"""Sampling the baseline Transformer (:mod:`models.music.baselines.generator`): nucleus filtering, the sampling loop
with a key/value cache (NumPy decoding steps where available), and bar-by-bar sampling with each bar's emotion token
forced after its bar line (:func:`sample_bars`, used by ``benchmarks/baseline_pieces.py``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from moodscore.models.music.baselines.generator import FastDecoder, KVCache, MusicTransformer


def top_p_probs(scores: np.ndarray, top_p: float) -> np.ndarray:
    """Softmax of ``scores`` kept to the smallest set of tokens whose probability reaches ``top_p``,
    renormalised; the rest get probability 0."""
    z = scores - scores.max()
    p = np.exp(z)
    p /= p.sum()
    if top_p >= 1.0:
        return p
    order = np.argsort(-p, kind="stable")
    before = np.cumsum(p[order]) - p[order]  # probability of the tokens ranked above each one
    keep = order[before < top_p]  # so the token that crosses top_p stays
    out = np.zeros_like(p)
    out[keep] = p[keep]
    return out / out.sum()


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
    logit_bias: Callable[[list[int]], np.ndarray | torch.Tensor | None] | None = None,
    decoder: FastDecoder | None = None,
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

    Tokens after the prompt go through ``decoder`` (a :class:`FastDecoder` of ``model``; one is made if not
    given: pass one to reuse it). Draws come from a NumPy generator seeded with ``seed``.
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
    fast = decoder if decoder is not None else FastDecoder(model)
    rng = np.random.default_rng(int(seed))
    seq = [int(i) for i in prompt]
    window = model.dims.max_len
    guided = guidance > 0 and uncond is not None

    def rows(ids: Sequence[int]) -> list[list[int]]:
        return [list(ids), [uncond(i) for i in ids]] if guided and uncond else [list(ids)]

    def mixed(last: np.ndarray) -> np.ndarray:
        return last[0] + guidance * (last[0] - last[1]) if guided else last[0]

    cond_of = model.dims.cond_table()

    def condition_at_end(ids: Sequence[int]) -> int:
        return next((int(cond_of[i]) for i in reversed(ids) if cond_of[i] >= 0), cache.none_cond)

    def prefill(ids: Sequence[int], before: Sequence[int]) -> np.ndarray:
        # a conditioned network needs the condition in force where the window starts (its token may lie before)
        cache.reset([condition_at_end(r) for r in rows(before)] if model.cond is not None else None)
        logits = model(torch.tensor(rows(ids)), cache)
        return mixed(logits[:, -1].numpy())

    cache = KVCache(model.dims, batch=len(rows(seq[:1])))
    last = prefill(seq[-window:], seq[:-window])
    ban = np.asarray(list(banned), dtype=np.int64)
    for _ in range(max_new):
        nxt = force(seq)
        if nxt is None:
            bias = logit_bias(seq) if logit_bias is not None else None
            scores = last if bias is None else last + np.asarray(bias, dtype=np.float32)
            scores = scores / temperature
            if len(ban):
                scores[ban] = -np.inf
            nxt = int(rng.choice(len(scores), p=top_p_probs(scores.astype(np.float64), top_p)))
        seq.append(nxt)
        if stop(seq):
            break
        if cache.length >= window:
            last = prefill(seq[-(window // 2) :], seq[: -(window // 2)])
        else:
            last = mixed(fast.step([r[-1] for r in rows([nxt])], cache))
    return seq


MAX_TOKENS_PER_BAR = 160  # a bar line is forced after this many tokens without one (EMOPIA averages ~52 a bar)


def sample_bars(
    model: MusicTransformer,
    quadrants: Sequence[str],
    *,
    seed: int,
    temperature: float = 1.0,
    top_p: float = 0.95,
    bias_weight: float | None = None,
    guidance: float | None = None,
    decoder: FastDecoder | None = None,
) -> list[int]:
    """Token ids of ``len(quadrants)`` bars, bar i led by the emotion token ``quadrants[i]`` (one take: how the
    network is sampled as a baseline). Prompt ``BOS Bar Emotion_<bar 1>``; after each bar line the next bar's
    emotion token is forced; sampling stops at the bar line after the last bar (not returned). The checkpoint's
    per-quadrant token log-ratios (``model.emotion_bias``), if stored, are added to the logits of each bar's
    quadrant at ``bias_weight``; it and ``guidance`` default to the checkpoint's ``sampling`` values (else 0)."""
    from moodscore.models.music.baselines import tokens

    n = len(quadrants)
    if n < 1:
        raise ValueError("sample_bars needs at least one bar")
    bar = tokens.token_id("Bar_None")
    state = {"bars": 1, "since_bar": 0}  # the bar being written (1-based), tokens since its bar line

    def current() -> str:
        return quadrants[min(state["bars"] - 1, n - 1)]

    def force(seq: list[int]) -> int | None:
        if seq[-1] == bar:
            state["since_bar"] = 0
            return tokens.emotion_id(current())
        state["since_bar"] += 1
        return bar if state["since_bar"] > MAX_TOKENS_PER_BAR else None

    def stop(seq: list[int]) -> bool:
        if seq[-1] == bar:
            state["bars"] += 1
            return state["bars"] > n
        return False

    weight = float(model.sampling.get("bias_weight", 0.0)) if bias_weight is None else bias_weight
    table = None
    if model.emotion_bias is not None and weight != 0:
        table = weight * model.emotion_bias.float().numpy()

    def logit_bias(seq: list[int]) -> np.ndarray | None:
        return None if table is None else table[tokens.QUADRANTS.index(current())]

    none = tokens.emotion_id("NONE")
    uncond = {tokens.emotion_id(e): none for e in tokens.EMOTIONS}
    banned = [tokens.token_id(t) for t in ("PAD_None", "BOS_None", "EOS_None")]
    banned += [tokens.emotion_id(e) for e in tokens.EMOTIONS]
    seq = sample(
        model,
        [tokens.token_id("BOS_None"), bar, tokens.emotion_id(quadrants[0])],
        max_new=n * (MAX_TOKENS_PER_BAR + 4),
        force=force,
        stop=stop,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        banned=banned,
        guidance=float(model.sampling.get("guidance", 0.0)) if guidance is None else guidance,
        uncond=lambda i: uncond.get(i, i),
        logit_bias=logit_bias if table is not None else None,
        decoder=decoder,
    )
    return seq[:-1] if seq[-1] == bar else seq
