"""Mixing music under speech: ducking depth and timing, smooth gain, length, loudness; MP3 export."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pyloudnorm
import pytest

from moodscore.models.errors import InputError, InvalidOptionError, OutputError
from moodscore.models.music.mix import HOP_S, duck_envelope, energy_speech_mask, export_mp3, mix_under

SR = 44100
SECONDS = 10.0
SPEECH = ((2.0, 4.0), (6.0, 7.5))  # where people talk


def tone(freq: float, seconds: float = SECONDS, amp: float = 0.1) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return amp * np.sin(2 * np.pi * freq * t)


def music(seconds: float = SECONDS) -> np.ndarray:
    """A steady stereo bed: its level only changes where the mixer changes it."""
    return np.stack([tone(440, seconds), tone(660, seconds)], axis=1)


def speech_track() -> tuple[np.ndarray, np.ndarray]:
    """A speech-like tone burst per region, and its mask (one bool per 10 ms)."""
    x = np.zeros(round(SECONDS * SR))
    mask = np.zeros(round(SECONDS / HOP_S), dtype=bool)
    for a, b in SPEECH:
        i, j = round(a * SR), round(b * SR)
        t = np.arange(j - i) / SR
        x[i:j] = 0.3 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
        mask[round(a / HOP_S) : round(b / HOP_S)] = True
    return x, mask


def db_rms(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(x, dtype=np.float64))))


def inside_vs_outside(out: np.ndarray) -> float:
    """Music level inside the first speech region minus a quiet stretch well away from ramps (dB)."""
    inside = out[round(2.5 * SR) : round(3.5 * SR)]
    outside = out[round(4.8 * SR) : round(5.5 * SR)]
    return db_rms(inside) - db_rms(outside)


@pytest.mark.parametrize("duck_db", [-12.0, -6.0, -20.0])
def test_music_is_ducked_by_duck_db_where_the_mask_says_speech(duck_db: float) -> None:
    _, mask = speech_track()
    silent_speech = np.zeros(round(SECONDS * SR))  # the mix then holds the music alone: measurable
    out = mix_under(silent_speech, music(), SR, speech_mask=mask, duck_db=duck_db, band_db=0.0)
    assert inside_vs_outside(out) == pytest.approx(duck_db, abs=0.5)


def test_under_speech_the_music_also_leaves_the_voices_band() -> None:
    """Beyond the fader: while people speak, the music's 300 Hz-3.4 kHz band goes down ``band_db`` more than
    its lows and highs."""
    _, mask = speech_track()
    bed = np.stack([tone(80) + tone(1000), tone(80) + tone(1000)], axis=1)
    out = mix_under(np.zeros(round(SECONDS * SR)), bed, SR, speech_mask=mask, duck_db=-6.0, band_db=-6.0)

    def level(x: np.ndarray, freq: float) -> float:  # the amplitude of one partial, by projection
        t = np.arange(len(x)) / SR
        return float(np.abs(np.mean(x[:, 0] * np.exp(-2j * np.pi * freq * t))) * 2)

    inside, outside = out[round(2.5 * SR) : round(3.5 * SR)], out[round(4.8 * SR) : round(5.5 * SR)]
    low = 20 * np.log10(level(inside, 80) / level(outside, 80))
    mid = 20 * np.log10(level(inside, 1000) / level(outside, 1000))
    assert low == pytest.approx(-6.0, abs=1.0)  # the fader
    assert mid == pytest.approx(-12.0, abs=1.5)  # the fader and the band cut


def test_the_music_sits_music_db_under_the_dialogue() -> None:
    x, mask = speech_track()
    report: dict = {}
    mix_under(x, music(), SR, speech_mask=mask, music_db=-10.0, duck_db=0.0, band_db=0.0, report=report)
    assert report["music_db_asked"] == -10.0
    assert report["music_vs_dialogue_db"] == pytest.approx(-10.0, abs=1.0)
    assert report["speech_s"] == pytest.approx(3.5, abs=0.05)


def test_no_ducking_without_speech() -> None:
    out = mix_under(np.zeros(round(SECONDS * SR)), music(), SR)  # energy mask of silence: nothing
    assert abs(inside_vs_outside(out)) < 0.2


def test_a_coarser_mask_grid_lands_in_the_same_place() -> None:
    _, mask10 = speech_track()
    hop = 0.032  # moodscore.models.voices.model's Silero frames
    centres = (np.arange(int(SECONDS / hop)) + 0.5) * hop
    mask32 = np.array([any(a <= t < b for a, b in SPEECH) for t in centres])
    silent = np.zeros(round(SECONDS * SR))
    a = mix_under(silent, music(), SR, speech_mask=mask10)
    b = mix_under(silent, music(), SR, speech_mask=mask32, mask_hop_s=hop)
    assert inside_vs_outside(b) == pytest.approx(inside_vs_outside(a), abs=0.3)


def test_envelope_is_smooth_and_full_depth_in_speech() -> None:
    _, mask = speech_track()
    env = duck_envelope(mask, len(mask), duck_db=-12.0, attack_s=0.15, release_s=0.6)
    assert np.all(env[mask] == -12.0)
    steps = np.diff(env)
    assert steps.min() >= -12.0 * HOP_S / 0.15 - 1e-9  # going down: no faster than attack_s
    assert steps.max() <= 12.0 * HOP_S / 0.6 + 1e-9  # coming back: no faster than release_s
    onset = round(SPEECH[0][0] / HOP_S)
    assert env[onset - round(0.15 / HOP_S) - 1] == 0.0 and env[onset - 5] < -3.0  # look-ahead ramp
    assert env[round(4.0 / HOP_S) + round(0.6 / HOP_S) + 1] == 0.0  # fully back after release_s


def test_mix_has_no_clicks() -> None:
    _, mask = speech_track()
    out = mix_under(np.zeros(round(SECONDS * SR)), music(), SR, speech_mask=mask, attack_s=0.05)
    # a steady sine bed: sample-to-sample change is bounded by the sine's own slope times its gain
    step = np.abs(np.diff(out, axis=0)).max()
    slope = 2 * np.pi * 660 / SR * np.abs(out).max()
    assert step <= slope * 1.05


def test_length_loudness_and_peak_of_a_real_mix() -> None:
    speech, mask = speech_track()
    out = mix_under(speech, music(SECONDS + 5.0), SR, speech_mask=mask)
    assert out.shape == (len(speech), 2) and out.dtype == np.float32 and np.all(np.isfinite(out))
    assert pyloudnorm.Meter(SR).integrated_loudness(out.astype(np.float64)) == pytest.approx(-16.0, abs=0.5)
    assert 20 * np.log10(np.abs(out).max()) <= -1.0
    assert np.abs(out[-10:]).max() < 1e-3  # the cut music is faded out, not chopped
    short = mix_under(speech, music(3.0), SR, speech_mask=mask)  # shorter music: padded
    assert short.shape == (len(speech), 2) and np.abs(short[round(5 * SR) : round(5.9 * SR)]).max() < 1e-6


def test_energy_mask_finds_the_speech() -> None:
    speech, truth = speech_track()
    noisy = speech + 0.001 * np.random.default_rng(0).standard_normal(len(speech))
    mask = energy_speech_mask(noisy, SR)
    assert abs(len(mask) - len(truth)) <= 1
    n = min(len(mask), len(truth))
    agree = np.mean(mask[:n] == truth[:n])
    assert agree > 0.95
    assert mask[round(3.0 / HOP_S)] and not mask[round(5.0 / HOP_S)]


def test_mono_music_empty_speech_and_bad_input() -> None:
    speech, mask = speech_track()
    out = mix_under(speech, tone(440), SR, speech_mask=mask)
    assert out.shape == (len(speech), 2)
    alone = mix_under(np.zeros(0), music(2.0), SR)  # a clip without audio: the music alone
    assert alone.shape == (round(2.0 * SR), 2)
    with pytest.raises(InputError):
        mix_under(speech, np.full((100, 2), np.nan), SR)
    with pytest.raises(InvalidOptionError):
        mix_under(speech, music(), SR, duck_db=6.0)


def test_export_mp3(tmp_path: Path) -> None:
    speech, mask = speech_track()
    out = mix_under(speech, music(), SR, speech_mask=mask)
    path = export_mp3(tmp_path / "mix.mp3", out, SR)
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name.startswith("mp3")
        assert stream.codec_context.channels == 2 and stream.codec_context.sample_rate == SR
        decoded = np.concatenate([f.to_ndarray() for f in container.decode(stream)], axis=1)
    assert abs(decoded.shape[1] / SR - SECONDS) < 0.1
    assert db_rms(decoded) == pytest.approx(db_rms(out), abs=1.0)
    with pytest.raises(OutputError):
        export_mp3(tmp_path / "missing" / "mix.mp3", out, SR)
    assert [p.name for p in tmp_path.iterdir()] == ["mix.mp3"]
