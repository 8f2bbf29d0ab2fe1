"""Builders of small media files, good and bad, for tests. Each takes a folder (pytest's ``tmp_path``).

    from media_fixtures import build_all   # tests/ is on sys.path under pytest
    clips = build_all(tmp_path)             # {"zero_byte": Path, "truncated": Path, ...}

Everything is made with PyAV in well under a second per file (speech with espeak-ng when it is installed,
else a synthetic voiced sound), so tests never need network or big files. Over-limit inputs are tested by
passing small ``MediaLimits`` to ``probe`` rather than by building giant files.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import shutil
import struct
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import numpy as np

SR = 22050
FPS = 25
SIZE = (320, 240)


def make_example() -> ModuleType:
    """tests/data/make_example.py as a module (it is a script, not a package member)."""
    name = "make_example"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "data" / "make_example.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@functools.cache
def _espeak_line() -> np.ndarray:
    line = make_example().speak(
        "Hello there, this is a short test of the voice.", voice="en-us", speed=170, pitch=50, amplitude=120
    )
    line.flags.writeable = False
    return line


def speech(seconds: float) -> np.ndarray:
    """About ``seconds`` of speech-like audio at SR: espeak-ng if present, else a gliding voiced buzz."""
    n = round(seconds * SR)
    out = np.zeros(n, dtype=np.float32)
    if shutil.which("espeak-ng"):
        line = _espeak_line()
        out[: min(n, len(line))] = line[:n]
        return out
    t = np.arange(n) / SR
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    buzz = sum(np.sin(k * phase) / k for k in range(1, 8))
    envelope = (
        0.5 * (1 - np.cos(2 * np.pi * np.clip(t, 0, seconds) / max(seconds, 1e-3))) * (np.sin(2 * np.pi * 3 * t) > -0.3)
    )
    return (0.2 * buzz * envelope).astype(np.float32)


def face_frames(seconds: float, size: tuple[int, int] = SIZE) -> Iterator[np.ndarray]:
    """The smiling astronaut, gently zooming, as uint8 RGB frames."""
    from skimage import data

    me = make_example()
    img = data.astronaut().astype(np.float32) / 255.0
    for i in range(round(seconds * FPS)):
        zoom = 1.0 + 0.05 * math.sin(2 * math.pi * 0.3 * i / FPS)
        yield me.view(img, 225.0, 135.0, 270.0 / zoom, size)


def noise_frames(seconds: float, size: tuple[int, int] = SIZE) -> Iterator[np.ndarray]:
    """A moving colour gradient with fixed-seed noise: no face anywhere."""
    w, h = size
    rng = np.random.default_rng(0)
    grain = rng.integers(0, 40, size=(h, w, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(round(seconds * FPS)):
        shift = 4 * i
        base = np.stack([(xx + shift) % 256, (yy + shift) % 256, (xx + yy) % 256], axis=-1).astype(np.uint8)
        yield (base // 2 + grain).astype(np.uint8)


def _encode(path: Path, frames: Iterator[np.ndarray] | None, audio: np.ndarray | None, **kw: object) -> Path:
    make_example().encode(path, frames, audio, sr=SR, fps=FPS, preset="veryfast", **kw)
    return path


def zero_byte(folder: Path) -> Path:
    path = folder / "empty.mp4"
    path.write_bytes(b"")
    return path


def text_as_mp4(folder: Path) -> Path:
    path = folder / "notes.mp4"
    path.write_text("This is a text file, not a video.\n" * 20)
    return path


def subtitles_only(folder: Path) -> Path:
    """A file FFmpeg opens (SubRip) that holds neither video nor audio."""
    path = folder / "subtitles.srt"
    path.write_text("1\n00:00:00,000 --> 00:00:02,000\nHello\n\n2\n00:00:02,500 --> 00:00:04,000\nWorld\n")
    return path


def truncated_mp4(folder: Path, *, faststart: bool = False, keep: float = 0.5) -> Path:
    """A face clip cut to ``keep`` of its bytes. Without faststart the index (moov) is lost with the tail."""
    full = _encode(folder / f"full_{int(faststart)}.mp4", face_frames(2.0), speech(2.0), faststart=faststart)
    data = full.read_bytes()
    path = folder / f"truncated{'_faststart' if faststart else ''}.mp4"
    path.write_bytes(data[: int(len(data) * keep)])
    full.unlink()
    return path


def audio_only(folder: Path, ext: str = "m4a", seconds: float = 2.0) -> Path:
    codec = "pcm_s16le" if ext == "wav" else "aac"
    return _encode(folder / f"speech.{ext}", None, speech(seconds), audio_codec=codec)


def video_only(folder: Path, seconds: float = 2.0) -> Path:
    return _encode(folder / "video_only.mp4", face_frames(seconds), None)


def no_face_clip(folder: Path, seconds: float = 2.0) -> Path:
    return _encode(folder / "no_face.mp4", noise_frames(seconds), speech(seconds))


def silent_clip(folder: Path, seconds: float = 2.0) -> Path:
    """A face clip whose audio track holds only silence (see video_only for no audio stream at all)."""
    return _encode(folder / "silent.mp4", face_frames(seconds), np.zeros(round(seconds * SR), dtype=np.float32))


def face_clip(folder: Path, seconds: float = 2.0) -> Path:
    return _encode(folder / "face.mp4", face_frames(seconds), speech(seconds))


def rotated_clip(folder: Path, seconds: float = 1.0) -> Path:
    """A portrait clip stored the way phones do: landscape frames plus a 90-degree display matrix.

    The coded frames are the upright portrait face (``face_frames(size=(240, 320))``) turned a quarter
    counter-clockwise; the track header's matrix says "turn clockwise to show", so readers that honour it
    see the upright face.
    """
    upright = face_frames(seconds, (240, 320))
    path = _encode(folder / "rotated.mp4", (np.rot90(f, 1) for f in upright), speech(seconds))
    identity = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    turn = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    data = path.read_bytes()
    first_tkhd = data.index(identity, data.index(b"tkhd"))  # the video track comes first
    path.write_bytes(data[:first_tkhd] + turn + data[first_tkhd + len(identity) :])
    return path


def audio_with_cover(folder: Path, seconds: float = 1.0) -> Path:
    """An MP3 with cover art, which FFmpeg lists as a (one-picture) video stream."""
    import av

    path = folder / "song.mp3"
    audio = speech(seconds)
    with av.open(str(path), mode="w") as out:
        sound = out.add_stream("libmp3lame", rate=SR)
        sound.layout = "mono"
        cover = out.add_stream("mjpeg")
        cover.width, cover.height, cover.pix_fmt = 64, 64, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        picture = av.VideoFrame.from_ndarray(next(face_frames(0.04, (64, 64))), format="rgb24")
        picture = picture.reformat(format="yuvj420p")
        picture.pts = 0
        out.mux(cover.encode(picture))
        out.mux(cover.encode(None))
        for i in range(0, len(audio), 1152):
            frame = av.AudioFrame.from_ndarray(audio[None, i : i + 1152].copy(), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = SR, i
            out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
    return path


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "zero_byte": zero_byte,
    "text_as_mp4": text_as_mp4,
    "subtitles_only": subtitles_only,
    "truncated": truncated_mp4,
    "truncated_faststart": lambda folder: truncated_mp4(folder, faststart=True, keep=0.6),
    "audio_only_m4a": audio_only,
    "audio_only_wav": lambda folder: audio_only(folder, "wav"),
    "video_only": video_only,
    "no_face": no_face_clip,
    "silent": silent_clip,
    "face": face_clip,
    "rotated": rotated_clip,
    "audio_with_cover": audio_with_cover,
}


def build_all(folder: Path) -> dict[str, Path]:
    """Build every fixture into ``folder``; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    return {name: build(folder) for name, build in BUILDERS.items()}


