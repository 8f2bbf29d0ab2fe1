"""Late fusion and smoothing."""

from __future__ import annotations

import numpy as np
import pytest

from moodscore.models import affect
from moodscore.models.fusion.timeline import (
    FusionOptions,
    build_timeline,
    fuse,
    pool_frames,
    viterbi_min_duration,
    window_starts,
)

HAPPY, SAD, ANGRY = (np.eye(8)[affect.CLASS_INDEX[c]] for c in ("happy", "sad", "angry"))
NAN = np.full(8, np.nan)


def _soft(onehot: np.ndarray, p: float = 0.8) -> np.ndarray:
    return onehot * p + (1 - p) / 8


def test_fusion_weights_are_renormalised_over_present_modalities() -> None:
    opts = FusionOptions(pooling="linear", confidence_power=0.0, sharpness=1.0)
    face = np.stack([HAPPY, HAPPY, NAN, NAN])
    voice = np.stack([SAD, NAN, SAD, NAN])
    out = fuse(face, voice, opts)
    np.testing.assert_allclose(out[0], 0.75 * HAPPY + 0.25 * SAD)
    np.testing.assert_allclose(out[1], HAPPY)  # face alone counts fully
    np.testing.assert_allclose(out[2], SAD)  # voice alone counts fully
    assert np.isnan(out[3]).all()


def test_pool_frames_needs_enough_faces_in_a_window() -> None:
    opts = FusionOptions(win_s=1.0, hop_s=0.5)
    times = np.arange(0, 2, 0.2)
    probs = np.stack([HAPPY if t < 1.0 else NAN for t in times])
    pooled = pool_frames(times, probs, window_starts(2.0, opts), opts)
    np.testing.assert_allclose(pooled[0], HAPPY)
    assert np.isnan(pooled[2]).all()  # 1.0-2.0 has no face


def test_viterbi_respects_minimum_duration_and_switch_cost() -> None:
    # 12 steps of state 0 with a 1-step blip of state 1: the blip is too short to become a segment
    log_emit = np.log(np.full((12, 2), 0.1))
    log_emit[:, 0] = np.log(0.9)
    log_emit[6] = np.log([0.01, 0.99])
    path = viterbi_min_duration(log_emit, min_len=4, switch_cost=1.0)
    assert (path == 0).all()
    # a long run of state 1 does become a segment, at the right place
    log_emit[6:] = np.log([0.1, 0.9])
    path = viterbi_min_duration(log_emit, min_len=4, switch_cost=1.0)
    assert list(path) == [0] * 6 + [1] * 6


def test_every_run_is_at_least_min_len_for_random_evidence() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        log_emit = np.log(rng.dirichlet(np.ones(4) * 0.3, size=40) + 1e-6)
        path = viterbi_min_duration(log_emit, min_len=4, switch_cost=0.0)
        runs = np.diff(np.flatnonzero(np.diff(np.r_[-1, path, -1]) != 0))
        assert runs.min() >= 4


@pytest.mark.parametrize("duration", [0.3, 1.0, 7.7, 20.0])
def test_timeline_covers_clip_and_detects_a_change(duration: float) -> None:
    opts = FusionOptions()
    starts = window_starts(duration, opts)
    face = np.stack([_soft(HAPPY) if s < duration / 2 else _soft(ANGRY) for s in starts])
    voice = np.full_like(face, np.nan)
    tl = build_timeline(duration, face, voice, opts)
    assert tl.segments[0].start_s == 0 and tl.segments[-1].end_s == pytest.approx(duration)
    for seg in tl.segments:
        assert seg.voice is None and seg.face is not None
    if duration >= 2 * opts.min_segment_s:
        assert [s.emotion.quadrant for s in tl.segments] == ["Q1", "Q2"]
        assert tl.segments[0].end_s == pytest.approx(duration / 2, abs=opts.hop_s + 1e-9)
        assert min(s.duration_s for s in tl.segments) >= opts.min_segment_s - opts.hop_s
    else:
        assert len(tl.segments) == 1


def test_timeline_without_any_evidence_says_so() -> None:
    opts = FusionOptions()
    n = len(window_starts(6.0, opts))
    tl = build_timeline(6.0, np.full((n, 8), np.nan), np.full((n, 8), np.nan), opts)
    assert len(tl.segments) == 1 and tl.modalities == ()
    assert tl.segments[0].emotion.confidence == 0.0


def test_flicker_is_smoothed_away() -> None:
    opts = FusionOptions()
    starts = window_starts(10.0, opts)
    face = np.stack([_soft(HAPPY, 0.55) if i % 2 else _soft(SAD, 0.55) for i in range(len(starts))])
    tl = build_timeline(10.0, face, np.full_like(face, np.nan), opts)
    assert len(tl.segments) == 1


