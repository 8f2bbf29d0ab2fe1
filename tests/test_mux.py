"""Muxing: the video packets come out byte for byte with their timestamps, new AAC audio of the clip's length,
atomic writes, typed errors."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media_fixtures import video_duration

from moodscore.models import default_example_clip
from moodscore.models.errors import (
    InputError,
    InvalidOptionError,
    NoUsableStreamError,
    OutputError,
    UnreadableMediaError,
)
from moodscore.models.media import mux
from moodscore.models.media.decode import decode_audio
from moodscore.models.media.mux import mux_audio_into_video

EXAMPLE = default_example_clip()
SR = 44100


def make_clip(path: Path, *, seconds: float = 2.0, fps: int = 25, audio: bool = False) -> Path:
    """A tiny H.264 clip (64x48, moving gradient), with a mono 22.05 kHz AAC track if ``audio``."""
    with av.open(str(path), mode="w") as out:
        video = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "threads": "1"})
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sound = out.add_stream("aac", rate=22050) if audio else None
        for i in range(round(seconds * fps)):
            rgb = np.zeros((48, 64, 3), np.uint8)
            rgb[..., 0] = (np.arange(64) * 4 + i * 8) % 256
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            samples = (0.2 * np.sin(np.arange(round(seconds * 22050)) * 0.05)).astype(np.float32)
            for j in range(0, len(samples), 1024):
                af = av.AudioFrame.from_ndarray(samples[None, j : j + 1024], format="fltp", layout="mono")
                af.sample_rate, af.pts = 22050, j
                out.mux(sound.encode(af))
            out.mux(sound.encode(None))
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if EXAMPLE.is_file():
        return EXAMPLE
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=3.0, audio=True)


def video_packets(path: Path) -> list[tuple[bytes, Fraction | None, Fraction | None, bool]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [
            (bytes(p), p.pts * p.time_base if p.pts is not None else None, p.dts * p.time_base, p.is_keyframe)
            for p in container.demux(stream)
            if p.size
        ]


def sine(seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return np.stack([0.3 * np.sin(2 * np.pi * freq * t), 0.3 * np.sin(2 * np.pi * freq * 1.5 * t)], axis=1)


def audio_stream_facts(path: Path) -> tuple[str, int, int, float]:
    with av.open(str(path)) as container:
        (stream,) = container.streams.audio
        cc = stream.codec_context
        return cc.name, cc.sample_rate, cc.channels, float(stream.duration * stream.time_base)


def test_video_packets_are_copied_untouched(clip: Path, tmp_path: Path) -> None:
    out = mux_audio_into_video(clip, sine(video_duration(clip)), SR, tmp_path / "scored.mp4")
    assert out == tmp_path / "scored.mp4"
    before, after = video_packets(clip), video_packets(out)
    assert len(after) == len(before) > 0
    assert after == before  # bytes, pts, dts and key flags


@pytest.mark.parametrize("extra_s", [2.5, -1.0])  # music longer (cut) and shorter (padded) than the clip
def test_audio_is_aac_stereo_of_the_clip_length(clip: Path, tmp_path: Path, extra_s: float) -> None:
    duration = video_duration(clip)
    out = mux_audio_into_video(clip, sine(duration + extra_s), SR, tmp_path / "scored.mp4")
    name, rate, channels, seconds = audio_stream_facts(out)
    assert (name, rate, channels) == ("aac", SR, 2)
    assert abs(seconds - duration) < 0.1
    decoded = decode_audio(out, sr=SR)
    assert abs(len(decoded) / SR - duration) < 0.1
    music_end = min(duration, duration + extra_s)
    assert np.sqrt(np.mean(decoded[round(0.5 * SR) : round((music_end - 0.5) * SR)] ** 2)) > 0.05
    if extra_s < 0:  # past the music: silence
        assert np.abs(decoded[round((music_end + 0.2) * SR) : round((duration - 0.1) * SR)]).max() < 0.01


def test_clip_without_audio_and_other_rates(tmp_path: Path) -> None:
    silent = make_clip(tmp_path / "silent.mp4", seconds=2.0)
    with av.open(str(silent)) as c:
        assert not c.streams.audio
    mono_22k = np.sin(np.arange(2 * 22050) * 0.1).astype(np.float32) * 0.3
    out = mux_audio_into_video(silent, mono_22k, 22050, tmp_path / "with_audio.mov")
    name, rate, channels, seconds = audio_stream_facts(out)
    assert (name, rate, channels) == ("aac", 48000, 2) and abs(seconds - 2.0) < 0.1
    assert video_packets(out) == video_packets(silent)


def test_failure_midway_leaves_nothing_and_keeps_the_old_file(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "scored.mp4"
    target.write_bytes(b"previous result")

    def boom(self: object, end_s: float) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(mux._AudioWriter, "finish", boom)  # after every video packet was written
    with pytest.raises(RuntimeError, match="disk full"):
        mux_audio_into_video(clip, sine(1.0), SR, target)
    assert [p.name for p in tmp_path.iterdir()] == ["scored.mp4"]
    assert target.read_bytes() == b"previous result"


def test_bad_audio_and_bad_places_raise_typed_errors(clip: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError):
        mux_audio_into_video(clip, np.full((SR, 2), np.nan), SR, tmp_path / "a.mp4")
    with pytest.raises(InputError):
        mux_audio_into_video(clip, np.zeros((SR, 5)), SR, tmp_path / "b.mp4")
    with pytest.raises(OutputError):
        mux_audio_into_video(clip, sine(1.0), SR, tmp_path / "no" / "dir" / "c.mp4")
    with pytest.raises(InvalidOptionError):
        mux_audio_into_video(clip, sine(1.0), SR, tmp_path / "d.avi")
    with pytest.raises(InvalidOptionError):
        mux_audio_into_video(clip, sine(1.0), 1000, tmp_path / "e.mp4")
    assert list(tmp_path.iterdir()) == []


def test_bad_inputs(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(UnreadableMediaError) as info:
        mux_audio_into_video(junk, sine(1.0), SR, tmp_path / "out.mp4")
    assert "\n" not in str(info.value)
    with pytest.raises(UnreadableMediaError):
        mux_audio_into_video(tmp_path / "absent.mp4", sine(1.0), SR, tmp_path / "out.mp4")
    wav = tmp_path / "sound.wav"
    with av.open(str(wav), mode="w") as out:
        stream = out.add_stream("pcm_s16le", rate=SR)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4410), np.int16), format="s16", layout="mono")
        frame.sample_rate = SR
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(NoUsableStreamError):
        mux_audio_into_video(wav, sine(1.0), SR, tmp_path / "out.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.mp4", "sound.wav"]


def test_output_is_an_ordinary_readable_file(clip: Path, tmp_path: Path) -> None:
    out = mux_audio_into_video(clip, sine(1.0), SR, tmp_path / "scored.mp4")
    assert out.stat().st_mode & 0o777 == 0o644
