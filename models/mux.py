"""Put a new soundtrack on a video: the video packets are copied untouched, the audio is encoded as AAC.

PyAV only (no ffmpeg binary). The first video stream is stream-copied (``add_stream_from_template``: same
codec parameters, same packets, same timestamps); the input's audio and any other streams are dropped and
replaced by ``audio``, which is cut or padded with silence to the video's length. Sample 0 of ``audio`` sits
at the container's start time, as in :func:`models.media.decode_audio`. The output is written under a
temporary name in the destination folder and renamed into place; on any failure nothing is left behind.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from .atomic import atomic_output
from .errors import InputError, InvalidOptionError, NoUsableStreamError, OutputError, UnreadableMediaError

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


def _copy(src: Path, tmp: str, fmt: str, planar: np.ndarray, sr: int) -> None:
    try:
        inp = av.open(str(src), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, OSError, ValueError, UnicodeError) as exc:
        raise UnreadableMediaError(f"{src.name}: not a readable media file ({type(exc).__name__})") from exc
    with inp:
        vin = next(iter(inp.streams.video), None)
        if vin is None:
            raise NoUsableStreamError(f"{src.name}: the file holds no video stream to put the music on")
        start = float(inp.start_time) / av.time_base if inp.start_time and inp.start_time > 0 else 0.0
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


def mux_audio_into_video(
    video_path: str | os.PathLike[str], audio: np.ndarray, sr: int, out_path: str | os.PathLike[str]
) -> Path:
    """Write ``out_path``: the video stream of ``video_path`` copied as it is, plus ``audio`` as AAC stereo.

    ``audio`` is (N,) or (N, channels<=2) float in [-1, 1] at ``sr`` Hz (44.1 and 48 kHz are kept, other
    rates are resampled to 48 kHz); it is cut or padded to the video's duration. The output container
    follows ``out_path``'s suffix (.mp4, .m4v, .mov, .mkv). Raises UnreadableMediaError /
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
    with atomic_output(out, suffix=f".part{out.suffix}", errors=(av.FFmpegError, OSError, ValueError)) as tmp:
        _copy(src, tmp, fmt, planar, int(sr))
    return out


def video_duration(path: str | os.PathLike[str]) -> float:
    """Seconds from the container's start to the end of the last video packet (0.0 without video)."""
    with av.open(os.fspath(path)) as container:
        stream = next(iter(container.streams.video), None)
        if stream is None:
            return 0.0
        start = float(container.start_time) / av.time_base if container.start_time else 0.0
        end = -math.inf
        for packet in container.demux(stream):
            if packet.pts is not None and packet.time_base is not None:
                end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
        return max(0.0, end - start)
