"""EMOPIA accompaniment mining (models/train/train_emopia_patterns.py), the shipped emopia_patterns.json, and how the
composer plays those bars over its own chords."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import pytest

from moodscore.models.music import accompaniment as acc
from moodscore.models.music.data import emopia_split
from moodscore.models.music.theory import chord
from moodscore.models.train import train_emopia_patterns as tep

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "models" / "weights" / "emopia_patterns.json"
PROGRESSION = [(0, "maj"), (9, "min"), (5, "maj"), (7, "maj")]  # C, Am, F, G: one chord a bar


def _left_hand(root: int, quality: str) -> list[tuple[int, int, int]]:
    """(onset16, dur16, pitch) of one bar: root, fifth, tenth, fifth, in eighths and quarters."""
    bass = 36 + (root + 6) % 12 - 6  # every root near C2 (A and G below it)
    third = 3 if quality == "min" else 4
    return [(0, 4, bass), (4, 4, bass + 7), (8, 4, bass + 12 + third), (12, 4, bass + 7)]


def _performed_clip(path: Path, *, bpm: float = 96.0, bars: int = 16, seed: int = 0) -> None:
    """A played clip: the progression with a left-hand figure and a tune in quarters on top (chord tones from C5
    up), every onset a few ms off the grid, starting after a half-second pickup rest."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    pm = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(0)
    for b in range(bars):
        root, quality = PROGRESSION[b % 4]
        t0 = 0.5 + b * 4 * beat
        for o, d, p in _left_hand(root, quality):
            s = t0 + o * beat / 4 + rng.normal(0, 0.008)
            piano.notes.append(pretty_midi.Note(70, p, s, s + d * beat / 4 * 0.95))
        tones = [72 + (root + i) % 12 for i in (0, 4 if quality == "maj" else 3, 7)]
        for k in range(4):
            s = t0 + k * beat + rng.normal(0, 0.008)
            piano.notes.append(pretty_midi.Note(85, tones[k % 3], s, s + beat * 0.9))
    pm.instruments.append(piano)
    pm.write(str(path))


def _fake_emopia(root: Path) -> Path:
    (root / "midis").mkdir(parents=True)
    (root / "split").mkdir()
    _performed_clip(root / "midis" / "Q1_songA_0.mid")
    (root / "label.csv").write_text("ID,4Q,annotator\nQ1_songA_0,1,A\n")
    for split in ("train", "val", "test"):
        (root / "split" / f"{split}_clip.csv").write_text(",clip_name\n0,Q1_songA_0.mid\n")
    return root


def test_a_played_clip_gives_its_left_hand_back_over_c(tmp_path: Path) -> None:
    root = _fake_emopia(tmp_path / "emopia")
    (clip,) = emopia_split(root, "train")
    _, report = tep.clip_patterns(clip)
    assert report["tempo"] == pytest.approx(96, abs=3)
    pats = {tuple(map(tuple, p)) for p in report["patterns"]}
    # every bar is the same figure once moved onto C (Am's third C written as E: a major third, like all patterns);
    # the tune (the skyline from middle C up) is not part of it
    expected = {tuple(sorted((o, d, tep.over_c(p, r, q)) for o, d, p in _left_hand(r, q))) for r, q in PROGRESSION}
    assert len(expected) == 1
    assert report["counts"]["kept"] >= 12
    assert pats == expected
    (figure,) = expected
    assert [p % 12 for _, _, p in figure] == [0, 7, 4, 7]
    assert all(p < 60 for _, _, p in figure)


def test_mine_writes_quadrants_and_stats(tmp_path: Path) -> None:
    root = _fake_emopia(tmp_path / "emopia")
    out = tmp_path / "emopia_patterns.json"
    assert tep.main(["--emopia", str(root), "--out", str(out), "--workers", "1"]) == 0
    doc = json.loads(out.read_text())
    assert list(doc["accompaniment"]) == ["Q1"]
    (pat,) = doc["accompaniment"]["Q1"]
    assert pat["count"] >= 12 and pat["songs"] == 1 and pat["density"] == 4
    assert "non-commercial" in doc["meta"]["data"]
    assert doc["meta"]["clips"] == ["Q1_songA_0"]


