"""MIDI data loaders (on tiny fake EMOPIA / POP909 folders) and MIDI features (on hand-made pieces)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from moodscore.models.errors import InputError
from moodscore.models.music.data import emopia_split, parse_clip_id, pop909_songs
from moodscore.models.music.features import FEATURE_NAMES, N_FEATURES, midi_features


def _piece(
    notes: list[tuple[float, float, int, int]], *, name: str = "", tempo: float = 120.0
) -> pretty_midi.PrettyMIDI:
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    inst = pretty_midi.Instrument(program=0, name=name)
    inst.notes = [pretty_midi.Note(velocity=v, pitch=p, start=s, end=e) for s, e, p, v in notes]
    pm.instruments.append(inst)
    return pm


def _scale(pitches: list[int], step: float = 0.5, vel: int = 80) -> pretty_midi.PrettyMIDI:
    return _piece([(i * step, (i + 1) * step, p, vel) for i, p in enumerate(pitches)])


def _fake_emopia(root: Path, *, bad_label: bool = False) -> Path:
    (root / "midis").mkdir(parents=True)
    (root / "split").mkdir()
    clips = {"train": ["Q1_ab_c_0", "Q3_xyz_1"], "val": ["Q2_vvv_0"], "test": ["Q4_ttt_2"]}
    labels = ["ID,4Q,annotator"]
    for split, ids in clips.items():
        rows = [",clip_name"] + [f"{i},{cid}.mid" for i, cid in enumerate(ids)]
        (root / "split" / f"{split}_clip.csv").write_text("\n".join(rows) + "\n")
        for cid in ids:
            _scale([60, 62, 64]).write(str(root / "midis" / f"{cid}.mid"))
            q = cid[1] if not (bad_label and cid.startswith("Q3")) else "2"
            labels.append(f"{cid},{q},A")
    (root / "label.csv").write_text("\n".join(labels) + "\n")
    return root


def test_emopia_split_reads_official_split_and_quadrants(tmp_path: Path) -> None:
    root = _fake_emopia(tmp_path / "emopia")
    train = emopia_split(root, "train")
    assert [(c.clip_id, c.song_id, c.quadrant) for c in train] == [
        ("Q1_ab_c_0", "ab_c", "Q1"),
        ("Q3_xyz_1", "xyz", "Q3"),
    ]
    assert train[0].path == root / "midis" / "Q1_ab_c_0.mid" and train[0].path.is_file()
    assert [c.quadrant for c in emopia_split(root, "test")] == ["Q4"]
    assert parse_clip_id("Q2_a_b_c_12.mid") == ("Q2", "a_b_c", 12)


def test_emopia_split_errors_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        emopia_split(tmp_path / "nothing", "train")
    root = _fake_emopia(tmp_path / "bad", bad_label=True)
    with pytest.raises(InputError, match="disagrees"):
        emopia_split(root, "train")
    with pytest.raises(InputError, match="unknown EMOPIA split"):
        emopia_split(root, "dev")  # type: ignore[arg-type]
    (root / "midis" / "Q2_vvv_0.mid").unlink()
    with pytest.raises(InputError, match="missing"):
        emopia_split(root, "val")
    with pytest.raises(InputError, match="Q<1-4>"):
        parse_clip_id("Q5_song_1")


def test_pop909_songs(tmp_path: Path) -> None:
    d = tmp_path / "pop909" / "007"
    d.mkdir(parents=True)
    pm = _scale([60, 64, 67])
    pm.instruments[0].name = "MELODY"
    pm.instruments += [_scale([48]).instruments[0], _scale([55, 57]).instruments[0]]
    pm.instruments[1].name, pm.instruments[2].name = "BRIDGE", "PIANO"
    pm.write(str(d / "007.mid"))
    (tmp_path / "pop909" / "LICENSE").write_text("MIT")
    songs = pop909_songs(tmp_path / "pop909")
    assert [s.song_id for s in songs] == ["007"] and songs[0].chord_path == d / "chord_midi.txt"
    with pytest.raises(InputError, match="no POP909 songs"):
        pop909_songs(tmp_path / "pop909" / "007")


def test_features_have_names_and_known_values() -> None:
    f = dict(zip(FEATURE_NAMES, midi_features(_scale([60, 62, 64, 65, 67, 69, 71, 72])), strict=True))
    assert len(FEATURE_NAMES) == N_FEATURES == len(set(FEATURE_NAMES))
    assert f["pitch_min"] == 60 and f["pitch_max"] == 72 and f["pitch_range"] == 12
    assert f["poly_max"] == 1 and f["poly_mean"] == pytest.approx(1.0)
    assert f["notes_per_sec"] == pytest.approx(2.0) and f["notes_per_beat"] == pytest.approx(1.0)
    assert f["vel_mean"] == 80 and f["vel_std"] == 0 and f["ioi_mean"] == pytest.approx(0.5)
    assert f["key_is_major"] == 1.0 and f["key_mode_score"] > 0
    assert sum(f[f"pch_{i}"] for i in range(12)) == pytest.approx(1.0)


def music_stats(pm: pretty_midi.PrettyMIDI) -> dict[str, float]:
    return dict(zip(FEATURE_NAMES, midi_features(pm).tolist(), strict=True))


def test_pitch_class_entropy_and_density() -> None:
    scale = music_stats(_scale([60, 62, 64, 65, 67, 69, 71]))
    chromatic = music_stats(_scale(list(range(60, 72))))
    assert scale["pc_entropy"] == pytest.approx(np.log2(7), abs=1e-5)
    assert chromatic["pc_entropy"] == pytest.approx(np.log2(12), abs=1e-5)
    single = _scale([60, 64, 67, 72] * 4)
    doubled = _scale([60, 64, 67, 72] * 4)
    doubled.instruments[0].notes += [
        pretty_midi.Note(80, n.pitch - 12, n.start, n.end) for n in single.instruments[0].notes
    ]
    a, b = music_stats(single), music_stats(doubled)
    assert b["notes_per_sec"] == pytest.approx(2 * a["notes_per_sec"])
    assert b["poly_mean"] == pytest.approx(2 * a["poly_mean"])


def test_mode_and_groove() -> None:
    c_major = [(t, t + 1.0, p, 70) for t in (0.0, 2.0) for p in (60, 64, 67)]
    c_minor = [(t, t + 1.0, p, 70) for t in (0.0, 2.0) for p in (60, 63, 67)]
    fmaj = dict(zip(FEATURE_NAMES, midi_features(_piece(c_major)), strict=True))
    fmin = dict(zip(FEATURE_NAMES, midi_features(_piece(c_minor)), strict=True))
    assert fmaj["key_mode_score"] > fmin["key_mode_score"]
    assert fmaj["chord_major_frac"] == 1.0 and fmin["chord_minor_frac"] == 1.0
    steady = _scale([60] * 16, step=0.25)  # the same 8th-note pattern in each 2 s bar
    assert music_stats(steady)["groove_consistency"] == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    ragged = _piece([(float(t), float(t) + 0.1, 60, 70) for t in np.sort(rng.uniform(0, 8, 16))])
    assert music_stats(ragged)["groove_consistency"] < 0.95


def test_empty_piece_gives_zeros() -> None:
    assert not midi_features(pretty_midi.PrettyMIDI()).any()
