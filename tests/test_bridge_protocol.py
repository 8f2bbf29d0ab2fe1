"""bridge/PROTOCOL.md and the code agree; request options are parsed with their types checked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from moodscore.bridge import protocol
from moodscore.bridge.server import ROUTES, BridgeServer

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


def test_hits_and_forced_stretches_parse_or_say_why() -> None:
    assert protocol.parse_hits(" 31, 12.4,,12.4 ") == (12.4, 31.0)
    assert protocol.parse_forced("0-4.5=q3, 9-12=Q1") == ((0.0, 4.5, "Q3"), (9.0, 12.0, "Q1"))
    for bad, needle in (("12.4;31", "separated by commas"), ("-1", "from 0 s"), ("nan", "from 0 s")):
        with pytest.raises(protocol.RequestError, match=needle):
            protocol.parse_hits(bad)
    for bad in ("4-2=Q1", "0-4=Q5", "0-4"):
        with pytest.raises(protocol.RequestError, match=r"'set' takes stretches like '0-4\.5=Q3'"):
            protocol.parse_forced(bad)


def test_a_score_with_bad_hits_is_refused_before_it_is_queued(tmp_path: Path) -> None:
    from osc_helpers import Peer

    server = BridgeServer(object(), host="127.0.0.1", port=0, out_dir=tmp_path, allowed_roots=[tmp_path])
    with server, Peer() as peer:
        peer.send(server.address, "/moodscore/score", "h1", "path", str(tmp_path / "x.mp4"), "hits", "soon")
        (reply,) = peer.until("h1", 10)
    assert reply[0] == "/moodscore/error" and "hits are seconds separated by commas" in reply[1][2]
    assert list(tmp_path.iterdir()) == []  # no request folder was made
