"""moodscore.models.media.decode: probing, frame sampling and audio decoding on the example clip and on bad inputs."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import media_fixtures  # tests/ is on sys.path under pytest (no tests/__init__.py)
import numpy as np
import pytest
from timeouts import within

from moodscore.models import default_example_clip
from moodscore.models.errors import (
    InvalidOptionError,
    MoodscoreError,
    NoUsableStreamError,
    TooLargeError,
    TooLongError,
    TooWideError,
    UnreadableMediaError,
)
from moodscore.models.media import decode as media

EXAMPLE = default_example_clip()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return media_fixtures.build_all(tmp_path_factory.mktemp("media"))


@pytest.fixture(scope="module")
def example_frames() -> list[media.VideoFrame]:
    return list(media.iter_frames(EXAMPLE, fps=5.0))


# The example clip


def test_probe_example() -> None:
    info = media.probe(EXAMPLE)
    assert info.size_bytes == EXAMPLE.stat().st_size < 1.5 * 1024**2
    assert 12.0 <= info.duration_s <= 16.0
    assert info.duration_s == pytest.approx(14.0, abs=0.05)
    assert (info.has_video, info.has_audio) == (True, True)
    assert (info.width, info.height, info.fps) == (640, 480, 25.0)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert info.audio_rate == 22050 and info.audio_channels == 1
    assert info.path == str(EXAMPLE)


def test_probe_accepts_str_and_pathlike() -> None:
    assert media.probe(str(EXAMPLE)) == media.probe(EXAMPLE)


def test_frames_sampled_on_the_grid(example_frames: list[media.VideoFrame]) -> None:
    fps, duration = 5.0, media.probe(EXAMPLE).duration_s
    assert abs(len(example_frames) - duration * fps) <= 1
    times = np.array([f.t_s for f in example_frames])
    assert times[0] == pytest.approx(0.0, abs=1e-6)
    assert np.all(np.diff(times) > 0)
    grid = np.arange(len(times)) / fps
    assert np.all(times >= grid - 1e-3) and np.all(times - grid < 1 / fps)
    for frame in example_frames[:3]:
        assert frame.rgb.shape == (480, 640, 3) and frame.rgb.dtype == np.uint8
        assert frame.rgb.flags.c_contiguous or frame.rgb.flags.f_contiguous


@pytest.mark.parametrize("fps", [1.0, 2.5, 7.0, 25.0, 60.0])
def test_frame_rate_sweep(fps: float) -> None:
    frames = list(media.iter_frames(EXAMPLE, fps=fps))
    times = np.array([f.t_s for f in frames])
    expected = 14.0 * min(fps, 25.0)  # a frame is never repeated when asking for more than the source has
    assert abs(len(frames) - expected) <= 1
    assert np.all(np.diff(times) > 0)
    # every sampling instant is served by the first frame at or after it, at most one source frame late
    for k in range(0, int(14.0 * fps), 7):
        first = times[times >= k / fps - 1e-3][0]
        assert first - k / fps < 1 / 25.0 + 1e-3


@pytest.mark.parametrize("fps", [0.0, -5.0, math.nan, math.inf])
def test_bad_sampling_rate(fps: float) -> None:
    with pytest.raises(InvalidOptionError):
        next(media.iter_frames(EXAMPLE, fps=fps))


def test_decode_audio_example() -> None:
    info = media.probe(EXAMPLE)
    audio = media.decode_audio(EXAMPLE)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == pytest.approx(info.duration_s * 16000, rel=0.01)
    assert 0.05 < np.abs(audio).max() <= 1.0
    half = media.decode_audio(EXAMPLE, sr=8000)
    assert len(half) == pytest.approx(len(audio) / 2, rel=0.01)
    with pytest.raises(InvalidOptionError):
        media.decode_audio(EXAMPLE, sr=0)


def test_example_voice_turns_quiet_with_pauses() -> None:
    """The cheerful part is loud and the sad part quiet, and both have silences between sentences."""
    audio = media.decode_audio(EXAMPLE)
    rms = np.sqrt(np.mean(audio[: len(audio) // 16 * 16].reshape(-1, 1600) ** 2, axis=1))  # 0.1 s windows
    happy, sad = rms[:70], rms[70:]
    assert np.percentile(happy, 90) > 2 * np.percentile(sad, 90)
    assert (happy < 1e-3).sum() >= 5 and (sad < 1e-3).sum() >= 5


def test_example_face_turns_sad(example_frames: list[media.VideoFrame]) -> None:
    """MediaPipe's blendshapes see a smile in the first part and a frown and raised inner brows in the second."""
    vision = pytest.importorskip("mediapipe.tasks.python.vision")
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions

    task = Path(__file__).parents[1] / "models" / "weights" / "face_landmarker.task"
    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(task)),
        running_mode=vision.RunningMode.IMAGE,
        output_face_blendshapes=True,
        num_faces=1,
    )
    scores: dict[str, list[dict[str, float]]] = {"happy": [], "sad": []}
    with vision.FaceLandmarker.create_from_options(options) as landmarker:
        for frame in example_frames[::5]:
            part = "happy" if frame.t_s < 6.8 else "sad" if frame.t_s > 7.6 else None
            if part is None:
                continue
            result = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame.rgb)))
            assert result.face_blendshapes, f"no face at {frame.t_s:.1f} s"
            scores[part].append({c.category_name: c.score for c in result.face_blendshapes[0]})

    def mean(part: str, *names: str) -> float:
        return float(np.mean([[s[n] for n in names] for s in scores[part]]))

    assert mean("happy", "mouthSmileLeft", "mouthSmileRight") > 0.6
    assert mean("sad", "mouthSmileLeft", "mouthSmileRight") < 0.1
    assert mean("sad", "browInnerUp") > mean("happy", "browInnerUp") + 0.3
    assert mean("sad", "mouthFrownLeft", "mouthFrownRight") > mean("happy", "mouthFrownLeft", "mouthFrownRight") + 0.05


