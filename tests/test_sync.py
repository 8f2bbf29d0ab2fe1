"""Music locked to picture: bar lines on cuts, emotion changes and hits by a tempo map; the music ends with the
clip on a cadence. Measured on what was written (the MIDI file's own downbeats and beats, the WAV's length)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf
from media_fixtures import make_example

from moodscore.models import Engine, default_example_clip, score_job
from moodscore.models.errors import InvalidOptionError
from moodscore.models.keys import parse_key
from moodscore.models.music.sync import Moment, picture_grid


def test_moments_land_on_bar_lines_inside_the_tempo_range() -> None:
    moments = [Moment(t, "cut", 1) for t in (2.48, 5.0, 7.52, 9.84)]
    grid = picture_grid(12.0, moments, 100.0)
    assert grid.bar_times[0] == 0.0 and grid.bar_times[-1] == 12.0
    assert [m.t_s for m in grid.hit] == [2.48, 5.0, 7.52, 9.84] and not grid.missed
    assert all(abs(grid.offset_s(m.t_s, strong=False)) < 1e-9 for m in grid.hit)  # downbeats, here
    assert all(85.0 - 1e-6 <= t <= 115.0 + 1e-6 for t in grid.tempos)
    # two moments closer than a half bar at the fastest tempo: the cut gives way to the emotion change
    close = picture_grid(12.0, [Moment(6.0, "segment", 3), Moment(6.3, "cut", 1)], 100.0)
    assert [m.kind for m in close.hit] == ["segment"] and [m.kind for m in close.missed] == ["cut"]
    # an emotion change (known to a window's hop) 50 ms from a hit (known to the frame) is that hit: the bar line
    # falls on the hit, and neither is let go
    snapped = picture_grid(12.0, [Moment(3.75, "segment", 3), Moment(3.7, "hit", 2)], 100.0)
    assert [m.kind for m in snapped.hit] == ["hit"] and not snapped.missed and abs(snapped.offset_s(3.7)) < 1e-9
    # a stretch too short for whole bars in the range falls on the third beat (the other strong beat)
    half = picture_grid(9.6, [Moment(1.2, "hit", 2)], 100.0)
    assert abs(half.offset_s(1.2)) < 1e-9 and abs(half.offset_s(1.2, strong=False)) > 0.5
    with pytest.raises(ValueError, match="range"):
        picture_grid(10.0, [], 100.0, lo=110.0, hi=120.0)


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, object]:
    maker = make_example()
    folder = tmp_path_factory.mktemp("sync")
    clip = folder / "cuts.mp4"
    maker.make_cuts_clip(clip)
    result = score_job(Engine(debug=True), clip, folder / "out", hits=(3.7,), tempo_range=(88.0, 116.0))
    return folder / "out", json.loads(result.files["summary"].read_text()), maker


def test_cuts_and_hits_land_within_40_ms_in_the_written_midi(scored: tuple[Path, dict, object]) -> None:
    out, summary, maker = scored
    midi = pretty_midi.PrettyMIDI(str(out / "score.mid"))
    downbeats = midi.get_downbeats()
    beats = midi.get_beats()
    strong = beats[::2]  # beats 1 and 3 of every bar
    for cut in maker.CUTS_S:  # type: ignore[attr-defined]
        assert np.min(np.abs(downbeats - cut)) <= 0.040, (cut, downbeats)
    assert np.min(np.abs(strong - 3.7)) <= 0.040, strong  # the hit asked for
    sync = summary["sync"]
    assert all(abs(c["offset_ms"]) <= 40 for c in sync["cuts"]) and not sync["missed"]
    assert all(88.0 - 0.01 <= t <= 116.0 + 0.01 for t in sync["tempo_map"])
    tempos = midi.get_tempo_changes()[1]
    assert len(set(np.round(tempos, 2))) > 1  # a tempo map, written into the file


def test_the_music_ends_with_the_clip_on_a_cadence(scored: tuple[Path, dict, object]) -> None:
    out, summary, _ = scored
    duration = summary["duration_s"]
    midi = pretty_midi.PrettyMIDI(str(out / "score.mid"))
    last_bar = midi.get_downbeats()[-1]
    piano = [n for i in midi.instruments if not i.is_drum for n in i.notes]
    ends = max(n.end for n in piano)
    assert abs(ends - duration) <= 0.050 or ends <= duration  # nothing written past the clip's end
    final = [n for n in piano if n.start >= last_bar - 1e-3 and n.end >= duration - 0.2]  # ringing at the end
    key = parse_key(summary["sections"][-1]["key"])  # the last section's key (a change of mode may end the piece)
    assert key is not None
    triad = {key.tonic % 12, (key.tonic + (3 if key.minor else 4)) % 12, (key.tonic + 7) % 12}
    assert final and {n.pitch % 12 for n in final} <= triad, (summary["key"], sorted({n.pitch % 12 for n in final}))
    music, sr = sf.read(out / "music.wav")
    assert abs(len(music) / sr - duration) <= 0.050
    assert np.abs(music[-int(0.01 * sr) :]).max() < 0.05  # faded out at the last frame, not cut off


def test_a_tempo_range_that_excludes_the_tempo_is_refused(scored: tuple[Path, dict, object], tmp_path: Path) -> None:
    with pytest.raises(InvalidOptionError, match="range"):
        score_job(Engine(debug=True), default_example_clip(), tmp_path / "o", tempo=100.0, tempo_range=(120.0, 110.0))
