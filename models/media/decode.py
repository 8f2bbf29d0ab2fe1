"""Media input with PyAV: probe a clip against limits, sample its video frames, decode its audio.

Every failure a user can cause becomes a :mod:`moodscore.models.errors` type with a one-line message; nothing here
shells out to ffmpeg. Times are in seconds from the start of the container, so frames and audio samples
line up (audio that starts late is padded with silence at the front). Frames come out upright: a display
matrix (how phones store portrait video) is applied, and cover art is not taken for a video stream.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from moodscore.models.errors import (
    InvalidOptionError,
    NoUsableStreamError,
    TooLargeError,
    TooLongError,
    TooWideError,
    UnreadableMediaError,
)
from moodscore.models.media.cuts import THUMB_SIZE, Thumb

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
_EPS = 1e-3  # seconds: a frame this close before a sampling instant counts as on it
_OPEN_ERRORS = (av.FFmpegError, OSError, ValueError, UnicodeError, EOFError)


@dataclass(frozen=True)
class MediaLimits:
    """What a clip may be at most; front ends pass their own (e.g. a smaller size for Discord)."""

    max_duration_s: float = 600.0
    max_bytes: int = 2 * 1024**3
    max_width: int = 4096  # the longer side of a frame, whichever way it is turned
    max_pixels: int = 4096 * 2304  # per frame (DCI 4K and UHD fit)
    max_decoded_pixels: float = 600.0 * 60 * 4096 * 2304  # over the whole clip: ten minutes of 4K at 60 fps


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` found; fields of a missing stream are None; width and height as displayed."""

    path: str
    size_bytes: int
    duration_s: float
    has_video: bool
    has_audio: bool
    width: int | None
    height: int | None
    fps: float | None
    video_codec: str | None
    audio_codec: str | None
    audio_rate: int | None
    audio_channels: int | None


@dataclass(frozen=True)
class VideoFrame:
    """One sampled frame: its presentation time and its pixels (H x W x 3, uint8 RGB)."""

    t_s: float
    rgb: np.ndarray


def _checked_file(path: PathLike) -> tuple[Path, int]:
    """Return the path and its size, or raise UnreadableMediaError for a missing, odd or empty file."""
    p = Path(os.fspath(path))
    if p.is_dir():
        raise UnreadableMediaError(f"{p.name or p}: is a folder, not a media file")
    if p.exists() and not p.is_file():
        raise UnreadableMediaError(f"{p.name or p}: is a special file (a pipe, a device or a socket), not a media file")
    if not p.is_file():
        raise UnreadableMediaError(f"{p.name or p}: no such file")
    size = p.stat().st_size
    if size == 0:
        raise UnreadableMediaError(f"{p.name}: the file is empty (0 bytes)")
    return p, size


def _open(p: Path) -> Any:
    """Open a container for reading, mapping every PyAV or OS failure to UnreadableMediaError."""
    try:
        return av.open(str(p), mode="r", metadata_errors="ignore")
    except _OPEN_ERRORS as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise UnreadableMediaError(f"{p.name}: not a readable media file ({reason})") from exc


def _container_start(container: Any) -> float:
    start = container.start_time
    return float(start) / av.time_base if start is not None and start > 0 else 0.0


def _duration(container: Any) -> float:
    """Duration in seconds from the container, else the streams, else the last packet's end time."""
    if container.duration is not None and container.duration > 0:
        return float(container.duration) / av.time_base
    spans = [float(s.duration * s.time_base) for s in container.streams if s.duration and s.time_base is not None]
    if spans:
        return max(spans)
    end = 0.0
    for packet in container.demux():  # bounded by the file: demuxing reaches EOF without decoding
        if packet.pts is not None and packet.time_base is not None:
            end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    return max(0.0, end - _container_start(container))


def _video_stream(container: Any) -> Any:
    """The first video stream that is a moving picture (not an MP3's or M4A's cover art), or None."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def _quarter_turns(frame: Any) -> int:
    """np.rot90's k that shows ``frame`` upright, from its display matrix (phones store portrait this way)."""
    return round((getattr(frame, "rotation", 0) or 0) / 90) % 4


