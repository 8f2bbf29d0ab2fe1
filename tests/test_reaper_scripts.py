"""The ReaScripts under lua5.4 with a stand-in ``reaper`` table that records every API call, against a real bridge.

The stand-in models REAPER's time map at one tempo (960 PPQ per quarter note) and refuses any function it
does not know, so a misspelt API call fails the test. It runs the real client through io.popen.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pretty_midi
import pytest
from media_fixtures import make_example
from osc_helpers import debug_engine, notes_in_beats, one_torch_thread, running_bridge
from osc_reaper_standin import STANDIN_LUA, run_script

from moodscore.bridge.protocol import QUADRANT_COLORS
from moodscore.models import QUADRANT_NAMES, ComposeRequest, default_example_clip

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
    return {
        "MOODSCORE_CMD": f'"{sys.executable}" -m moodscore.models.cli',
        "MOODSCORE_BRIDGE": f"{host}:{port}",
        **extra,
    }


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
    # a performance places notes off the beat grid: the bridge's MIDI file holds them to its tick, the client to
    # 1/1920 beat
    close = 960 * (0.5 / score.midi.resolution + 0.5 / 1920) + 1e-6
    assert [t for n in got for t in n[1:3]] == pytest.approx([t for n in expected for t in n[1:3]], abs=close)
    (name,) = [c for c in calls if c[0] == "GetSetMediaItemTakeInfo_String"]
    assert name[2:] == ["P_NAME", "Q1 happy / excited", True]


def test_compose_reports_a_time_signature_the_composer_cannot_do(bridge: Any, tmp_path: Path) -> None:
    env = _env(bridge, REAPER_INPUTS="0.5 -0.5,4,auto", REAPER_TIMESIG="7/8")
    calls, error = run_script(SCRIPTS / "moodscore_compose.lua", tmp_path, env)
    assert error == ""
    (box,) = [c for c in calls if c[0] == "ShowMessageBox"]
    assert "only 4/4 is supported so far, got 7/8" in box[1]
    assert not {"Undo_BeginBlock", "CreateNewMIDIItemInProj"} & {c[0] for c in calls}  # nothing changed


def _returns(calls: list[list[Any]]) -> list[tuple[list[Any], Any]]:
    """(call, the object it returned) for every call the stand-in saw return an object."""
    return [(calls[i - 1], c[1]) for i, c in enumerate(calls) if c[0] == "=" and i]


def _cuts_clip(folder: Path) -> Path:
    maker = make_example()
    path = folder / "cuts.mp4"
    maker.make_cuts_clip(path)
    return path


@pytest.fixture(scope="module")
def cuts_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12 s clip with hard cuts at 2.48, 5.0 and 7.52 s (tests/data/make_example.py --cuts)."""
    return _cuts_clip(tmp_path_factory.mktemp("cuts"))


def _job_folders(bridge: Any, rid: str) -> list[Path]:
    return [p for p in bridge.ctx.out_dir.iterdir() if p.name.endswith("-" + rid)]


