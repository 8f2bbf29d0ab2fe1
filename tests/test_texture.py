"""Texture knobs (models.music.texture): what each knob does to the logits and to sampled music, the token
statistics they are calibrated on, and the calibration loop itself."""

from __future__ import annotations

import numpy as np
import pytest

from models.music import tokens
from models.music.compose import Composer
from models.music.generator import load_generator
from models.music.texture import KNOBS, DensityBrake, calibrate, step, texture_row, token_stats


def _ids(*names: str) -> list[int]:
    return [tokens.token_id(n) for n in names]


def test_token_stats_counts_notes_onsets_bars_durations_and_pitches() -> None:
    piece = _ids(
        "Bar_None", "Position_0", "Pitch_60", "Velocity_63", "Duration_1.0.8", "Pitch_64", "Velocity_63",
        "Duration_2.0.8", "Position_8", "Position_16", "Pitch_72", "Velocity_63", "Duration_0.4.8", "Bar_None",
    )  # fmt: skip
    s = token_stats([piece])
    assert s["notes_per_onset"] == 1.5
    assert s["onsets_per_bar"] == 1.0  # two onsets over two bar lines; the empty Position_8 is none
    assert abs(s["log2_duration"] - np.log2(3.5 / 3)) < 1e-9  # 1, 2 and 1/2 beats
    assert abs(s["pitch_mean"] - np.mean([60, 64, 72])) < 1e-9


def test_each_knob_moves_only_its_tokens_in_its_direction() -> None:
    pitch = {n: tokens.token_id(n) for n in ("Pitch_36", "Pitch_60", "Pitch_96")}
    assert not texture_row(None).any()
    row = texture_row({"pitch": 1.5})
    assert {row[i] for i in pitch.values()} == {1.5} and row[tokens.token_id("Position_4")] == 0
    row = texture_row({"position": -2.0})
    assert row[tokens.token_id("Position_4")] == -2.0 and row[pitch["Pitch_60"]] == 0
    row = texture_row({"register": 1.0})
    assert row[pitch["Pitch_36"]] < row[pitch["Pitch_60"]] == 0 < row[pitch["Pitch_96"]]
    row = texture_row({"duration": 1.0})
    assert row[tokens.token_id("Duration_0.4.8")] < row[tokens.token_id("Duration_1.0.8")] == 0
    assert row[tokens.token_id("Duration_4.0.4")] == 2.0  # log2 of 4 beats
    for special in ("Bar_None", "Emotion_Q1", "Velocity_63"):
        assert row[tokens.token_id(special)] == 0


def test_knobs_change_what_the_network_samples() -> None:
    composer = Composer(load_generator(debug=True))

    def stats(knobs: dict[str, float]) -> dict[str, float]:
        return token_stats(
            composer.generate_ids(("Q1",) * 2, seed=s, temperature=1.0, top_p=1.0, texture={"Q1": knobs})
            for s in range(4)
        )

    assert stats({"register": 2.0})["pitch_mean"] > stats({"register": -2.0})["pitch_mean"] + 6
    assert stats({"duration": 2.0})["log2_duration"] > stats({"duration": -2.0})["log2_duration"] + 1
    assert stats({"pitch": 2.0})["notes_per_onset"] > stats({"pitch": -2.0})["notes_per_onset"]


def test_a_step_moves_each_knob_towards_its_target_by_a_bounded_amount() -> None:
    zero = dict.fromkeys(KNOBS, 0.0)
    target = {"notes_per_onset": 2.0, "onsets_per_bar": 8.0, "log2_duration": 0.0, "pitch_mean": 60.0}
    got = {**target, "notes_per_onset": 4.0, "onsets_per_bar": 4.0, "log2_duration": 1.0, "pitch_mean": 90.0}
    got |= {"log2_duration_var": 1.0, "pitch_var": 100.0}
    new = step(zero, got, target, rate=0.5)
    assert new["pitch"] < 0 < new["position"] and new["duration"] < 0 and new["register"] < 0
    assert all(abs(v) <= 0.4 for v in new.values())  # MAX_STEP x rate
    assert step(zero, {**got, **target}, target, rate=0.5) == zero  # on target: no move


