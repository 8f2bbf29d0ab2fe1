"""MIDI -> tokens -> MIDI keeps pitches, onsets and durations on the grid; emotion tokens sit on bar lines."""

from __future__ import annotations

import numpy as np
import pretty_midi
import pytest

from moodscore.models.music.baselines import tokens


def _piece(tempo: float = 120.0, bars: int = 4, seed: int = 0) -> pretty_midi.PrettyMIDI:
    """Random notes on the 1/8-beat grid with durations REMI can write exactly (no same-key overlaps, which
    MIDI itself cannot represent unambiguously)."""
    rng = np.random.default_rng(seed)
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    inst = pretty_midi.Instrument(program=0)
    spb = 60.0 / tempo
    busy: dict[int, list[tuple[float, float]]] = {}
    while len(inst.notes) < 12 * bars:
        onset = rng.integers(0, bars * 4 * 8) / 8  # beats
        dur = float(rng.choice([0.125, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0]))
        pitch = int(rng.integers(21, 109))
        if any(a < onset + dur and onset < b for a, b in busy.get(pitch, [])):
            continue
        busy.setdefault(pitch, []).append((onset, onset + dur))
        inst.notes.append(
            pretty_midi.Note(
                velocity=int(rng.integers(20, 127)),
                pitch=pitch,
                start=onset * spb,
                end=(onset + dur) * spb,
            )
        )
    pm.instruments.append(inst)
    return pm


def _grid(pm: pretty_midi.PrettyMIDI, tempo: float) -> set[tuple[int, int, int]]:
    spb = 60.0 / tempo
    return {(n.pitch, round(n.start / spb * 8), round((n.end - n.start) / spb * 8)) for n in pm.instruments[0].notes}


@pytest.mark.parametrize(("tempo", "seed"), [(120.0, 0), (90.0, 1), (150.0, 2)])
def test_round_trip_keeps_pitch_onset_duration_on_the_grid(tempo: float, seed: int) -> None:
    pm = _piece(tempo, seed=seed)
    back = tokens.decode(tokens.encode(pm, "Q2"), tempo=tempo)
    assert _grid(back, tempo) == _grid(pm, tempo)
    # velocities come back within one of the 16 bins
    src = sorted((n.pitch, n.start, n.velocity) for n in pm.instruments[0].notes)
    out = sorted((n.pitch, n.start, n.velocity) for n in back.instruments[0].notes)
    assert max(abs(a[2] - b[2]) for a, b in zip(src, out, strict=True)) <= 128 // tokens.NUM_VELOCITIES


def test_emotion_tokens_follow_every_bar_line() -> None:
    pm = _piece(bars=4)
    ids = tokens.encode(pm, ["Q1", "Q1", "Q3"])
    bar = tokens.token_id("Bar_None")
    positions = [i for i, t in enumerate(ids) if t == bar]
    assert len(positions) == 4
    assert all(ids[p + 1] in {tokens.emotion_id(e) for e in tokens.EMOTIONS} for p in positions)
    assert tokens.bar_emotions(ids) == ["Q1", "Q1", "Q3", "Q3"]  # the last emotion repeats
    assert ids[0] == tokens.token_id("BOS_None")


def test_tracks_are_merged_and_drums_dropped() -> None:
    pm = _piece(bars=2)
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    drums.notes.append(pretty_midi.Note(velocity=100, pitch=36, start=0, end=0.1))
    bass = pretty_midi.Instrument(program=33)
    bass.notes.append(pretty_midi.Note(velocity=90, pitch=40, start=0.5, end=1.0))
    pm.instruments += [drums, bass]
    back = tokens.decode(tokens.encode(pm))
    assert len(back.instruments) == 1
    assert len(back.instruments[0].notes) == len(pm.instruments[0].notes) + 1


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="emotion"):
        tokens.emotion_id("Q5")
    with pytest.raises(ValueError, match="tempo"):
        tokens.decode([], tempo=0)
    assert tokens.decode([]).instruments[0].notes == []
