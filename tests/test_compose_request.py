"""ComposeRequest: validation with one-line errors, length in bars, bar quadrants from a Timeline."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from moodscore.models import affect
from moodscore.models.errors import InvalidOptionError
from moodscore.models.keys import parse_key
from moodscore.models.types import ComposeRequest, Emotion, Segment, Timeline


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"emotion": "Q5"}, "quadrant"),
        ({"emotion": (1.5, 0.0)}, "valence-arousal"),
        ({"emotion": "Q1", "bars": 0}, "bars"),
        ({"emotion": "Q1", "bars": 513}, "bars"),
        ({"emotion": "Q1", "tempo": 0}, "tempo"),
        ({"emotion": "Q1", "tempo": 401}, "tempo"),
        ({"emotion": "Q1", "tempo": 0.01}, "tempo must be from 20"),  # asked for 7.9 GB of audio
        ({"emotion": "Q1", "tempo": 3.0}, "tempo must be from 20"),  # under MIDI's 3.58 BPM
        ({"emotion": "Q1", "seed": -1}, "seed"),
        ({"emotion": "Q1", "seed": 2**31}, "seed"),
        ({"emotion": "Q1", "seed": 1.5}, "seed"),
        ({"emotion": "Q1", "temperature": float("nan")}, "temperature"),
        ({"emotion": "Q1", "key": "H minor"}, "key"),
        ({"emotion": "Q1", "time_signature": (3, 4)}, "4/4"),
        ({"emotion": "Q1", "instruments": ("bass",)}, "piano"),
        ({"emotion": "Q1", "variations": 0}, "variations"),
        ({"emotion": "Q1", "bars": 4, "seconds": 10.0}, "not both"),
        ({"emotion": "Q1", "seconds": 3600.0, "tempo": 200}, "limit"),
    ],
)
def test_bad_requests_are_refused_in_one_line(kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidOptionError, match=match) as info:
        ComposeRequest(**kwargs)
    assert "\n" not in str(info.value)


def test_length_in_bars() -> None:
    assert ComposeRequest(emotion="q2").n_bars == 16 and ComposeRequest(emotion="q2").emotion == "Q2"
    assert ComposeRequest(emotion="Q1", bars=8).n_bars == 8
    # 10 s at 120 BPM = 5 bars of 2 s; 10.5 s needs 6
    assert ComposeRequest(emotion="Q1", seconds=10.0, tempo=120).n_bars == 5
    assert ComposeRequest(emotion="Q1", seconds=10.5, tempo=120).n_bars == 6
    assert ComposeRequest(emotion=(0.5, -0.5), bars=3).bar_quadrants() == ("Q4", "Q4", "Q4")


def _timeline(bounds: list[float], labels: list[str]) -> Timeline:
    segs = []
    for (a, b), lab in zip(itertools.pairwise(bounds), labels, strict=True):
        e = Emotion.from_probs(np.eye(8)[affect.CLASS_INDEX[lab]])
        segs.append(Segment(a, b, e, face=e))
    return Timeline(duration_s=bounds[-1], segments=tuple(segs))


def test_timeline_changes_move_to_the_nearest_bar_line() -> None:
    # 120 BPM: bars of 2 s. A change at 4.9 s snaps to 4 s (bar 2), one at 5.1 s to 6 s (bar 3)
    tl = _timeline([0, 4.9, 12.0], ["happy", "sad"])
    assert ComposeRequest(emotion=tl, tempo=120).bar_quadrants() == ("Q1", "Q1", "Q3", "Q3", "Q3", "Q3")
    tl = _timeline([0, 5.1, 12.0], ["happy", "sad"])
    assert ComposeRequest(emotion=tl, tempo=120).bar_quadrants() == ("Q1", "Q1", "Q1", "Q3", "Q3", "Q3")
    # the music covers the clip: 13 s at 120 BPM needs 7 bars
    tl = _timeline([0, 6.0, 13.0], ["angry", "calm"])
    assert ComposeRequest(emotion=tl, tempo=120).bar_quadrants() == ("Q2",) * 3 + ("Q4",) * 4


@pytest.mark.parametrize(
    ("text", "tonic", "minor"),
    [("C", 0, False), ("F# minor", 6, True), ("Bbm", 10, True), ("eb major", 3, False), ("B", 11, False)],
)
def test_keys_parse(text: str, tonic: int, minor: bool) -> None:
    key = parse_key(text)
    assert key is not None and (key.tonic, key.minor) == (tonic, minor)
    assert parse_key("auto") is None


def test_public_messages_hide_server_folders() -> None:
    """What the web page and Discord show: absolute paths cut to their last part, addresses left alone."""
    from moodscore.models.errors import OutputError

    exc = OutputError("cannot write to /tmp/moodscore-web/ab12/out: No space left on device (see https://x.org/a)")
    assert exc.public_message == "cannot write to out: No space left on device (see https://x.org/a)"
    assert "/tmp" in exc.message  # the CLI, run by the owner of the folders, keeps the whole path