def test_calibration_reaches_the_targets_of_a_responsive_sampler() -> None:
    """A sampler whose statistics follow the knobs the way a network's do (counts log-linear in the offsets,
    means shifted by the tilts): the loop must land near the targets for each quadrant separately."""
    rng = np.random.default_rng(0)
    names = list(tokens.tokenizer().vocab)
    pitches = [tokens.token_id(n) for n in names if n.startswith("Pitch_")]
    durations = [tokens.token_id(n) for n in names if n.startswith("Duration_")]

    def sample(q: str, knobs: dict[str, dict[str, float]], seed: int) -> list[int]:
        k = knobs[q]
        base = 1.0 if q == "Q1" else 3.0  # Q2 starts far too chordal
        out = [tokens.token_id("Bar_None")]
        r = np.random.default_rng(seed)
        for _ in range(round(6 * np.exp(k["position"]))):  # onsets per bar
            out.append(tokens.token_id("Position_0"))
            for _ in range(max(1, round(base * np.exp(k["pitch"]) + r.random() - 0.5))):
                logits = texture_row(k)
                p = np.exp(logits[pitches] - logits[pitches].max())
                d = np.exp(logits[durations] - logits[durations].max())
                out += [int(r.choice(pitches, p=p / p.sum())), tokens.token_id("Velocity_63")]
                out.append(int(r.choice(durations, p=d / d.sum())))
        return out

    target = {"notes_per_onset": 1.5, "onsets_per_bar": 9.0, "log2_duration": 1.0, "pitch_mean": 70.0}
    knobs = calibrate(sample, {"Q1": target, "Q2": target}, seeds=range(6), iterations=25)
    for q in ("Q1", "Q2"):
        got = token_stats(sample(q, knobs, int(s)) for s in rng.integers(0, 1000, 6))
        assert abs(np.log(got["notes_per_onset"] / 1.5)) < 0.25, (q, got)
        assert abs(got["onsets_per_bar"] - 9.0) < 1.5, (q, got)
        assert abs(got["log2_duration"] - 1.0) < 0.4 and abs(got["pitch_mean"] - 70) < 5, (q, got)
    assert knobs["Q2"]["pitch"] < knobs["Q1"]["pitch"]  # the chordal quadrant needed the larger cut


def _bar(n_notes: int, quadrant: str = "Q3") -> list[int]:
    """A bar line, its emotion, and n one-note onsets at successive positions."""
    out = _ids("Bar_None", f"Emotion_{quadrant}")
    for k in range(n_notes):
        out += _ids(f"Position_{k % 32}", "Pitch_60", "Velocity_63", "Duration_0.4.8")
    return out


def test_the_density_brake_leaves_ordinary_bars_alone_and_thins_after_a_runaway_bar() -> None:
    scores = np.random.default_rng(0).normal(size=tokens.vocab_size())
    brake = DensityBrake({"Q3": 10.0})
    seq = _ids("BOS_None") + _bar(18) + _bar(19)  # below twice the target: no brake
    assert brake.tilt(seq, scores, "Q3") is scores
    seq += _bar(30) + _ids("Bar_None", "Emotion_Q3", "Position_8", "Pitch_60", "Velocity_63", "Duration_0.4.8")
    out = brake.tilt(seq, scores, "Q3")  # 30 notes = 1.5 x (2 x 10): engaged by log 1.5
    assert abs(brake.g - np.log(1.5)) < 1e-9
    d = out - scores
    pos = {k: tokens.token_id(f"Position_{k}") for k in (4, 8, 16, 24)}
    assert d[pos[4]] == d[pos[8]] == 0 < d[pos[16]] < d[pos[24]]  # later onsets favoured, in beats
    assert abs(d[pos[16]] - brake.g) < 1e-6  # one beat after position 8
    assert d[tokens.token_id("Pitch_64")] < 0  # a second note on the same onset: less likely
    assert d[tokens.token_id("Bar_None")] == 0 and d[tokens.token_id("Duration_0.4.8")] == 0
    brake.tilt(seq + _bar(5)[:2], scores, "Q3")  # a thin bar ended: the brake lets go by half
    assert abs(brake.g - np.log(1.5) / 2) < 1e-9


