"""Mix the music under a clip's own audio, ducked while people speak; export MP3 with PyAV.

Levels: the clip's audio is brought to ``target_lufs`` (boost capped at +20 dB, so a near-silent clip does
not turn into noise); the music bed sits ``music_db`` LU under the dialogue's loudness (-6 by default), goes
down ``duck_db`` more wherever the speech mask is set (-8: 14 LU under the words) and there also leaves room
for the voice, with its speech band (300 Hz-3.4 kHz) cut by a further ``band_db``; the sum is normalised to
``target_lufs`` with a true-peak ceiling of -1 dBFS. The ducking is planned offline: the music starts going
down ``attack_s`` before speech begins and comes back over ``release_s`` after it ends, on a 10 ms control
grid interpolated to every sample, so there are no steps and no clicks. ``report`` gets what was measured in
the mix: the music's loudness against the dialogue's while people speak and over the whole clip.

MP3: pydub would need an ffmpeg binary, which moodscore does not otherwise install; PyAV's wheels bundle
FFmpeg with libmp3lame, so :func:`export_mp3` encodes in-process with it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from moodscore.models.errors import InvalidOptionError, OutputError
from moodscore.models.files.atomic import atomic_output
from moodscore.models.music.render import as_frames, lufs, normalize_loudness

HOP_S = 0.01  # the control grid of the ducking envelope and of the energy-based speech mask
MUSIC_DB = -6.0  # the music bed's loudness against the dialogue's (LU)
DUCK_DB = -8.0  # how much further the music goes down while someone speaks
BAND_DB = -6.0  # ... and how much its speech band is cut there on top
SPEECH_BAND_HZ = (300.0, 3400.0)
MAX_SPEECH_BOOST_DB = 20.0
MP3_RATES = (44100, 48000, 32000, 22050, 24000, 16000, 11025, 12000, 8000)


def energy_speech_mask(audio: np.ndarray, sr: int, *, hop_s: float = HOP_S) -> np.ndarray:
    """A simple voice-activity guess: one bool per ``hop_s`` frame, True where the audio is well above its floor.

    Frame energy (30 ms windows) above max(-50 dBFS, 10th-percentile floor + 12 dB); gaps under 250 ms are
    closed, blips under 60 ms dropped, and each region widened by 100 ms. It cannot tell speech from other
    sound: pass the mask of ``moodscore.models.voices.model.detect_speech`` when there is one.
    """
    from scipy.ndimage import binary_closing, binary_dilation, binary_opening

    x = as_frames(audio).mean(axis=1)
    hop = max(1, round(hop_s * sr))
    n = int(np.ceil(len(x) / hop))
    if n == 0:
        return np.zeros(0, dtype=bool)
    win = max(hop, round(0.03 * sr))
    padded = np.pad(x, (win // 2, win + hop))
    power = np.cumsum(np.concatenate([[0.0], padded**2]))
    starts = np.arange(n) * hop
    rms = np.sqrt(np.maximum(power[starts + win] - power[starts], 0.0) / win)
    db = 20 * np.log10(np.maximum(rms, 1e-10))
    mask = db > max(-50.0, float(np.percentile(db, 10)) + 12.0)

    def frames(seconds: float) -> np.ndarray:
        return np.ones(max(1, round(seconds / hop_s)), dtype=bool)

    mask = binary_closing(np.pad(mask, 30), structure=frames(0.25))[30:-30]
    mask = binary_opening(mask, structure=frames(0.06))
    return np.asarray(binary_dilation(mask, structure=np.ones(2 * round(0.1 / hop_s) + 1, dtype=bool)), dtype=bool)


def duck_envelope(
    mask: np.ndarray, n_frames: int, *, duck_db: float, attack_s: float, release_s: float, hop_s: float = HOP_S
) -> np.ndarray:
    """Gain in dB per control frame: ``duck_db`` where ``mask`` is set, ramps of ``attack_s``/``release_s`` around.

    The ramp down ends as speech starts (look-ahead: the whole clip is known) and the ramp up starts as it
    ends, so every speech frame gets the full ``duck_db``.
    """
    target = np.zeros(n_frames)
    m = np.asarray(mask, dtype=bool)[:n_frames]
    target[: len(m)][m] = duck_db
    down = abs(duck_db) * hop_s / max(attack_s, hop_s)
    up = abs(duck_db) * hop_s / max(release_s, hop_s)
    g = target.copy()
    for k in range(n_frames - 2, -1, -1):  # anticipate each duck
        g[k] = min(g[k], g[k + 1] + down)
    for k in range(1, n_frames):  # release after it
        g[k] = min(g[k], g[k - 1] + up)
    return g


def _stereo(x: np.ndarray) -> np.ndarray:
    return x if x.shape[1] == 2 else np.repeat(x.mean(axis=1, keepdims=True), 2, axis=1)


def fit_length(audio: np.ndarray, n: int, sr: int, *, fade_out_s: float = 1.0) -> np.ndarray:
    """(n, channels) float32: ``audio`` cut or padded to ``n`` samples, with a raised-cosine fade over its last
    ``fade_out_s`` seconds (at most a quarter of it), so a ring-out ends with the picture instead of being cut."""
    a = np.asarray(audio, dtype=np.float32)
    a = a[:n].copy() if len(a) >= n else np.pad(a, ((0, n - len(a)), (0, 0)))
    fade = min(round(fade_out_s * sr), n // 4)
    if fade > 1:
        a[n - fade :] *= (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, fade)))[:, None].astype(np.float32)
    return a


def loop_around(audio: np.ndarray, n: int) -> np.ndarray:
    """(n, channels) float32: ``audio`` made into a loop of ``n`` samples: what rings on past the end (the last
    chord's release, the reverb) is added to the beginning, as it sounds when the loop plays round again."""
    a = np.asarray(audio, dtype=np.float32)
    out = np.zeros((n, a.shape[1]), np.float32)
    for i in range(0, len(a), n):
        part = a[i : i + n]
        out[: len(part)] += part
    return out


def mix_under(
    speech: np.ndarray,
    music: np.ndarray,
    sr: int,
    *,
    speech_mask: np.ndarray | None = None,
    mask_hop_s: float = HOP_S,
    music_db: float | None = None,
    duck_db: float | None = None,
    band_db: float = BAND_DB,
    music_lufs: float = -24.0,
    target_lufs: float = -16.0,
    attack_s: float = 0.15,
    release_s: float = 0.6,
    fade_out_s: float = 1.0,
    report: dict[str, Any] | None = None,
) -> np.ndarray:
    """Put ``music`` under ``speech`` (the clip's own audio, same ``sr``) and return (len(speech), 2) float32.

    ``speech_mask``: one bool per ``mask_hop_s`` seconds (10 ms by default; models.voices.model's Silero mask uses
    32 ms frames: pass ``mask_hop_s=VAD_FRAME / SR``); None computes :func:`energy_speech_mask`. The music
    is cut or padded to the clip with a ``fade_out_s`` fade at the end. ``music_db`` (default MUSIC_DB) and
    ``duck_db`` (DUCK_DB): see the module; a clip whose audio is silent gets the music at ``music_lufs``. An empty
    ``speech`` (a clip without audio) returns the music alone, loudness-normalised, at its own length.
    """
    music_db = MUSIC_DB if music_db is None else float(music_db)
    duck_db = DUCK_DB if duck_db is None else float(duck_db)
    if not 8000 <= int(sr) <= 192000:
        raise InvalidOptionError(f"sample rate must be between 8000 and 192000 Hz, got {sr!r}")
    if not -60.0 <= duck_db <= 0.0:
        raise InvalidOptionError(f"the ducking must be between -60 and 0 dB, got {duck_db!r}")
    if not -40.0 <= music_db <= 12.0:
        raise InvalidOptionError(
            f"the music level must be between -40 and +12 dB against the dialogue, got {music_db!r}"
        )
    if not (attack_s >= 0 and release_s >= 0 and fade_out_s >= 0 and mask_hop_s > 0):
        raise InvalidOptionError("attack_s, release_s and fade_out_s must be >= 0 and mask_hop_s > 0")
    s = _stereo(as_frames(speech, what="speech"))
    m = _stereo(as_frames(music, what="music"))
    if len(s) == 0:
        return normalize_loudness(m, sr, target_lufs=target_lufs) if len(m) else np.zeros((0, 2), np.float32)
    n = len(s)
    m = fit_length(m, n, sr, fade_out_s=fade_out_s)

    speech_loud = lufs(s, sr)
    if np.isfinite(speech_loud):
        s = s * 10 ** (min(target_lufs - speech_loud, MAX_SPEECH_BOOST_DB) / 20)
        speech_loud = lufs(s, sr)
    music_loud = lufs(m, sr)
    bed = speech_loud + music_db if np.isfinite(speech_loud) else music_lufs
    if np.isfinite(music_loud):
        m = m * 10 ** ((bed - music_loud) / 20)

    n_frames = int(np.ceil(n / (HOP_S * sr))) + 1
    if speech_mask is None:
        mask = energy_speech_mask(s, sr)
    else:
        given = np.asarray(speech_mask, dtype=bool).reshape(-1)
        idx = np.floor(np.arange(n_frames) * HOP_S / mask_hop_s + 1e-9).astype(int)
        mask = np.where(idx < len(given), given[np.minimum(idx, max(len(given) - 1, 0))], False)
    env_db = duck_envelope(mask, n_frames, duck_db=duck_db, attack_s=attack_s, release_s=release_s)
    t = np.arange(n) / sr
    gain = np.interp(t, np.arange(n_frames) * HOP_S, 10 ** (env_db / 20))
    bed_audio = m * gain[:, None]
    if band_db < 0 and duck_db < 0:  # the voice's band is cut as far as the duck has gone
        depth = np.interp(t, np.arange(n_frames) * HOP_S, np.clip(env_db / duck_db, 0.0, 1.0))
        band = speech_band(bed_audio, sr)
        bed_audio = bed_audio + (10 ** (band_db / 20) - 1.0) * band * depth[:, None]
    mixed = s + bed_audio
    if report is not None:
        report.update(measure_levels(s, bed_audio, mask, sr, music_db=music_db, duck_db=duck_db))
    return normalize_loudness(mixed, sr, target_lufs=target_lufs)


def speech_band(audio: np.ndarray, sr: int) -> np.ndarray:
    """``audio``'s speech band (300 Hz-3.4 kHz), zero-phase, so subtracting part of it is a clean cut."""
    from scipy.signal import butter, sosfiltfilt

    lo, hi = SPEECH_BAND_HZ
    sos = butter(2, [lo, min(hi, 0.45 * sr)], btype="bandpass", fs=sr, output="sos")
    return sosfiltfilt(sos, audio, axis=0).astype(np.float32)


def measure_levels(
    speech: np.ndarray, music: np.ndarray, mask: np.ndarray, sr: int, *, music_db: float, duck_db: float
) -> dict[str, Any]:
    """The music's loudness against the dialogue's, measured in the mix (before the final normalisation, which
    scales both alike): while people speak (the speech mask) and over the whole clip; None where a part is
    silent or too short to measure."""

    def db(x: float, y: float) -> float | None:
        return round(x - y, 1) if np.isfinite(x) and np.isfinite(y) else None

    idx = np.repeat(np.asarray(mask, dtype=bool), max(1, round(HOP_S * sr)))[: len(speech)]
    idx = np.pad(idx, (0, len(speech) - len(idx)))
    talking = idx.any() and idx.sum() >= 0.5 * sr
    return {
        "music_db_asked": music_db,
        "duck_db_asked": duck_db,
        "music_vs_dialogue_db": db(lufs(music, sr), lufs(speech, sr)),
        "music_vs_dialogue_while_speaking_db": db(lufs(music[idx], sr), lufs(speech[idx], sr)) if talking else None,
        "speech_s": round(float(idx.sum()) / sr, 2),
    }


def export_mp3(path: str | os.PathLike[str], audio: np.ndarray, sr: int, *, bitrate: int = 192_000) -> Path:
    """Encode ``audio`` ((N,) or (N, 2) float) as MP3 (libmp3lame through PyAV), written atomically."""
    import av

    if "libmp3lame" not in av.codecs_available:
        raise OutputError("MP3 export needs libmp3lame, which this PyAV build lacks; export WAV instead")
    x = as_frames(audio)
    if x.shape[1] > 2:
        x = x.mean(axis=1, keepdims=True)
    layout = "stereo" if x.shape[1] == 2 else "mono"
    out = Path(path)
    with (
        atomic_output(out, errors=(av.FFmpegError, OSError, ValueError)) as tmp,
        av.open(tmp, mode="w", format="mp3") as container,
    ):
        stream = container.add_stream("libmp3lame", rate=sr if sr in MP3_RATES else 44100)
        stream.layout = layout
        stream.bit_rate = bitrate
        planar = np.ascontiguousarray(np.clip(x, -1.0, 1.0).T, dtype=np.float32)
        step = 1152 * 8
        for i in range(0, planar.shape[1], step):
            frame = av.AudioFrame.from_ndarray(planar[:, i : i + step], format="fltp", layout=layout)
            frame.sample_rate, frame.pts = int(sr), i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out
