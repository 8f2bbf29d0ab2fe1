"""Ableton through the AbletonOSC protocol, against a loopback stand-in that behaves as its README says."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from ableton_standin import AbletonStandIn, Clip
from media_fixtures import make_example
from osc_helpers import Peer, debug_engine, notes_in_beats, one_torch_thread, running_bridge

from moodscore.bridge.ableton import AbletonError, AbletonLink
from moodscore.models import ComposeRequest, default_example_clip


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
    # equal to what the notes' trip allows: the MIDI file's tick (a performance places notes off the beat grid), the
    # bridge's 1/1920 beat, AbletonOSC's 32-bit floats
    close = 1 / score.midi.resolution + 1 / 1920 + 1e-4  # (a length: its start and its end each rounded)
    assert [t for n in got for t in n[1:3]] == pytest.approx([t for n in expected for t in n[1:3]], abs=close)
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
    from moodscore.bridge.send import main

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
    from moodscore.bridge.send import main

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


@pytest.fixture(scope="module")
def cuts_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12 s clip with hard cuts at 2.48, 5.0 and 7.52 s (tests/data/make_example.py --cuts)."""
    maker = make_example()
    path = tmp_path_factory.mktemp("cuts") / "cuts.mp4"
    maker.make_cuts_clip(path)
    return path