def _first_frame_turns(p: Path) -> int:
    """Decode the first video frame (proving the stream decodes) and return its quarter turns."""
    with _open(p) as container:
        stream = _video_stream(container)
        try:
            for frame in container.decode(stream):
                return _quarter_turns(frame)
        except _OPEN_ERRORS as exc:
            raise UnreadableMediaError(f"{p.name}: the video cannot be decoded ({exc})") from exc
    raise UnreadableMediaError(f"{p.name}: the video stream holds no decodable frame")


def _fps(stream: Any) -> float | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else None


def probe(path: PathLike, *, limits: MediaLimits = MediaLimits()) -> MediaInfo:
    """Describe a clip and check it against ``limits``.

    Raises UnreadableMediaError (missing, empty, truncated or not media), NoUsableStreamError (neither
    audio nor video), or TooLargeError / TooLongError / TooWideError naming the limit and the value.
    The size is checked before the file is opened.
    """
    p, size = _checked_file(path)
    if size > limits.max_bytes:
        raise TooLargeError(f"{p.name}: {size} bytes is larger than the limit of {limits.max_bytes} bytes")
    with _open(p) as container:
        video = _video_stream(container)
        audio = next(iter(container.streams.audio), None)
        if video is None and audio is None:
            raise NoUsableStreamError(f"{p.name}: the file holds neither a video nor an audio stream")
        try:
            duration = _duration(container)
        except _OPEN_ERRORS as exc:
            raise UnreadableMediaError(f"{p.name}: the file cannot be read to its end ({exc})") from exc
        width = height = None
        if video is not None:
            width, height = int(video.codec_context.width or 0), int(video.codec_context.height or 0)
            if width <= 0 or height <= 0:
                raise UnreadableMediaError(f"{p.name}: the video stream has no frame size")
            # the frame size is checked before anything is decoded, whichever way the frames are turned
            if max(width, height) > limits.max_width:
                raise TooWideError(
                    f"{p.name}: frames of {width}x{height} px exceed the limit of {limits.max_width} px a side"
                )
            if width * height > limits.max_pixels:
                raise TooWideError(
                    f"{p.name}: frames of {width}x{height} px exceed the limit of {limits.max_pixels} pixels"
                )
            total = width * height * (_fps(video) or 25.0) * max(duration, 0.0)
            if total > limits.max_decoded_pixels:
                raise TooWideError(
                    f"{p.name}: {total / 1e6:,.0f} million pixels to decode exceed the limit of "
                    f"{limits.max_decoded_pixels / 1e6:,.0f} million"
                )
            if _first_frame_turns(p) % 2:
                width, height = height, width
        if duration > limits.max_duration_s:
            raise TooLongError(f"{p.name}: {duration:.1f} s is longer than the limit of {limits.max_duration_s:.1f} s")
        return MediaInfo(
            path=str(p),
            size_bytes=size,
            duration_s=duration,
            has_video=video is not None,
            has_audio=audio is not None,
            width=width,
            height=height,
            fps=_fps(video) if video is not None else None,
            video_codec=video.codec_context.name if video is not None else None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            audio_rate=int(audio.codec_context.sample_rate) if audio is not None else None,
            audio_channels=int(audio.codec_context.channels) if audio is not None else None,
        )


