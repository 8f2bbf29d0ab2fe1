"""bridge/PROTOCOL.md and the code agree; request options are parsed with their types checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bridge import protocol
from bridge.server import ROUTES, BridgeServer

DOC = (Path(__file__).resolve().parents[1] / "bridge" / "PROTOCOL.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    m = re.search(rf"^## {title}\n(.*?)(?=^## |\Z)", DOC, re.S | re.M)
    assert m, f"PROTOCOL.md has no '## {title}' section"
    return m.group(1)


def test_every_request_in_the_doc_is_a_route_and_back() -> None:
    documented = re.findall(r"^### (/moodscore/\S+)", _section("Requests"), re.M)
    assert documented == [r.address for r in ROUTES]
    for route in ROUTES:
        assert callable(getattr(BridgeServer, route.method)), route


def test_every_reply_address_is_documented() -> None:
    documented = set(re.findall(r"^### (/moodscore/\S+)", _section("Replies"), re.M))
    assert documented == set(protocol.REPLIES)


def test_every_option_is_documented_with_its_type() -> None:
    rows = dict(re.findall(r"^\| (\w+) \| (\w) \|", _section("Conventions"), re.M))
    assert set(rows) == set(protocol.OPTIONS)
    for name, (types, _) in protocol.OPTIONS.items():
        tag = "s" if str in types else "f" if float in types else "i"
        assert rows[name] == tag, name


def test_options_parse_with_types() -> None:
    opts = protocol.parse_options(["quadrant", "Q2", "bars", 4, "tempo", 90, "key", "A minor"])
    assert opts == {"quadrant": "Q2", "bars": 4, "tempo": 90, "key": "A minor"}
    assert protocol.emotion_of(opts) == "Q2"
    assert protocol.emotion_of({"valence": 0.5, "arousal": -0.25}) == (0.5, -0.25)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["bars"], "pairs"),
        (["bars", "8"], "'bars' must be int"),
        (["bars", 8.0], "'bars' must be int"),
        (["tempo", "fast"], "'tempo' must be float"),
        (["tempo", float("nan")], "finite"),
        (["colour", "blue"], "unknown option"),
        ([3, 4], "option name must be a string"),
        (["seed", 1, "seed", 2], "twice"),
        (["bars", True], "'bars' must be int"),
    ],
)
def test_bad_options_are_refused_with_a_reason(args: list[object], needle: str) -> None:
    with pytest.raises(protocol.RequestError, match=re.escape(needle)):
        protocol.parse_options(args)


@pytest.mark.parametrize(
    "opts", [{}, {"quadrant": "Q1", "valence": 0.1, "arousal": 0.2}, {"valence": 0.3}, {"arousal": 0.3}]
)
def test_the_emotion_is_exactly_one_of_quadrant_or_point(opts: dict[str, object]) -> None:
    with pytest.raises(protocol.RequestError):
        protocol.emotion_of(opts)


def test_notes_are_in_beats_and_ordered() -> None:
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=90)
    inst = pretty_midi.Instrument(0, name="Piano")
    inst.notes = [pretty_midi.Note(80, 64, 2.0, 2.5), pretty_midi.Note(70, 60, 0.0, 1.0)]
    pm.instruments.append(inst)
    assert protocol.notes_of(pm, 90.0) == [(60, 0.0, 1.5, 70), (64, 3.0, 0.75, 80)]