def test_the_composer_with_a_density_brake_writes_fewer_notes() -> None:
    composer = Composer(load_generator(debug=True))
    pitch = {i for n, i in tokens.tokenizer().vocab.items() if n.startswith("Pitch_")}

    def notes(targets: dict[str, float]) -> int:
        return sum(
            sum(t in pitch for t in composer.generate_ids(("Q1",) * 6, seed=s, temperature=1.0, top_p=1.0,
                                                          density_targets=targets))
            for s in range(3)
        )  # fmt: skip

    free, braked = notes({}), notes({"Q1": 1.0})  # a target of one note per bar: every bar is a runaway
    assert braked < 0.8 * free, (free, braked)  # measured 784 -> 568


def test_after_an_emotion_change_the_brake_measures_against_the_new_target_and_is_tighter() -> None:
    targets = {"Q1": 18.0, "Q3": 10.0}

    def brake_after(*quadrants: str) -> DensityBrake:
        """A brake that has followed bars of 16 notes with these emotions, called at every bar as in sampling."""
        brake, seq = DensityBrake(targets), _ids("BOS_None")
        for q in quadrants:
            seq += _bar(16, q)[:2]  # the bar line and its emotion: the guide learns the bar's quadrant
            brake.tilt(seq, np.zeros(tokens.vocab_size()), q)
            seq += _bar(16, q)[2:]
        return brake

    assert brake_after("Q3", "Q3").g == 0  # 16 notes in a Q3 piece: under twice the target
    change = brake_after("Q1", "Q3")  # the Q1 bar is too busy for the Q3 bar after it, at the tighter slack
    assert abs(change.g - np.log(16 / (1.25 * 10.0))) < 1e-9
    assert brake_after("Q1", "Q1").g == 0
    n = DensityBrake.CHANGE_BARS
    tight = brake_after("Q1", *["Q3"] * n)  # 16-note bars keep tightening it while the change is recent
    assert abs(tight.g - n * change.g) < 1e-9
    later = brake_after("Q1", *["Q3"] * (n + 1))  # then the ordinary slack again: it lets go by half
    assert later.since_change == n and abs(later.g - tight.g / 2) < 1e-9


def test_a_quadrants_own_slack_replaces_the_default_and_is_stored_by_the_composer() -> None:
    scores = np.zeros(tokens.vocab_size())
    seq = _ids("BOS_None") + _bar(15) + _ids("Bar_None", "Emotion_Q3")  # 15 notes: 1.5 x the target of 10
    assert DensityBrake({"Q3": 10.0}).tilt(seq, scores, "Q3") is scores  # under the default slack of 2
    own = DensityBrake({"Q3": 10.0}, {"Q3": 1.25})
    own.tilt(seq, scores, "Q3")
    assert abs(own.g - np.log(15 / 12.5)) < 1e-9
    other = DensityBrake({"Q3": 10.0}, {"Q1": 1.25})  # another quadrant's slack does not apply
    assert other.tilt(seq, scores, "Q3") is scores
    with pytest.raises(ValueError, match="slack"):
        DensityBrake({"Q3": 10.0}, {"Q3": 0.0})
    net = load_generator(debug=True)
    net.sampling = {**net.sampling, "density_targets": {"Q1": 1.0}, "density_slack": {"Q1": 1.5}}
    composer = Composer(net)
    assert composer.density_slack == {"Q1": 1.5}
    kw = {"seed": 0, "temperature": 1.0, "top_p": 1.0}
    assert composer.generate_ids(("Q1",) * 4, **kw) != composer.generate_ids(("Q1",) * 4, density_slack={}, **kw)
