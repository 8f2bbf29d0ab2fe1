"""The voice head's training: temperature, calibration scores, nested folds that never see their actors, the fold
checkpoints, and the video effects used to augment and degrade speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from moodscore.models.train import voice_head as vh
from moodscore.models.train.holdout import voice_fold_actors


def _toy_cube(seed: int = 0, n_per_actor: int = 16, d: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x (n, 1 copy, 2 contexts, 5 stages, 2 spans, d): class means plus an actor offset plus noise."""
    rng = np.random.default_rng(seed)
    actors = np.repeat(np.arange(1, 21), n_per_actor)
    y = np.tile(np.arange(8), len(actors) // 8)
    centres = rng.standard_normal((8, d)) * 1.5
    offsets = rng.standard_normal((21, d)) * 0.5
    base = centres[y] + offsets[actors]
    x = base[:, None, None, None, None, :] + rng.standard_normal((len(y), 1, 2, 5, 2, d))
    return x.astype(np.float32), y, actors


def test_ece_and_calibration() -> None:
    y = np.array([0, 0, 1, 1])
    sure = np.eye(8)[[0, 0, 1, 1]]
    assert vh.ece(sure, y) == 0.0
    wrong = np.eye(8)[[1, 1, 0, 0]]
    assert vh.ece(wrong, y) == pytest.approx(1.0)
    half = np.full((4, 8), 0.5 / 7)
    half[np.arange(4), [0, 1, 1, 0]] = 0.5  # top probability 0.5, half of them right: calibrated
    assert vh.ece(half, y) == pytest.approx(0.0)
    c = vh.calibration(half, y)
    assert c["acc"] == 0.5 and c["mean_top"] == pytest.approx(0.5)


def test_fit_temperature_recovers_the_true_one() -> None:
    rng = np.random.default_rng(1)
    true = rng.standard_normal((4000, 8)) * 2
    y = np.array([rng.choice(8, p=p) for p in vh.softmax(true)])
    t = vh.fit_temperature(true * 3.0, y)  # logits three times too sharp
    assert t == pytest.approx(3.0, rel=0.1)


def test_fit_lr_matches_scikit_learn() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x, y, _ = _toy_cube()
    rows = x[:, 0, 0, 4, 0]
    mean, _std, w, _b = vh.fit_lr(rows, y, 0.1)
    sk = LogisticRegression(C=0.1, max_iter=5000, tol=1e-8).fit(StandardScaler().fit_transform(rows), y)
    np.testing.assert_allclose(w, sk.coef_, atol=2e-3)
    np.testing.assert_allclose(mean, rows.mean(0), atol=1e-5)


def test_nested_folds_never_see_their_actors() -> None:
    """Changing everything about fold k's actors (features and labels) leaves fold k's head unchanged, but does
    change the other folds' heads (which trained on them)."""
    from moodscore.models.train.train_voice_whisper import cross_validate

    x, y, actors = _toy_cube()
    recipe = {"copies": ["c0"], "grid": {"layer": [3, 4], "C": [0.1]}}
    res, heads = cross_validate(recipe, x, {}, y, actors)
    k = 2
    held = np.isin(actors, voice_fold_actors(k))
    x2, y2 = x.copy(), y.copy()
    x2[held] = np.random.default_rng(5).standard_normal(x2[held].shape)
    y2[held] = (y2[held] + 3) % 8
    _, heads2 = cross_validate(recipe, x2, {}, y2, actors)
    np.testing.assert_allclose(heads2[k].weight, heads[k].weight, atol=1e-6)
    assert heads2[k].temperature == pytest.approx(heads[k].temperature)
    assert np.abs(heads2[0].weight - heads[0].weight).max() > 1e-3
    assert res["conditions"]["whole context"]["mean"] > 0.5  # the toy classes are learnable
    assert {"uncalibrated", "calibrated", "recall", "confusion"} <= set(res["conditions"]["2s context"])


def test_head_over_concatenated_blocks() -> None:
    """A head may read several blocks' pooled features concatenated (recipe ``video_b34``): 2 d inputs, block 3's
    first, scored on the same concatenation in the outer folds."""
    from moodscore.models.train.train_voice_whisper import cross_validate

    x, y, actors = _toy_cube()
    cat = vh.blocks(x[:, 0, -1], (3, 4), 1)
    assert cat.shape == (len(y), 2, 24)
    np.testing.assert_array_equal(cat[..., :12], x[:, 0, -1, 3])
    np.testing.assert_array_equal(vh.blocks(x[:, 0, -1], 4, 1), x[:, 0, -1, 4])
    res, heads = cross_validate({"copies": ["c0"], "grid": {"layer": [(3, 4)], "C": [0.1]}}, x, {}, y, actors)
    assert heads[0].layer == (3, 4) and heads[0].weight.shape == (8, 24)
    assert set(heads[0].scores) == {"L3+4 C0.1"}
    assert res["conditions"]["whole context"]["mean"] > 0.5


def test_ensemble_head_is_the_average_of_one_regression_per_block() -> None:
    """Recipe ``video_ens234``: one regression per block, their logits averaged, stored as one linear head over the
    concatenated blocks; its logits are exactly the mean of the per-block heads' (and not the joint regression's)."""
    from moodscore.models.train.train_voice_whisper import cross_validate

    x, y, actors = _toy_cube()
    layer = (2, 3, 4)
    mean, std, w, b = vh.fit_head(x, y, layer, 0.1, ensemble=True)
    assert w.shape == (8, 36) and mean.shape == std.shape == (36,)
    probe = vh.blocks(x[:40, 0, -1], layer, 1)[:, 0]
    ensemble = vh.Head(layer, 0.1, mean, std, w, b).logits(probe)
    parts = [vh.Head(k, 0.1, *vh.fit_head(x, y, k, 0.1)).logits(x[:40, 0, -1, k, 0]) for k in layer]
    np.testing.assert_allclose(ensemble, np.mean(parts, axis=0), atol=1e-4)
    joint = vh.Head(layer, 0.1, *vh.fit_head(x, y, layer, 0.1)).logits(probe)
    assert np.abs(joint - ensemble).max() > 0.05
    recipe = {"copies": ["c0"], "grid": {"layer": [layer], "C": [0.1]}, "ensemble": True}
    res, heads = cross_validate(recipe, x, {}, y, actors)
    assert heads[0].layer == layer and heads[0].weight.shape == (8, 36)
    assert res["conditions"]["whole context"]["mean"] > 0.5


def test_fold_head_checkpoint_is_complete_and_calibrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fold checkpoint loads as a VoiceModel, holds the Whisper head alone (no base network fitted on all actors),
    records its held-out actors and its blocks, and applies its temperature: the same argmax, softer probabilities."""
    import torch

    from moodscore.models.train.train_voice_whisper import write_head
    from moodscore.models.voices import model as voice
    from moodscore.models.voices.model import load_voice_model

    original = voice.save_voice_head
    monkeypatch.setattr(voice, "save_voice_head", lambda *a, **k: original(*a, **k, encoder="debug"))
    rng = np.random.default_rng(0)
    head = vh.Head(layer=(1, 2), C=0.1, mean=np.zeros(128), std=np.ones(128),
                   weight=rng.standard_normal((8, 128)) * 0.3, bias=np.zeros(8), temperature=2.5)  # fmt: skip
    write_head(tmp_path / "fold1.pt", head, {"held_out_actors": [3, 4, 13, 14]}, fold_actors=(3, 4, 13, 14))
    raw = torch.load(tmp_path / "fold1.pt", weights_only=True)
    assert not {"state_dict", "func", "arch"} & set(raw) and raw["format"] == "moodscore-voice/2"
    assert raw["meta"]["held_out_actors"] == [3, 4, 13, 14] and raw["whisper"]["temperature"] == 2.5
    assert raw["whisper"]["encoder"]["layers"] == [1, 2] and raw["whisper"]["dims"]["n_in"] == 128
    model = load_voice_model(tmp_path / "fold1.pt")
    assert model.temperature == 2.5 and model.layers == (1, 2)
    pooled = rng.standard_normal((20, 128)).astype(np.float32)
    soft = model.classify(pooled)
    model.temperature = 1.0
    sharp = model.classify(pooled)
    np.testing.assert_array_equal(soft.argmax(1), sharp.argmax(1))
    np.testing.assert_allclose(soft.sum(1), 1.0, atol=1e-6)
    assert np.all(soft.max(1) < sharp.max(1))
    np.testing.assert_allclose(soft, vh.softmax(np.log(sharp) / 2.5), atol=1e-5)


def test_video_effects_keep_length_and_level() -> None:
    from moodscore.models.train import voice_augment as va

    rng = np.random.default_rng(0)
    t = np.arange(va.SR * 2) / va.SR
    y = (0.1 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    for name in sorted(va.CODECS):
        z = va.codec(y, rng, name)
        assert len(z) == len(y) and np.corrcoef(y, z)[0, 1] > 0.9, name  # realigned after the codec's delay
    r = va.reverb(y, rng, rt60=0.6, drr_db=0.0)
    assert len(r) == len(y) and np.sqrt(np.mean(r**2)) == pytest.approx(np.sqrt(np.mean(y**2)), rel=1e-3)
    n = va.add_noise(y, rng, snr_db=10.0)
    assert 10 * np.log10(np.mean(y**2) / np.mean((n - y) ** 2)) == pytest.approx(10.0, abs=0.1)
    music = [va.coloured_noise(rng, va.SR * 5, 1)]
    m = va.add_music(y, rng, music, snr_db=5.0)
    assert 10 * np.log10(np.mean(y**2) / np.mean((m - y) ** 2)) == pytest.approx(5.0, abs=0.1)
    assert len(va.video_chain(y, rng, music)) == len(y)
