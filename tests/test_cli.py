"""The command line: output, JSON, exit status, one-line errors (run as a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from moodscore.models.engine import default_example_clip


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "moodscore.models.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def test_help_is_instant_and_lists_commands() -> None:
    r = run("--help", timeout=30)
    assert r.returncode == 0 and "analyze" in r.stdout
    r = subprocess.run(
        [sys.executable, "-c", "import sys; import moodscore.models.cli; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.stdout.strip() == "False"  # heavy imports happen after parsing


@pytest.mark.parametrize(
    ("content", "name"),
    [(b"", "empty.mp4"), (b"hello, I am not a video\n" * 20, "text.mp4")],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, content: bytes, name: str) -> None:
    bad = tmp_path / name
    bad.write_bytes(content)
    out = tmp_path / "t.json"
    r = run("analyze", str(bad), "--json", str(out), "--quiet")
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("moodscore: error:"), r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()  # nothing half-written


def test_missing_file_exits_2(tmp_path: Path) -> None:
    r = run("analyze", str(tmp_path / "nope.mp4"), "--quiet")
    assert r.returncode == 2 and "Traceback" not in r.stderr


@pytest.mark.e2e
def test_analyze_example_prints_table_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "timeline.json"
    r = run("analyze", str(default_example_clip()), "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "quad" in r.stdout and "Q1" in r.stdout
    assert "%" in r.stderr  # the progress bar
    data = json.loads(out.read_text())
    assert data["segments"][0]["start_s"] == 0
    assert data["segments"][-1]["end_s"] == pytest.approx(data["duration_s"])


def test_unwritable_json_path_is_refused_before_any_work(tmp_path: Path) -> None:
    target = tmp_path / "missing-folder" / "t.json"
    r = run("analyze", str(default_example_clip()), "--json", str(target), "--quiet", timeout=60)
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr
    assert not target.parent.exists()


def test_json_is_written_only_as_a_regular_file(tmp_path: Path) -> None:
    """A symbolic link or a pipe given as --json is refused, not replaced by a regular file."""
    import os

    real = tmp_path / "real.json"
    real.write_text("keep")
    (tmp_path / "link.json").symlink_to(real)
    os.mkfifo(tmp_path / "pipe.json")
    for name, said in (("link.json", "symbolic link"), ("pipe.json", "special file")):
        r = run("judge", str(tmp_path / "none.mid"), "--json", str(tmp_path / name), timeout=60)
        assert r.returncode == 2 and said in r.stderr and "Traceback" not in r.stderr
    assert (tmp_path / "link.json").is_symlink() and real.read_text() == "keep"
    assert not (tmp_path / "pipe.json").is_file()


def test_compose_writes_midi_and_wav_per_variation(tmp_path: Path) -> None:
    import pretty_midi
    import soundfile

    out = tmp_path / "music"
    r = run(
        "compose",
        "--quadrant",
        "Q3",
        "--bars",
        "2",
        "--tempo",
        "120",
        "--variations",
        "2",
        "--out",
        str(out),
        "--quiet",
        "--debug-models",
    )
    assert r.returncode == 0, r.stderr
    mids = sorted(out.glob("*.mid"))
    wavs = sorted(out.glob("*.wav"))
    assert len(mids) == 2 and len(wavs) == 2
    for m, w in zip(mids, wavs, strict=True):
        pm = pretty_midi.PrettyMIDI(str(m))
        assert pm.get_tempo_changes()[1][0] == pytest.approx(120)
        info = soundfile.info(str(w))
        assert info.samplerate == 44100 and info.duration >= 2 * 2.0 - 0.01  # two bars of 2 s
    hidden = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert hidden == [".moodscore-files"]  # the list of what was written; no staging folder, no lock left behind


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--quadrant", "Q5"], "quadrant"),
        (["--quadrant", "Q1", "--bars", "0"], "bars"),
        (["--quadrant", "Q1", "--bars", "513"], "bars"),
        (["--quadrant", "Q1", "--tempo", "0"], "tempo"),
        (["--quadrant", "Q1", "--tempo", "401"], "tempo"),
        (["--quadrant", "Q1", "--tempo", "0.01"], "tempo must be from 20"),
        (["--quadrant", "Q1", "--seed", "-1"], "seed must be"),
        (["--quadrant", "Q1", "--key", "H#"], "key"),
        (["--va", "2,0"], "valence"),
    ],
)
def test_compose_bad_options_exit_2_and_write_nothing(tmp_path: Path, args: list[str], match: str) -> None:
    out = tmp_path / "music"
    r = run("compose", *args, "--out", str(out), "--quiet", "--debug-models", timeout=60)
    assert r.returncode == 2 and match in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_analyze_refuses_a_nan_min_segment_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    r = run("analyze", str(default_example_clip()), "--min-segment", "nan", "--json", str(out), timeout=60)
    assert r.returncode == 2 and "--min-segment" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_compose_follows_a_timeline_file_and_takes_seconds(tmp_path: Path) -> None:
    from moodscore.models.types import Emotion, Segment, Timeline

    def emo(cls: int) -> Emotion:
        probs = [0.0] * 8
        probs[cls] = 1.0
        return Emotion.from_probs(probs)

    # happy (class 2) for 4 s, then sad (class 3) for 4 s: at 120 BPM, bars 1-2 are Q1 and bars 3-4 Q3
    tl = Timeline(duration_s=8.0, segments=(Segment(0.0, 4.0, emo(2)), Segment(4.0, 8.0, emo(3))))
    (tmp_path / "t.json").write_text(tl.to_json())
    out = tmp_path / "a"
    r = run("compose", "--timeline", str(tmp_path / "t.json"), "--tempo", "120", "--out", str(out), "--quiet",
            "--debug-models", timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    (piece,) = json.loads((out / "compose.json").read_text())["pieces"]
    assert piece["bar_quadrants"] == ["Q1", "Q1", "Q3", "Q3"]
    out = tmp_path / "b"
    r = run("compose", "--quadrant", "Q2", "--seconds", "5", "--tempo", "120", "--out", str(out), "--quiet",
            "--debug-models", timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "compose.json").read_text())["pieces"][0]["bar_quadrants"] == ["Q2"] * 3  # 5 s -> 3 bars
    (tmp_path / "bad.json").write_text('{"segments": "nope"}')
    r = run("compose", "--timeline", str(tmp_path / "bad.json"), "--out", str(tmp_path / "c"), "--debug-models")
    assert r.returncode == 2 and "timeline" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_a_job_stopped_by_a_signal_leaves_nothing(tmp_path: Path, sig: str) -> None:
    import signal
    import time

    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "moodscore.models.cli",
         "score", str(default_example_clip()), "--out", str(out), "--quiet",
         "--no-cache"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (out / ".moodscore.lock").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the job ended before it could be stopped"
    time.sleep(0.5)
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + getattr(signal, sig) and "nothing was written" in err and "Traceback" not in err
    assert not out.exists()  # the folder was made for the job, so it goes with it


def test_the_hostile_corpus_builds(tmp_path: Path) -> None:
    """benchmarks/bench_hostile.py runs these through the CLI; here the builder itself is kept working."""
    from hostile_corpus import build_corpus

    cases = build_corpus(tmp_path)
    assert len(cases) >= 80 and len({c.name for c in cases}) == len(cases)
    assert sum(c.ok for c in cases) >= 40 and sum(not c.ok for c in cases) >= 25
    for case in cases:
        inputs = [Path(a) for a in case.argv[1:2] if a.startswith("/")]
        assert all(p.exists() or p.is_symlink() or p.name == "nope.mp4" for p in inputs), case.name
