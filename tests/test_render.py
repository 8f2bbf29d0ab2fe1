"""Rendering with real FluidSynth: shape, timing, tails, determinism, soundfont resolution, loudness, WAV."""

from __future__ import annotations

import struct
from importlib import resources
from pathlib import Path

import numpy as np
import pretty_midi
import pyloudnorm
import pytest
import soundfile as sf

from moodscore.models.errors import InputError, InvalidOptionError, OutputError
from moodscore.models.music import render
from moodscore.models.music.render import find_soundfont, normalize_loudness, render_midi, write_wav

SR = 44100
TIMGM = Path(str(resources.files("pretty_midi").joinpath("TimGM6mb.sf2")))


def piece(program: int = 0, *, drums: bool = True, start: float = 0.0) -> pretty_midi.PrettyMIDI:
    """Two seconds: a piano arpeggio and chord, a bass line on another program, a kick drum."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(program=program, name="piano")
    for i, pitch in enumerate((60, 64, 67, 72)):
        piano.notes.append(
            pretty_midi.Note(velocity=90, pitch=pitch, start=start + 0.25 * i, end=start + 0.25 * i + 0.3)
        )
    piano.notes += [pretty_midi.Note(velocity=80, pitch=p, start=start + 1.0, end=start + 2.0) for p in (48, 55, 64)]
    bass = pretty_midi.Instrument(program=33, name="bass")
    bass.notes.append(pretty_midi.Note(velocity=90, pitch=36, start=start, end=start + 1.0))
    pm.instruments += [piano, bass]
    if drums:
        kit = pretty_midi.Instrument(program=0, is_drum=True, name="drums")
        kit.notes += [
            pretty_midi.Note(velocity=110, pitch=36, start=start + t, end=start + t + 0.1) for t in (0.0, 1.0)
        ]
        pm.instruments.append(kit)
    return pm


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.fixture(scope="module")
def rendered() -> np.ndarray:
    return render_midi(piece(), sr=SR)


def test_render_is_stereo_float_nonsilent_with_a_release_tail(rendered: np.ndarray) -> None:
    assert rendered.dtype == np.float32 and rendered.ndim == 2 and rendered.shape[1] == 2
    end = piece().get_end_time()
    assert end * SR <= len(rendered) <= (end + render.MAX_TAIL_S) * SR
    assert len(rendered) > (end + 0.1) * SR  # the release/reverb tail is kept
    assert rms(rendered[: int(end * SR)]) > 1e-3
    assert rms(rendered[int(end * SR) :]) > 1e-5  # the tail is sound, not padding
    assert np.abs(rendered[-64:]).max() < 1e-3  # and it has died away at the end
    assert np.all(np.isfinite(rendered))


def test_events_land_at_their_time() -> None:
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0)
    inst.notes.append(pretty_midi.Note(velocity=100, pitch=69, start=1.0, end=1.5))
    pm.instruments.append(inst)
    audio = render_midi(pm, sr=SR)
    onset = int(np.flatnonzero(np.abs(audio).max(axis=1) > 1e-4)[0])
    assert abs(onset / SR - 1.0) < 0.002  # FluidSynth's 64-sample block: within 0.73 ms, plus the attack
    assert np.abs(audio[: int(0.99 * SR)]).max() < 1e-5


def test_render_is_deterministic_whatever_came_before(rendered: np.ndarray) -> None:
    render_midi(piece(program=40, start=0.3), sr=SR)  # leaves nothing behind in the shared soundfont
    again = render_midi(piece(), sr=SR)
    assert again.shape == rendered.shape and np.array_equal(again, rendered)


def test_programs_and_drums_change_the_sound(rendered: np.ndarray) -> None:
    violin = render_midi(piece(program=40), sr=SR)
    assert not np.array_equal(violin[: len(rendered)], rendered[: len(violin)])
    only_drums = pretty_midi.PrettyMIDI()
    kit = pretty_midi.Instrument(program=0, is_drum=True)
    kit.notes.append(pretty_midi.Note(velocity=110, pitch=38, start=0.0, end=0.2))  # snare
    only_drums.instruments.append(kit)
    assert rms(render_midi(only_drums, sr=SR)) > 1e-3


def test_other_rate_and_bundled_soundfont() -> None:
    audio = render_midi(piece(), sr=22050, soundfont=TIMGM)
    assert audio.shape[1] == 2 and len(audio) >= 2.0 * 22050 and rms(audio) > 1e-3
    with pytest.raises(InvalidOptionError):
        render_midi(piece(), sr=1000)


def test_soundfont_resolution_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(render.ENV_SOUNDFONT, str(TIMGM))
    assert find_soundfont() == TIMGM
    monkeypatch.setenv(render.ENV_SOUNDFONT, str(tmp_path / "missing.sf2"))
    with pytest.raises(InputError, match=render.ENV_SOUNDFONT):
        find_soundfont()
    monkeypatch.delenv(render.ENV_SOUNDFONT)
    fake_fluid = tmp_path / "FluidR3_GM.sf2"
    fake_fluid.write_bytes(b"x")
    monkeypatch.setattr(render, "FLUIDR3_PATHS", (tmp_path / "nope.sf2", fake_fluid))
    assert find_soundfont() == fake_fluid
    monkeypatch.setattr(render, "FLUIDR3_PATHS", ())
    assert find_soundfont() == TIMGM


def test_env_soundfont_must_be_a_soundfont(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    text = tmp_path / "notes.sf2"
    text.write_text("not a soundfont\n")
    monkeypatch.setenv(render.ENV_SOUNDFONT, str(text))
    with pytest.raises(InputError, match=render.ENV_SOUNDFONT):
        render_midi(piece())


@pytest.mark.parametrize("kind", ["truncated", "text", "empty", "garbage-inside"])
def test_corrupt_soundfont_gives_one_line_input_error(
    kind: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / f"{kind}.sf2"
    if kind == "truncated":
        bad.write_bytes(TIMGM.read_bytes()[:200_000])
    elif kind == "text":
        bad.write_text("hello, I am a text file\n" * 10)
    elif kind == "empty":
        bad.write_bytes(b"")
    else:  # a well-formed RIFF header whose chunks are nonsense: only FluidSynth can tell
        junk = b"LIST" + struct.pack("<I", 100) + b"x" * 100
        bad.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(junk)) + b"sfbk" + junk)
    with pytest.raises(InputError) as info:
        render_midi(piece(), soundfont=bad)
    message = str(info.value)
    assert "\n" not in message and bad.name in message
    assert capfd.readouterr().out == ""  # FluidSynth's chatter never reaches stdout


def test_missing_soundfont_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        render_midi(piece(), soundfont=tmp_path / "absent.sf2")


def measured_lufs(x: np.ndarray, sr: int = SR) -> float:
    return float(pyloudnorm.Meter(sr).integrated_loudness(np.asarray(x, dtype=np.float64)))


@pytest.mark.parametrize("target", [-16.0, -23.0, -14.0])
def test_normalize_hits_target_under_the_peak_ceiling(rendered: np.ndarray, target: float) -> None:
    out = normalize_loudness(rendered, SR, target_lufs=target)
    assert out.shape == rendered.shape and out.dtype == np.float32
    assert abs(measured_lufs(out) - target) < 0.5
    assert 20 * np.log10(np.abs(out).max()) <= -1.0


def test_limiter_holds_on_spiky_audio() -> None:
    t = np.arange(3 * SR) / SR
    x = 0.01 * np.sin(2 * np.pi * 220 * t)
    x[:: SR // 4] = 1.0  # clicks 40 dB over the tone: the limiter must hold them
    out = normalize_loudness(x, SR, target_lufs=-16.0)
    assert np.all(np.isfinite(out)) and 20 * np.log10(np.abs(out).max()) <= -1.0
    assert out.shape == x.shape


def test_silence_stays_silence_and_short_audio_works() -> None:
    silent = normalize_loudness(np.zeros((SR, 2), np.float32), SR)
    assert np.all(silent == 0.0)
    assert normalize_loudness(np.zeros(0), SR).shape == (0,)
    short = normalize_loudness(0.1 * np.sin(np.arange(2205) / 5.0), SR)  # 50 ms: shorter than a 400 ms block
    assert np.all(np.isfinite(short)) and 0 < np.abs(short).max() <= 10 ** (-1 / 20)
    with pytest.raises(InputError):
        normalize_loudness(np.array([0.1, np.nan, 0.2]), SR)


def test_write_wav_round_trip_and_atomic_failure(tmp_path: Path, rendered: np.ndarray) -> None:
    out = write_wav(tmp_path / "music.wav", rendered, SR)
    data, sr = sf.read(out, dtype="float32")
    assert sr == SR and data.shape == rendered.shape
    assert np.abs(data - np.clip(rendered, -1, 1)).max() < 1e-4
    write_wav(tmp_path / "music_f.wav", rendered, SR, subtype="FLOAT")
    assert np.array_equal(sf.read(tmp_path / "music_f.wav", dtype="float32")[0], rendered)
    with pytest.raises(OutputError):
        write_wav(tmp_path / "no" / "such" / "dir.wav", rendered, SR)
    with pytest.raises(InputError):
        write_wav(tmp_path / "nan.wav", np.full(10, np.nan), SR)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["music.wav", "music_f.wav"]


def test_fluidr3_is_preferred_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(render.ENV_SOUNDFONT, raising=False)
    installed = [p for p in render.FLUIDR3_PATHS if p.is_file()]
    if not installed:
        pytest.skip("FluidR3_GM is not installed here")
    assert find_soundfont() == installed[0]


def test_env_soundfont_that_fluidsynth_rejects_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    junk = b"LIST" + struct.pack("<I", 100) + b"x" * 100
    bad = tmp_path / "inside.sf2"
    bad.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(junk)) + b"sfbk" + junk)
    monkeypatch.setenv(render.ENV_SOUNDFONT, str(bad))
    with pytest.raises(InputError, match=f"^{render.ENV_SOUNDFONT}: soundfont inside.sf2"):
        find_soundfont()


def test_concurrent_renders_match_serial_ones(rendered: np.ndarray) -> None:
    from concurrent.futures import ThreadPoolExecutor

    violin = render_midi(piece(program=40), sr=SR)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda p: render_midi(piece(program=p), sr=SR), [0, 40, 0, 40]))
    assert all(np.array_equal(r, rendered if i % 2 == 0 else violin) for i, r in enumerate(results))
