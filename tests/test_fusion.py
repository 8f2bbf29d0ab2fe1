"""Late fusion and smoothing."""

from __future__ import annotations

import numpy as np
import pytest

from models import affect
from models.fusion import FusionOptions, build_timeline, fuse, pool_frames, viterbi_min_duration, window_starts

HAPPY, SAD, ANGRY = (np.eye(8)[affect.CLASS_INDEX[c]] for c in ("happy", "sad", "angry"))
NAN = np.full(8, np.nan)


def _soft(onehot: np.ndarray, p: float = 0.8) -> np.ndarray:
    return onehot * p + (1 - p) / 8


def test_fusion_weights_are_renormalised_over_present_modalities() -> None:
    opts = FusionOptions()
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
