"""The MIDI emotion judge: debug model shapes, checkpoint round trip, and the shipped weights on made-up pieces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import torch
from media_fixtures import END_OF_TRACK, smf, vlq

from moodscore.models.errors import InputError, ModelLoadError
from moodscore.models.music.features import N_FEATURES
from moodscore.models.music.judge import Judge, JudgeNet, JudgeResult, judge_checkpoint, load_judge


def _piece(chords: list[tuple[int, ...]], *, beat: float, vel: int, notes_per_beat: int) -> pretty_midi.PrettyMIDI:
    """A block-chord accompaniment with a melody on top: one chord per two beats, repeated 8 times."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=60.0 / beat)
    inst = pretty_midi.Instrument(program=0)
    t = 0.0
    for chord in chords * 4:
        for p in chord:
            inst.notes.append(pretty_midi.Note(vel, p, t, t + 2 * beat))
        step = beat / notes_per_beat
        for k in range(2 * notes_per_beat):
            top = chord[k % len(chord)] + 12
            inst.notes.append(pretty_midi.Note(min(vel + 10, 127), top, t + k * step, t + (k + 1) * step))
        t += 2 * beat
    pm.instruments.append(inst)
    return pm


def bright() -> pretty_midi.PrettyMIDI:  # C major, I-V-vi-IV, 150 bpm, loud, 16th notes
    return _piece([(60, 64, 67), (67, 71, 74), (69, 72, 76), (65, 69, 72)], beat=0.4, vel=100, notes_per_beat=4)


def gloomy() -> pretty_midi.PrettyMIDI:  # A minor, i-iv-i-V, 50 bpm, quiet, half notes, low register
    return _piece([(45, 48, 52), (50, 53, 57), (45, 48, 52), (52, 56, 59)], beat=1.2, vel=35, notes_per_beat=1)


def test_debug_judge_shapes_and_probabilities(tmp_path: Path) -> None:
    judge = load_judge(debug=True)
    results = judge.predict_many([bright(), gloomy()])
    assert len(results) == 2 and all(isinstance(r, JudgeResult) for r in results)
    for r in results:
        assert list(r.probs) == ["Q1", "Q2", "Q3", "Q4"]
        assert sum(r.probs.values()) == pytest.approx(1.0, abs=1e-5)
        assert r.quadrant == max(r.probs, key=r.probs.__getitem__)
        assert 0.5 <= r.valence_prob <= 1.0 and 0.5 <= r.arousal_prob <= 1.0
        pos = r.probs["Q1"] + r.probs["Q4"]
        assert (r.valence == "positive") == (pos >= 0.5)
    assert judge.probs(np.zeros((3, N_FEATURES))).shape == (3, 4)
    path = tmp_path / "b.mid"
    bright().write(str(path))
    from_file = judge.predict(path)
    assert from_file == judge.predict(str(path))
    assert from_file.probs == pytest.approx(results[0].probs, abs=1e-4)  # file ticks round the times slightly
    assert judge.predict_many([]) == []


@pytest.mark.parametrize("head", ["factorised", "softmax"])
def test_checkpoint_round_trip(tmp_path: Path, head: str) -> None:
    torch.manual_seed(1)
    net = JudgeNet(N_FEATURES, head=head, hidden=4)
    dims = {"n_features": N_FEATURES, "head": head, "hidden": 4}
    torch.save(judge_checkpoint(net, dims=dims, meta={"note": "test"}), tmp_path / "j.pt")
    loaded = load_judge(tmp_path / "j.pt")
    x = np.random.default_rng(0).normal(size=(5, N_FEATURES))
    np.testing.assert_allclose(loaded.probs(x), Judge(net).probs(x), rtol=1e-6)
    assert loaded.meta == {"note": "test"}


def test_bad_checkpoints_raise_model_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError):
        load_judge(tmp_path / "missing.pt")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(ModelLoadError, match="not a judge checkpoint"):
        load_judge(tmp_path / "other.pt")
    ckpt = judge_checkpoint(JudgeNet(N_FEATURES), dims={"n_features": N_FEATURES}, meta={})
    ckpt["feature_names"] = ckpt["feature_names"][:-1]
    torch.save(ckpt, tmp_path / "stale.pt")
    with pytest.raises(ModelLoadError, match="other features"):
        load_judge(tmp_path / "stale.pt")


def test_shipped_judge_hears_arousal_and_valence() -> None:
    judge = load_judge()
    hi, lo = judge.predict_many([bright(), gloomy()])
    p_high = [r.probs["Q1"] + r.probs["Q2"] for r in (hi, lo)]
    p_pos = [r.probs["Q1"] + r.probs["Q4"] for r in (hi, lo)]
    assert p_high[0] > p_high[1]
    assert hi.arousal == "high" and lo.arousal == "low"
    assert p_pos[0] > p_pos[1]