# Every channel layout FFmpeg names (7.1(top) aside, which this FFmpeg does not know). Custom orders ("FR+FL")
# abort PyAV's muxing, so none is made here. PyAV cannot take frames of 8 or more channels from Python, so the
# samples go in packed (one plane) and are stored as 16-bit PCM in Matroska.
CHANNEL_LAYOUTS = (
    "mono", "stereo", "2.1", "3.0", "3.0(back)", "4.0", "quad", "quad(side)", "3.1", "3.1.2", "5.0", "5.0(side)",
    "4.1", "5.1", "5.1(side)", "6.0", "6.0(front)", "hexagonal", "6.1", "6.1(back)", "6.1(front)", "7.0",
    "7.0(front)", "7.1", "7.1(wide)", "7.1(wide-side)", "5.1.2", "5.1.4", "7.1.2", "7.1.4", "7.2.3", "9.1.4", "9.1.6",
    "octagonal", "cube", "hexadecagonal", "binaural", "downmix", "22.2",
)  # fmt: skip


def layout_clip(folder: Path, layout: str, *, seconds: float = 0.5, rate: int = 48000) -> Path:
    """``seconds`` of audio in ``layout`` (a 440 Hz tone in every channel), 16-bit PCM in Matroska, no video."""
    import av

    path = folder / f"layout_{layout.replace('(', '_').replace(')', '').replace('+', '_')}.mkv"
    channels = len(av.AudioLayout(layout).channels)
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("pcm_s16le", rate=rate, layout=layout)
        n = round(seconds * rate)
        tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(n) / rate)).astype(np.int16)
        for start in range(0, n, 1024):
            block = tone[start : start + 1024]
            frame = av.AudioFrame.from_ndarray(np.repeat(block, channels)[None, :], format="s16", layout=layout)
            frame.sample_rate, frame.pts = rate, start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def surround_clip(folder: Path, layout: str = "7.1", seconds: float = 2.0) -> Path:
    """A small clip of video with AAC audio in ``layout`` at 48 kHz (the kind of upload that crashed PyAV)."""
    import av

    path = folder / f"surround_{layout.replace('.', '_')}.mp4"
    rate = 48000
    channels = len(av.AudioLayout(layout).channels)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        audio = out.add_stream("aac", rate=rate, layout=layout)
        for frame in noise_frames(seconds, (160, 120)):
            out.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        rng = np.random.default_rng(0)
        for start in range(0, round(seconds * rate), 1024):
            block = (rng.standard_normal((1, 1024 * channels)) * 3000).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout=layout)
            frame.sample_rate, frame.pts = rate, start
            out.mux(audio.encode(frame))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))
    return path