def test_a_missing_data_set_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tep.main(["--emopia", str(tmp_path / "nothing"), "--out", str(tmp_path / "x.json")]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


@pytest.fixture(scope="module")
def shipped() -> dict[str, Any]:
    return json.loads(SHIPPED.read_text())


def test_shipped_file_holds_every_quadrant_from_train_clips_only(shipped: dict[str, Any]) -> None:
    assert SHIPPED.stat().st_size < 1_000_000
    assert set(shipped["accompaniment"]) == {"Q1", "Q2", "Q3", "Q4"}
    clips = set(shipped["meta"]["clips"])
    assert len(clips) == 876 and all(c[:2] in ("Q1", "Q2", "Q3", "Q4") for c in clips)
    split = ROOT.parent / "shared" / "data" / "emopia" / "split"
    if split.is_dir():  # the held-out clips were never read
        for name in ("val", "test"):
            held = {
                line.split(",")[1].strip()[:-4]
                for line in (split / f"{name}_clip.csv").read_text().split("\n")[1:]
                if line
            }
            assert not clips & held
    for pats in shipped["accompaniment"].values():
        assert 300 <= len(pats) <= tep.PER_QUADRANT
        for p in pats:
            notes = p["notes"]
            assert 2 <= len(notes) <= 24 and p["density"] == len(notes) and notes == sorted(notes)
            assert all(0 <= o <= 15 and 1 <= d <= 16 and 21 <= pitch <= 108 for o, d, pitch in notes)


def test_a_bar_over_c_is_bent_onto_each_chord() -> None:
    # root, fifth, tenth: over A minor the tenth is C (a minor third), over D major F sharp, over B diminished F
    pattern = acc.Pattern("t", 0.5, 0.0, ((0, 4, 36), (4, 4, 43), (8, 4, 52)))
    for symbol, tonic, third in (("6:min", 3, 0), ("2:maj", 0, 6), ("11:dim", 0, 2)):
        ch = chord(symbol, tonic)
        notes = acc.realise(
            pattern, bar=0, chords=[ch] * 16, tonic=tonic, bass_low=33, melody_low=72, voicer=acc.Voicer()
        )
        assert sorted({n.pitch % 12 for n in notes}) == sorted({ch.root, third, (ch.root + ch.intervals[2]) % 12})


def test_pop909_bars_mined_over_minor_chords_play_a_major_third_over_major_ones() -> None:
    raw = {"min": [{"notes": [[0, 8, 36], [0, 8, 39], [0, 8, 43]]}], "maj": [{"notes": [[0, 8, 36], [0, 8, 40]]}]}
    pats = acc.learned_patterns(raw)
    assert len({p.name for p in pats}) == 2
    c_major = chord("0:maj", 0)
    for p in pats:
        notes = acc.realise(p, bar=0, chords=[c_major] * 16, tonic=0, bass_low=33, melody_low=72, voicer=acc.Voicer())
        assert 3 not in {n.pitch % 12 for n in notes}


def test_emopia_bars_lean_to_their_quadrant() -> None:
    raw = {q: [{"notes": [[0, 4, 36], [4, 4, 43]]}] * 3 for q in ("Q1", "Q2", "Q3", "Q4")}
    pats = acc.emopia_patterns(raw)
    assert len({p.name for p in pats}) == 12
    table = acc.PatternTable.of(pats)
    from moodscore.models.music.controls import controls

    rng = np.random.default_rng(0)
    for (v, a), q in (((-0.5, -0.5), "Q3"), ((0.5, 0.5), "Q1"), ((-0.5, 0.6), "Q2"), ((0.6, -0.5), "Q4")):
        drawn = [acc.choose_pattern(table, controls(v, a), 2.0, rng).name.split()[1] for _ in range(200)]
        assert drawn.count(q) > 0.8 * len(drawn)
    # near the valence axis both sides are drawn (the texture changes smoothly, not at a line)
    near = [acc.choose_pattern(table, controls(-0.05, -0.5), 2.0, rng).name.split()[1] for _ in range(300)]
    assert 0.25 < near.count("Q3") / len(near) < 0.75


def test_an_unreadable_texture_file_is_one_line(tmp_path: Path) -> None:
    from moodscore.models.errors import ModelLoadError
    from moodscore.models.music.composer import Composer

    bad = tmp_path / "bad.json"
    for text, words in (("{not json", "cannot read"), ('{"meta": {}}', "not a moodscore accompaniment file")):
        bad.write_text(text)
        with pytest.raises(ModelLoadError, match=words) as e:
            Composer(texture_path=str(bad))
        assert "\n" not in str(e.value)
    with pytest.raises(ModelLoadError, match="cannot read"):
        Composer(texture_path=str(tmp_path / "missing.json"))
