"""Stems for a DAW: a WAV and a MIDI file per part and the mix, all as long as the clip, adding up to the mix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf

from moodscore.models import Engine, default_example_clip, score_job

EXAMPLE = default_example_clip()


def test_stems_add_up_to_the_mix_and_line_up(tmp_path: Path) -> None:
    engine = Engine(debug=True)
    out = tmp_path / "out"
    result = score_job(engine, EXAMPLE, out, instruments=("piano", "bass", "pad"), stems=True, seed=2)
    folder = result.files["stems"]
    expected = {f"example_{p}.{x}" for p in ("piano", "bass", "pad") for x in ("wav", "mid")} | {"example_mix.wav"}
    assert {p.name for p in folder.iterdir()} == expected
    mix, sr = sf.read(folder / "example_mix.wav")
    parts = {p: sf.read(folder / f"example_{p}.wav")[0] for p in ("piano", "bass", "pad")}
    duration = result.summary.duration_s
    assert sr == 48000 and abs(len(mix) / sr - duration) < 0.001
    assert all(a.shape == mix.shape for a in parts.values())  # sample-aligned, the same length
    assert all(np.abs(a).max() > 0.01 for a in parts.values())  # every part plays
    residual = mix - sum(parts.values())
    assert 20 * np.log10(np.sqrt(np.mean(residual**2)) / np.sqrt(np.mean(mix**2))) < -60
    music, _ = sf.read(result.files["audio"])
    assert 20 * np.log10(np.sqrt(np.mean((music - mix) ** 2)) / np.sqrt(np.mean(mix**2))) < -60
    full = pretty_midi.PrettyMIDI(str(result.files["midi"]))
    for part in ("piano", "bass", "pad"):
        alone = pretty_midi.PrettyMIDI(str(folder / f"example_{part}.mid"))
        assert [i.name.lower() for i in alone.instruments] == [part]
        assert np.allclose(alone.get_downbeats(), full.get_downbeats(), atol=1e-3)  # the same tempo map
    # scored again without stems: the folder of the last set goes with it
    score_job(engine, EXAMPLE, out, seed=2)
    assert not (out / "stems").exists()


def test_the_music_level_is_the_users_and_measured(tmp_path: Path) -> None:
    import av

    engine = Engine(debug=True)
    default = score_job(engine, EXAMPLE, tmp_path / "a").summary.to_dict()["audio"]
    quieter = score_job(engine, EXAMPLE, tmp_path / "b", music_db=-12.0).summary.to_dict()["audio"]
    assert default["music_db_asked"] == -6.0 and quieter["music_db_asked"] == -12.0
    shift = quieter["music_vs_dialogue_db"] - default["music_vs_dialogue_db"]
    assert shift == pytest.approx(-6.0, abs=1.5)
    assert quieter["music_vs_dialogue_while_speaking_db"] < default["music_vs_dialogue_while_speaking_db"] - 4
    # the example's audio is 22.05 kHz: the outputs are at 48 kHz (a 44.1-96 kHz clip keeps its own rate)
    assert default["sample_rate"] == 48000 and sf.info(tmp_path / "a" / "music.wav").samplerate == 48000
    with av.open(str(tmp_path / "a" / "example_scored.mp4")) as c:
        assert c.streams.audio[0].codec_context.sample_rate == 48000
