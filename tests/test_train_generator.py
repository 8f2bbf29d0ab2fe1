"""Training sequences for the generator: bar-aligned crops, emotion switches at bar lines, transposition."""

from __future__ import annotations

import numpy as np
import pretty_midi
import pytest

from moodscore.models.music.baselines import tokens
from moodscore.models.music.baselines.train_generator import Batcher, _transpose_table


def _clip(quadrant: str, pitch: int, bars: int = 6) -> tuple[np.ndarray, str]:
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(program=0)
    for b in range(bars * 4):
        inst.notes.append(pretty_midi.Note(velocity=80, pitch=pitch + b % 5, start=b * 0.5, end=b * 0.5 + 0.4))
    pm.instruments.append(inst)
    return np.asarray(tokens.encode(pm, quadrant), np.int16), quadrant


def test_sequences_start_on_a_bar_and_switch_emotion_at_a_bar_line() -> None:
    items = [_clip("Q1", 60), _clip("Q3", 48), _clip("Q1", 64), _clip("Q2", 55)]
    batcher = Batcher(items, seq_len=120, switch_prob=1.0, seed=0)
    bar, bos = tokens.token_id("Bar_None"), tokens.token_id("BOS_None")
    emo = {tokens.emotion_id(e): e for e in tokens.EMOTIONS}
    switched = 0
    for _ in range(20):
        seq = batcher.sequence()
        assert len(seq) == 121
        assert seq[0] in (bar, bos)
        idx = [i for i, t in enumerate(seq) if t in emo]
        assert all(seq[i - 1] == bar for i in idx)  # every emotion token follows a bar line
        if len({int(seq[i]) for i in idx}) > 1:
            switched += 1
    assert switched >= 15


def test_transposition_moves_only_pitches() -> None:
    table = _transpose_table(3)
    vocab = tokens.tokenizer().vocab
    assert table[vocab["Pitch_60"]] == vocab["Pitch_63"]
    assert table[vocab["Bar_None"]] == vocab["Bar_None"]
    assert table[vocab["Emotion_Q2"]] == vocab["Emotion_Q2"]
    top = max(int(n[6:]) for n in vocab if n.startswith("Pitch_"))
    assert table[vocab[f"Pitch_{top}"]] == vocab[f"Pitch_{top}"]  # leaving the range: unchanged


def test_condition_dropout_replaces_every_emotion_token_with_none() -> None:
    items = [_clip("Q1", 60), _clip("Q3", 48)]
    none = tokens.emotion_id("NONE")
    quads = {tokens.emotion_id(q) for q in ("Q1", "Q2", "Q3", "Q4")}
    dropped = Batcher(items, seq_len=80, switch_prob=0.0, seed=0, drop_emotion=1.0).sequence()
    assert none in dropped and not quads & set(dropped.tolist())
    kept = Batcher(items, seq_len=80, switch_prob=0.0, seed=0, drop_emotion=0.0).sequence()
    assert quads & set(kept.tolist()) and none not in kept


def test_emotion_log_ratios_favour_each_quadrants_own_tokens_and_leave_the_grid_alone() -> None:
    from moodscore.models.music.baselines.train_generator import emotion_log_ratios

    items = [_clip("Q1", 72), _clip("Q2", 40), _clip("Q3", 50), _clip("Q4", 60)]
    table = emotion_log_ratios(items)
    vocab = tokens.tokenizer().vocab
    assert tuple(table.shape) == (4, tokens.vocab_size())
    assert table[0, vocab["Pitch_72"]] > 0 > table[1, vocab["Pitch_72"]]  # Q1's pitches, not Q2's
    for name in ("Bar_None", "BOS_None", "Emotion_Q1", "Emotion_NONE"):
        assert (table[:, vocab[name]] == 0).all()
    assert float(table.abs().max()) <= 2.0


def test_set_emotion_bias_and_guidance_store_the_sampling_defaults(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from moodscore.models.music.baselines.generator import load_generator
    from moodscore.models.music.baselines.train_generator import main, save

    cache = tmp_path / "cache"
    cache.mkdir()
    train = [_clip(q, 40 + 12 * i, bars=4) for i, q in enumerate(tokens.QUADRANTS)]
    arrays = {f"train_{i}": ids for i, (ids, _) in enumerate(train)}
    np.savez(cache / "corpus.npz", meta=json.dumps({"train": [q for _, q in train]}), **arrays)  # type: ignore[arg-type]
    out = tmp_path / "gen.pt"
    save(out, load_generator(debug=True), {"sampling": {"guidance": 0.5}})
    main(["--out", str(out), "--cache", str(cache), "--set-emotion-bias", "1.5"])
    main(["--out", str(out), "--set-guidance", "0.0"])
    net = load_generator(out)
    assert net.sampling == {"guidance": 0.0, "bias_weight": 1.5}
    assert net.emotion_bias is not None and tuple(net.emotion_bias.shape) == (4, tokens.vocab_size())
    q1 = tokens.QUADRANTS.index("Q1")
    assert float(net.emotion_bias[q1, tokens.token_id("Pitch_40")]) > 0  # Q1's clip sits on pitches 40..44
    with pytest.raises(SystemExit):
        main(["--out", str(out)])  # neither a stage nor a setting
