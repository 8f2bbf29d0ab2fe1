"""The Engine end to end: real decoding, real MediaPipe, debug networks (and the shipped ones, marked e2e)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from moodscore.models import Engine, Timeline
from moodscore.models.engine import ANALYSIS_FPS, default_example_clip

EXAMPLE = default_example_clip()


@pytest.fixture(scope="module")
def debug_engine() -> Engine:
    return Engine(debug=True)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def _covers(tl: Timeline) -> None:
    assert tl.segments[0].start_s == 0
    assert tl.segments[-1].end_s == pytest.approx(tl.duration_s)
    for a, b in zip(tl.segments, tl.segments[1:], strict=False):
        assert a.end_s == pytest.approx(b.start_s)


def test_debug_engine_runs_the_whole_pipeline(debug_engine: Engine) -> None:
    calls: list[tuple[float, str]] = []
    tl = debug_engine.analyze(EXAMPLE, progress=lambda f, m: calls.append((f, m)))
    _covers(tl)
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert tl.meta["frames_sampled"] >= int(tl.duration_s * ANALYSIS_FPS) - 1
    assert set(tl.meta["timings"]) >= {"video_decode_s", "face_track_s", "expression_s", "voice_s", "fusion_s"}
    assert Timeline.from_json(tl.to_json()) == tl


def test_evidence_fused_is_the_timeline(debug_engine: Engine) -> None:
    """analyze = evidence + build_timeline: a benchmark may keep the evidence and fuse it again with other
    options, and must get what analyze would have given."""
    from moodscore.models.fusion.timeline import FusionOptions, build_timeline, window_starts

    opts = FusionOptions(min_segment_s=1.0)
    ev = debug_engine.evidence(EXAMPLE, fusion=opts)
    n = len(window_starts(ev.duration_s, opts))
    assert ev.face.shape == ev.voice.shape == (n, 8)
    assert np.isfinite(ev.face).all(axis=1).any() and np.isfinite(ev.voice).all(axis=1).any()
    tl = debug_engine.analyze(EXAMPLE, fusion=opts)
    again = build_timeline(ev.duration_s, ev.face, ev.voice, opts)
    assert again.segments == tl.segments
    assert tl.meta["cuts"] == ev.meta["cuts"] and tl.meta["speech"] == ev.meta["speech"]


def test_models_load_once_even_from_many_threads() -> None:
    eng = Engine(debug=True)
    seen: list[tuple[int, int]] = []
    barrier = threading.Barrier(4)

    def grab() -> None:
        barrier.wait()
        seen.append((id(eng.expression), id(eng.voice)))

    threads = [threading.Thread(target=grab) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 4 and len(set(seen)) == 1


@pytest.mark.e2e
def test_example_clip_faces_found_and_change_detected(engine: Engine) -> None:
    tl = engine.analyze(EXAMPLE)
    _covers(tl)
    assert tl.meta["frames_with_face"] / tl.meta["frames_sampled"] > 0.8
    assert "face" in tl.modalities and "voice" in tl.modalities
    quadrants = [s.emotion.quadrant for s in tl.segments]
    assert len(tl.segments) >= 2, quadrants
    assert quadrants[0] == "Q1"  # the smiling first half
    assert any(q != "Q1" for q in quadrants[1:])  # ... and the change away from it


def test_bad_fps_is_refused(debug_engine: Engine) -> None:
    from moodscore.models.errors import MoodscoreError

    with pytest.raises(MoodscoreError, match="fps"):
        debug_engine.analyze(EXAMPLE, fps=0)


def test_analyze_accepts_str_pathlike_and_bytes(debug_engine: Engine) -> None:
    a = debug_engine.analyze(str(EXAMPLE), fps=2)
    b = debug_engine.analyze(Path(EXAMPLE), fps=2)
    c = debug_engine.analyze(Path(EXAMPLE).read_bytes(), fps=2)
    assert a.duration_s == b.duration_s == c.duration_s
    assert np.isclose(a.segments[0].emotion.valence, b.segments[0].emotion.valence)
    assert np.isclose(a.segments[0].emotion.valence, c.segments[0].emotion.valence)