@pytest.mark.parametrize(
    "kwargs",
    [{"min_segment_s": float("nan")}, {"hop_s": float("inf")}, {"switch_cost": float("nan")},
     {"min_face_fraction": 1.5}, {"face_weight": float("nan")}],
)  # fmt: skip
def test_fusion_options_refuse_nan_and_out_of_range(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        FusionOptions(**kwargs)


def _voice_share(face: np.ndarray, voice: np.ndarray, opts: FusionOptions) -> float:
    """The voice's weight in a linear mix, read back from the fused probabilities."""
    out = fuse(face[None], voice[None], opts)[0]
    k = int(np.argmax(np.abs(voice - face)))
    return float((out[k] - face[k]) / (voice[k] - face[k]))


def test_confidence_moves_weight_to_the_surer_modality() -> None:
    sure_sad = _soft(SAD, 0.9)
    unsure = np.full(8, 1 / 8) + 0.05 * HAPPY
    unsure /= unsure.sum()
    fixed = FusionOptions(pooling="linear", confidence_power=0.0, sharpness=1.0)
    following = FusionOptions(pooling="linear", confidence_power=2.0, sharpness=1.0)
    assert _voice_share(unsure, sure_sad, fixed) == pytest.approx(0.25)
    assert _voice_share(unsure, sure_sad, following) > 0.6  # an unsure face gives way to a sure voice
    assert _voice_share(sure_sad, unsure, following) < 0.1  # and a sure face keeps the lead over an unsure voice
    # equally sure modalities keep the prior
    assert _voice_share(_soft(HAPPY, 0.9), sure_sad, following) == pytest.approx(0.25, abs=0.03)


def test_log_pooling_lets_a_neutral_face_agree_with_a_calm_voice() -> None:
    calm, neutral = (np.eye(8)[affect.CLASS_INDEX[c]] for c in ("calm", "neutral"))
    face, voice = _soft(neutral, 0.9)[None], _soft(calm, 0.9)[None]
    linear = fuse(face, voice, FusionOptions(pooling="linear", confidence_power=0.0, sharpness=1.0))[0]
    log = fuse(face, voice, FusionOptions(pooling="log", confidence_power=0.0))[0]
    assert linear[affect.CLASS_INDEX["calm"]] < 0.3
    assert log[affect.CLASS_INDEX["calm"]] > 0.45 and log.sum() == pytest.approx(1.0)
    # a face that says happy still outvotes a calm voice at 75 / 25
    happy = fuse(_soft(HAPPY, 0.9)[None], voice, FusionOptions(pooling="log", confidence_power=0.0))[0]
    assert np.argmax(happy) == affect.CLASS_INDEX["happy"]


@pytest.mark.parametrize("kwargs", [{"pooling": "mean"}, {"confidence_power": -1.0}])
def test_fusion_options_refuse_unknown_pooling_and_negative_power(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FusionOptions(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("start", "length"), [(0.0, 4.4), (5.0, 2.5), (5.0, 3.0), (4.0, 4.0)])
def test_a_clear_short_segment_is_kept(start: float, length: float) -> None:
    """A clear 2-4 s segment (a sad face and voice) inside calm footage survives the smoothing, near its place."""
    opts = FusionOptions()
    duration = 14.0
    starts = window_starts(duration, opts)
    neutral = np.eye(8)[affect.CLASS_INDEX["neutral"]]
    centre = starts + opts.win_s / 2
    inside = (centre > start) & (centre < start + length)
    face = np.stack([_soft(SAD, 0.6) if x else _soft(neutral, 0.6) for x in inside])
    voice = np.stack([_soft(SAD, 0.5) if x else _soft(neutral, 0.5) for x in inside])
    tl = build_timeline(duration, face, voice, opts)
    sad = [s for s in tl.segments if s.emotion.quadrant == "Q3"]
    assert len(sad) == 1
    assert sad[0].start_s == pytest.approx(start, abs=0.5) and sad[0].end_s == pytest.approx(start + length, abs=0.5)


def test_smoothing_averages_present_neighbours_only() -> None:
    from moodscore.models.fusion.timeline import smooth_windows

    rows = np.stack([HAPPY, SAD, NAN, SAD, HAPPY])
    out = smooth_windows(rows, 1)
    np.testing.assert_allclose(out[0], (HAPPY + SAD) / 2)  # the edge averages what it has
    np.testing.assert_allclose(out[1], (HAPPY + SAD) / 2)  # the gap is not counted
    assert np.isnan(out[2]).all()  # a window with no evidence gets none
    np.testing.assert_allclose(out[3], (SAD + HAPPY) / 2)
    np.testing.assert_allclose(smooth_windows(rows[:1], 3), rows[:1])  # shorter than the kernel
    assert smooth_windows(rows, 0) is rows


def test_sharpness_sharpens_without_changing_the_decision() -> None:
    face, voice = _soft(HAPPY, 0.6)[None], _soft(SAD, 0.5)[None]
    flat = fuse(face, voice, FusionOptions(sharpness=1.0))[0]
    sharp = fuse(face, voice, FusionOptions(sharpness=2.0))[0]
    assert np.argmax(flat) == np.argmax(sharp) and sharp.max() > flat.max()
    np.testing.assert_allclose(sharp, flat**2 / np.sum(flat**2))
    with pytest.raises(ValueError):
        FusionOptions(sharpness=0.0)
