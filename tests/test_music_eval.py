"""The independent music benchmark (benchmarks/music_eval/): folds, pedal, key finder, hygiene, two-sample test."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.music_eval import features, midi, stats, structure


def _midi(
    tracks: list[tuple[str, int, bool, list[tuple[float, float, int]]]], tempo: float = 120.0
) -> pretty_midi.PrettyMIDI:
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    for name, program, drum, notes in tracks:
        inst = pretty_midi.Instrument(program=program, is_drum=drum, name=name)
        inst.notes = [pretty_midi.Note(velocity=80, pitch=p, start=s, end=e) for s, e, p in notes]
        pm.instruments.append(inst)
    return pm


def _roundtrip(pm: pretty_midi.PrettyMIDI, tmp_path: Path) -> pretty_midi.PrettyMIDI:
    path = tmp_path / "piece.mid"
    pm.write(str(path))
    return midi.load_pm(path)


def test_grouped_folds_never_split_a_group() -> None:
    rng = np.random.default_rng(0)
    groups = np.array([f"s{int(g)}" for g in rng.integers(0, 40, 300)])
    y = np.array([int(g[1:]) % 2 for g in groups])  # the label is a property of the song
    for seed in (0, 1, 2):
        folds = stats.grouped_folds(y, groups, 5, seed)
        assert len(folds) == 5
        test_idx = np.concatenate([te for _, te in folds])
        assert sorted(test_idx.tolist()) == list(range(len(y)))  # every piece held out exactly once
        for tr, te in folds:
            assert not set(groups[tr]) & set(groups[te])
            assert set(y[te]) == {0, 1}
    # a class with fewer groups than folds is split per piece instead (and still covered once)
    y2 = np.r_[np.zeros(20, int), np.ones(20, int)]
    g2 = np.array([f"r{i}" for i in range(20)] + ["seed"] * 20, dtype=object)
    folds = stats.grouped_folds(y2, g2, 5, 0)
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(40))
    assert all((y2[te] == 1).any() for _, te in folds)


def test_balanced_indices_subsample_the_larger_side() -> None:
    y = np.r_[np.zeros(100, int), np.ones(30, int)]
    idx = stats.balanced_indices(y, np.random.default_rng(0))
    assert np.bincount(y[idx]).tolist() == [30, 30]
    assert len(set(idx.tolist())) == 60


def test_pedal_extension() -> None:
    notes = np.array(
        [
            [0.0, 1.0, 60, 80],  # released while the pedal is down (0.5-3.0): held to 3.0
            [0.2, 0.4, 64, 80],  # released before the pedal goes down: unchanged
            [1.0, 1.5, 67, 80],  # held, but struck again at 2.0: ends at 2.0
            [2.0, 2.2, 67, 80],  # held to the release at 3.0
            [3.5, 4.0, 72, 80],  # after the release, pedal down again at 3.8 until the end (never released)
        ]
    )
    pedal = [(0.5, 127), (1.0, 100), (3.0, 0), (3.8, 127)]
    out = midi.extend_by_pedal(notes, pedal)
    assert out[:, midi.END].tolist() == [3.0, 0.4, 2.0, 3.0, 4.0]
    assert np.array_equal(out[:, :1], notes[:, :1])  # onsets unchanged
    assert midi.extend_by_pedal(notes, [])[:, midi.END].tolist() == notes[:, midi.END].tolist()
    assert midi.extend_by_pedal(notes, [(0.0, 30), (1.0, 63)])[:, midi.END].tolist() == notes[:, 1].tolist()
    iv = midi.pedal_intervals([(0.5, 127), (1.0, 100), (3.0, 0), (3.8, 127)], until=5.0)
    assert iv.tolist() == [[0.5, 3.0], [3.8, 5.0]]


def test_pm_notes_reads_pedal_and_only_piano_tracks(tmp_path: Path) -> None:
    pm = _midi(
        [
            ("Piano", 0, False, [(0.0, 0.5, 60)]),
            ("Bass", 33, False, [(0.0, 0.5, 36)]),
            ("Pad", 89, False, [(0.0, 2.0, 64)]),
            ("", 0, True, [(0.0, 0.1, 38)]),
            ("", 1, False, [(1.0, 1.5, 72)]),  # unnamed, piano program: kept
            ("", 40, False, [(1.0, 1.5, 74)]),  # unnamed violin: dropped
        ]
    )
    pm.instruments[0].control_changes = [pretty_midi.ControlChange(64, 127, 0.2), pretty_midi.ControlChange(64, 0, 1.5)]
    notes = midi.pm_notes(_roundtrip(pm, tmp_path))
    assert notes[:, midi.PITCH].tolist() == [60, 72]
    assert notes[0, midi.END] == pytest.approx(1.5, abs=0.01)  # extended by the pedal of its own track
    assert notes[1, midi.END] == pytest.approx(1.5, abs=0.01)


def _key_of(pitches_durs: list[tuple[int, float]], chord: tuple[int, ...], tmp_path: Path) -> tuple[int, bool]:
    t, notes = 0.0, []
    for p, d in pitches_durs:
        notes.append((t, t + d, p))
        t += d
    notes += [(t, t + 2.0, p) for p in chord]
    tonic, minor, corr = features.estimate_key(midi.pm_notes(_roundtrip(_midi([("Piano", 0, False, notes)]), tmp_path)))
    assert corr > 0.5
    return tonic, minor


def test_key_finder_c_major_and_a_minor(tmp_path: Path) -> None:
    c_major = [(p, 0.5) for p in (60, 62, 64, 65, 67, 69, 71, 72)]
    assert _key_of(c_major, (48, 60, 64, 67), tmp_path) == (0, False)
    # A harmonic minor (G#) with a long tonic and the A minor triad
    a_minor = [(57, 1.0)] + [(p, 0.5) for p in (59, 60, 62, 64, 65, 68, 69)] + [(64, 0.5), (68, 0.5), (69, 1.0)]
    assert _key_of(a_minor, (45, 57, 60, 64), tmp_path) == (9, True)
    assert features.key_name(9, True) == "A minor"


def test_hygiene_counts_duplicates_range_and_long_notes(tmp_path: Path) -> None:
    piano = [
        (0.0, 0.5, 60),
        (0.0005, 0.5, 60),  # duplicate (same pitch, onset within 1 ms)
        (0.0, 0.5, 64),  # same onset, other pitch: not a duplicate
        (0.01, 0.5, 60),  # 10 ms later: not a duplicate
        (1.0, 1.5, 30),  # below A1
        (1.0, 1.5, 100),  # above C7
        (2.0, 7.0, 62),  # 5 s > 2 bars at 120 BPM (4 s)
        (2.0, 5.5, 65),  # 3.5 s: fine
    ]
    bass = [(0.0, 0.5, 36), (0.0, 0.5, 36)]  # a duplicate on another track
    pm = _midi([("Piano", 0, False, piano), ("Bass", 33, False, bass), ("", 0, True, [(0, 0.1, 38), (0, 0.1, 38)])])
    h = midi.hygiene(_roundtrip(pm, tmp_path), tempo=120.0)
    assert h["n_notes"] == 8
    assert h["duplicates"] == 1
    assert h["duplicate_share"] == pytest.approx(1 / 8)
    assert h["duplicates_all_tracks"] == 2  # piano + bass, not the drums
    assert h["outside_a1_c7"] == 2
    assert h["longer_than_2_bars"] == 1
    assert midi.hygiene(_roundtrip(pm, tmp_path), tempo=60.0)["longer_than_2_bars"] == 0  # 2 bars = 8 s


def test_two_sample_test_separates_different_sets_and_not_equal_ones() -> None:
    rng = np.random.default_rng(0)
    names = [f"f{i}" for i in range(8)]
    real = rng.normal(size=(80, 8))
    groups_real = [f"song{i // 2}" for i in range(80)]
    shifted = rng.normal(size=(80, 8))
    shifted[:, 3] += 4.0  # clearly different: 4 standard deviations
    groups_gen = [f"seed{i // 4}" for i in range(80)]
    diff = stats.two_sample_test(real, groups_real, shifted, groups_gen, names, repeats=1, top=3)
    assert diff["accuracy"] > 0.9
    assert diff["top_features"][0]["feature"] == "f3"
    assert diff["top_features"][0]["direction"] == "higher"
    same = stats.two_sample_test(real, groups_real, rng.normal(size=(80, 8)), groups_gen, names, repeats=2)
    assert 0.35 < same["accuracy"] < 0.65
    assert diff["n_per_side"] == same["n_per_side"] == 80


def test_structure_measures_on_a_repeating_piece() -> None:
    bar = [(0.0, 60), (0.5, 64), (1.0, 67), (1.5, 72)]  # one bar at 120 BPM = 2 s
    notes = np.array([[k * 2.0 + t, k * 2.0 + t + 0.4, p, 80] for k in range(8) for t, p in bar])
    beats, downbeats = structure.regular_grid(120.0, 8)
    bars_, pos = structure.grid_positions(notes[:, 0], beats, downbeats)
    assert bars_[:4].tolist() == [0, 0, 0, 0] and pos[:4].tolist() == [0, 4, 8, 12]
    m = structure.structure_measures(notes, beats, downbeats)
    assert m["bar_self_similarity"] == 1.0
    assert m["pattern4_recurrence"] == 1.0
    rng = np.random.default_rng(0)
    notes[:, 2] = rng.integers(40, 90, len(notes))  # random pitches: bars no longer repeat
    m = structure.structure_measures(notes, beats, downbeats)
    assert m["bar_self_similarity"] < 0.5
    assert m["pattern4_recurrence"] == 0.0


def test_melody_shares_and_features_on_a_scale() -> None:
    notes = np.array([[i * 0.25, i * 0.25 + 0.25, p, 80] for i, p in enumerate([60, 62, 64, 64, 71, 72, 74, 76])])
    s = features.melody_shares(notes)
    assert s["step"] == pytest.approx(5 / 7)
    assert s["repeat"] == pytest.approx(1 / 7)
    assert s["leap"] == pytest.approx(1 / 7)
    f = features.composition_features(notes, 2.0)
    assert f["dens_notes_per_s"] == pytest.approx(4.0)
    assert f["vert_single_share"] == 1.0
    assert not any("vel" in k for k in f)  # no velocity features
