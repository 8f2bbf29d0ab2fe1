"""Training sequences for the generator: bar-aligned crops, emotion switches at bar lines, transposition."""

from __future__ import annotations

import numpy as np
import pretty_midi
import pytest

from models.music import tokens
from models.train.train_generator import Batcher, _transpose_table


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
    from models.train.train_generator import emotion_log_ratios

    items = [_clip("Q1", 72), _clip("Q2", 40), _clip("Q3", 50), _clip("Q4", 60)]
    table = emotion_log_ratios(items)
    vocab = tokens.tokenizer().vocab
    assert tuple(table.shape) == (4, tokens.vocab_size())
    assert table[0, vocab["Pitch_72"]] > 0 > table[1, vocab["Pitch_72"]]  # Q1's pitches, not Q2's
    for name in ("Bar_None", "BOS_None", "Emotion_Q1", "Emotion_NONE"):
        assert (table[:, vocab[name]] == 0).all()
    assert float(table.abs().max()) <= 2.0


def test_set_texture_stores_calibrated_knobs_that_the_composer_uses(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    import torch

    from models.music.compose import Composer
    from models.music.generator import load_generator
    from models.train.train_generator import main, save

    cache = tmp_path / "cache"
    cache.mkdir()
    train = [_clip(q, 40 + 12 * i, bars=4) for i, q in enumerate(tokens.QUADRANTS)]
    arrays = {f"train_{i}": ids for i, (ids, _) in enumerate(train)}
    np.savez(cache / "corpus.npz", meta=json.dumps({"train": [q for _, q in train]}), **arrays)  # type: ignore[arg-type]
    out = tmp_path / "gen.pt"
    save(out, load_generator(debug=True), {"sampling": {"bias_weight": 1.0}})
    main(["--out", str(out), "--set-valence-contrast", "0.5"])
    main(["--out", str(out), "--set-harmony-weight", "1.25"])
    with pytest.raises(SystemExit):
        main(["--out", str(out), "--set-harmony-weight", "-1"])
    main(["--out", str(out), "--set-function-weights", "Q1=1.0,Q4=0.5"])
    for bad in ("Q5=1", "Q1=x", "Q1=-1", "Q1"):
        with pytest.raises(SystemExit):
            main(["--out", str(out), "--set-function-weights", bad])
    main(["--out", str(out), "--set-density-slack", "Q3=1.25"])
    with pytest.raises(SystemExit):
        main(["--out", str(out), "--set-density-slack", "Q3=0.5"])  # a slack under 1 would brake ordinary bars
    main(["--out", str(out), "--cache", str(cache), "--set-texture", "--texture-seeds", "2", "--texture-bars", "2",
          "--texture-iterations", "2", "--threads", "1"])  # fmt: skip
    ck = torch.load(out, weights_only=True)
    knobs = ck["sampling"]["texture"]
    assert set(knobs) == set(tokens.QUADRANTS)
    assert ck["sampling"]["bias_weight"] == 1.0 and ck["sampling"]["valence_contrast"] == 0.5  # kept
    assert ck["sampling"]["function_weights"] == {"Q1": 1.0, "Q4": 0.5}
    assert ck["sampling"]["density_slack"] == {"Q3": 1.25}
    assert any(v != 0 for k in knobs.values() for v in k.values())
    assert ck["texture_calibration"]["iterations"] == 2
    composer = Composer(load_generator(out))
    assert composer.texture == knobs and composer.valence_contrast == 0.5 and composer.harmony_weight == 1.25
    main(["--out", str(out), "--cache", str(cache), "--set-polyphony-targets"])
    poly = Composer(load_generator(out)).polyphony_targets
    assert poly is not None and set(poly) == set(tokens.QUADRANTS) and all(v > 0 for v in poly.values())
    main(["--out", str(out), "--cache", str(cache), "--set-density-targets"])
    dens = Composer(load_generator(out)).density_targets
    assert dens is not None and set(dens) == set(tokens.QUADRANTS) and all(v > 0 for v in dens.values())
    ids = composer.generate_ids(("Q2",) * 2, seed=1, temperature=1.0, top_p=0.95)
    assert ids != composer.generate_ids(("Q2",) * 2, seed=1, temperature=1.0, top_p=0.95, texture={})
