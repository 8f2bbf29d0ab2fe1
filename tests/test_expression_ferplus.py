"""Tests for the FER+ labels, the calibration measures, the video-style training views and the held-out halves
(moodscore.models.train.ferplus, moodscore.models.train.fer_augment, moodscore.models.train.train_expression)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from moodscore.models.train.calibration import ece, fit_temperature, softmax_t
from moodscore.models.train.ferplus import check_alignment, load_ferplus, majority_labels, soft_targets

HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n"
ROWS = [
    "Training,fer0000000.png,4,0,0,1,3,2,0,0,0,0",  # neutral 4, sad 1, angry 3, disgust 2
    "Training,fer0000001.png,0,0,0,0,2,1,0,5,2,0",  # contempt 5 + disgust 1 -> disgust 6
    "Training,,0,0,0,0,0,0,0,0,0,10",  # FER+: not a face
    "Training,fer0000003.png,0,0,0,0,0,0,0,0,10,0",  # only 'unknown': no emotion vote
    "PublicTest,fer0000004.png,0,5,5,0,0,0,0,0,0,0",  # happy and surprise tied
]


def _csv(tmp_path: Path, rows: list[str] = ROWS) -> Path:
    path = tmp_path / "ferplus.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n")
    return path


def test_votes_fold_contempt_into_disgust_and_drop_non_faces(tmp_path: Path) -> None:
    fp = load_ferplus(_csv(tmp_path))
    soft = soft_targets(fp)
    # FER_CLASSES order: angry, disgust, fear, happy, sad, surprise, neutral
    np.testing.assert_allclose(soft[0], np.array([3, 2, 0, 0, 1, 0, 4]) / 10)
    np.testing.assert_allclose(soft[1], np.array([2, 6, 0, 0, 0, 0, 0]) / 8)  # 'unknown' votes left out
    assert fp.not_face.tolist() == [False, False, True, False, False]
    assert fp.usable.tolist() == [True, True, False, False, True]
    assert np.isnan(soft[2]).all() and np.isnan(soft[3]).all()
    assert majority_labels(fp).tolist() == [6, 1, -1, -1, -1]  # the tie has no majority


def test_training_targets_mix_the_votes_with_the_label_and_drop_non_faces(tmp_path: Path) -> None:
    from moodscore.models.train.train_expression import training_targets

    fp_path = _csv(tmp_path, ROWS[:4])
    labels = np.array([6, 1, 0, 3])  # agrees with the FER+ majority where there is one
    data = {"ytr": labels, "labels": labels, "usage": np.array(["Training"] * 4)}
    target, keep = training_targets(data, str(fp_path), 0.25)
    assert keep.tolist() == [True, True, False, False]
    np.testing.assert_allclose(target[0], 0.75 * np.array([3, 2, 0, 0, 1, 0, 4]) / 10 + 0.25 * np.eye(7)[6])
    np.testing.assert_allclose(target.sum(axis=1), 1.0, atol=1e-6)
    onehot, all_rows = training_targets(data, None, 0.25)
    assert all_rows.all() and np.array_equal(onehot.argmax(1), labels)


def test_votes_in_another_row_order_are_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 400
    labels = rng.integers(0, 7, n)
    votes = np.zeros((n, 10), int)
    votes[np.arange(n), [(4, 5, 6, 1, 3, 2, 0)[k] for k in labels]] = 8  # column order of the csv
    votes[:, 8] = 2
    rows = [f"Training,fer{i:07d}.png," + ",".join(map(str, v)) for i, v in enumerate(votes)]
    fp = load_ferplus(_csv(tmp_path, rows))
    usage = np.array(["Training"] * n)
    assert check_alignment(fp, labels, usage) == 1.0
    with pytest.raises(ValueError, match="row order"):
        check_alignment(fp, labels[rng.permutation(n)], usage)
    with pytest.raises(ValueError, match="rows"):
        check_alignment(fp, labels[:-1], usage[:-1])


def test_ece_and_the_fitted_temperature() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (20000, 7))
    truth = softmax_t(logits, 2.0)  # the labels follow softmax(logits / 2): the logits are overconfident
    labels = (truth.cumsum(1) > rng.random((len(truth), 1))).argmax(1)
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    t = fit_temperature(log_p, labels)
    assert 1.85 < t < 2.15
    assert ece(softmax_t(log_p, t), labels) < 0.02 < ece(softmax_t(log_p, 1.0), labels)
    assert ece(np.eye(7)[labels], labels) == 0.0  # sure and always right
    sure_wrong = np.eye(7)[(labels + 1) % 7]
    assert ece(sure_wrong, labels) == pytest.approx(1.0)


def test_a_face_at_the_template_is_re_framed_onto_itself() -> None:
    """``aligned_faces``: landmarks whose anchors sit on the FER template give (nearly) the original image back;
    images without landmarks are left as they are."""
    from moodscore.models.faces.align import ANCHORS, FER_TEMPLATE
    from moodscore.models.train.fer_augment import aligned_faces

    yy, xx = np.mgrid[0:48, 0:48]
    image = (128 + 60 * np.sin(xx / 7.0) * np.cos(yy / 9.0)).astype(np.uint8)
    landmarks = np.full((2, 478, 3), 24.0)
    for name, idx in ANCHORS.items():
        landmarks[:, list(idx), :2] = FER_TEMPLATE[name]
    out = aligned_faces(np.stack([image, image]), landmarks, np.array([True, False]))
    assert out.shape == (2, 48, 48) and out.dtype == np.uint8
    assert np.abs(out[0, 4:-4, 4:-4].astype(int) - image[4:-4, 4:-4]).mean() < 3
    assert np.array_equal(out[1], image)


def test_video_augmentation_keeps_shape_range_and_is_reproducible() -> None:
    from moodscore.models.train.fer_augment import augment

    x = torch.rand(16, 1, 48, 48)
    a = augment(x, 40, torch.Generator().manual_seed(0), video=True)
    b = augment(x, 40, torch.Generator().manual_seed(0), video=True)
    assert a.shape == (16, 1, 40, 40) and torch.equal(a, b)
    assert float(a.min()) >= 0 and float(a.max()) <= 1


def test_publictest_halves_index_the_validation_images(tmp_path: Path) -> None:
    from moodscore.models.train import train_expression

    usage = np.array(["Training"] * 5 + ["PublicTest"] * 7)
    np.savez(
        tmp_path / train_expression.NPZ_NAME,
        images=np.arange(12, dtype=np.uint8)[:, None, None].repeat(48, 1).repeat(48, 2),
        labels=np.zeros(12, np.int64),
        usage=usage,
    )
    d = train_expression.load_fer(str(tmp_path))
    assert d["sel"].tolist() == [0, 2, 4, 6] and d["hold"].tolist() == [1, 3, 5]
    assert d["xva"][d["hold"], 0, 0].tolist() == [6, 8, 10]  # the npz rows 6, 8, 10