def iter_frames(path: PathLike, *, fps: float = 5.0, thumbs: list[Any] | None = None) -> Iterator[VideoFrame]:
    """Yield the first decoded frame at or after each instant k/fps (k = 0, 1, ...), as RGB.

    ``thumbs``: a list that also gets a small picture of every frame decoded (:class:`models.media.cuts.Thumb`, for
    the cut detection), yielded or not.

    Frames between sampling instants are decoded where later frames refer to them (H.264 needs them) but never
    converted; where the source has three or more frames per sampled one, frames nothing refers to are skipped.
    A frame is yielded once even when it covers several instants (source slower than ``fps``). Decoding that
    fails before any frame raises UnreadableMediaError; failing later (a cut file) stops the iteration with a
    warning.
    """
    if not (math.isfinite(fps) and fps > 0):
        raise InvalidOptionError(f"frame sampling rate must be a positive number, got {fps!r}")
    p, _ = _checked_file(path)
    with _open(p) as container:
        stream = _video_stream(container)
        if stream is None:
            raise NoUsableStreamError(f"{p.name}: the file holds no video stream")
        stream.thread_type = "AUTO"
        start = _container_start(container)
        rate = _fps(stream) or 25.0
        # Where frames are sampled sparsely, frames no other frame refers to (most B-frames) are not decoded at
        # all: about half the decoding work of a typical H.264 clip; a sampling instant then takes the next
        # decoded frame, a frame or two later. Only for streams whose frames carry times (counting frames would
        # miss the skipped ones), so it starts after the first frame.
        sparse = rate >= 3 * fps
        next_k, index, yielded = 0, -1, 0
        frames = container.decode(stream)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                return
            except _OPEN_ERRORS as exc:
                if yielded == 0:
                    raise UnreadableMediaError(f"{p.name}: the video cannot be decoded ({exc})") from exc
                log.warning("%s: video decoding stopped early after %d frames: %s", p.name, yielded, exc)
                return
            index += 1
            if index == 0 and sparse and frame.time is not None:
                stream.codec_context.skip_frame = "NONREF"
            t = float(frame.time) - start if frame.time is not None else index / rate
            if thumbs is not None:
                w, h = THUMB_SIZE
                thumbs.append(Thumb(max(t, 0.0), frame.reformat(width=w, height=h, format="bgr24").to_ndarray()))
            if t + _EPS < next_k / fps:
                continue
            rgb = frame.to_ndarray(format="rgb24")
            turns = _quarter_turns(frame)
            if turns:
                rgb = np.ascontiguousarray(np.rot90(rgb, turns))
            yield VideoFrame(t_s=max(t, 0.0), rgb=rgb)
            yielded += 1
            next_k = max(next_k + 1, math.floor((t + _EPS) * fps) + 1)


def decode_audio(path: PathLike, *, sr: int = 16000) -> np.ndarray:
    """Decode the first audio stream to float32 mono at ``sr`` Hz (channels averaged; more than two downmixed to
    stereo first).

    Returns an empty array when the file has no audio stream. Audio starting after the container's
    start is padded with zeros so that sample i sits at time i / sr, like the frames of iter_frames; the
    length follows the stream's declared duration (AAC's last frame is padded to 1024 samples).
    """
    if sr <= 0:
        raise InvalidOptionError(f"audio sample rate must be positive, got {sr!r}")
    p, _ = _checked_file(path)
    with _open(p) as container:
        stream = next(iter(container.streams.audio), None)
        if stream is None:
            return np.zeros(0, dtype=np.float32)
        stream.thread_type = "AUTO"
        start = _container_start(container)
        # More than two channels are folded to stereo by FFmpeg (its downmix matrix: centre and surrounds at their
        # standard levels) before any of it reaches Python: PyAV cannot hand over a frame of 8 or more channels
        # (reading its planes crashes the process). Mono and stereo keep their channels, averaged below.
        channels = len(stream.layout.channels) if stream.layout is not None else 0
        resampler = av.AudioResampler(format="fltp", layout="stereo" if channels > 2 else None, rate=sr)
        chunks: list[np.ndarray] = []
        offset: float | None = None
        try:
            for frame in container.decode(stream):
                if offset is None and frame.time is not None:
                    offset = float(frame.time) - start
                chunks.extend(f.to_ndarray().mean(axis=0) for f in resampler.resample(frame))
            chunks.extend(f.to_ndarray().mean(axis=0) for f in resampler.resample(None))
        except _OPEN_ERRORS as exc:
            if not chunks:
                raise UnreadableMediaError(f"{p.name}: the audio cannot be decoded ({exc})") from exc
            log.warning("%s: audio decoding stopped early: %s", p.name, exc)
        pad = round(offset * sr) if offset is not None and offset > 0 else 0
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        if stream.duration and stream.time_base is not None:  # drop the encoder's padding of the last frame
            samples = samples[: round(float(stream.duration * stream.time_base) * sr)]
        if pad:
            samples = np.concatenate([np.zeros(pad, dtype=np.float32), samples])
        return samples.astype(np.float32, copy=False)
