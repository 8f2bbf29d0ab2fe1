"""Harmonic steering (models.music.harmony): which triad a half bar is drawn towards, what the tilt does to the
next token's distribution, and that the Composer uses it."""

from __future__ import annotations

import numpy as np
import pytest

from models.music import tokens
from models.music.compose import Composer
from models.music.generator import load_generator
from models.music.harmony import TRIADS, HarmonyGuide

C_MAJOR, A_MINOR = 0, 12 + 9


def _ids(*names: str) -> list[int]:
    return [tokens.token_id(n) for n in names]


def _note(pitch: int) -> list[str]:
    return [f"Pitch_{pitch}", "Velocity_63", "Duration_1.0.8"]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def _pitch_ids() -> np.ndarray:
    return np.flatnonzero(tokens.vocab_table().is_pitch)


def test_the_quadrants_quality_decides_between_triads_the_notes_fit_equally() -> None:
    seq = _ids("BOS_None", "Bar_None", "Emotion_Q1", "Position_0", *_note(60), *_note(64))  # C and E
    for quadrant, want in (("Q1", C_MAJOR), ("Q4", C_MAJOR), ("Q2", A_MINOR), ("Q3", A_MINOR)):
        guide = HarmonyGuide(1.0)
        guide.tilt(seq, np.zeros(tokens.vocab_size()), quadrant)
        assert guide.triad(quadrant) == want
    # a note written against the quality wins over the preference: C, E and G are C major even in Q2
    guide = HarmonyGuide(1.0)
    guide.tilt([*seq, *_ids(*_note(67))], np.zeros(tokens.vocab_size()), "Q2")
    assert guide.triad("Q2") == C_MAJOR


def test_the_tilt_raises_the_third_lowers_the_other_third_and_keeps_the_pitch_tokens_total() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=tokens.vocab_size()).astype(np.float64)
    seq = _ids("BOS_None", "Bar_None", "Emotion_Q1", "Position_0", *_note(48))  # C in the bass
    out = HarmonyGuide(1.5).tilt(seq, scores, "Q1")  # -> C major
    p, q = _softmax(scores), _softmax(out)
    pitches = _pitch_ids()
    assert abs(p[pitches].sum() - q[pitches].sum()) < 1e-9  # as many notes per onset as before
    others = np.setdiff1d(np.arange(len(scores)), pitches)
    assert np.allclose(p[others], q[others])  # positions, durations, bar lines untouched
    e, eb, fs = (tokens.token_id(f"Pitch_{n}") for n in (64, 63, 66))
    assert q[e] / p[e] > q[fs] / p[fs] > q[eb] / p[eb]  # third up, unrelated F# in between, minor third down
    assert np.array_equal(TRIADS[C_MAJOR].nonzero()[0], [0, 4, 7])


def test_the_first_note_of_each_half_bar_is_left_to_the_network() -> None:
    scores = np.random.default_rng(1).normal(size=tokens.vocab_size())
    guide = HarmonyGuide(2.0)
    start = _ids("BOS_None", "Bar_None", "Emotion_Q2", "Position_0")
    assert guide.tilt(start, scores, "Q2") is scores
    seq = [*start, *_ids(*_note(57))]
    assert not np.array_equal(guide.tilt(seq, scores, "Q2"), scores)
    seq += _ids("Position_16")  # the second half of the bar: a new window
    assert guide.tilt(seq, scores, "Q2") is scores
    seq += _ids(*_note(62), "Bar_None", "Emotion_Q2", "Position_4")  # a new bar: a new window again
    assert guide.tilt(seq, scores, "Q2") is scores
    assert HarmonyGuide(0.0).tilt([*seq, *_ids(*_note(62))], scores, "Q2") is scores


def test_a_negative_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="harmony weight"):
        HarmonyGuide(-1.0)


def _chord_tone_share(piece: list[int], quadrant: str) -> float:
    """Of the notes a guide would tilt (all but the first of each half bar), the share on its triad's tones."""
    guide, hits, tilted = HarmonyGuide(1.0), 0, 0
    pitch_class = tokens.vocab_table().pitch_class
    for k, t in enumerate(piece):
        guide.tilt(piece[:k], np.zeros(tokens.vocab_size()), quadrant)
        if pitch_class[t] >= 0 and guide.in_window:
            tilted += 1
            hits += bool(TRIADS[guide.triad(quadrant)][pitch_class[t]])
    return hits / max(tilted, 1)


