"""`score_job` and `moodscore score`: every file, a scored MP4 whose video packets are the input's, all or nothing."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import pretty_midi
import pytest
import soundfile as sf

from moodscore.models import Engine, OutputError, Timeline, score_job
from moodscore.models.engine import default_example_clip
from moodscore.models.errors import InvalidOptionError
from moodscore.models.media import decode as media
from tests import media_fixtures
from tests.test_mux import audio_stream_facts, video_packets


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(debug=True)


@pytest.fixture(scope="module")
def scored(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("scored")
    seen: list[tuple[float, str]] = []
    result = score_job(
        engine,
        default_example_clip(),
        out,
        tempo=120,
        instruments=("piano", "bass"),
        progress=lambda f, m: seen.append((f, m)),
    )
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    return out, result


def test_every_file_is_written_and_readable(scored: tuple[Path, object]) -> None:
    out, _ = scored
    names = sorted(p.name for p in out.iterdir())
    written = ["timeline.json", "score.mid", "music.wav", "music.mp3", "timeline.png", "score.json"]
    written.append("example_scored.mp4")
    assert names == sorted([*written, ".moodscore-files"])  # and nothing staged or locked left behind
    assert sorted((out / ".moodscore-files").read_text().split("\n")) == sorted(written)
    timeline = Timeline.from_json((out / "timeline.json").read_text())
    assert timeline.segments[0].start_s == 0 and math.isclose(timeline.segments[-1].end_s, timeline.duration_s)
    assert (out / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "score.json").read_text())
    assert summary["bars"] == math.ceil(timeline.duration_s / 2.0)  # 4/4 at 120 BPM: 2 s a bar
    assert len(summary["bar_quadrants"]) == summary["bars"]
    runs = summary["judge"]  # the judge's verdict on each run of bars asking for one quadrant
    assert runs[0]["bars"][0] == 1 and runs[-1]["bars"][1] == summary["bars"]
    assert all(r["asked"] == summary["bar_quadrants"][r["bars"][0] - 1] for r in runs)
    assert all(abs(sum(r["probs"].values()) - 1) < 1e-3 and r["heard"] in r["probs"] for r in runs)
    assert {"analyze_s", "compose_s", "render_s", "mix_s", "mux_s"} <= set(summary["timings"])


def test_midi_covers_the_clip_with_named_tracks(scored: tuple[Path, object]) -> None:
    out, _ = scored
    pm = pretty_midi.PrettyMIDI(str(out / "score.mid"))
    assert [i.name for i in pm.instruments] == ["Piano", "Bass"]
    tempos = pm.get_tempo_changes()[1]
    assert all(120 * 0.92 - 1e-6 <= t <= 120 * 1.08 + 1e-6 for t in tempos)  # the tempo given, moved <= 8% by cuts
    assert all(1 <= n.velocity <= 127 for i in pm.instruments for n in i.notes)
    wav, sr = sf.read(out / "music.wav")
    assert sr == 48000 and wav.shape[1] == 2 and abs(wav).max() > 0.01
    assert 14.0 <= len(wav) / sr <= 14.0 + 2.0  # whole bars, plus the last notes' release


def test_scored_video_copies_the_video_and_has_clip_length_audio(scored: tuple[Path, object]) -> None:
    out, _ = scored
    assert video_packets(out / "example_scored.mp4") == video_packets(default_example_clip())
    codec, rate, channels, seconds = audio_stream_facts(out / "example_scored.mp4")
    assert (codec, rate, channels) == ("aac", 48000, 2)  # (a 22.05 kHz clip: the outputs are at 48 kHz)
    assert seconds == pytest.approx(14.0, abs=0.1)
    with av.open(str(out / "music.mp3")) as c:
        assert c.streams.audio[0].codec_context.name.startswith("mp3")  # the decoder is "mp3float"


def test_audio_only_clip_gives_no_video_file(engine: Engine, tmp_path: Path) -> None:
    clip = media_fixtures.audio_only(tmp_path)
    result = score_job(engine, clip, tmp_path / "out")
    assert "video" not in result.files
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.name != ".moodscore-files") == sorted(
        ["timeline.json", "score.mid", "music.wav", "music.mp3", "timeline.png", "score.json"]
    )


def test_bad_options_fail_before_analysis_and_write_nothing(engine: Engine, tmp_path: Path) -> None:
    for kw, match in [({"tempo": 0}, "tempo"), ({"instruments": ("drums",)}, "instruments"), ({"key": "H#"}, "key")]:
        with pytest.raises(InvalidOptionError, match=match):
            score_job(engine, default_example_clip(), tmp_path / "out", **kw)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


@contextmanager
def unwritable_folder(path: Path) -> Iterator[Path]:
    """A folder nobody may write into, root included: without write permission for an ordinary user; with the
    immutable attribute (``chattr +i``, ext4 and most Linux file systems) for root, who ignores permissions."""
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o500)
        try:
            yield path
        finally:
            path.chmod(0o700)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)], capture_output=True, check=False).returncode:
        pytest.skip("root ignores permissions and this file system has no immutable attribute")
    try:
        yield path
    finally:
        subprocess.run([chattr, "-i", str(path)], capture_output=True, check=False)


def test_unwritable_output_folder(engine: Engine, tmp_path: Path) -> None:
    with unwritable_folder(tmp_path / "ro") as ro:
        with pytest.raises(OSError):  # the folder really refuses a file
            (ro / "probe").write_text("x")
        with pytest.raises(OutputError, match="cannot write"):
            score_job(engine, default_example_clip(), ro)
        r = _cli("score", str(default_example_clip()), "--out", str(ro), "--debug-models", "--quiet")
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "cannot write" in lines[0] and "Traceback" not in r.stderr
        r = _cli("score", str(default_example_clip()), "--out", str(ro / "sub" / "dir"), "--debug-models")
        assert r.returncode == 2 and "faces" not in r.stderr  # refused before the analysis, not after it
        r = _cli("compose", "--quadrant", "Q1", "--bars", "2", "--out", str(ro / "sub"), "--quiet", "--debug-models")
        assert r.returncode == 2 and "cannot write" in r.stderr and "Traceback" not in r.stderr
        assert list(ro.iterdir()) == []  # nothing half-written


def test_output_path_that_is_a_file(engine: Engine, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write"):
        score_job(engine, media_fixtures.audio_only(tmp_path), blocker / "out")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "moodscore.models.cli", *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_cli_score_and_its_errors(tmp_path: Path) -> None:
    r = _cli("score", str(default_example_clip()), "--out", str(tmp_path / "a"), "--debug-models", "--tempo", "90")
    assert r.returncode == 0, r.stderr
    assert "example_scored.mp4" in r.stdout and "%" in r.stderr  # the file list; the progress bar
    bad = media_fixtures.text_as_mp4(tmp_path)
    r = _cli("score", str(bad), "--out", str(tmp_path / "b"), "--debug-models", "--quiet")
    assert r.returncode == 2 and r.stderr.startswith("moodscore: error:") and "Traceback" not in r.stderr
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())
    r = _cli("score", str(default_example_clip()), "--out", str(tmp_path / "c"), "--debug-models", "--tempo", "500")
    assert r.returncode == 2 and "tempo" in r.stderr and not (tmp_path / "c").exists()


def test_cli_judge_table_and_json(tmp_path: Path) -> None:
    pm = pretty_midi.PrettyMIDI(initial_tempo=140)
    piano = pretty_midi.Instrument(0, name="Piano")
    for i in range(64):  # fast, loud, major arpeggios: a happy, energetic piece
        piano.notes.append(pretty_midi.Note(100, [60, 64, 67, 72][i % 4], i * 0.125, i * 0.125 + 0.12))
    pm.instruments.append(piano)
    mid = tmp_path / "happy.mid"
    pm.write(str(mid))
    r = _cli("judge", str(mid), "--json", str(tmp_path / "j.json"))
    assert r.returncode == 0, r.stderr
    (row,) = json.loads((tmp_path / "j.json").read_text())
    assert row["path"] == str(mid) and set(row["probs"]) == {"Q1", "Q2", "Q3", "Q4"}
    assert row["arousal"] == "high" and sum(row["probs"].values()) == pytest.approx(1.0)
    assert str(mid) in r.stdout
    r = _cli("judge", str(tmp_path / "missing.mid"))
    assert r.returncode == 2 and "no such file" in r.stderr


@pytest.mark.e2e
def test_score_example_with_the_shipped_weights(tmp_path: Path) -> None:
    """The real models: the example's change from happy to not-happy reaches the music on the nearest bar line."""
    result = score_job(Engine(), default_example_clip(), tmp_path, tempo=120, instruments=("piano", "bass", "pad"))
    segs = result.timeline.segments
    assert len(segs) >= 2 and segs[0].emotion.quadrant == "Q1" and segs[1].emotion.quadrant != "Q1"
    bars = list(result.summary.bar_quadrants)
    change = round(segs[1].start_s / 2.0)  # 2 s bars at 120 BPM
    assert bars[:change] == ["Q1"] * change and bars[change] == segs[1].emotion.quadrant
    pm = pretty_midi.PrettyMIDI(str(result.files["midi"]))
    assert [i.name for i in pm.instruments] == ["Piano", "Bass", "Pad"]
    piano = pm.instruments[0].notes
    assert len(piano) >= 4 * len(bars)  # real music, not a few stray notes
    # notes on both sides of the change: the piece goes on across it
    t_change = change * 2.0
    assert any(n.start < t_change for n in piano) and any(n.start >= t_change for n in piano)
    assert video_packets(result.files["video"]) == video_packets(default_example_clip())