# Clips in the codecs and containers browsers, cameras and old tools write, each 1 s of a face at 160x120 with
# speech-like audio where the container takes audio: (file name, container format, video codec, pixel format,
# audio codec or None).
CODEC_CLIPS = {
    "webm_vp8_opus": ("clip.webm", "webm", "libvpx", "yuv420p", "libopus"),
    "mkv_vp9_opus": ("clip.mkv", "matroska", "libvpx-vp9", "yuv420p", "libopus"),
    "mov_prores": ("clip.mov", "mov", "prores_ks", "yuv422p10le", "aac"),
    "avi_msmpeg4": ("clip.avi", "avi", "msmpeg4", "yuv420p", "mp3"),
    "gif": ("clip.gif", "gif", "gif", "rgb8", None),
}


def codec_clip(folder: Path, kind: str, seconds: float = 1.0) -> Path:
    """One of :data:`CODEC_CLIPS`, made with PyAV."""
    import av

    name, fmt, vcodec, pix_fmt, acodec = CODEC_CLIPS[kind]
    path = folder / f"{kind}_{name}"
    w, h = 160, 120
    with av.open(str(path), "w", format=fmt) as out:
        video = out.add_stream(vcodec, rate=10 if fmt == "gif" else FPS)
        video.width, video.height, video.pix_fmt = w, h, pix_fmt
        audio = None
        if acodec is not None:
            rate = 48000 if acodec == "libopus" else 44100 if acodec == "mp3" else SR
            audio = out.add_stream(acodec if acodec != "mp3" else "libmp3lame", rate=rate)
            audio.layout = "mono"
        frames = list(face_frames(seconds, (w, h)))
        for frame in frames[:: 2 if fmt == "gif" else 1]:
            out.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(video.encode(None))
        if audio is not None:
            tone = speech(seconds)
            resampled = np.interp(np.arange(round(seconds * audio.rate)) * SR / audio.rate, np.arange(len(tone)), tone)
            block = 960 if acodec == "libopus" else 1152
            for start in range(0, len(resampled), block):
                chunk = resampled[start : start + block].astype(np.float32)[None, :]
                fr = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                fr.sample_rate, fr.pts = audio.rate, start
                out.mux(audio.encode(fr))
            out.mux(audio.encode(None))
    return path


def tall_clip(path: Path) -> Path:
    """Two frames 128 px wide and 4608 px tall (longer than the 4096 px limit on one side), H.264."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 128, 4608, "yuv420p"
        for _ in range(2):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((4608, 128, 3), np.uint8), format="rgb24")))
        out.mux(stream.encode(None))
    return path


# Standard MIDI files by hand, for MIDI that no library would write
END_OF_TRACK = b"\x00\xff\x2f\x00"


def smf(track: bytes, division: bytes = b"\x00\x60") -> bytes:
    """A type-1 standard MIDI file of one track (``division``: ticks per beat, or an SMPTE division)."""
    return b"MThd" + struct.pack(">IHH", 6, 1, 1) + division + b"MTrk" + struct.pack(">I", len(track)) + track


def vlq(n: int) -> bytes:
    """``n`` as a MIDI variable-length quantity."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


def video_duration(path: str | Path) -> float:
    """Seconds from the container's start to the end of the last video packet (0.0 without video)."""
    import av

    with av.open(str(path)) as container:
        stream = next(iter(container.streams.video), None)
        if stream is None:
            return 0.0
        start = float(container.start_time) / av.time_base if container.start_time else 0.0
        end = -math.inf
        for packet in container.demux(stream):
            if packet.pts is not None and packet.time_base is not None:
                end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
        return max(0.0, end - start)
