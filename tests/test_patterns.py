"""POP909 pattern mining (models/train/train_patterns.py) and the shipped models/weights/patterns.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from moodscore.models.errors import InputError
from moodscore.models.train import train_patterns as tp

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "models" / "weights" / "patterns.json"


# ------------------------------------------------------------------------------------------ chord labels


@pytest.mark.parametrize(
    ("label", "key", "token"),
    [
        ("B:maj", "Gb:maj", "5:maj"),
        ("A:min7", "C:maj", "9:min7"),
        ("G:sus4(b7)", "C:maj", "7:sus4"),
        ("E:7/3", "A:min", "7:7"),
        ("C:maj/5", "C:maj", "0:maj"),
        ("F#:min/b3", "D:maj", "4:min"),
        ("Bb:maj6", "F:maj", "5:maj"),
        ("D:min6", "A:min", "5:min"),
        ("C#:hdim7", "D:min", "11:hdim7"),
        ("Ab:minmaj7", "Ab:min", "0:min"),
        ("G:dim7", "Ab:maj", "11:dim7"),
        ("Eb:aug", "C:min", "3:aug"),
        ("D:sus2", "D:maj", "0:sus2"),
        ("A:maj7/7", "E:maj", "5:maj7"),
    ],
)
def test_chord_token(label: str, key: str, token: str) -> None:
    assert tp.chord_token(label, key) == token


def test_chord_token_no_chord_and_bad_input() -> None:
    assert tp.chord_token("N", "C:maj") is None
    assert tp.parse_chord("A:7/3") == tp.Chord(9, "7", True)
    assert tp.parse_chord("A:7") == tp.Chord(9, "7", False)
    assert tp.parse_key("Gb:maj") == (6, "major")
    assert tp.parse_key("A:min") == (9, "minor")
    with pytest.raises(InputError):
        tp.chord_token("H:maj", "C:maj")
    with pytest.raises(InputError):
        tp.parse_key("C:dorian")
    with pytest.raises(InputError):
        tp.quality("xyz")


def test_round_duration() -> None:
    beats = (0.3, 1.0, 1.6, 2.4, 3.1, 5.2, 7.0, 10.5, 30.0)
    assert [tp.round_duration(b) for b in beats] == [1, 1, 2, 2, 3, 6, 6, 12, 16]


# ------------------------------------------------------------------------------------------ chord model


def test_chord_model_counts() -> None:
    seq = [("0:maj", 4), ("7:maj", 2), ("9:min", 2), ("5:maj", 4)]
    model, stats = tp.chord_model([seq] * 6, [True] * 6, [True] * 6)
    vocab = model["vocab"]
    assert set(vocab) == {"0:maj", "7:maj", "9:min", "5:maj"}
    i = {t: k for k, t in enumerate(vocab)}
    assert model["start"][i["0:maj"]] == 1.0
    assert model["final"][i["5:maj"]] == 1.0
    assert model["final_rate"][i["5:maj"]] == 1.0 and model["final_rate"][i["0:maj"]] == 0.0
    row = model["bigram"][i["0:maj"]]
    assert sum(row) == pytest.approx(1.0, abs=1e-9)
    assert row[i["7:maj"]] == pytest.approx((6 + 0.1) / (6 + 0.4), abs=1e-4)
    assert model["trigram"] == {
        f"{i['0:maj']},{i['7:maj']}": {str(i["9:min"]): 6},
        f"{i['7:maj']},{i['9:min']}": {str(i["5:maj"]): 6},
    }
    assert model["durations_beats"]["4"] == 0.5 and model["durations_beats"]["2"] == 0.5
    assert stats["top_bigrams"][0]["count"] == 6


def test_chord_model_rare_tokens_and_key_change_runs() -> None:
    seqs = [[("0:maj", 2), ("7:maj", 2)]] * 4 + [[("1:aug", 2)], [("7:maj", 2), ("0:maj", 2)]]
    model, _ = tp.chord_model(seqs, [True] * 4 + [True, False], [True] * 4 + [True, False])
    assert "1:aug" not in model["vocab"]  # seen once: below MIN_VOCAB_COUNT
    i = {t: k for k, t in enumerate(model["vocab"])}
    assert model["start"][i["0:maj"]] == 1.0  # the run that begins at a key change is no section start
    assert model["final"][i["7:maj"]] == 1.0  # nor does the run that ends at one end a section
    assert model["trigram"] == {}  # no context seen 5 times


# ------------------------------------------------------------------------------------------ one song


def _fake_song(root: Path) -> Path:
    """A 3-bar song at 120 bpm in G major: bar 1 G (piano G3 B3 D4 on beats), bar 2 Em, bar 3 two chords."""
    pretty_midi = pytest.importorskip("pretty_midi")
    d = root / "001"
    d.mkdir(parents=True)
    beat = 0.5
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    tracks = {name: pretty_midi.Instrument(program=0, name=name) for name in ("MELODY", "BRIDGE", "PIANO")}
    piano = tracks["PIANO"]
    for b, p in enumerate((55, 59, 62, 55)):  # bar 1: G chord tones, one per beat
        piano.notes.append(pretty_midi.Note(velocity=70, pitch=p, start=b * beat, end=(b + 1) * beat))
    for b, p in enumerate((52, 55, 59, 61)):  # bar 2: Em, 3 of 4 chord tones (C# is not)
        piano.notes.append(pretty_midi.Note(velocity=70, pitch=p, start=(4 + b) * beat, end=(5 + b) * beat))
    piano.notes.append(pretty_midi.Note(velocity=70, pitch=60, start=8 * beat, end=12 * beat))  # bar 3
    for k, p in enumerate((74, 76, 78, 79)):  # melody: eighths, then a rest of more than a beat, then 67
        tracks["MELODY"].notes.append(
            pretty_midi.Note(velocity=90, pitch=p, start=k * beat / 2, end=(k + 1) * beat / 2 - 0.01)
        )
    tracks["MELODY"].notes.append(pretty_midi.Note(velocity=90, pitch=67, start=3.25 * beat, end=4 * beat))
    pm.instruments.extend(tracks.values())
    pm.write(str(d / "001.mid"))
    (d / "beat_midi.txt").write_text("".join(f"{b * beat} 1.0 {1.0 if b % 4 == 0 else 0.0}\n" for b in range(13)))
    chords = [(0, 4, "G:maj"), (4, 6, "E:min"), (6, 8, "E:min/5"), (8, 10, "C:maj"), (10, 12, "D:7")]
    (d / "chord_midi.txt").write_text("".join(f"{a * beat}\t{b * beat}\t{lab}\n" for a, b, lab in chords))
    (d / "key_audio.txt").write_text(f"0.0\t{12 * beat}\tG:maj\n")
    return root


def test_song_stats_on_a_fake_song(tmp_path: Path) -> None:
    root = _fake_song(tmp_path / "pop909")
    (song,) = tp.pop909_songs(root)
    st = tp.song_stats(song)
    # E:min and E:min/5 are one chord event; 5 chord lines, one inverted
    assert st.sequences["major"] == [[("0:maj", 4), ("9:min", 4), ("5:maj", 2), ("7:7", 2)]]
    assert st.section_starts["major"] == [True] and st.section_ends["major"] == [True]
    assert (st.chords, st.inversions) == (5, 1)
    assert st.bars == 3 and st.piano_per_bar == [4, 4, 1]
    # bar 1: G -> C by +5 semitones (root pc 7 -> shift -5), register kept
    assert st.patterns["maj"] == {((0, 4, 60), (4, 4, 64), (8, 4, 67), (12, 4, 60)): 1}
    # bar 2: E minor (root pc 4 -> shift 4): 52 55 59 61 -> 48 51 55 57, 3/4 chord tones -> kept
    assert st.patterns["min"] == {((0, 4, 48), (4, 4, 51), (8, 4, 55), (12, 4, 57)): 1}
    # bar 3 has two chords and one note: no pattern
    assert st.rhythms == {((0, 2, 4, 6, 13), (2, 2, 2, 2, 3)): 1}
    assert st.intervals["major"] == {2: 2, 1: 1}  # 74 76 78 79, then a rest longer than a beat
    assert st.mode == "major" and st.melody_pitches == [74, 76, 78, 79, 67]


def test_training_songs_hold_out_ids_ending_in_0(tmp_path: Path) -> None:
    for i in (1, 9, 10, 11, 20, 100, 101):
        d = tmp_path / f"{i:03d}"
        d.mkdir()
        (d / f"{i:03d}.mid").write_bytes(b"")
    assert [s.song_id for s in tp.training_songs(tmp_path)] == ["001", "009", "011", "101"]


# ------------------------------------------------------------------------------------------ shipped file


@pytest.fixture(scope="module")
def shipped() -> dict[str, Any]:
    assert SHIPPED.is_file(), f"missing {SHIPPED}: run python -m moodscore.models.train.train_patterns"
    return json.loads(SHIPPED.read_text(encoding="utf-8"))


def test_shipped_file_is_small_and_has_the_schema(shipped: dict[str, Any]) -> None:
    assert SHIPPED.stat().st_size < 1.5e6
    assert set(shipped) >= {"meta", "chords", "accompaniment", "melody_rhythms", "melody_intervals", "stats"}
    meta = shipped["meta"]
    assert {"data", "licence", "songs_used", "held_out_rule", "command", "date", "version"} <= set(meta)
    assert meta["licence"] == "MIT" and meta["held_out_rule"] == "song id % 10 == 0 held out"
    assert meta["songs_used"] > 700 and meta["date"] == "2026-12-05" and meta["version"] == 1
    assert not any(int(s) % 10 == 0 for s in meta["song_ids"]) and len(meta["song_ids"]) == meta["songs_used"]
    # (the command as it was run; the module has since moved under the moodscore namespace)
    assert meta["command"].startswith(("python -m models.train.train_patterns", "python -m moodscore.models.train."))
    for mode in ("major", "minor"):
        m = shipped["chords"][mode]
        assert {"vocab", "start", "bigram", "trigram", "final", "durations_beats"} <= set(m)
        v = len(m["vocab"])
        assert len(set(m["vocab"])) == v
        for tok in m["vocab"]:
            root, qual = tok.split(":")
            assert 0 <= int(root) <= 11 and qual in tp.QUALITIES
        assert len(m["start"]) == v and len(m["final"]) == v
        assert sum(m["start"]) == pytest.approx(1.0, abs=1e-6) and sum(m["final"]) == pytest.approx(1.0, abs=1e-6)
        assert sum(m["durations_beats"].values()) == pytest.approx(1.0, abs=1e-3)
        assert set(m["durations_beats"]) <= {str(d) for d in tp.DURATION_STEPS}
        for ctx, nxt in m["trigram"].items():
            i, j = map(int, ctx.split(","))
            assert 0 <= i < v and 0 <= j < v and sum(nxt.values()) >= 5
            assert all(0 <= int(k) < v and n > 0 for k, n in nxt.items())
    assert len(shipped["melody_rhythms"]) >= 100
    counts = [r["count"] for r in shipped["melody_rhythms"]]
    assert counts == sorted(counts, reverse=True)
    for r in shipped["melody_rhythms"]:
        assert len(r["onsets"]) == len(r["durs"]) >= 1
        assert all(0 <= o <= 15 for o in r["onsets"]) and all(1 <= d <= 16 for d in r["durs"])
    for mode in ("major", "minor"):
        hist = shipped["melody_intervals"][mode]
        assert set(hist) == {str(k) for k in range(-12, 13)}
        assert sum(hist.values()) == pytest.approx(1.0, abs=1e-3)


def test_shipped_bigram_rows_sum_to_one(shipped: dict[str, Any]) -> None:
    for mode in ("major", "minor"):
        b = np.asarray(shipped["chords"][mode]["bigram"], float)
        v = len(shipped["chords"][mode]["vocab"])
        assert b.shape == (v, v)
        assert np.all(b > 0)  # smoothed
        np.testing.assert_allclose(b.sum(1), 1.0, atol=1e-6)


def test_shipped_chords_are_pop_harmony(shipped: dict[str, Any]) -> None:
    major = shipped["chords"]["major"]
    assert {"0:maj", "5:maj", "7:maj", "9:min"} <= set(major["vocab"])
    i = major["vocab"].index("7:maj")
    best = major["vocab"][int(np.argmax(major["bigram"][i]))]
    assert best in {"0:maj", "9:min", "5:maj"}
    minor = shipped["chords"]["minor"]
    assert {"0:min", "3:maj", "8:maj", "10:maj"} <= set(minor["vocab"])
    assert minor["vocab"][int(np.argmax(minor["start"]))] in {"0:min", "8:maj", "3:maj", "5:min"}


def test_shipped_accompaniment_patterns(shipped: dict[str, Any]) -> None:
    for qual in ("maj", "min"):
        pats = shipped["accompaniment"][qual]
        assert 100 <= len(pats) <= 700
        assert [p["count"] for p in pats] == sorted((p["count"] for p in pats), reverse=True)
        tones = {"maj": {0, 4, 7, 10, 11}, "min": {0, 3, 7, 10}}[qual]
        for p in pats:
            notes = p["notes"]
            assert 2 <= len(notes) <= 24 and p["density"] == len(notes)
            assert notes == sorted(notes)
            assert all(0 <= o <= 15 and 1 <= d <= 16 and 21 <= pitch <= 108 for o, d, pitch in notes)
            assert p["low"] == min(n[2] for n in notes) and p["high"] == max(n[2] for n in notes)
            assert 1 <= p["songs"] <= p["count"]
            assert sum(n[2] % 12 in tones for n in notes) >= 0.75 * len(notes)