# Good fixtures


def test_audio_only(clips: dict[str, Path]) -> None:
    for name, codec in (("audio_only_m4a", "aac"), ("audio_only_wav", "pcm_s16le")):
        info = media.probe(clips[name])
        assert (info.has_video, info.has_audio, info.audio_codec) == (False, True, codec)
        assert info.width is info.height is info.fps is info.video_codec is None
        assert info.duration_s == pytest.approx(2.0, abs=0.05)
        assert len(media.decode_audio(clips[name])) == pytest.approx(32000, rel=0.01)
        with pytest.raises(NoUsableStreamError, match="no video"):
            within(functools.partial(list, media.iter_frames(clips[name])))


def test_video_only(clips: dict[str, Path]) -> None:
    info = media.probe(clips["video_only"])
    assert (info.has_video, info.has_audio) == (True, False)
    assert info.audio_codec is info.audio_rate is info.audio_channels is None
    audio = media.decode_audio(clips["video_only"])
    assert audio.dtype == np.float32 and audio.shape == (0,)
    assert len(list(media.iter_frames(clips["video_only"], fps=5.0))) == 10


def test_no_face_and_silent_clips_decode(clips: dict[str, Path]) -> None:
    for name in ("no_face", "silent", "face"):
        info = media.probe(clips[name])
        assert info.has_video and info.has_audio and (info.width, info.height) == (320, 240)
        assert len(list(media.iter_frames(clips[name], fps=5.0))) == 10
    assert np.abs(media.decode_audio(clips["silent"])).max() < 1e-3
    assert np.abs(media.decode_audio(clips["no_face"])).max() > 0.05


def test_phone_rotation_is_applied(clips: dict[str, Path]) -> None:
    """A portrait clip stored as landscape frames + display matrix comes out upright, as players show it."""
    info = media.probe(clips["rotated"])
    assert (info.width, info.height) == (240, 320)
    frames = list(media.iter_frames(clips["rotated"], fps=5.0))
    assert len(frames) == 5 and frames[0].rgb.shape == (320, 240, 3)
    upright = next(media_fixtures.face_frames(1.0, (240, 320))).astype(np.float64)
    error = np.abs(frames[0].rgb - upright).mean()
    assert error < 10 < np.abs(np.rot90(frames[0].rgb, 2) - upright).mean()


def test_cover_art_is_not_video(clips: dict[str, Path]) -> None:
    info = media.probe(clips["audio_with_cover"])
    assert (info.has_video, info.has_audio, info.width) == (False, True, None)
    with pytest.raises(NoUsableStreamError):
        list(media.iter_frames(clips["audio_with_cover"]))
    assert len(media.decode_audio(clips["audio_with_cover"])) == pytest.approx(16000, rel=0.01)


# Bad inputs


def _one_line(exc: MoodscoreError, *parts: str) -> None:
    text = str(exc)
    assert text and "\n" not in text
    for part in parts:
        assert part in text, (part, text)


@pytest.mark.parametrize("name", ["zero_byte", "text_as_mp4", "truncated"])
@pytest.mark.parametrize("call", ["probe", "iter_frames", "decode_audio"])
def test_unreadable(clips: dict[str, Path], name: str, call: str) -> None:
    path = clips[name]
    fn = {
        "probe": lambda: media.probe(path),
        "iter_frames": lambda: list(media.iter_frames(path)),
        "decode_audio": lambda: media.decode_audio(path),
    }[call]
    with pytest.raises(UnreadableMediaError) as info:
        within(fn)
    _one_line(info.value, path.name)


def test_missing_file_folder_and_pipe(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "pipe.mp4")
    for path, said in ((tmp_path / "nope.mp4", "no such file"), (tmp_path, "is a folder"),
                       (tmp_path / "pipe.mp4", "special file")):  # fmt: skip
        with pytest.raises(UnreadableMediaError) as info:
            within(lambda p=path: media.probe(p))  # a pipe must not be opened: reading it would wait forever
        _one_line(info.value, said)