def test_the_output_check_probes_and_leaves_nothing(tmp_path: Path) -> None:
    from moodscore.models.files.folders import check_output_dir

    check_output_dir(tmp_path / "a" / "b")  # a folder to be made later: its nearest existing parent is probed
    assert list(tmp_path.iterdir()) == []  # nothing made, no probe left
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="is not a folder"):
        check_output_dir(tmp_path / "f" / "out")
    with unwritable_folder(tmp_path / "ro") as ro, pytest.raises(OutputError, match="cannot write"):
        check_output_dir(ro / "new")


@pytest.mark.parametrize("kind", sorted(media_fixtures.CODEC_CLIPS))
def test_clips_in_other_codecs_are_scored_into_a_container_that_takes_them(
    engine: Engine, tmp_path: Path, kind: str
) -> None:
    """WebM/VP8 from a browser's recorder, VP9, ProRes, MS-MPEG4 AVI and GIF: each is scored (its video copied into
    MP4, MOV or MKV, or re-encoded as H.264 where no container takes it), never analysed and then refused."""
    clip = media_fixtures.codec_clip(tmp_path, kind)
    result = score_job(engine, clip, tmp_path / "out", tempo=120)
    video = result.files["video"]
    expected = {"webm_vp8_opus": ".mkv", "mkv_vp9_opus": ".mp4", "mov_prores": ".mov"}.get(kind, ".mp4")
    assert video.suffix == expected and video.name == result.summary.files["video"]
    with av.open(str(video)) as scored, av.open(str(clip)) as source:
        codec = scored.streams.video[0].codec_context.name
        assert codec == ("h264" if kind in ("avi_msmpeg4", "gif") else source.streams.video[0].codec_context.name)
        assert scored.streams.audio[0].codec_context.name == "aac"
    assert media.probe(video).duration_s == pytest.approx(media.probe(clip).duration_s, abs=0.15)
    assert len(list(media.iter_frames(video, fps=5))) >= 4


