"""The ReaScripts under lua5.4 with a stand-in ``reaper`` table that records every API call, against a real bridge.

The stand-in models REAPER's time map at one tempo (960 PPQ per quarter note) and refuses any function it
does not know, so a misspelt API call fails the test. It runs the real client through io.popen.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pretty_midi
import pytest
from osc_helpers import debug_engine, notes_in_beats, one_torch_thread, running_bridge
from osc_reaper_standin import STANDIN_LUA, run_script

from models import ComposeRequest, Timeline

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "reaper_scripts"
pytestmark = pytest.mark.skipif(shutil.which("lua5.4") is None, reason="needs lua5.4")


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    videos = tmp_path_factory.mktemp("videos")
    with one_torch_thread(), running_bridge(tmp_path_factory.mktemp("out"), allowed_roots=[videos]) as server:
        server.videos = videos
        yield server


def _env(bridge: Any, **extra: str) -> dict[str, str]:
    host, port = bridge.address
    return {"MOODSCORE_CMD": f'"{sys.executable}" -m models.cli', "MOODSCORE_BRIDGE": f"{host}:{port}", **extra}


def test_the_standin_refuses_unknown_api_calls(tmp_path: Path) -> None:
    script = tmp_path / "typo.lua"
    script.write_text("reaper.MIDI_InsertNotes(nil)\n", encoding="utf-8")
    calls, error = run_script(script, tmp_path, {})
    assert "unknown ReaScript function MIDI_InsertNotes" in error and calls == []
    assert "MIDI_InsertNote" in STANDIN_LUA


def test_compose_inserts_the_generated_notes_at_the_edit_cursor(bridge: Any, tmp_path: Path) -> None:
    env = _env(bridge, REAPER_INPUTS="Q1,2,auto", REAPER_TEMPO="100", REAPER_CURSOR="3.0")
    calls, error = run_script(SCRIPTS / "moodscore_compose.lua", tmp_path, env)
    assert error == "", error
    names = [c[0] for c in calls]
    assert "ShowMessageBox" not in names
    assert names[0] == "GetSelectedTrack" and names.count("Undo_BeginBlock") == names.count("Undo_EndBlock") == 1
    begin, end = names.index("Undo_BeginBlock"), names.index("Undo_EndBlock")
    assert begin < names.index("CreateNewMIDIItemInProj") < names.index("MIDI_Sort") < end

    (create,) = [c for c in calls if c[0] == "CreateNewMIDIItemInProj"]
    assert create[1:] == ["track#1", 5.0, 13.0, True]  # cursor 3 s at 100 BPM = QN 5; 2 bars of 4/4 = 8 QN
    inserts = [c for c in calls if c[0] == "MIDI_InsertNote"]
    assert inserts and all(c[2:4] == [False, False] and c[6] == 0 and c[9] is True for c in inserts)
    assert names.index("MIDI_Sort") > names.index("MIDI_InsertNote")

    with one_torch_thread():
        (score,) = debug_engine().compose(ComposeRequest(emotion="Q1", bars=2, tempo=100.0))
    expected = sorted((p, s * 960, (s + d) * 960, v) for p, s, d, v in notes_in_beats(score.midi, 100.0))
    got = sorted((c[7], c[4], c[5], c[8]) for c in inserts)
    assert [(p, v) for p, _, _, v in got] == [(p, v) for p, _, _, v in expected]
    assert [t for n in got for t in n[1:3]] == pytest.approx([t for n in expected for t in n[1:3]], abs=1e-6)
    (name,) = [c for c in calls if c[0] == "GetSetMediaItemTakeInfo_String"]
    assert name[2:] == ["P_NAME", "Q1 happy / excited", True]


def test_compose_reports_a_time_signature_the_composer_cannot_do(bridge: Any, tmp_path: Path) -> None:
    env = _env(bridge, REAPER_INPUTS="0.5 -0.5,4,auto", REAPER_TIMESIG="7/8")
    calls, error = run_script(SCRIPTS / "moodscore_compose.lua", tmp_path, env)
    assert error == ""
    (box,) = [c for c in calls if c[0] == "ShowMessageBox"]
    assert "only 4/4 is supported so far, got 7/8" in box[1]
    assert not {"Undo_BeginBlock", "CreateNewMIDIItemInProj"} & {c[0] for c in calls}  # nothing changed


def test_score_video_puts_music_and_regions_under_the_video(bridge: Any, tmp_path: Path) -> None:
    folder = bridge.videos / 'it\'s a "clip" $HOME & co'  # quotes, spaces and shell characters in the path
    folder.mkdir()
    video = folder / "my video (1).mp4"
    shutil.copy(ROOT / "tests" / "data" / "example.mp4", video)
    env = _env(bridge, REAPER_TEMPO="120", REAPER_VIDEO=str(video), REAPER_VIDEO_POS="10.0", REAPER_VIDEO_LEN="12.5")
    calls, error = run_script(SCRIPTS / "moodscore_score_video.lua", tmp_path, env, timeout=240)
    assert error == "" and "ShowMessageBox" not in [c[0] for c in calls], calls[-3:]

    (midi_path,) = bridge.ctx.out_dir.glob("*/score.mid")
    (timeline_path,) = bridge.ctx.out_dir.glob("*/timeline.json")
    assert [c for c in calls if c[0] == "InsertTrackAtIndex"] == [["InsertTrackAtIndex", 1, True]]  # under it
    (create,) = [c for c in calls if c[0] == "CreateNewMIDIItemInProj"]
    assert create[1:] == ["track#2", 10.0, 22.5, False]  # aligned with the video item, in seconds
    # the music starts with the clip (QN 20 at 120 BPM); notes past the item's end are left out or shortened
    end_ppq = 12.5 * 2 * 960
    expected = sorted(
        (p, s * 960, min((s + d) * 960, end_ppq), v)
        for p, s, d, v in notes_in_beats(pretty_midi.PrettyMIDI(str(midi_path)), 120.0)
        if s * 960 < end_ppq
    )
    got = sorted((c[7], c[4], c[5], c[8]) for c in calls if c[0] == "MIDI_InsertNote")
    assert [(p, v) for p, _, _, v in got] == [(p, v) for p, _, _, v in expected] and got
    assert [t for n in got for t in n[1:3]] == pytest.approx([t for n in expected for t in n[1:3]], abs=1e-6)
    takes = [c for c in calls if c[0] == "GetSetMediaItemTakeInfo_String"]
    assert takes == [["GetSetMediaItemTakeInfo_String", "take#2", "P_NAME", "moodscore my video (1).mp4", True]]

    timeline = Timeline.from_json(timeline_path.read_text(encoding="utf-8"))
    regions = [c[1:] for c in calls if c[0] == "AddProjectMarker2"]
    want = [
        [0, True, 10.0 + s.start_s, min(10.0 + s.end_s, 22.5), f"{s.emotion.quadrant} {s.emotion.label}", -1, 0]
        for s in timeline.segments
        if s.start_s < 12.5
    ]
    assert regions == want and regions


def test_windows_and_macos_command_lines_are_quoted_for_their_shells(tmp_path: Path) -> None:
    canned = tmp_path / "out.txt"
    canned.write_text("error\tthe bridge is not running\n", encoding="utf-8")
    video = r"C:\Users\Ana Lima\Videos\clip (1) & more.mp4"
    env = {"REAPER_OS": "Win64", "REAPER_FAKE_POPEN": str(canned), "REAPER_VIDEO": video,
           "MOODSCORE_CMD": r'"C:\Program Files\moodscore\moodscore.exe"',
           "MOODSCORE_BRIDGE": "127.0.0.1:9000"}  # fmt: skip
    calls, _ = run_script(SCRIPTS / "moodscore_score_video.lua", tmp_path, env)
    (popen,) = [c for c in calls if c[0] == "io.popen"]
    assert popen[1] == (
        r'""C:\Program Files\moodscore\moodscore.exe" osc --host "127.0.0.1" --port "9000" "score" '
        r'"C:\Users\Ana Lima\Videos\clip (1) & more.mp4" "--tempo" "120.000000" "--timeout" "1800" 2>&1"'
    )
    assert [c[1] for c in calls if c[0] == "ShowMessageBox"] == ["the bridge is not running"]

    env.update(REAPER_OS="macOS-arm64", REAPER_VIDEO="/Users/o'neil/Movies/My Clip.mov", MOODSCORE_CMD="moodscore")
    calls, _ = run_script(SCRIPTS / "moodscore_score_video.lua", tmp_path, env)
    (popen,) = [c for c in calls if c[0] == "io.popen"]
    assert popen[1] == ("moodscore osc --host '127.0.0.1' --port '9000' 'score' '/Users/o'\\''neil/Movies/My Clip.mov' "
                        "'--tempo' '120.000000' '--timeout' '1800' 2>&1")  # fmt: skip
    assert os.sep == "/"  # (the POSIX quoting also ran for real through /bin/sh in the score test above)