def test_score_video_inserts_stems_regions_and_markers_while_reaper_stays_responsive(
    bridge: Any, cuts_clip: Path, tmp_path: Path
) -> None:
    import soundfile

    folder = bridge.videos / 'it\'s a "clip" $HOME & co'  # quotes, spaces and shell characters in the path
    folder.mkdir()
    video = folder / "my video (1).mp4"
    shutil.copy(cuts_clip, video)
    temp = tmp_path / "temp"
    temp.mkdir()
    # the video item starts at 10 s in the project and shows the clip from 0.5 s to 11.5 s: its first frame is at 9.5 s
    env = _env(bridge, REAPER_TEMPO="120", REAPER_VIDEO=str(video), REAPER_VIDEO_POS="10.0", REAPER_VIDEO_LEN="11.0",
               REAPER_VIDEO_OFFS="0.5", TMPDIR=str(temp),
               REAPER_MARKERS="Hit the door@12.5;verse@13.0;hit@30.0")  # fmt: skip
    calls, error = run_script(SCRIPTS / "moodscore_score_video.lua", tmp_path, env, timeout=240)
    names = [c[0] for c in calls]
    assert error == "" and "ShowMessageBox" not in names and "defer_limit" not in names, calls[-3:]
    (job,) = [p for p in bridge.ctx.out_dir.iterdir() if (p / "score.json").is_file() and "reaper-" in p.name]
    summary = json.loads((job / "score.json").read_text(encoding="utf-8"))
    # the project's "hit" markers over the item became hits (seconds in the clip), which the music lands on
    assert summary["options"]["hits"] == [3.0] and summary["sync"]["hits"][0]["t_s"] == 3.0

    # the script returned at once and polled from reaper.defer; the progress window showed the bridge's progress
    (launch,) = [c for c in calls if c[0] == "io.popen"]
    assert launch[1].startswith("/bin/sh '") and launch[1].endswith(".sh' > /dev/null 2>&1 &")
    begin = names.index("Undo_BeginBlock")
    ticks = [i for i, n in enumerate(names) if n == "tick"]
    assert len(ticks) > 10 and names.index("io.popen") < names.index("gfx.init") < ticks[0]
    shown = [c[1] for c in calls[ticks[0] : begin] if c[0] == "gfx.drawstr"]
    assert any(re.match(r"[1-9]\d*%  faces", t) for t in shown), shown  # a fraction and the bridge's message
    assert names.index("gfx.quit") < begin

    # one undo block holds every change
    assert names.count("Undo_BeginBlock") == names.count("Undo_EndBlock") == 1
    end = names.index("Undo_EndBlock")
    changes = {"InsertTrackAtIndex", "AddMediaItemToTrack", "CreateNewMIDIItemInProj", "AddProjectMarker2",
               "MIDI_InsertNote", "SetMediaItemInfo_Value", "SetMediaItemTake_Source"}  # fmt: skip
    assert all(begin < i < end for i, n in enumerate(names) if n in changes)

    # a track per stem, named for its part, then one for the MIDI, right under the video's track
    assert [c[1:] for c in calls if c[0] == "InsertTrackAtIndex"] == [[1, True], [2, True], [3, True], [4, True]]
    made = {ret: call[2] for call, ret in _returns(calls) if call[0] == "GetTrack"}
    track_names = {c[1]: c[3] for c in calls if c[0] == "GetSetMediaTrackInfo_String"}
    parts = [made[t] for t in made]
    assert [track_names[t] for t in made] == ["piano", "bass", "pad", "moodscore MIDI"] and parts == [1, 2, 3, 4]

    # each stem's WAV (in the bridge's job folder) on its track, second 0 of the file at the clip's first frame
    rets = _returns(calls)
    sources = {ret: call[1] for call, ret in rets if call[0] == "PCM_Source_CreateFromFile"}
    items = {ret: call[1] for call, ret in rets if call[0] == "AddMediaItemToTrack"}
    takes = {ret: call[1] for call, ret in rets if call[0] == "AddTakeToMediaItem"}
    stems = {}
    for c in calls:
        if c[0] == "SetMediaItemTake_Source":
            item = takes[c[1]]
            wav = Path(sources[c[2]])
            stems[track_names[items[item]]] = (item, c[1], wav)
    assert sorted(stems) == ["bass", "pad", "piano"]
    for part, (item, take, wav) in stems.items():
        assert wav.parent == job / "stems" and wav.name == f"my_video_1_{part}.wav", wav
        length = soundfile.info(str(wav)).duration
        assert abs(length - summary["duration_s"]) < 0.01
        props = {c[2]: c[3] for c in calls if c[0] == "SetMediaItemInfo_Value" and c[1] == item}
        assert props == {"D_POSITION": 10.0, "D_LENGTH": pytest.approx(min(11.0, length - 0.5))}
        assert [c[2:] for c in calls if c[0] == "SetMediaItemTakeInfo_Value" and c[1] == take] == [["D_STARTOFFS", 0.5]]
        assert ["GetSetMediaItemTakeInfo_String", take, "P_NAME", part, True] in calls

    # the MIDI of every part, each note at its time in the clip (trimmed to the video item)
    (create,) = [c for c in calls if c[0] == "CreateNewMIDIItemInProj"]
    assert create[1:] == [next(t for t, n in track_names.items() if n == "moodscore MIDI"), 10.0, 21.0, False]
    midi = pretty_midi.PrettyMIDI(str(job / "score.mid"))
    expected = []
    for inst in midi.instruments:
        for n in inst.notes:
            s, e = max(9.5 + n.start, 10.0), min(9.5 + n.end, 21.0)
            if e > s:
                expected.append((n.pitch, (s - 10.0) * 2 * 960, (e - 10.0) * 2 * 960, n.velocity))
    got = sorted((c[7], c[4], c[5], c[8]) for c in calls if c[0] == "MIDI_InsertNote")
    expected.sort()
    assert [(p, v) for p, _, _, v in got] == [(p, v) for p, _, _, v in expected] and got
    assert [t for n in got for t in n[1:3]] == pytest.approx([t for n in expected for t in n[1:3]], abs=2.0)

    # a region per section, named and coloured after its emotion; a marker at every cut inside the item
    per_bar = 4 * midi.resolution
    want = []
    for sec in summary["sections"]:
        first, last = sec["bars"]
        s = 9.5 + midi.tick_to_time((first - 1) * per_bar)
        e = 9.5 + min(midi.tick_to_time(last * per_bar), summary["duration_s"])
        rgb = QUADRANT_COLORS[sec["quadrant"]]
        native = (rgb >> 16) | (rgb & 0xFF00) | ((rgb & 0xFF) << 16) | 0x1000000  # the stand-in's ColorToNative
        want.append([0, True, max(s, 10.0), min(e, 21.0), f"{sec['quadrant']} {QUADRANT_NAMES[sec['quadrant']]}",
                     -1, native])  # fmt: skip
    regions = [c[1:] for c in calls if c[0] == "AddProjectMarker2" and c[2]]
    assert [r[:2] + r[4:] for r in regions] == [w[:2] + w[4:] for w in want] and regions
    assert [r[2:4] for r in regions] == [pytest.approx(w[2:4], abs=1e-4) for w in want]
    markers = [c[1:] for c in calls if c[0] == "AddProjectMarker2" and not c[2]]
    cuts = [t for t in summary["cuts"] if 10.0 <= 9.5 + t <= 21.0]
    assert len(cuts) >= 3 and [m[4] for m in markers] == [f"cut {k + 1}" for k in range(len(summary["cuts"]))
                                                         if summary["cuts"][k] in cuts]  # fmt: skip
    assert [m[2] for m in markers] == pytest.approx([9.5 + t for t in cuts], abs=1e-5)
    assert all(m[:2] == [0, False] and m[3] == 0 and m[5:] == [-1, 0] for m in markers)
    assert list(temp.iterdir()) == []  # the client's files are gone