def test_a_second_job_into_a_busy_folder_is_refused_and_a_reused_folder_holds_one_set(
    engine: Engine, tmp_path: Path
) -> None:
    """Two jobs into one folder: the second is refused at once instead of both reporting success over a mixed
    set. A folder used again holds the new set whole: the previous clip's scored video goes, files of the
    user's own stay; a staging folder left by a killed job is swept."""
    from moodscore.models.files.folders import output_lock

    out = tmp_path / "out"
    with output_lock(out), pytest.raises(OutputError, match="another moodscore job"):
        score_job(engine, default_example_clip(), out)
    assert not any(out.iterdir())  # the first holder made the folder; the refused job left nothing in it
    (out / "mine.txt").write_text("the user's own file")
    (out / ".moodscore-partial-killed").mkdir()
    first = media_fixtures.face_clip(tmp_path)
    score_job(engine, first, out, name="first")
    assert (out / "first_scored.mp4").is_file() and not (out / ".moodscore-partial-killed").exists()
    score_job(engine, default_example_clip(), out, name="second")
    names = {p.name for p in out.iterdir()}
    assert "second_scored.mp4" in names and "first_scored.mp4" not in names and "mine.txt" in names
    assert not [n for n in names if n.startswith(".moodscore-partial") or n == ".moodscore.lock"]


