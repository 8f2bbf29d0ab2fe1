"""Tests for models.faces.expression: the debug net's shapes, checkpoint round trip, errors, and the shipped weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from moodscore.models.affect import FER_CLASSES
from moodscore.models.errors import InputError
from moodscore.models.faces.expression import FER_SIZE, ExpressionModel, load_expression_model, save_checkpoint
from moodscore.models.faces.landmark_baseline import debug_baseline

# scikit-image's astronaut(): a smiling face, framed by hand like FER2013 (rows, cols of the 512x512 image).
ASTRONAUT_FACE_BOX = (slice(60, 200), slice(152, 292))


def _faces(n: int, size: int = FER_SIZE, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, size, size), dtype=np.uint8)


def test_debug_model_probabilities() -> None:
    model = load_expression_model(debug=True)
    probs = model.predict(_faces(5))
    assert probs.shape == (5, len(FER_CLASSES))
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert 0 < model.input_size <= FER_SIZE


def test_empty_batch_and_other_crop_sizes() -> None:
    model = load_expression_model(debug=True)
    assert model.predict(np.zeros((0, FER_SIZE, FER_SIZE), np.uint8)).shape == (0, 7)
    assert model.predict(_faces(2, size=96)).shape == (2, 7)  # resized to the FER frame first


def test_flip_averaging_is_flip_invariant() -> None:
    model = load_expression_model(debug=True)
    faces = _faces(3)
    np.testing.assert_allclose(model.predict(faces), model.predict(faces[:, :, ::-1]), atol=1e-5)
    model.tta_shift = 2  # shifted views come in mirror pairs, so flip averaging stays exact
    shifted = model.predict(faces)
    np.testing.assert_allclose(shifted, model.predict(faces[:, :, ::-1]), atol=1e-5)
    np.testing.assert_allclose(shifted.sum(axis=1), 1.0, atol=1e-5)
    model.tta_shift, model.tta_flip = 0, False
    assert not np.allclose(model.predict(faces), model.predict(faces[:, :, ::-1]), atol=1e-5)


def test_bad_shapes_raise_input_error() -> None:
    model = load_expression_model(debug=True)
    with pytest.raises(InputError):
        model.predict(np.zeros((48, 48), np.uint8))
    with pytest.raises(InputError):
        model.predict(np.zeros((2, 48, 40), np.uint8))


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    model = load_expression_model(debug=True)
    with torch.no_grad():  # give BatchNorm non-trivial statistics so that they must survive the round trip
        for m in model.net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                assert m.running_mean is not None and m.running_var is not None
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    model.mean, model.std = 0.51, 0.26
    path = tmp_path / "expr.pt"
    save_checkpoint(model, path, extra={"note": "test"})
    loaded = load_expression_model(path)
    assert loaded.net.dims == model.net.dims
    assert (loaded.input_size, loaded.mean, loaded.std) == (model.input_size, 0.51, 0.26)
    assert loaded.meta["note"] == "test"
    faces = _faces(4, seed=1)
    np.testing.assert_allclose(loaded.predict(faces), model.predict(faces), atol=2e-3)  # fp16 storage


def _astronaut_face() -> np.ndarray:
    from skimage import color, data, transform

    grey = color.rgb2gray(data.astronaut())[ASTRONAUT_FACE_BOX]
    face: np.ndarray = (transform.resize(grey, (FER_SIZE, FER_SIZE), anti_aliasing=True) * 255).round()
    return face.astype(np.uint8)


@pytest.mark.e2e
def test_shipped_model_sees_a_smile() -> None:
    face = _astronaut_face()
    model = load_expression_model()
    probs = model.predict(face[None])
    assert FER_CLASSES[int(probs[0].argmax())] == "happy", dict(zip(FER_CLASSES, probs[0].round(3), strict=True))
    assert probs[0, FER_CLASSES.index("happy")] > 0.5


def _with_landmark_expert() -> tuple[ExpressionModel, np.ndarray, np.ndarray]:
    model = load_expression_model(debug=True)
    model.geometry, model.geometry_weight = debug_baseline(), 0.5
    rng = np.random.default_rng(3)
    landmarks = rng.normal(100, 30, size=(3, 478, 3))
    return model, _faces(3, seed=2), landmarks


def test_landmark_expert_changes_the_answer_only_where_landmarks_exist() -> None:
    model, faces, landmarks = _with_landmark_expert()
    alone = model.predict(faces)
    landmarks[1] = np.nan  # no landmarks for the second face
    both = model.predict(faces, landmarks=landmarks)
    np.testing.assert_allclose(both.sum(axis=1), 1.0, atol=1e-5)
    assert not np.allclose(both[0], alone[0], atol=1e-4)
    np.testing.assert_allclose(both[1], alone[1], atol=1e-6)
    with pytest.raises(InputError, match="landmarks"):
        model.predict(faces, landmarks=landmarks[:2])
    model.geometry_weight = 0.0
    np.testing.assert_allclose(model.predict(faces, landmarks=landmarks), alone, atol=1e-6)


def test_landmark_expert_survives_the_checkpoint(tmp_path: Path) -> None:
    model, faces, landmarks = _with_landmark_expert()
    save_checkpoint(model, tmp_path / "expr.pt")
    loaded = load_expression_model(tmp_path / "expr.pt")
    assert loaded.geometry is not None and loaded.geometry_weight == 0.5
    np.testing.assert_allclose(
        loaded.predict(faces, landmarks=landmarks), model.predict(faces, landmarks=landmarks), atol=3e-3
    )


@pytest.mark.e2e
def test_shipped_model_has_the_landmark_expert() -> None:
    model = load_expression_model()
    assert model.geometry is not None and 0 < model.geometry_weight < 1


def test_partner_cnns_combine_as_a_product_of_experts_and_survive_the_checkpoint(tmp_path: Path) -> None:
    from moodscore.models.faces.expression import ExpressionDims, build_model

    main = load_expression_model(debug=True)
    torch.manual_seed(1)
    other = build_model(ExpressionDims(widths=(8, 8), blocks=(1, 1), stem=8, dropout=0.0), input_size=40, mean=0.4)
    faces = _faces(5, seed=2)
    lp_main, lp_other = np.log(main.predict(faces)), np.log(other.predict(faces))
    main.partners = [(other, 0.4)]
    expect = np.exp(0.6 * lp_main + 0.4 * lp_other)
    expect /= expect.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(main.predict(faces), expect, atol=1e-5)
    assert not np.allclose(main.predict(faces), np.exp(lp_main), atol=1e-3)  # the partner changed the answer
    save_checkpoint(main, tmp_path / "pair.pt")
    loaded = load_expression_model(tmp_path / "pair.pt")
    assert [(m.input_size, m.mean, w) for m, w in loaded.partners] == [(40, 0.4, 0.4)]
    np.testing.assert_allclose(loaded.predict(faces), main.predict(faces), atol=2e-3)


def test_a_warm_restart_starts_from_the_other_runs_weights(tmp_path: Path) -> None:
    """``train_expression --init``: with a learning rate of 0 the restarted run's weights stay the ones it was
    given (AdamW's decay is scaled by the learning rate too); without ``--init`` they are a fresh network's."""
    import torch

    from moodscore.models.train import train_expression

    rng = np.random.default_rng(0)
    n_train, n_val = 64, 16
    np.savez(
        tmp_path / train_expression.NPZ_NAME,
        images=rng.integers(0, 256, (n_train + n_val, 48, 48), dtype=np.uint8),
        labels=rng.integers(0, 7, n_train + n_val),
        usage=np.array(["Training"] * n_train + ["PublicTest"] * n_val),
    )
    common = ["--data", str(tmp_path), "--epochs", "1", "--batch", "32", "--widths", "8,8,8,8", "--stem", "8",
              "--threads", "1"]  # fmt: skip

    def run(name: str, *extra: str) -> dict[str, torch.Tensor]:
        cache = tmp_path / name
        train_expression.main([*common, "--out", str(cache / "out.pt"), "--cache", str(cache), *extra])
        state: dict[str, torch.Tensor] = torch.load(cache / "last.pt", weights_only=False)["net"]
        return state

    first = run("first", "--seed", "1")
    restarted = run("restarted", "--lr", "0", "--init", str(tmp_path / "first" / "last.pt"))
    fresh = run("fresh", "--lr", "0")
    convs = [k for k, v in first.items() if v.ndim == 4]
    assert convs and all(torch.equal(first[k], restarted[k]) for k in convs)
    assert not any(torch.equal(first[k], fresh[k]) for k in convs)


def test_distillation_pulls_the_student_towards_the_teacher(tmp_path: Path) -> None:
    """``train_expression --teacher``: with the teacher term alone (``--distill 1``) the student learns what the
    teacher says (here: always 'happy'), not the labels; a teacher that takes other input is refused."""
    import torch

    from moodscore.models.faces.expression import ExpressionDims, build_model, load_expression_model, save_checkpoint
    from moodscore.models.train import train_expression

    rng = np.random.default_rng(0)
    n_train, n_val = 128, 32
    images = rng.integers(0, 256, (n_train + n_val, 48, 48), dtype=np.uint8)
    np.savez(
        tmp_path / train_expression.NPZ_NAME,
        images=images,
        labels=np.zeros(n_train + n_val, dtype=np.int64),  # every label says 'angry'
        usage=np.array(["Training"] * n_train + ["PublicTest"] * n_val),
    )
    xtr = torch.from_numpy(images[:n_train]).float().div(255)
    dims = ExpressionDims(widths=(8, 8, 8, 8), blocks=(0, 1, 1, 1), stem=8)
    teacher = build_model(dims, input_size=40, mean=float(xtr.mean()), std=float(xtr.std()))
    with torch.no_grad():
        teacher.net.head.weight.zero_()
        teacher.net.head.bias.copy_(torch.tensor([0.0, 0, 0, 6, 0, 0, 0]))  # 'happy', whatever the face
    save_checkpoint(teacher, tmp_path / "teacher.pt")
    common = ["--data", str(tmp_path), "--epochs", "4", "--batch", "32", "--widths", "8,8,8,8", "--stem", "8",
              "--threads", "1", "--lr", "0.01", "--teacher", str(tmp_path / "teacher.pt")]  # fmt: skip

    def happy_share(name: str, *extra: str) -> float:
        out = tmp_path / name / "out.pt"
        train_expression.main([*common, "--out", str(out), "--cache", str(tmp_path / name), *extra])
        student = load_expression_model(out)  # the description; the weights of the last epoch:
        student.net.load_state_dict(torch.load(tmp_path / name / "last.pt", weights_only=False)["net"])
        return float((student.predict(images[n_train:]).argmax(1) == 3).mean())

    assert happy_share("distilled", "--distill", "1") > 0.9
    assert happy_share("labels", "--distill", "0") < 0.1  # the same run on the labels alone learns 'angry'
    other = build_model(dims, input_size=44, mean=0.5, std=0.25)
    save_checkpoint(other, tmp_path / "other.pt")
    with pytest.raises(SystemExit, match="other input"):
        train_expression.main([*common[:-1], str(tmp_path / "other.pt"), "--out", str(tmp_path / "x.pt")])


def test_geometry_tool_reads_one_weight_per_partner_and_refuses_bad_entries() -> None:
    from moodscore.models.train.train_expression_geometry import _partner_grid

    assert _partner_grid("0.4:0.3,0.5:0.2", 2) == [(0.4, 0.3), (0.5, 0.2)]
    assert _partner_grid("0.7", 1) == [(0.7,)]
    assert _partner_grid("0.7", 0) == [()]
    for bad in ("0.4", "0.6:0.6", "-0.1:0.2"):
        with pytest.raises(SystemExit):
            _partner_grid(bad, 2)


def test_bfloat16_training_learns_and_keeps_float32_weights(tmp_path: Path) -> None:
    """``train_expression --bf16``: the forward pass runs under bfloat16 autocast; the network still learns an easy
    rule (bright faces 'happy', dark ones 'sad') and its stored weights stay float32."""
    from moodscore.models.train import train_expression

    rng = np.random.default_rng(1)
    n_train, n_val = 192, 64
    bright = rng.random(n_train + n_val) < 0.5
    images = np.where(bright[:, None, None], 170, 60) + rng.integers(-40, 40, (n_train + n_val, 48, 48))
    np.savez(
        tmp_path / train_expression.NPZ_NAME,
        images=images.clip(0, 255).astype(np.uint8),
        labels=np.where(bright, 3, 4).astype(np.int64),
        usage=np.array(["Training"] * n_train + ["PublicTest"] * n_val),
    )
    out = tmp_path / "out.pt"
    args = ["--data", str(tmp_path), "--epochs", "3", "--batch", "32", "--widths", "8,8,8,8", "--stem", "8",
            "--threads", "1", "--lr", "0.01", "--bf16", "--out", str(out), "--cache", str(tmp_path / "c")]  # fmt: skip
    train_expression.main(args)
    model = load_expression_model(out)
    assert all(p.dtype == torch.float32 for p in model.net.parameters())
    pred = model.predict(images[n_train:].clip(0, 255).astype(np.uint8)).argmax(1)
    assert (pred == np.where(bright[n_train:], 3, 4)).mean() > 0.9
    assert torch.load(tmp_path / "c" / "last.pt", weights_only=False)["config"]["bf16"] is True


def test_bf16_follows_the_environment_and_reaches_every_partner(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from moodscore.models.faces.expression import BF16_ENV, ExpressionDims, bf16_default, build_model

    monkeypatch.setenv(BF16_ENV, "0")
    assert bf16_default() is False
    monkeypatch.setenv(BF16_ENV, "1")
    assert bf16_default() is True
    main = load_expression_model(debug=True)
    main.partners = [(build_model(ExpressionDims(widths=(8, 8), blocks=(1, 1), stem=8), input_size=40), 0.5)]
    save_checkpoint(main, tmp_path / "pair.pt")
    assert [m.bf16 for m, _ in load_expression_model(tmp_path / "pair.pt").members()] == [True, True]
    monkeypatch.setenv(BF16_ENV, "0")
    assert [m.bf16 for m, _ in load_expression_model(tmp_path / "pair.pt").members()] == [False, False]


@pytest.mark.e2e
def test_bf16_inference_stays_close_to_float32() -> None:
    """The shipped CNNs under bfloat16 autocast: really another computation, but the same answers within 0.03."""
    faces = np.concatenate([_astronaut_face()[None], _faces(7, seed=3)])
    model = load_expression_model()
    model.set_bf16(False)
    p32 = model.predict(faces)
    model.set_bf16(True)
    p16 = model.predict(faces)
    assert not np.array_equal(p32, p16)
    assert np.abs(p32 - p16).max() < 0.03
    assert FER_CLASSES[int(p16[0].argmax())] == "happy"


def test_int8_storage_shrinks_the_file_and_keeps_the_answers(tmp_path: Path) -> None:
    from moodscore.models.faces.expression import ExpressionDims, build_model, quantize_int8

    torch.manual_seed(4)
    model = build_model(ExpressionDims(widths=(16, 32, 64, 128), blocks=(0, 1, 1, 1), stem=16), input_size=40)
    for m in model.net.modules():  # non-trivial batch-norm statistics, as after training
        if isinstance(m, torch.nn.BatchNorm2d) and m.running_var is not None:
            m.running_var.uniform_(0.5, 2.0)
    save_checkpoint(model, tmp_path / "f16.pt")
    model.store_int8 = True
    save_checkpoint(model, tmp_path / "i8.pt")
    assert (tmp_path / "i8.pt").stat().st_size < 0.6 * (tmp_path / "f16.pt").stat().st_size
    loaded = load_expression_model(tmp_path / "i8.pt")
    assert loaded.store_int8  # a re-save keeps the int8 form
    w, w8 = model.net.head.weight, loaded.net.head.weight
    q, scale = quantize_int8(w)
    assert q.dtype == torch.int8 and scale.shape == (w.shape[0],)
    assert torch.all((w - w8).abs() <= scale[:, None] / 2 + 1e-6)  # within half a step of each channel's grid
    f16 = load_expression_model(tmp_path / "f16.pt")
    loaded.set_bf16(False)
    f16.set_bf16(False)
    faces = _faces(6, seed=5)
    np.testing.assert_allclose(loaded.predict(faces), f16.predict(faces), atol=0.02)


def test_fusing_batchnorm_keeps_the_answers_and_the_fused_model_is_not_saved(tmp_path: Path) -> None:
    """``fuse_for_inference`` folds every BatchNorm (with non-trivial statistics) into its convolution, in the
    partners too; the probabilities stay the same, and saving such a model is refused rather than written wrong."""
    from moodscore.models.engine import Engine
    from moodscore.models.faces.expression import ExpressionDims, build_model

    main = load_expression_model(debug=True)
    torch.manual_seed(1)
    main.partners = [
        (build_model(ExpressionDims(widths=(8, 8), blocks=(1, 1), stem=8, dropout=0.0), input_size=40), 0.3)
    ]
    gen = torch.Generator().manual_seed(3)
    for m, _ in main.members():
        for bn in (mod for mod in m.net.modules() if isinstance(mod, torch.nn.BatchNorm2d)):
            assert bn.running_mean is not None and bn.running_var is not None
            bn.running_mean.copy_(torch.randn(bn.num_features, generator=gen) * 0.5)
            bn.running_var.copy_(torch.rand(bn.num_features, generator=gen) * 2 + 0.1)
            bn.weight.data.copy_(torch.randn(bn.num_features, generator=gen))
            bn.bias.data.copy_(torch.randn(bn.num_features, generator=gen))
    faces = _faces(6, seed=4)
    before = main.predict(faces)
    main.fuse_for_inference()
    assert all(m.fused for m, _ in main.members())
    assert not any(isinstance(mod, torch.nn.BatchNorm2d) for m, _ in main.members() for mod in m.net.modules())
    np.testing.assert_allclose(main.predict(faces), before, atol=1e-5)
    with pytest.raises(ValueError, match="fused"):
        save_checkpoint(main, tmp_path / "fused.pt")
    assert not (tmp_path / "fused.pt").exists()
    assert Engine(debug=True).expression.fused  # what the product runs


def test_the_checkpoints_temperature_divides_the_log_probabilities(tmp_path: Path) -> None:
    """The stored temperature is applied in ``predict`` (to the product with the landmark expert too): the answers
    are ``softmax(log p / T)`` of the uncalibrated ones, the ranking stays; a file without one means T = 1, and
    a non-positive one is refused."""
    from moodscore.models.errors import ModelLoadError
    from moodscore.models.files.checkpoints import load_checkpoint, write_checkpoint

    model, faces, landmarks = _with_landmark_expert()
    raw = model.predict(faces, landmarks=landmarks)
    model.temperature = 2.5
    path = tmp_path / "calibrated.pt"
    save_checkpoint(model, path)
    loaded = load_expression_model(path)
    assert loaded.temperature == 2.5
    loaded.temperature = 1.0
    raw_loaded = loaded.predict(faces, landmarks=landmarks)
    loaded.temperature = 2.5
    calibrated = loaded.predict(faces, landmarks=landmarks)
    expected = np.exp(np.log(raw_loaded) / 2.5)
    np.testing.assert_allclose(calibrated, expected / expected.sum(1, keepdims=True), atol=1e-5)
    assert np.array_equal(calibrated.argmax(1), raw.argmax(1))
    assert calibrated.max(1).mean() < raw_loaded.max(1).mean()  # T > 1 softens
    ckpt = load_checkpoint(path, default="expression.pt", what="test")
    del ckpt["temperature"]
    write_checkpoint(ckpt, tmp_path / "old.pt")
    assert load_expression_model(tmp_path / "old.pt").temperature == 1.0
    ckpt["temperature"] = 0.0
    write_checkpoint(ckpt, tmp_path / "bad.pt")
    with pytest.raises(ModelLoadError, match="temperature"):
        load_expression_model(tmp_path / "bad.pt")


@pytest.mark.e2e
def test_shipped_models_temperature_is_in_the_fitted_range() -> None:
    model = load_expression_model()
    assert 0.25 <= model.temperature <= 8.0
