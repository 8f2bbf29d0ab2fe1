"""Put a new soundtrack on a video: the video packets are copied untouched, the audio is encoded as AAC.

PyAV only (no ffmpeg binary). The first video stream is stream-copied (``add_stream_from_template``: same
codec parameters, same packets, same timestamps) into a container that takes it: :func:`output_plan` tries MP4,
then MOV (ProRes), then Matroska (VP8, Theora, ...), and only where none takes it (GIF, MS-MPEG4, ...) the
video is re-encoded as H.264 in MP4. The plan is made from the file alone, before any analysis, so a clip is
never analysed and then refused. The input's audio and any other streams are dropped and
replaced by ``audio``, which is cut or padded with silence to the video's length. Sample 0 of ``audio`` sits
at the container's start time, as in :func:`moodscore.models.media.decode.decode_audio`. The output is written under a
temporary name in the destination folder and renamed into place; on any failure nothing is left behind.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from moodscore.models.errors import (
    InputError,
    InvalidOptionError,
    NoUsableStreamError,
    OutputError,
    UnreadableMediaError,
)
from moodscore.models.files.atomic import atomic_output

FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
AAC_RATES = (48000, 44100)
AUDIO_CHUNK = 4096  # samples per frame handed to the encoder (it re-chunks to AAC's 1024)


def _stereo_float(audio: np.ndarray) -> np.ndarray:
    """(2, N) float32 planar audio from (N,), (N, 1) or (N, 2); InputError for anything else."""
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] not in (1, 2) or (x.size and not np.all(np.isfinite(x))):
        raise InputError(f"audio must be a finite (N,), (N, 1) or (N, 2) array, got shape {np.shape(audio)}")
    if x.shape[1] == 1:
        x = np.repeat(x, 2, axis=1)
    return np.ascontiguousarray(np.clip(x, -1.0, 1.0).T)


class _AudioWriter:
    """Feeds ``audio`` to an AAC stream in order, up to a time the caller names; silence past its end."""

    def __init__(self, out: Any, planar: np.ndarray, sr: int, start_s: float) -> None:
        self.out, self.planar, self.sr = out, planar, sr
        self.stream = out.add_stream("aac", rate=sr if sr in AAC_RATES else AAC_RATES[0])
        self.stream.layout = "stereo"
        self.stream.bit_rate = 192_000
        self.offset = round(start_s * sr)  # pts of sample 0
        self.pos = 0

    def write_until(self, t_s: float) -> None:
        end = max(0, round(t_s * self.sr) - self.offset)
        while self.pos < end:
            n = min(AUDIO_CHUNK, end - self.pos)
            block = self.planar[:, self.pos : self.pos + n]
            if block.shape[1] < n:  # past the end of the music: silence
                block = np.pad(block, ((0, 0), (0, n - block.shape[1])))
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="fltp", layout="stereo")
            frame.sample_rate, frame.time_base, frame.pts = self.sr, Fraction(1, self.sr), self.offset + self.pos
            self.out.mux(self.stream.encode(frame))
            self.pos += n

    def finish(self, end_s: float) -> None:
        self.write_until(end_s)
        self.out.mux(self.stream.encode(None))


@contextmanager
def _video_input(src: Path) -> Iterator[tuple[Any, Any, float]]:
    """The opened clip, its first video stream and its start time in seconds; one-line errors otherwise."""
    try:
        inp = av.open(str(src), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, OSError, ValueError, UnicodeError) as exc:
        raise UnreadableMediaError(f"{src.name}: not a readable media file ({type(exc).__name__})") from exc
    with inp:
        vin = next(iter(inp.streams.video), None)
        if vin is None:
            raise NoUsableStreamError(f"{src.name}: the file holds no video stream to put the music on")
        yield inp, vin, float(inp.start_time) / av.time_base if inp.start_time and inp.start_time > 0 else 0.0


def _copy(src: Path, tmp: str, fmt: str, planar: np.ndarray, sr: int) -> None:
    with _video_input(src) as (inp, vin, start):
        options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
        with av.open(tmp, mode="w", format=fmt, options=options) as out:
            vout = out.add_stream_from_template(vin)
            audio = _AudioWriter(out, planar, sr, start)
            end = start
            for packet in inp.demux(vin):
                if packet.dts is None and packet.size == 0:
                    continue  # the demuxer's flush packet
                tb = packet.time_base
                if packet.pts is not None and tb is not None:
                    end = max(end, float((packet.pts + (packet.duration or 0)) * tb))
                if packet.dts is not None and tb is not None:
                    audio.write_until(float(packet.dts * tb))
                packet.stream = vout
                out.mux(packet)
            audio.finish(end)


# Where a copy of the video goes: MP4 for what it takes; MOV and Matroska only for the codecs players expect there
# (a MOV of MS-MPEG4 or GIF can be written, but hardly anything plays it); anything else is re-encoded.
COPY_CONTAINERS = (
    ("mp4", ".mp4", None),
    ("mov", ".mov", {"prores", "dnxhd", "qtrle", "cinepak"}),
    ("matroska", ".mkv", {"vp8", "vp9", "av1", "theora", "ffv1", "h264", "hevc", "mpeg4", "mpeg2video"}),
)


def _takes(container_format: str, vin: Any) -> bool:
    """Whether ``container_format`` accepts a copy of video stream ``vin`` beside AAC audio (its header is written
    to memory)."""
    try:
        with av.open(io.BytesIO(), mode="w", format=container_format) as out:
            out.add_stream_from_template(vin)
            out.add_stream("aac", rate=AAC_RATES[0])
            out.start_encoding()
        return True
    except (av.FFmpegError, ValueError, OSError, NotImplementedError):
        return False


def output_plan(video_path: str | os.PathLike[str]) -> tuple[str, bool]:
    """The scored video's suffix and whether its video must be re-encoded: ``(".mp4", False)`` for H.264, HEVC,
    MPEG-4, VP9, AV1; ``(".mov", False)`` for ProRes; ``(".mkv", False)`` for VP8 and others Matroska takes;
    ``(".mp4", True)`` where no container takes a copy. UnreadableMediaError / NoUsableStreamError as for muxing."""
    with _video_input(Path(video_path)) as (_, vin, _start):
        codec = vin.codec_context.name
        for fmt, suffix, codecs in COPY_CONTAINERS:
            if (codecs is None or codec in codecs) and _takes(fmt, vin):
                return suffix, False
    return ".mp4", True


def _reencode(src: Path, tmp: str, planar: np.ndarray, sr: int) -> None:
    """H.264 (yuv420p, even size, CRF 18) in MP4 from any decodable video, frames at their own times."""
    with _video_input(src) as (inp, vin, start):
        rate = vin.average_rate or vin.guessed_rate or Fraction(25)
        with av.open(tmp, mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            vout = out.add_stream("libx264", rate=rate)
            vout.width = max(2, (vin.codec_context.width // 2) * 2)
            vout.height = max(2, (vin.codec_context.height // 2) * 2)
            vout.pix_fmt = "yuv420p"
            vout.options = {"crf": "18", "preset": "veryfast"}
            tb = Fraction(1, 90000)
            vout.codec_context.time_base = tb
            audio = _AudioWriter(out, planar, sr, start)
            end, last_pts = start, -1
            for frame in inp.decode(vin):
                t = float(frame.time) if frame.time is not None else end
                pts = max(last_pts + 1, round(t / tb))
                audio.write_until(t)
                picture = frame.reformat(width=vout.width, height=vout.height, format="yuv420p")
                picture.pts, picture.time_base = pts, tb
                out.mux(vout.encode(picture))
                last_pts = pts
                end = max(end, t + 1 / float(rate))
            out.mux(vout.encode(None))
            audio.finish(end)


def mux_audio_into_video(
    video_path: str | os.PathLike[str],
    audio: np.ndarray,
    sr: int,
    out_path: str | os.PathLike[str],
    *,
    reencode: bool = False,
) -> Path:
    """Write ``out_path``: the video stream of ``video_path`` copied as it is, plus ``audio`` as AAC stereo.

    ``audio`` is (N,) or (N, channels<=2) float in [-1, 1] at ``sr`` Hz (44.1 and 48 kHz are kept, other
    rates are resampled to 48 kHz); it is cut or padded to the video's duration. The output container
    follows ``out_path``'s suffix (.mp4, .m4v, .mov, .mkv); :func:`output_plan` says which one takes the clip's
    video, or that it needs ``reencode=True`` (H.264, MP4 only). Raises UnreadableMediaError /
    NoUsableStreamError for the input, InputError / InvalidOptionError for the audio or the name, and
    OutputError when the result cannot be written; a failure leaves no file behind.
    """
    src, out = Path(video_path), Path(out_path)
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise InvalidOptionError(f"output {out.name}: use one of {', '.join(FORMATS)}")
    if not (isinstance(sr, int | np.integer) and 8000 <= sr <= 192000):
        raise InvalidOptionError(f"audio sample rate must be an integer between 8000 and 192000 Hz, got {sr!r}")
    if not src.is_file() or src.stat().st_size == 0:
        raise UnreadableMediaError(f"{src.name or src}: no such file, or it is empty")
    planar = _stereo_float(audio)
    if not out.parent.is_dir():
        raise OutputError(f"cannot write {out}: the folder does not exist")
    if reencode and fmt != "mp4":
        raise InvalidOptionError(f"output {out.name}: a re-encoded video is written as .mp4")
    with atomic_output(out, suffix=f".part{out.suffix}", errors=(av.FFmpegError, OSError, ValueError)) as tmp:
        if reencode:
            _reencode(src, tmp, planar, int(sr))
        else:
            _copy(src, tmp, fmt, planar, int(sr))
    return out