def test_the_evaluation_judge_is_fitted_on_train_only_and_hears_the_same_axes() -> None:
    judge = load_judge(Path(__file__).resolve().parents[1] / "benchmarks" / "judge_train_only.pt")
    assert "train only" in judge.meta["trained_on"] and "non-commercial" in judge.meta["licence"]
    hi, lo = judge.predict_many([bright(), gloomy()])
    assert hi.arousal == "high" and lo.arousal == "low"
    assert hi.probs["Q1"] + hi.probs["Q4"] > lo.probs["Q1"] + lo.probs["Q4"]


def test_runs_are_judged_in_beats_whatever_the_tempo() -> None:
    from moodscore.models.music.judge import judge_runs
    from moodscore.models.types import Score

    def at(tempo: float) -> Score:
        beat = 60.0 / tempo
        pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
        inst = pretty_midi.Instrument(0, name="Piano")
        for i in range(16):  # 4 bars of quarter notes, loud and high in bars 1-2, soft and low in bars 3-4
            loud = i < 8
            inst.notes.append(
                pretty_midi.Note(100 if loud else 40, 72 + i % 5 if loud else 45 + i % 3, i * beat, (i + 1) * beat)
            )
        pm.instruments.append(inst)
        return Score(midi=pm, tempo=tempo, bar_quadrants=("Q1", "Q1", "Q3", "Q3"), key="C major", seed=0)

    judge = load_judge(debug=True)
    slow, fast = judge_runs(judge, at(70.0)), judge_runs(judge, at(160.0))
    assert [r["bars"] for r in slow] == [[1, 2], [3, 4]]
    for a, b in zip(slow, fast, strict=True):
        assert a["probs"] == pytest.approx(b["probs"], abs=2e-3)
    assert slow[0]["probs"] != pytest.approx(slow[1]["probs"], abs=1e-3)  # the two runs do differ


def test_cross_validation_keeps_each_song_in_one_fold() -> None:
    """benchmarks/judge_cv.py deals songs, not clips, to folds: a song's clips are never on both sides."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "judge_cv.py"
    spec = importlib.util.spec_from_file_location("judge_cv", path)
    assert spec is not None and spec.loader is not None
    judge_cv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(judge_cv)
    rng = np.random.default_rng(3)
    songs = np.array([f"song{int(i)}" for i in rng.integers(0, 37, 400)])
    for seed in (0, 1):
        fold = judge_cv.song_folds(songs, 10, seed)
        assert set(fold) == set(range(10))
        for s in np.unique(songs):
            assert len(set(fold[songs == s])) == 1
        per_fold = np.bincount([fold[songs == s][0] for s in np.unique(songs)])
        assert per_fold.max() - per_fold.min() <= 1  # the songs are dealt evenly
    assert not np.array_equal(judge_cv.song_folds(songs, 10, 0), judge_cv.song_folds(songs, 10, 1))


END = END_OF_TRACK


@pytest.mark.parametrize(
    ("data", "match"),
    [
        # 44 bytes: a tempo of 16.7 s a beat and a note 10 million ticks long asked for 640 GB of piano roll
        (smf(b"\x00\xff\x51\x03\xff\xff\xff\x00\x90\x3c\x64" + vlq(9_999_000) + b"\x80\x3c\x00" + END, b"\x00\x01"),
         "over the limit of one hour"),
        (smf(b"\x00\x90\x3c\x64" + vlq(2**25 - 1) + b"\x80\x3c\x00" + END, b"\x00\x01"), "ticks long"),
        (smf(END), "no pitched notes"),
        (smf(b"\x00\x99\x24\x64\x60\x89\x24\x00" + END), "no pitched notes"),  # drums only
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x00\x60MTrk\x00\x00\xff\xff", "cannot read MIDI"),
    ],
)  # fmt: skip
def test_hostile_or_empty_midi_is_refused_in_one_line(tmp_path: Path, data: bytes, match: str) -> None:
    path = tmp_path / "in.mid"
    path.write_bytes(data)
    with pytest.raises(InputError, match=match) as info:
        load_judge(debug=True).predict(path)
    assert "\n" not in str(info.value)


def test_smpte_timed_midi_is_read_in_seconds(tmp_path: Path) -> None:
    """25 fps x 40 ticks a frame = 1,000 ticks a second: a note of 480 ticks lasts 0.48 s."""
    from moodscore.models.music.data import load_midi

    path = tmp_path / "smpte.mid"
    path.write_bytes(smf(b"\x00\x90\x3c\x64\x83\x60\x80\x3c\x00" + END, b"\xe7\x28"))
    (note,) = load_midi(path).instruments[0].notes
    assert (note.start, note.end) == pytest.approx((0.0, 0.48), abs=1e-3)
    assert load_judge(debug=True).predict(path).quadrant in ("Q1", "Q2", "Q3", "Q4")