def test_the_composer_with_harmony_writes_chord_tones_deterministically() -> None:
    composer = Composer(load_generator(debug=True))

    def pieces(weight: float) -> list[list[int]]:
        return [
            composer.generate_ids(("Q2",) * 2, seed=s, temperature=1.0, top_p=1.0, harmony_weight=weight)
            for s in range(4)
        ]

    plain, steered = pieces(0.0), pieces(3.0)
    assert steered == pieces(3.0)  # seeded: the same pieces again
    share = [np.mean([_chord_tone_share(p, "Q2") for p in ps]) for ps in (plain, steered)]
    assert share[1] > share[0] + 0.15, share  # measured 0.30 -> 0.71


def _key_of(*pitches: int) -> list[int]:
    """A bar of the given pitches, one per quarter beat, ending at the start of the next bar."""
    seq = _ids("BOS_None", "Bar_None", "Emotion_Q1")
    for k, pitch in enumerate(pitches):
        seq += _ids(f"Position_{4 * k % 32}", *_note(pitch))
    return [*seq, *_ids("Bar_None", "Emotion_Q1")]


def test_the_key_heard_so_far_is_estimated_by_mode() -> None:
    c_major = _key_of(60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60, 67)
    a_minor = _key_of(57, 59, 60, 62, 64, 65, 68, 69, 64, 60, 57, 64)
    for seq, major, want in ((c_major, True, 0), (a_minor, False, 9)):
        guide = HarmonyGuide(1.0, {"Q1": 1.0})
        guide.tilt(seq, np.zeros(tokens.vocab_size()), "Q1")
        assert guide.tonic(major) == want
    assert HarmonyGuide(1.0).tonic(True) is None  # nothing heard yet


def test_function_steering_draws_the_first_note_of_a_half_bar_to_the_primary_roots() -> None:
    scores = np.random.default_rng(2).normal(size=tokens.vocab_size())
    seq = _key_of(60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60, 67)  # C major heard; a new bar begins
    assert HarmonyGuide(1.0).tilt(seq, scores, "Q1") is scores  # without it the first note is free
    assert HarmonyGuide(1.0, {"Q4": 1.0}).tilt(seq, scores, "Q1") is scores  # only the quadrants named
    out = HarmonyGuide(1.0, {"Q1": 1.0}).tilt(seq, scores, "Q1")
    p, q = _softmax(scores), _softmax(out)
    pitches = _pitch_ids()
    assert abs(p[pitches].sum() - q[pitches].sum()) < 1e-9
    ratio = {n: q[tokens.token_id(f"Pitch_{n}")] / p[tokens.token_id(f"Pitch_{n}")] for n in (48, 53, 55, 57, 52)}
    assert ratio[48] == pytest.approx(ratio[53]) == pytest.approx(ratio[55])  # C, F, G: tonic, IV, V
    assert ratio[48] > 2 * ratio[57] and ratio[57] == pytest.approx(ratio[52])  # A (vi) and E get less
    with pytest.raises(ValueError, match="function weights"):
        HarmonyGuide(1.0, {"Q1": -0.5})


def test_function_steering_prefers_the_keys_primary_triads() -> None:
    # in C major, a half bar holding only A (the root of vi, the third of IV): plain steering picks A minor or
    # F major by quality; with functions in Q1, F major (IV) wins, and in Q2 (minor key: A) A minor (i)
    seq = [*_key_of(60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60, 67), *_ids("Position_0", *_note(57))]
    guide = HarmonyGuide(1.0, {"Q1": 1.0, "Q2": 1.0})
    guide.tilt(seq, np.zeros(tokens.vocab_size()), "Q1")
    assert guide.triad("Q1") == 5  # F major
    assert guide.triad("Q2") == A_MINOR


def test_the_composer_reads_function_weights_from_the_checkpoint() -> None:
    net = load_generator(debug=True)
    net.sampling = {**net.sampling, "harmony_weight": 1.0, "function_weights": {"Q1": 2.0}}
    composer = Composer(net)
    assert composer.function_weights == {"Q1": 2.0}
    kw = {"seed": 3, "temperature": 1.0, "top_p": 1.0}
    steered = composer.generate_ids(("Q1",) * 2, **kw)
    assert steered == composer.generate_ids(("Q1",) * 2, **kw)
    assert steered != composer.generate_ids(("Q1",) * 2, function_weights={}, **kw)
    # other quadrants are untouched
    assert composer.generate_ids(("Q3",) * 2, **kw) == composer.generate_ids(("Q3",) * 2, function_weights={}, **kw)