def test_a_given_timeline_is_followed_without_analysing(engine: Engine, tmp_path: Path) -> None:
    """A previous run's timeline.json, edited (its second segment made Q3), scores the clip again with no analysis."""
    first = score_job(engine, default_example_clip(), tmp_path / "first", tempo=120)
    data = json.loads(first.files["timeline"].read_text())
    data["segments"][-1]["quadrant"] = "Q3"  # the user's edit, as a JSON editor would make it
    data["segments"][-1]["label"] = "sad"
    data["segments"][-1]["probs"] = {"sad": 1.0}
    data["segments"][-1]["valence"], data["segments"][-1]["arousal"] = -0.6, -0.5
    data["meta"].pop("curve", None)
    edited = Timeline.from_json(json.dumps(data))
    seen: list[str] = []
    again = score_job(engine, default_example_clip(), tmp_path / "again", tempo=120, timeline=edited,
                      progress=lambda f, m: seen.append(m))  # fmt: skip
    assert "following the timeline given" in seen and not any(m.startswith("faces") for m in seen)
    assert again.summary.segments[-1].quadrant == "Q3" and again.summary.bar_quadrants[-1] == "Q3"
    short = Timeline.from_json(json.dumps({**data, "duration_s": 5.0, "segments": [{**data["segments"][0],
                                            "start_s": 0.0, "end_s": 5.0}]}))  # fmt: skip
    with pytest.raises(InvalidOptionError, match=r"the timeline lasts 5\.00 s"):
        score_job(engine, default_example_clip(), tmp_path / "short", timeline=short)


def test_a_clips_analysis_is_kept_by_content_so_a_new_seed_costs_only_the_composing(
    engine: Engine, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    seen: list[str] = []
    one = score_job(engine, default_example_clip(), tmp_path / "a", seed=1, cache=cache)
    copy = tmp_path / "renamed.mp4"
    shutil.copy(default_example_clip(), copy)  # the same bytes under another name
    two = score_job(engine, copy, tmp_path / "b", seed=2, cache=cache, progress=lambda f, m: seen.append(m))
    assert "analysis taken from the cache" in seen and not any(m.startswith("faces") for m in seen)
    assert two.timeline.segments == one.timeline.segments and len(list(cache.glob("*.json"))) == 1
    assert two.summary.seed == 2


def test_stretches_forced_to_a_quadrant_are_scored_as_asked(engine: Engine, tmp_path: Path) -> None:
    """`--set 0-4.5=Q3`: the first 4.5 s are sad music whatever the faces said; the rest follows the analysis."""
    result = score_job(engine, default_example_clip(), tmp_path / "out", tempo=120, force=((0.0, 4.5, "Q3"),))
    first = result.timeline.segments[0]
    assert (first.start_s, first.end_s, first.emotion.quadrant, first.emotion.label) == (0.0, 4.5, "Q3", "sad")
    assert result.timeline.segments[1].start_s == 4.5
    assert result.summary.bar_quadrants[:2] == ("Q3", "Q3")  # 2 s bars at 120 BPM
    assert result.timeline.meta["forced"] == [{"start_s": 0.0, "end_s": 4.5, "quadrant": "Q3"}]
    curve = result.timeline.meta["curve"]
    assert all(v is None for t, v in zip(curve["t"], curve["valence"], strict=True) if t < 4.5)
    with pytest.raises(InvalidOptionError, match="--set 20-30=Q1"):
        score_job(engine, default_example_clip(), tmp_path / "late", force=((20.0, 30.0, "Q1"),))