def test_a_scored_clip_goes_into_live_a_clip_per_section_with_tempo_and_locators(
    tmp_path: Path, live: AbletonStandIn, link: AbletonLink, cuts_clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    import pretty_midi

    from moodscore.bridge.client import main
    from moodscore.bridge.protocol import QUADRANT_COLORS
    from moodscore.models import QUADRANT_NAMES

    videos = tmp_path / "videos"
    videos.mkdir()
    video = videos / "scene 4.mp4"
    video.write_bytes(cuts_clip.read_bytes())
    live.current_song_time = 33.0  # where the user left Live's song position
    live.num_scenes = 7  # three sections from scene 5 on: Live gets one more scene
    with one_torch_thread(), running_bridge(tmp_path / "out", allowed_roots=[videos], ableton=lambda: link) as bridge:
        host, port = bridge.address
        argv = ["ableton", "--path", str(video), "--track", "1", "--slot", "5", "--set", "0-4=Q3,4-8=Q1,8-12=Q4",
                "--host", host, "--port", str(port), "--id", "live1"]  # fmt: skip
        assert main(argv) == 0
        (job,) = [p for p in bridge.ctx.out_dir.iterdir() if (p / "score.json").is_file()]
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "ok\tableton" and out[-1] == "end"
    summary = json.loads((job / "score.json").read_text(encoding="utf-8"))
    midi = pretty_midi.PrettyMIDI(str(job / "score.mid"))
    sections = summary["sections"]
    assert [s["quadrant"] for s in sections] == ["Q3", "Q1", "Q4"]

    assert live.tempo == pytest.approx(summary["tempo"])  # the song's tempo is the score's
    assert ["/live/song/create_scene", [-1]] in [[a, p] for a, p in live.received] and live.num_scenes == 8
    assert sorted(live.clips) == [(1, 5), (1, 6), (1, 7)] and not live.errors
    res = midi.resolution
    notes = [(n, midi.time_to_tick(n.start) / res, midi.time_to_tick(n.end) / res)
             for inst in midi.instruments for n in inst.notes]  # fmt: skip
    for k, sec in enumerate(sections):
        first, last = sec["bars"]
        a, b = 4.0 * (first - 1), 4.0 * last
        clip = live.clips[(1, 5 + k)]
        assert clip.length == b - a and clip.color == QUADRANT_COLORS[sec["quadrant"]]
        assert clip.name == f"{k + 1} {sec['quadrant']} {QUADRANT_NAMES[sec['quadrant']]}"
        want = sorted((n.pitch, s - a, min(e, b) - s, n.velocity) for n, s, e in notes if a <= s < b)
        got = sorted((p, s, d, v) for p, s, d, v, _ in clip.notes)
        assert [(p, v) for p, _, _, v in got] == [(p, v) for p, _, _, v in want] and got
        assert [t for n in got for t in n[1:3]] == pytest.approx([t for n in want for t in n[1:3]], abs=1e-3)
    assert sum(len(c.notes) for c in live.clips.values()) == len(notes)  # every note in one clip or another

    # the cuts as locators at their beats in the score, named; the song's position put back
    cuts = summary["cuts"]
    assert len(cuts) >= 3
    assert [name for name, _ in live.cue_points] == [f"cut {k + 1}" for k in range(len(cuts))]
    assert [t for _, t in live.cue_points] == pytest.approx([midi.time_to_tick(t) / res for t in cuts], abs=1e-3)
    assert live.current_song_time == 33.0
    clip_lines = [line.split("\t")[1:4] for line in out if line.startswith("clip\t")]
    assert clip_lines == [["1", str(5 + k), str(len(live.clips[(1, 5 + k)].notes))] for k in range(3)]
    markers = [line.split("\t")[4] for line in out if line.startswith("marker\t")]
    assert markers == [f"cut {k + 1}" for k in range(len(cuts))]


def test_locators_keep_the_cue_points_already_there(live: AbletonStandIn, link: AbletonLink) -> None:
    from moodscore.bridge.ableton import Cue, LiveClip

    live.cue_points = [["verse", 8.0]]
    clips = [LiveClip(0, 0, 4.0, [(60, 0.0, 1.0, 90)], "1 Q1", 0xF2B134),
             LiveClip(0, 1, 8.0, [(62, 4.5, 0.5, 80)], "2 Q3", 1)]  # fmt: skip
    assert link.put_score(clips, tempo=101.5, cues=[Cue(4.0, "cut 1"), Cue(8.0, "cut 2")]) == 2
    # add_or_delete at beat 8 would have deleted the user's locator: it is left as it was
    assert live.cue_points == [["cut 1", 4.0], ["verse", 8.0]] and live.tempo == 101.5
    assert [(c.name, c.length, c.color) for c in (live.clips[(0, 0)], live.clips[(0, 1)])] == [
        ("1 Q1", 4.0, 0xF2B134), ("2 Q3", 8.0, 1)]  # fmt: skip


def test_a_score_into_live_refuses_an_occupied_slot_before_changing_anything(
    live: AbletonStandIn, link: AbletonLink
) -> None:
    from moodscore.bridge.ableton import Cue, LiveClip

    live.clips[(0, 2)] = Clip(4.0, name="mine")
    clips = [LiveClip(0, 1 + k, 4.0, [(60, 0.0, 1.0, 90)], f"{k + 1} Q1", 0) for k in range(3)]
    with pytest.raises(AbletonError, match="track 0 slot 2 already holds a clip; the music needs slots 1-3 empty"):
        link.put_score(clips, tempo=140.0, cues=[Cue(4.0, "cut 1")])
    with pytest.raises(AbletonError, match=r"Live's set has 8 tracks \(numbered from 0\); the music needs tracks 7-8"):
        link.put_score([replace(c, track=7 + k % 2) for k, c in enumerate(clips)], tempo=140.0)
    sent = {a for a, _ in live.received}
    questions = {"/live/song/get/num_tracks", "/live/song/get/num_scenes", "/live/clip_slot/get/has_clip"}
    assert sent <= questions  # only questions were asked
    assert live.tempo == 96.0 and live.cue_points == [] and list(live.clips) == [(0, 2)]


def test_ableton_with_a_path_takes_no_emotion(tmp_path: Path, link: AbletonLink) -> None:
    with running_bridge(tmp_path, ableton=lambda: link) as bridge, Peer() as peer:
        peer.send(bridge.address, "/moodscore/ableton", "x1", "track", 0, "slot", 0, "path", "/v.mp4", "quadrant", "Q1")
        (reply,) = peer.until("x1", 10)
    assert reply[0] == "/moodscore/error" and "give no quadrant" in reply[1][2]


def test_moodscore_send_ableton_video_through_the_bridge(
    tmp_path: Path, live: AbletonStandIn, link: AbletonLink, capsys: pytest.CaptureFixture[str]
) -> None:
    from moodscore.bridge.send import main

    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "clip.mp4").write_bytes(default_example_clip().read_bytes())
    with one_torch_thread(), running_bridge(tmp_path / "out", allowed_roots=[videos], ableton=lambda: link) as bridge:
        host, port = bridge.address
        argv = ["ableton", "--track", "3", "--slot", "0", "--video", str(videos / "clip.mp4"),
                "--bridge", f"{host}:{port}"]  # fmt: skip
        assert main(argv) == 0
        with pytest.raises(SystemExit, match="give no --bars or --local"):
            main([*argv, "--bars", "4"])
        # each part on a track of its own: the piano's clips on track 5, the bass's on track 6
        argv = ["ableton", "--track", "5", "--slot", "2", "--video", str(videos / "clip.mp4"), "--parts",
                "--instruments", "piano,bass", "--bridge", f"{host}:{port}"]  # fmt: skip
        assert main(argv) == 0
        (job,) = [p for p in bridge.ctx.out_dir.iterdir() if '"bass"' in (p / "score.json").read_text()]
    out = capsys.readouterr()
    n = len([k for k in live.clips if k[0] == 3])
    assert n >= 1 and f"put {n} clips (one per section) into track 3 from slot 0" in out.out
    assert f"put {2 * n} clips (one per section) into tracks 5-6 from slot 2" in out.out
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(str(job / "score.mid"))
    for track, inst in zip((5, 6), midi.instruments, strict=True):
        clips = [live.clips[(track, 2 + k)] for k in range(n)]
        assert all(c.name.endswith(f"({inst.name.lower()})") for c in clips)
        assert sum(len(c.notes) for c in clips) == len(inst.notes) > 0
        assert sorted(p for c in clips for p, *_ in c.notes) == sorted(x.pitch for x in inst.notes)
