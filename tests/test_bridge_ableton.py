"""Ableton through the AbletonOSC protocol, against a loopback stand-in that behaves as its README says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ableton_standin import AbletonStandIn, Clip
from osc_helpers import Peer, debug_engine, notes_in_beats, one_torch_thread, running_bridge

from bridge.ableton import AbletonError, AbletonLink
from models import ComposeRequest


@pytest.fixture
def live() -> Iterator[AbletonStandIn]:
    with AbletonStandIn(tempo=96.0, clip_delay=0.15) as standin:
        yield standin


@pytest.fixture
def link(live: AbletonStandIn) -> Iterator[AbletonLink]:
    link = AbletonLink("127.0.0.1", live.port, reply_port=0, timeout=2.0)
    live.response_port = link.reply_port  # Live answers on a fixed port (11001); here, the link's free port
    yield link
    link.close()


def _assert_clip_holds(clip: Clip, score: Any, tempo: float) -> None:
    expected = notes_in_beats(score.midi, tempo)
    got = sorted((p, s, d, v) for p, s, d, v, _ in clip.notes)
    assert [(p, v) for p, _, _, v in got] == [(p, v) for p, _, _, v in expected]
    # AbletonOSC's floats are 32-bit: equal to float32 precision
    assert [t for n in got for t in n[1:3]] == pytest.approx([t for n in expected for t in n[1:3]], abs=1e-4)
    assert not any(mute for *_, mute in clip.notes)


def test_bridge_request_puts_the_composed_notes_into_the_clip(
    tmp_path: Path, live: AbletonStandIn, link: AbletonLink
) -> None:
    with one_torch_thread(), running_bridge(tmp_path, ableton=lambda: link) as bridge, Peer() as peer:
        peer.send(bridge.address, "/moodscore/ableton", "a1", "track", 1, "slot", 2, "quadrant", "Q2", "bars", 2)
        replies = peer.until("a1", 30)
        assert replies[-1] == ("/moodscore/done", ["a1", "ableton", 1]), replies
        (clip_reply,) = [a for addr, a in replies if addr == "/moodscore/clip"]
        (score,) = debug_engine().compose(ComposeRequest(emotion="Q2", bars=2, tempo=96.0))

    addresses = live.addresses()
    assert addresses[0] == "/live/song/get/tempo"  # the song's tempo first
    create = addresses.index("/live/clip_slot/create_clip")
    first_notes = addresses.index("/live/clip/add/notes")
    polls = [i for i, a in enumerate(addresses) if a == "/live/clip_slot/get/has_clip" and create < i < first_notes]
    assert len(polls) >= 2  # it waited: the clip appears only a moment after create_clip
    assert addresses[-2:] == ["/live/clip/set/name", "/live/clip/get/notes"]  # named, then read back
    assert ["/live/clip_slot/create_clip", [1, 2, 8.0]] in [[a, p] for a, p in live.received]
    assert not live.errors
    clip = live.clips[(1, 2)]
    assert clip.length == 8.0 and clip.name == "Q2 tense / angry" == clip_reply[4]
    assert clip_reply[1:4] == [1, 2, len(clip.notes)]
    _assert_clip_holds(clip, score, 96.0)


def test_long_note_lists_are_split_and_arrive_whole(live: AbletonStandIn, link: AbletonLink) -> None:
    notes = [(36 + i % 48, i * 0.125, 0.25, 1 + i % 127) for i in range(333)]
    assert link.put_clip(0, 0, notes, 64.0, "many") == 333
    sends = [p for a, p in live.received if a == "/live/clip/add/notes"]
    assert len(sends) == 4 and all(len(p) <= 2 + 5 * 100 and p[:2] == [0, 0] for p in sends)
    got = [(p, s, d, v) for p, s, d, v, _ in live.clips[(0, 0)].notes]
    assert [(p, v) for p, _, _, v in got] == [(p, v) for p, _, _, v in notes]
    assert [t for n in got for t in n[1:3]] == pytest.approx([t for n in notes for t in n[1:3]], abs=1e-4)


def test_an_occupied_slot_is_refused_and_left_alone(live: AbletonStandIn, link: AbletonLink) -> None:
    live.clips[(0, 3)] = Clip(4.0, name="mine")
    with pytest.raises(AbletonError, match="already holds a clip"):
        link.put_clip(0, 3, [(60, 0.0, 1.0, 90)], 4.0, "new")
    assert live.clips[(0, 3)].notes == [] and live.clips[(0, 3)].name == "mine"


def test_no_live_means_a_clear_error(tmp_path: Path) -> None:
    quiet = AbletonLink("127.0.0.1", 9, reply_port=0, timeout=0.3)  # nothing listens on the discard port
    try:
        with pytest.raises(AbletonError, match="AbletonOSC"):
            quiet.tempo()
    finally:
        quiet.close()


def test_moodscore_send_ableton_local(live: AbletonStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    from bridge.send import main

    probe = AbletonLink("127.0.0.1", live.port, reply_port=0)
    port = probe.reply_port
    probe.close()  # a free port for send's own link (Live's 11001 in real use)
    live.response_port = port
    argv = ["ableton", "--track", "0", "--slot", "5", "--va", "0.5,-0.5", "--bars", "1", "--local", "--debug-models",
            "--ableton-port", str(live.port), "--ableton-reply-port", str(port)]  # fmt: skip
    with one_torch_thread():
        assert main(argv) == 0
        (score,) = debug_engine().compose(ComposeRequest(emotion=(0.5, -0.5), bars=1, tempo=96.0))
    clip = live.clips[(0, 5)]
    assert clip.name.startswith("V+0.50 A-0.50") and "track 0 slot 5" in capsys.readouterr().out
    _assert_clip_holds(clip, score, 96.0)


def test_moodscore_send_ableton_through_the_bridge(
    tmp_path: Path, live: AbletonStandIn, link: AbletonLink, capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.send import main

    with one_torch_thread(), running_bridge(tmp_path, ableton=lambda: link) as bridge:
        host, port = bridge.address
        assert main(["ableton", "--track", "2", "--slot", "0", "--quadrant", "Q4", "--bars", "1",
                     "--bridge", f"{host}:{port}"]) == 0  # fmt: skip
        (score,) = debug_engine().compose(ComposeRequest(emotion="Q4", bars=1, tempo=96.0))
        assert main(["ableton", "--track", "2", "--slot", "0", "--quadrant", "Q4", "--bars", "1",
                     "--bridge", f"{host}:{port}"]) == 2  # fmt: skip
    out = capsys.readouterr()
    assert "as 'Q4 calm / content' at 96 BPM" in out.out and "already holds a clip" in out.err
    _assert_clip_holds(live.clips[(2, 0)], score, 96.0)
