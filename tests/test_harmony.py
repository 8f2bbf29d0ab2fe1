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
    return np.array([i for n, i in tokens.tokenizer().vocab.items() if n.startswith("Pitch_")])


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
    pitch_of = {i: int(n.split("_")[1]) for n, i in tokens.tokenizer().vocab.items() if n.startswith("Pitch_")}
    for k, t in enumerate(piece):
        guide.tilt(piece[:k], np.zeros(tokens.vocab_size()), quadrant)
        if t in pitch_of and guide.in_window:
            tilted += 1
            hits += bool(TRIADS[guide.triad(quadrant)][pitch_of[t] % 12])
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