def test_no_audio_no_video(clips: dict[str, Path]) -> None:
    with pytest.raises(NoUsableStreamError) as info:
        within(lambda: media.probe(clips["subtitles_only"]))
    _one_line(info.value, "neither")
    assert len(media.decode_audio(clips["subtitles_only"])) == 0


def test_truncated_with_index_up_front_stops_cleanly(clips: dict[str, Path]) -> None:
    """A cut file whose index survived either raises UnreadableMediaError or yields what is there."""
    path = clips["truncated_faststart"]
    try:
        frames = within(lambda: list(media.iter_frames(path, fps=25.0)))
        assert 0 < len(frames) < 50  # the full clip has 50 frames
    except UnreadableMediaError as exc:
        _one_line(exc)
    try:
        audio = within(lambda: media.decode_audio(path))
        assert len(audio) < 32000
    except UnreadableMediaError as exc:
        _one_line(exc)


# Limits


def test_limits_are_configurable() -> None:
    with pytest.raises(TooLongError) as long_:
        media.probe(EXAMPLE, limits=media.MediaLimits(max_duration_s=5.0))
    _one_line(long_.value, "14.0 s", "5.0 s")
    with pytest.raises(TooWideError) as wide:
        media.probe(EXAMPLE, limits=media.MediaLimits(max_width=320))
    _one_line(wide.value, "640", "320")
    size = EXAMPLE.stat().st_size
    with pytest.raises(TooLargeError) as large:
        media.probe(EXAMPLE, limits=media.MediaLimits(max_bytes=size - 1))
    _one_line(large.value, str(size), str(size - 1))
    assert media.probe(EXAMPLE, limits=media.MediaLimits(max_duration_s=14.5, max_bytes=size, max_width=640)).has_video
    assert media.MediaLimits() == media.MediaLimits(600.0, 2 * 1024**3, 4096)


def test_size_is_checked_before_opening(clips: dict[str, Path]) -> None:
    """An oversized non-media file is refused for its size, proving probe never opened it."""
    with pytest.raises(TooLargeError):
        media.probe(clips["text_as_mp4"], limits=media.MediaLimits(max_bytes=10))


def test_every_channel_layout_decodes_without_crashing(tmp_path: Path) -> None:
    """Audio in every layout FFmpeg names (mono to 22.2, odd orders, a bare channel count) decodes to mono of the
    right length. Decoded in a child process, so that a crash in a native library fails this test rather than
    the test run (8 channels and more once killed the process with SIGSEGV)."""
    import subprocess
    import sys

    paths = [media_fixtures.layout_clip(tmp_path, layout) for layout in media_fixtures.CHANNEL_LAYOUTS]
    script = (
        "import sys\n"
        "from moodscore.models.media import decode as media\n"
        "for p in sys.argv[1:]:\n"
        "    print(p, flush=True)\n"
        "    x = media.decode_audio(p, sr=16000)\n"
        "    print(len(x), float(abs(x).max()), flush=True)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, *map(str, paths)], capture_output=True, text=True, timeout=120, check=False
    )
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, f"crashed ({proc.returncode}) on {lines[-1] if lines else '?'}: {proc.stderr[-500:]}"
    results = lines[1::2]
    assert len(results) == len(paths)
    for path, line in zip(paths, results, strict=True):
        n, peak = line.split()
        assert int(n) == pytest.approx(8000, abs=40), path.name  # 0.5 s at 16 kHz
        assert 0.05 < float(peak) < 1.5, path.name  # the tone, not silence and not garbage


def test_surround_upload_is_analysed_through_the_cli(tmp_path: Path) -> None:
    """The 7.1 AAC clip that used to crash `analyze` (exit 139) is analysed like any other."""
    import subprocess
    import sys

    clip = media_fixtures.surround_clip(tmp_path, "7.1")
    proc = subprocess.run(
        [sys.executable, "-m", "moodscore.models.cli", "analyze", str(clip), "--json", str(tmp_path / "t.json")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-800:]
    assert (tmp_path / "t.json").stat().st_size > 100


def test_frame_size_is_limited_on_both_sides_and_in_pixels_before_decoding(tmp_path: Path) -> None:
    """A frame's longer side (a tall clip, or a wide one turned by a rotation flag), its pixels and the pixels of
    the whole clip are checked from the headers, before a frame is decoded."""
    with pytest.raises(TooWideError) as tall_error:
        media.probe(media_fixtures.tall_clip(tmp_path / "tall.mp4"))
    _one_line(tall_error.value, "128x4608", "4096")
    with pytest.raises(TooWideError) as pixels:
        media.probe(EXAMPLE, limits=media.MediaLimits(max_pixels=640 * 480 - 1))
    _one_line(pixels.value, "640x480", str(640 * 480 - 1))
    with pytest.raises(TooWideError) as total:
        media.probe(EXAMPLE, limits=media.MediaLimits(max_decoded_pixels=1e8))  # 640 x 480 x 25 fps x 14 s = 108e6
    _one_line(total.value, "108 million pixels", "100 million")
    assert media.probe(EXAMPLE, limits=media.MediaLimits(max_pixels=640 * 480, max_decoded_pixels=1.1e8)).has_video