@pytest.mark.parametrize("how", ["close", "esc", "run again"])
def test_closing_the_progress_window_cancels_the_job_and_changes_nothing(
    bridge: Any, cuts_clip: Path, tmp_path: Path, how: str
) -> None:
    video = bridge.videos / f"cancel me {how}.mp4"
    shutil.copy(cuts_clip, video)
    temp = tmp_path / "temp"
    temp.mkdir()
    # the "user" closes the window (or presses Esc, or runs the script again, which terminates this one) once it
    # shows some progress: the job is running by then
    env = _env(bridge, REAPER_VIDEO=str(video), TMPDIR=str(temp))
    env["REAPER_TERMINATE_WHEN" if how == "run again" else "REAPER_CLOSE_WHEN"] = "^[1-9]%d*%%"
    if how == "esc":
        env["REAPER_PRESS_ESC"] = "1"
    calls, error = run_script(SCRIPTS / "moodscore_score_video.lua", tmp_path, env, timeout=240)
    names = [c[0] for c in calls]
    assert error == "" and "defer_limit" not in names
    nothing = {"Undo_BeginBlock", "InsertTrackAtIndex", "AddMediaItemToTrack", "CreateNewMIDIItemInProj",
               "AddProjectMarker2", "PCM_Source_CreateFromFile", "ShowMessageBox"}  # fmt: skip
    assert not nothing & set(names), [n for n in names if n in nothing]
    score, cancel = [c[1] for c in calls if c[0] == "io.popen"]
    assert "moodscore-reaper-" in score and "-cancel.sh" in cancel
    assert names.index("gfx.quit") > names.index("io.popen")
    assert ("terminated" in names and names.index("atexit") < names.index("gfx.quit")) == (how == "run again")
    rid = re.search(r"moodscore-(reaper-[0-9-]+)\.sh", score).group(1)
    # the bridge cancelled the job, and removes its folder once it has stopped
    deadline = time.monotonic() + 60
    while (bridge._states[rid][0] != "cancelled" or _job_folders(bridge, rid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert bridge._states[rid][0] == "cancelled" and _job_folders(bridge, rid) == []
    if how != "run again":  # (a terminated script cannot wait for its clients: their small files stay)
        assert list(temp.iterdir()) == []


def test_score_video_reports_a_bridge_error_in_one_message_box(bridge: Any, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.mp4"
    shutil.copy(default_example_clip(), outside)
    env = _env(bridge, REAPER_VIDEO=str(outside), TMPDIR=str(tmp_path))
    calls, error = run_script(SCRIPTS / "moodscore_score_video.lua", tmp_path, env, timeout=120)
    assert error == ""
    (box,) = [c for c in calls if c[0] == "ShowMessageBox"]
    assert "is outside the folders this bridge may read" in box[1] and box[2] == "moodscore: score video"
    assert "Undo_BeginBlock" not in [c[0] for c in calls]


def test_score_video_explains_a_client_that_does_not_start(tmp_path: Path) -> None:
    env = {"MOODSCORE_CMD": str(tmp_path / "no-such-moodscore"), "REAPER_VIDEO": "/videos/clip.mp4",
           "TMPDIR": str(tmp_path)}  # fmt: skip
    calls, error = run_script(SCRIPTS / "moodscore_score_video.lua", tmp_path, env, timeout=60)
    assert error == ""
    (box,) = [c[1] for c in calls if c[0] == "ShowMessageBox"]
    assert box.startswith("no answer from the moodscore client") and "no-such-moodscore" in box
    assert "Undo_BeginBlock" not in [c[0] for c in calls]


def test_windows_and_macos_command_lines_are_quoted_for_their_shells(tmp_path: Path) -> None:
    canned = tmp_path / "out.txt"
    canned.write_text("", encoding="utf-8")
    video = r"C:\Users\Ana Lima\Videos\clip (1) & 100% more.mp4"
    env = {"REAPER_OS": "Win64", "REAPER_FAKE_POPEN": str(canned), "REAPER_VIDEO": video, "REAPER_MAX_TICKS": "2",
           "TEMP": str(tmp_path / "win"), "MOODSCORE_CMD": r'"C:\Program Files\moodscore\moodscore.exe"',
           "MOODSCORE_BRIDGE": "127.0.0.1:9000"}  # fmt: skip
    calls, _ = run_script(SCRIPTS / "moodscore_score_video.lua", tmp_path, env)
    # (the loop is stopped after 2 ticks: the script's atexit then cancels the request, in a second launcher)
    popen, cancel = [c for c in calls if c[0] == "io.popen"]
    (launcher,) = [p for p in tmp_path.glob("win\\moodscore-reaper-*.cmd") if "-cancel" not in p.name]  # (a Windows
    # path, made on Linux: one file name)
    out = str(launcher)[: -len(".cmd")] + ".txt"
    rid = launcher.name[len("win\\moodscore-") : -len(".cmd")]
    assert popen[1] == f'start "" /b cmd /c "{launcher}"'
    assert cancel[1] == f'start "" /b cmd /c "{str(launcher)[: -len(".cmd")]}-cancel.cmd"'
    assert launcher.read_bytes().decode() == (
        "@echo off\r\nchcp 65001 > nul\r\n"
        '"C:\\Program Files\\moodscore\\moodscore.exe" osc --host "127.0.0.1" --port "9000" "score" '
        '"C:\\Users\\Ana Lima\\Videos\\clip (1) & 100%% more.mp4" "--stems" "--instruments" "piano,bass,pad" '
        f'"--tempo" "120.000000" "--id" "{rid}" "--progress-lines" "--timeout" "1800" > "{out}" 2>&1\r\n'
        f'echo exited>> "{out}"\r\n'
    )

    env.update(REAPER_OS="macOS-arm64", REAPER_VIDEO="/Users/o'neil/Movies/My Clip.mov", MOODSCORE_CMD="moodscore",
               TMPDIR=str(tmp_path))  # fmt: skip
    calls, _ = run_script(SCRIPTS / "moodscore_score_video.lua", tmp_path, env)
    popen = next(c for c in calls if c[0] == "io.popen")
    launcher, text = next(c[1:] for c in calls if c[0] == "launcher")
    rid = Path(launcher).name[len("moodscore-") : -len(".sh")]
    out = tmp_path / f"moodscore-{rid}.txt"
    assert launcher == str(tmp_path / f"moodscore-{rid}.sh") and rid.startswith("reaper-")
    assert popen[1] == f"/bin/sh '{launcher}' > /dev/null 2>&1 &"
    assert text == (
        "moodscore osc --host '127.0.0.1' --port '9000' 'score' '/Users/o'\\''neil/Movies/My Clip.mov' '--stems' "
        f"'--instruments' 'piano,bass,pad' '--tempo' '120.000000' '--id' '{rid}' '--progress-lines' '--timeout' "
        f"'1800' > '{out}' 2>&1\n"
        f"echo \"exited $?\" >> '{out}'\n"
    )
    assert os.sep == "/"  # (the POSIX launcher also ran for real through /bin/sh in the score test above)


def _canned(tmp_path: Path, stems: list[Path]) -> Path:
    """What `moodscore osc score --progress-lines` prints for a score of three sections, two cuts and a hit."""
    lines = [
        "progress\t0.5000\tcomposing",
        "ok\tscore",
        "piece\t0\t100.0\tC major\t5\tQ3,Q1,Q1,Q1,Q4\t2\tmoodscore clip.mp4\t/x/score.mid",
        "note\t60\t0.0\t1.0\t90",
        "note\t64\t4.0\t2.0\t80",
        "section\t0\t0.0\t2.5\t1\t1\tQ3\tA minor\tQ3 sad / low\t4026294",
        "section\t1\t2.5\t8.0\t2\t4\tQ1\tC major\tQ1 happy / excited\t15905076",
        "section\t2\t8.0\t10.0\t5\t5\tQ4\tC major\tQ4 calm / content\t5220731",
        "marker\t0\t2.5\tcut\tcut 1\t0.0",
        "marker\t1\t4.0\thit\thit 1\t0.0",
        "marker\t2\t8.0\tcut\tcut 2\t-12.5",
        *[f"stem\t{i}\t{p.stem}\t{p}\t{p.with_suffix('.mid')}" for i, p in enumerate(stems)],
        "end",
    ]
    canned = tmp_path / "client-output.txt"
    canned.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return canned


def test_score_video_puts_a_region_per_section_and_a_marker_per_cut(tmp_path: Path) -> None:
    import numpy as np
    import soundfile

    stems = [tmp_path / "piano.wav", tmp_path / "bass.wav"]
    for p in stems:
        soundfile.write(str(p), np.zeros((480000, 2), np.float32), 48000, subtype="PCM_24")  # 10 s
    env = {"REAPER_FAKE_POPEN": str(_canned(tmp_path, stems)), "REAPER_VIDEO": "/videos/clip.mp4",
           "REAPER_VIDEO_POS": "5.0", "REAPER_VIDEO_LEN": "10.0", "TMPDIR": str(tmp_path)}  # fmt: skip
    calls, error = run_script(SCRIPTS / "moodscore_score_video.lua", tmp_path, env)
    names = [c[0] for c in calls]
    assert error == "" and "ShowMessageBox" not in names
    regions = [c[1:] for c in calls if c[0] == "AddProjectMarker2" and c[2]]
    assert regions == [
        [0, True, 5.0, 7.5, "Q3 sad / low", -1, 0x3D6FB6 >> 16 | 0x6F00 | 0xB6 << 16 | 0x1000000],
        [0, True, 7.5, 13.0, "Q1 happy / excited", -1, 0xF2 | 0xB100 | 0x34 << 16 | 0x1000000],
        [0, True, 13.0, 15.0, "Q4 calm / content", -1, 0x4F | 0xA900 | 0x7B << 16 | 0x1000000],
    ]
    # the cuts become markers; the hit came from the project's own "hit" marker, which is there already
    assert [c[1:] for c in calls if c[0] == "AddProjectMarker2" and not c[2]] == [
        [0, False, 7.5, 0, "cut 1", -1, 0], [0, False, 13.0, 0, "cut 2", -1, 0]]  # fmt: skip
    named = [c[3] for c in calls if c[0] == "GetSetMediaTrackInfo_String"]
    assert named == ["piano", "bass", "moodscore MIDI"]
    assert [c[1] for c in calls if c[0] == "PCM_Source_CreateFromFile"] == [str(p) for p in stems]
    # the notes at their times in the clip: 100 BPM in the piece, 120 in the project (960 PPQ from QN 10)
    notes = [c[4:6] for c in calls if c[0] == "MIDI_InsertNote"]
    assert notes == [pytest.approx([0.0, 1152.0]), pytest.approx([4608.0, 6912.0])]
    assert list(tmp_path.glob("moodscore-reaper-*")) == []


def test_a_stem_that_cannot_be_read_inserts_nothing(tmp_path: Path) -> None:
    import numpy as np
    import soundfile

    good = tmp_path / "piano.wav"
    soundfile.write(str(good), np.zeros((4800, 2), np.float32), 48000)
    env = {"REAPER_FAKE_POPEN": str(_canned(tmp_path, [good, tmp_path / "gone.wav"])),
           "REAPER_VIDEO": "/videos/clip.mp4", "TMPDIR": str(tmp_path)}  # fmt: skip
    calls, error = run_script(SCRIPTS / "moodscore_score_video.lua", tmp_path, env)
    assert error == ""
    (box,) = [c[1] for c in calls if c[0] == "ShowMessageBox"]
    assert box.startswith(f"Cannot read the stem {tmp_path / 'gone.wav'}")
    names = [c[0] for c in calls]
    assert "Undo_BeginBlock" not in names and "InsertTrackAtIndex" not in names
    assert names.count("PCM_Source_CreateFromFile") == 1 and names.count("PCM_Source_Destroy") == 1
