"""What videos do to speech, for training the voice head and for measuring its transfer.

Each effect takes 16 kHz mono float32 audio and a numpy ``Generator`` and returns audio of the same length:

- :func:`reverb`: a room impulse response synthesised here (direct path, sparse early reflections, an
  exponentially decaying noise tail with RT60 ``rt60`` and a darker tail), direct-to-reverberant ratio ``drr_db``.
- :func:`codec`: a round trip through a lossy codec with PyAV (AAC, MP3 or Opus at a low bit rate), realigned.
- :func:`band_limit`: telephone band (300-3400 Hz) or a low-pass (3-7 kHz).
- :func:`add_noise`: white, pink or brown noise at an SNR in dB.
- :func:`add_music`: rendered music (POP909 MIDI through FluidSynth, :func:`render_music`) under the speech at an
  SNR in dB.

:func:`video_chain` draws a random chain of these (the training copies); :data:`TEST_DEGRADATIONS` are fixed
single effects with other settings, other seeds and other songs (the degraded copies of held-out actors).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np

SR = 16000
TRAIN_SONGS = range(1, 861)  # POP909 songs whose music may go under training speech
TEST_SONGS = range(886, 910)  # songs kept for the degraded test copies (as in benchmarks/bench_vad.py)


def _rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64)) + 1e-12))


def synth_rir(rng: np.random.Generator, rt60: float, drr_db: float) -> np.ndarray:
    """A synthetic room impulse response at 16 kHz: unit direct path, 3-8 early reflections in 3-40 ms, and a
    noise tail decaying by 60 dB in ``rt60`` s, low-passed more as it decays, scaled to ``drr_db``."""
    n = max(int(rt60 * SR * 1.1), 64)
    t = np.arange(n) / SR
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)
    smooth = np.exp(-np.arange(1, 9) / (2.0 + 6.0 * rng.uniform()))  # darker tail: a short moving low-pass
    dark = np.convolve(tail, smooth / smooth.sum(), mode="same")
    mix = np.clip(t / rt60, 0, 1)
    tail = (1 - mix) * tail + mix * dark
    tail[: int(0.003 * SR)] = 0.0
    for _ in range(int(rng.integers(3, 9))):
        k = int(rng.uniform(0.003, 0.04) * SR)
        tail[k] += rng.uniform(-0.6, 0.6)
    tail *= 10 ** (-drr_db / 20) / np.sqrt(np.sum(tail**2) + 1e-12)
    h = tail
    h[0] = 1.0
    return h


def reverb(
    y: np.ndarray, rng: np.random.Generator, rt60: float | None = None, drr_db: float | None = None
) -> np.ndarray:
    from scipy.signal import fftconvolve

    rt60 = float(rng.uniform(0.2, 1.0)) if rt60 is None else rt60
    drr = float(rng.uniform(-3, 10)) if drr_db is None else drr_db
    out = fftconvolve(y, synth_rir(rng, rt60, drr))[: len(y)]
    return (out * _rms(y) / _rms(out)).astype(np.float32)


CODECS = {"aac": ("adts", "aac", (24, 48)), "mp3": ("mp3", "libmp3lame", (16, 32)), "opus": ("ogg", "libopus", (8, 16))}


def codec(y: np.ndarray, rng: np.random.Generator, name: str | None = None, kbps: int | None = None) -> np.ndarray:
    """Encode with PyAV to ``name`` at ``kbps`` and decode back to 16 kHz mono, aligned to the input."""
    import av

    name = name or str(rng.choice(sorted(CODECS)))
    fmt, enc, (lo, hi) = CODECS[name]
    kbps = kbps or int(rng.integers(lo, hi + 1))
    rate = 48000 if name == "opus" else SR
    x = y if rate == SR else _resample(y, SR, rate)
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(enc, rate=rate)
        assert isinstance(stream, av.AudioStream)
        stream.bit_rate = kbps * 1000
        stream.layout = "mono"
        frame_size = stream.codec_context.frame_size or 1024
        pcm = np.concatenate([x, np.zeros(frame_size * 4, dtype=np.float32)]).astype(np.float32)
        for a in range(0, len(pcm), frame_size):
            chunk = pcm[a : a + frame_size]
            frame = av.AudioFrame.from_ndarray(chunk[None], format="flt", layout="mono")
            frame.sample_rate, frame.pts = rate, a
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SR)
    parts = []
    with av.open(buf, "r") as inp:
        for frame in inp.decode(audio=0):
            for f in resampler.resample(frame):
                parts.append(f.to_ndarray().reshape(-1))
    for f in resampler.resample(None):
        parts.append(f.to_ndarray().reshape(-1))
    dec = np.concatenate(parts).astype(np.float32)
    return _align(y, dec)


def _resample(y: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    from scipy.signal import resample_poly

    g = np.gcd(sr_in, sr_out)
    return resample_poly(y, sr_out // g, sr_in // g).astype(np.float32)


def _align(ref: np.ndarray, dec: np.ndarray, max_lag: int = 4000) -> np.ndarray:
    """``dec`` shifted by the lag (0..max_lag samples) that best matches ``ref``, cut/padded to its length."""
    n = len(ref)
    d = np.pad(dec, (0, max(0, n + max_lag - len(dec))))[: n + max_lag]
    size = 1 << int(np.ceil(np.log2(len(d) + n)))
    xc = np.fft.irfft(np.fft.rfft(d, size) * np.conj(np.fft.rfft(ref, size)), size)[: max_lag + 1]
    lag = int(np.argmax(xc))
    return d[lag : lag + n].astype(np.float32)


def band_limit(y: np.ndarray, rng: np.random.Generator, kind: str | None = None) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    kind = kind or ("phone" if rng.uniform() < 0.5 else "lowpass")
    if kind == "phone":
        sos = butter(4, [300, 3400], btype="bandpass", fs=SR, output="sos")
    else:
        sos = butter(6, float(rng.uniform(3000, 7000)), btype="lowpass", fs=SR, output="sos")
    return sosfilt(sos, y).astype(np.float32)


def coloured_noise(rng: np.random.Generator, n: int, colour: int) -> np.ndarray:
    """Unit-RMS white (0), pink (1) or brown (2) noise."""
    w = rng.standard_normal(n)
    if colour:
        w = np.fft.irfft(np.fft.rfft(w) / (np.arange(n // 2 + 1) + 1.0) ** (0.5 * colour), n)
    return w / _rms(w)


def add_noise(y: np.ndarray, rng: np.random.Generator, snr_db: float | None = None) -> np.ndarray:
    snr = float(rng.uniform(5, 30)) if snr_db is None else snr_db
    noise = coloured_noise(rng, len(y), int(rng.integers(0, 3)))
    return (y + noise * _rms(y) * 10 ** (-snr / 20)).astype(np.float32)


def render_music(pop909: Path, songs: range, n: int, seed: int, seconds: float = 30.0) -> list[np.ndarray]:
    """``n`` unit-RMS excerpts of ``seconds`` from POP909 songs (chosen among ``songs``) rendered with FluidSynth
    (the project's renderer), instruments reassigned as in ``benchmarks/bench_vad.py``."""
    import pretty_midi

    from moodscore.models.music.render import render_midi

    rng = np.random.default_rng(seed)
    programs = [0, 4, 11, 19, 24, 33, 40, 48, 52, 56, 65, 73, 80, 81, 88]
    out = []
    for song in rng.choice(np.array(list(songs)), n, replace=False):
        pm = pretty_midi.PrettyMIDI(str(pop909 / f"{song:03d}" / f"{song:03d}.mid"))
        for inst in pm.instruments:
            inst.program = int(rng.choice(programs))
        y = render_midi(pm, sr=SR).mean(axis=1)
        a = int(rng.uniform(0, max(1, len(y) - seconds * SR)))
        ex = y[a : a + int(seconds * SR)]
        out.append((ex / _rms(ex)).astype(np.float32))
    return out


def add_music(
    y: np.ndarray, rng: np.random.Generator, music: list[np.ndarray], snr_db: float | None = None
) -> np.ndarray:
    snr = float(rng.uniform(3, 20)) if snr_db is None else snr_db
    m = music[int(rng.integers(len(music)))]
    a = int(rng.integers(0, max(1, len(m) - len(y))))
    return (y + m[a : a + len(y)] * _rms(y) * 10 ** (-snr / 20)).astype(np.float32)


def video_chain(y: np.ndarray, rng: np.random.Generator, music: list[np.ndarray]) -> np.ndarray:
    """A random chain of what videos do to speech: reverb (p 0.6), music under it (p 0.5), noise (p 0.4),
    band-limiting (p 0.3), a gain of -12..+6 dB, then a codec round trip (p 0.5)."""
    if rng.uniform() < 0.6:
        y = reverb(y, rng)
    if rng.uniform() < 0.5:
        y = add_music(y, rng, music)
    if rng.uniform() < 0.4:
        y = add_noise(y, rng)
    if rng.uniform() < 0.3:
        y = band_limit(y, rng)
    y = (y * 10 ** (rng.uniform(-12, 6) / 20)).astype(np.float32)
    if rng.uniform() < 0.5:
        y = codec(y, rng)
    return np.clip(y, -1, 1).astype(np.float32)


def _test_reverb(y: np.ndarray, rng: np.random.Generator, music: list[np.ndarray]) -> np.ndarray:
    return reverb(y, rng, rt60=float(rng.uniform(0.4, 0.9)), drr_db=float(rng.uniform(-2, 6)))


def _test_codec(y: np.ndarray, rng: np.random.Generator, music: list[np.ndarray]) -> np.ndarray:
    name = ("aac", "mp3", "opus")[int(rng.integers(3))]
    return codec(y, rng, name, {"aac": 32, "mp3": 24, "opus": 12}[name])


def _test_music(y: np.ndarray, rng: np.random.Generator, music: list[np.ndarray]) -> np.ndarray:
    return add_music(y, rng, music, float(rng.uniform(5, 15)))


TEST_DEGRADATIONS: dict[str, Callable[[np.ndarray, np.random.Generator, list[np.ndarray]], np.ndarray]] = {
    "reverb": _test_reverb,  # RT60 0.4-0.9 s, DRR -2..6 dB
    "codec": _test_codec,  # AAC 32 kb/s, MP3 24 kb/s or Opus 12 kb/s
    "music": _test_music,  # held-out POP909 songs 886-909 at 5-15 dB SNR
}
