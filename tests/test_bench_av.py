"""The faces-and-voices benchmark's own arithmetic (benchmarks/bench_av.py): how a timeline is scored against the
truth, which windows count, and the room the voice is heard in. Its clips and numbers need the shared data; these
checks do not."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import bench_av
from moodscore.models import affect
from moodscore.models.fusion.timeline import FusionOptions, window_starts
from moodscore.models.types import Emotion, Segment, Timeline

TRUTH = bench_av.Truth(actor=5, segments=((0.0, 4.0, "happy"), (4.0, 7.0, "sad"), (7.0, 12.0, "angry")))


def _timeline(cuts: list[float], names: list[str], duration: float = 12.0) -> Timeline:
    bounds = [0.0, *cuts, duration]
    segs = []
    for (a, b), name in zip(itertools.pairwise(bounds), names, strict=True):
        p = np.full(8, 0.02)
        p[affect.CLASS_INDEX[name]] = 1.0
        segs.append(Segment(a, b, Emotion.from_probs(p / p.sum())))
    return Timeline(duration_s=duration, segments=tuple(segs))


def test_a_perfect_timeline_scores_full_marks() -> None:
    s = bench_av.summarise([bench_av.score_timeline(_timeline([4.0, 7.0], ["happy", "sad", "angry"]), TRUTH)])
    assert s["quadrant_acc"] == pytest.approx(1.0) and s["class_acc"] == pytest.approx(1.0)
    assert s["boundary_found"] == 1.0 and s["boundary_within_0_5s"] == 1.0 and s["spurious"] == 0
    assert s["boundary_error_median_s"] == 0.0


def test_shifted_missed_and_spurious_boundaries_are_counted() -> None:
    # the first change 0.75 s late, the second missed (sad read as angry from 4.75 s), an extra change at 9.5 s
    tl = _timeline([4.75, 9.5], ["happy", "angry", "fearful"])
    row = bench_av.score_timeline(tl, TRUTH)
    assert row["boundary_errors"] == [pytest.approx(0.75)]  # 4.0 -> 4.75; 7.0 has no timeline change within 1.5 s
    assert row["missed"] == 1 and row["spurious"] == 1  # 9.5 is 2.5 s from the nearest true change
    # quadrant right: 0-4 (Q1) and 7-12 (Q2); wrong 4-4.75 (Q1 for Q3) and 4.75-7 (Q2 for Q3)
    assert row["quadrant_right_s"] == pytest.approx(9.0, abs=0.03)
    # class right: 0-4 happy, 7-9.5 angry
    assert row["class_right_s"] == pytest.approx(6.5, abs=0.03)


def test_windows_across_a_boundary_are_left_out() -> None:
    opts = FusionOptions()
    starts = window_starts(TRUTH.duration_s, opts)
    cls, inside = bench_av.window_truth(TRUTH, starts, opts)
    assert not inside[starts == 3.5].any()  # 3.5-4.5 straddles the change at 4 s
    assert inside[starts == 3.0].all() and inside[starts == 4.0].all()
    assert cls[starts == 4.0][0] == affect.CLASS_INDEX["sad"]


def test_the_room_keeps_length_and_level_and_adds_a_tail() -> None:
    rng = np.random.default_rng(0)
    speech = np.zeros(16000, dtype=np.float32)
    speech[4000:4400] = np.sin(np.arange(400) / 3.0)  # a short burst, then silence
    out = bench_av.in_a_room(speech, rng)
    assert out.shape == speech.shape and np.isfinite(out).all()
    assert np.abs(out).max() == pytest.approx(0.5, rel=1e-4)
    burst = np.sqrt(np.mean(out[4000:4400] ** 2))
    tail = np.sqrt(np.mean(out[4500:6000] ** 2))  # reverberation after the burst ends
    far = np.sqrt(np.mean(out[12000:] ** 2))  # only the noise floor remains
    assert burst > tail > far > 0
