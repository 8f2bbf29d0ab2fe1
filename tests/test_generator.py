"""The generator network: KV-cache equivalence, seeded determinism, nucleus filtering, long sequences, and the
bar-by-bar sampling of the baseline (``sample_bars``)."""

from __future__ import annotations

import pytest
import torch

from moodscore.models.music.baselines.generator import (
    FastDecoder,
    GeneratorDims,
    KVCache,
    MusicTransformer,
    load_generator,
)
from moodscore.models.music.baselines.sampling import sample, sample_bars, top_p_probs

DIMS = GeneratorDims(vocab=40, d_model=32, n_layers=2, n_heads=4, max_len=24, dropout=0.0)


@pytest.fixture(scope="module")
def net() -> MusicTransformer:
    torch.manual_seed(0)
    return MusicTransformer(DIMS).eval()


def test_cached_decoding_equals_full_forward(net: MusicTransformer) -> None:
    ids = torch.randint(0, DIMS.vocab, (1, 16), generator=torch.Generator().manual_seed(1))
    full = net(ids)
    cache = KVCache(DIMS)
    logits = net(ids[:, :5], cache)
    steps = [logits[0, -1]]
    for t in range(5, 16):
        logits = net(ids[:, t : t + 1], cache)
        steps.append(logits[0, -1])
    assert cache.length == 16
    torch.testing.assert_close(torch.stack(steps[:-1]), full[0, 4:15], atol=1e-5, rtol=1e-4)
    # a multi-token continuation of a cache is causal too
    cache.reset()
    net(ids[:, :6], cache)
    more = net(ids[:, 6:10], cache)
    torch.testing.assert_close(more[0], full[0, 6:10], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("batch", [1, 2])
def test_fast_decoder_steps_equal_the_network(net: MusicTransformer, batch: int) -> None:
    ids = torch.randint(0, DIMS.vocab, (batch, DIMS.max_len), generator=torch.Generator().manual_seed(2))
    full = net(ids)
    cache = KVCache(DIMS, batch=batch)
    net(ids[:, :3], cache)
    fast = FastDecoder(net)
    for t in range(3, DIMS.max_len):
        step = fast.step(ids[:, t].tolist(), cache)
        torch.testing.assert_close(torch.from_numpy(step), full[:, t], atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="exceeds max_len"):
        fast.step([0] * batch, cache)


def test_top_p_probs_keeps_the_nucleus() -> None:
    import numpy as np

    scores = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    assert np.allclose(top_p_probs(scores, 1.0), [0.5, 0.3, 0.15, 0.05])
    assert np.allclose(top_p_probs(scores, 0.7), [0.5 / 0.8, 0.3 / 0.8, 0, 0])  # 0.5 < 0.7, 0.8 crosses it
    assert np.allclose(top_p_probs(scores, 0.5), [1, 0, 0, 0])
    inf = np.array([0.0, -np.inf, 1.0])
    assert np.allclose(top_p_probs(inf, 0.95).sum(), 1) and top_p_probs(inf, 0.95)[1] == 0


def test_cache_refuses_overflow_and_a_wrong_batch(net: MusicTransformer) -> None:
    cache = KVCache(DIMS)
    net(torch.zeros(1, DIMS.max_len, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="exceeds max_len"):
        net(torch.zeros(1, 1, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="batch"):
        net(torch.zeros(1, 1, dtype=torch.long), KVCache(DIMS, batch=2))


def test_same_seed_same_tokens_other_seed_other_tokens(net: MusicTransformer) -> None:
    def run(seed: int) -> list[int]:
        return sample(net, [1, 2, 3], max_new=30, force=lambda s: None, stop=lambda s: False, seed=seed)

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_forced_tokens_and_banned_tokens_are_respected(net: MusicTransformer) -> None:
    seq = sample(
        net,
        [1],
        max_new=40,
        seed=0,
        banned=[5, 6],
        force=lambda s: 9 if len(s) % 4 == 0 else None,
        stop=lambda s: False,
    )
    assert all(t == 9 for i, t in enumerate(seq) if i and i % 4 == 0)
    assert 5 not in seq[1:] and 6 not in seq[1:]


def test_sampling_runs_past_the_context_window(net: MusicTransformer) -> None:
    seq = sample(net, [1, 2], max_new=3 * DIMS.max_len, force=lambda s: None, stop=lambda s: False, seed=3)
    assert len(seq) == 2 + 3 * DIMS.max_len


def test_stop_ends_sampling(net: MusicTransformer) -> None:
    seq = sample(net, [1], max_new=100, force=lambda s: None, stop=lambda s: len(s) >= 10, seed=0)
    assert len(seq) == 10


def test_bad_sampling_options() -> None:
    net = MusicTransformer(DIMS)
    with pytest.raises(ValueError):
        sample(net, [1], max_new=1, force=lambda s: None, stop=lambda s: False, temperature=0)
    with pytest.raises(ValueError):
        sample(net, [], max_new=1, force=lambda s: None, stop=lambda s: False)


def test_guidance_is_seeded_and_matches_a_hand_computed_first_step(net: MusicTransformer) -> None:
    def uncond(i: int) -> int:
        return 0 if i == 3 else i  # token 3 plays the condition; 0 its "none"

    def run(seed: int, g: float) -> list[int]:
        return sample(
            net, [1, 3], max_new=20, force=lambda s: None, stop=lambda s: False, seed=seed, guidance=g, uncond=uncond
        )

    assert run(5, 1.5) == run(5, 1.5)
    assert run(5, 0.0) == sample(net, [1, 3], max_new=20, force=lambda s: None, stop=lambda s: False, seed=5)
    # the first step's distribution is cond + g * (cond - uncond): greedy (tiny top_p) picks its argmax
    cond = net(torch.tensor([[1, 3]]))
    free = net(torch.tensor([[1, 0]]))
    mixed = cond[0, -1] + 4.0 * (cond[0, -1] - free[0, -1])
    first = sample(
        net, [1, 3], max_new=1, force=lambda s: None, stop=lambda s: False, top_p=1e-6, guidance=4.0, uncond=uncond
    )
    assert first[-1] == int(mixed.argmax())
    with pytest.raises(ValueError, match="guidance"):
        sample(net, [1], max_new=1, force=lambda s: None, stop=lambda s: False, guidance=1.0)


def test_logit_bias_is_added_to_sampled_tokens_only(net: MusicTransformer) -> None:
    big = torch.zeros(DIMS.vocab)
    big[7] = 1e4  # overwhelms the network: every sampled token is 7, forced tokens stay as forced
    seq = sample(
        net,
        [1],
        max_new=12,
        seed=0,
        force=lambda s: 9 if len(s) % 3 == 0 else None,
        stop=lambda s: False,
        logit_bias=lambda s: big,
    )
    assert all(t == (9 if i % 3 == 0 else 7) for i, t in enumerate(seq) if i)


COND_DIMS = GeneratorDims(vocab=40, d_model=32, n_layers=2, n_heads=4, max_len=24, dropout=0.0, cond_ids=(30, 31, 32))


@pytest.fixture(scope="module")
def cond_net() -> MusicTransformer:
    torch.manual_seed(0)
    net = MusicTransformer(COND_DIMS).eval()
    torch.nn.init.normal_(net.cond.weight, std=1.0)  # type: ignore[union-attr]  # zero at init: make it matter
    return net


def test_the_condition_in_force_is_the_last_condition_token(cond_net: MusicTransformer) -> None:
    ids = torch.tensor([[1, 2, 31, 4, 5, 30, 6], [30, 2, 3, 32, 4, 4, 4]])
    got = cond_net.conditions(ids, torch.tensor([2, 0]))
    assert got.tolist() == [[2, 2, 1, 1, 1, 0, 0], [0, 0, 0, 2, 2, 2, 2]]
    # the condition changes the logits of the tokens after it, not before
    a, b = cond_net(torch.tensor([[1, 2, 30, 4, 5]])), cond_net(torch.tensor([[1, 2, 31, 4, 5]]))
    torch.testing.assert_close(a[0, :2], b[0, :2])
    assert (a[0, 2:] - b[0, 2:]).abs().max() > 1e-2


@pytest.mark.parametrize("batch", [1, 2])
def test_conditioned_cache_and_fast_decoder_equal_the_network(cond_net: MusicTransformer, batch: int) -> None:
    g = torch.Generator().manual_seed(4)
    ids = torch.randint(0, COND_DIMS.vocab, (batch, COND_DIMS.max_len), generator=g)
    ids[:, 2], ids[:, 9], ids[-1, 15] = 30, 31, 32  # conditions set inside the prompt and during decoding
    full = cond_net(ids)
    cache = KVCache(COND_DIMS, batch=batch)
    cond_net(ids[:, :4], cache)
    fast = FastDecoder(cond_net)
    for t in range(4, COND_DIMS.max_len):
        if t % 2:
            step = fast.step(ids[:, t].tolist(), cache)
        else:
            step = cond_net(ids[:, t : t + 1], cache)[:, -1].detach().numpy()
        torch.testing.assert_close(torch.from_numpy(step), full[:, t], atol=1e-4, rtol=1e-4)


def test_a_cache_started_after_the_condition_token_knows_the_condition(cond_net: MusicTransformer) -> None:
    # what sampling does when the window refills after the condition token has scrolled out of it
    ids = torch.tensor([[1, 31, 4, 5, 6, 7, 8, 9]])
    cache = KVCache(COND_DIMS)
    cache.reset([1])  # 31 = condition 1 was in force before the window
    kept = cond_net(ids[:, 4:], cache)
    assert cache.cond.tolist() == [1]
    cache.reset()  # no condition known: other logits
    lost = cond_net(ids[:, 4:], cache)
    assert (kept[0] - lost[0]).abs().max() > 1e-2
    assert torch.equal(cond_net.conditions(ids[:, 4:], torch.tensor([1])), torch.ones(1, 4, dtype=torch.long))


def test_sampling_past_the_window_with_a_condition_is_seeded(cond_net: MusicTransformer) -> None:
    def run(seed: int) -> list[int]:
        return sample(
            cond_net, [1, 31], max_new=3 * COND_DIMS.max_len, force=lambda s: None, stop=lambda s: False, seed=seed
        )

    assert run(1) == run(1) and len(run(1)) == 2 + 3 * COND_DIMS.max_len


def _bars(ids: list[int]) -> list[list[int]]:
    """The tokens of each bar (from its bar line up to the next)."""
    from moodscore.models.music.baselines import tokens

    bar = tokens.token_id("Bar_None")
    starts = [i for i, t in enumerate(ids) if t == bar]
    return [ids[a:b] for a, b in zip(starts, [*starts[1:], len(ids)], strict=True)]


def test_sample_bars_writes_each_bar_with_its_emotion_token_and_is_seeded() -> None:
    from moodscore.models.music.baselines import tokens

    gen = load_generator(debug=True)
    quadrants = ("Q1", "Q1", "Q3", "Q2")
    ids = sample_bars(gen, quadrants, seed=4)
    assert ids[0] == tokens.token_id("BOS_None")
    bars = _bars(ids)
    assert len(bars) == 4  # the bar line after the last bar is dropped
    assert [b[1] for b in bars] == [tokens.emotion_id(q) for q in quadrants]
    emotions = {tokens.emotion_id(e) for e in tokens.EMOTIONS}
    assert all(t not in emotions for b in bars for t in b[2:])  # emotion tokens only where forced
    assert sample_bars(gen, quadrants, seed=4) == ids
    assert sample_bars(gen, quadrants, seed=5) != ids
    assert len(_bars(sample_bars(gen, ("Q4",) * 12, seed=1))) == 12  # past the debug net's 128-token window
    with pytest.raises(ValueError):
        sample_bars(gen, (), seed=0)


def test_sample_bars_adds_the_checkpoints_emotion_bias_at_its_weight() -> None:
    from moodscore.models.music.baselines import tokens

    gen = load_generator(debug=True)
    plain = sample_bars(gen, ("Q2",) * 2, seed=3)
    pitch = tokens.token_id("Pitch_40")
    bias = torch.zeros(len(tokens.QUADRANTS), tokens.vocab_size())
    bias[tokens.QUADRANTS.index("Q2"), pitch] = 1e4  # overwhelms the network: every free pitch choice is 40
    gen.emotion_bias, gen.sampling = bias, {"bias_weight": 1.0}
    try:
        biased = sample_bars(gen, ("Q2",) * 2, seed=3)
        assert biased.count(pitch) > plain.count(pitch) and biased != plain
        assert sample_bars(gen, ("Q2",) * 2, seed=3, bias_weight=0.0) == plain
        assert sample_bars(gen, ("Q1",) * 2, seed=3) == sample_bars(gen, ("Q1",) * 2, seed=3, bias_weight=0.0)
    finally:
        gen.emotion_bias, gen.sampling = None, {}
