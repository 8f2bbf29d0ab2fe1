"""Bad input through the whole analysis: a typed one-line error, or a timeline that says what was missing.

Runs the real decoder, MediaPipe and the VAD with debug networks; every call is bounded by a timeout so a
hang fails the test instead of stalling the run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import media_fixtures as fx
import numpy as np
import pytest
from timeouts import within

from moodscore.models import Engine, Timeline
from moodscore.models.errors import MoodscoreError, NoUsableStreamError, TooLongError, UnreadableMediaError
from moodscore.models.media.decode import MediaLimits


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(debug=True)


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (fx.zero_byte, UnreadableMediaError),
        (fx.text_as_mp4, UnreadableMediaError),
        (lambda d: fx.truncated_mp4(d, faststart=False), UnreadableMediaError),
        (fx.subtitles_only, NoUsableStreamError),
    ],
    ids=["zero-byte", "text-named-mp4", "truncated-mp4", "no-streams"],
)
def test_unusable_files_give_one_line_typed_errors(
    engine: Engine, tmp_path: Path, make: Callable[[Path], Path], error: type[MoodscoreError]
) -> None:
    path = make(tmp_path)
    with pytest.raises(error) as info:
        within(lambda: engine.analyze(path))
    msg = str(info.value)
    assert msg and "\n" not in msg and "Traceback" not in msg


def test_truncated_faststart_file_still_gives_a_timeline(engine: Engine, tmp_path: Path) -> None:
    path = fx.truncated_mp4(tmp_path, faststart=True)
    try:
        tl = within(lambda: engine.analyze(path))
    except UnreadableMediaError:
        return  # also acceptable: a clear error
    assert isinstance(tl, Timeline) and tl.segments[-1].end_s == pytest.approx(tl.duration_s)


def test_over_the_limit_is_refused_before_any_work(engine: Engine, tmp_path: Path) -> None:
    path = fx.face_clip(tmp_path, seconds=2.0)
    with pytest.raises(TooLongError, match="limit"):
        within(lambda: engine.analyze(path, limits=MediaLimits(max_duration_s=1.0)))


def test_audio_only_has_no_face_evidence(engine: Engine, tmp_path: Path) -> None:
    tl = within(lambda: engine.analyze(fx.audio_only(tmp_path, seconds=3.0)))
    assert "face" not in tl.modalities
    assert tl.meta["source"]["has_video"] is False
    assert all(s.face is None for s in tl.segments)


def test_video_only_has_no_voice_evidence(engine: Engine, tmp_path: Path) -> None:
    tl = within(lambda: engine.analyze(fx.video_only(tmp_path, seconds=3.0)))
    assert "voice" not in tl.modalities and "face" in tl.modalities
    assert tl.meta["source"]["has_audio"] is False


def test_clip_without_a_face(engine: Engine, tmp_path: Path) -> None:
    tl = within(lambda: engine.analyze(fx.no_face_clip(tmp_path, seconds=3.0)))
    assert tl.meta["frames_with_face"] == 0
    assert "face" not in tl.modalities


def test_silent_clip_has_no_voice_votes(engine: Engine, tmp_path: Path) -> None:
    tl = within(lambda: engine.analyze(fx.silent_clip(tmp_path, seconds=3.0)))
    assert tl.meta["source"]["has_audio"] is True
    assert tl.meta["speech_windows"] == 0 and "voice" not in tl.modalities
    assert "face" in tl.modalities


def test_a_picture_named_mp4_is_refused_not_scored(engine: Engine, tmp_path: Path) -> None:
    """A PNG renamed .mp4 opens as one frame of video: too little to make a timeline of."""
    import cv2

    path = tmp_path / "photo.mp4"
    ok, png = cv2.imencode(".png", np.full((120, 160, 3), 128, np.uint8))
    assert ok
    path.write_bytes(png.tobytes())
    with pytest.raises(UnreadableMediaError, match="could be decoded") as info:
        within(lambda: engine.analyze(path))
    assert "\n" not in str(info.value)


def test_a_clip_whose_decoding_stops_early_says_how_much_was_read(engine: Engine, tmp_path: Path) -> None:
    full = fx._encode(tmp_path / "full.mp4", fx.face_frames(6.0), fx.speech(6.0), faststart=True)
    cut = tmp_path / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.45)])
    tl = within(lambda: engine.analyze(cut))
    assert tl.duration_s == pytest.approx(6.0, abs=0.1)
    assert 0.5 <= tl.meta["decoded_s"] < 5.0
    (warning,) = tl.meta["warnings"]
    assert "decoding stopped early" in warning and f"{tl.meta['decoded_s']:.1f} s" in warning
