"""The web app through its Gradio API (gradio_client) and its command line, with the debug engine.

A real server on a free localhost port, real uploads, real FluidSynth, real muxing; only the networks are tiny.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

gradio = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")
httpx = pytest.importorskip("httpx")
pretty_midi = pytest.importorskip("pretty_midi")

import media_fixtures as mf  # noqa: E402  (tests/ is on sys.path under pytest)
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from gradio_client.utils import QueueError, Status  # noqa: E402

from moodscore.models import Engine, Timeline  # noqa: E402
from moodscore.web.app import build_parser, main  # noqa: E402
from moodscore.web.jobs import UserFacingError, WebSettings, trusted_upload  # noqa: E402
from moodscore.web.pad import SIZE, draw_pad, point_at  # noqa: E402
from moodscore.web.ui import build_app, launch_options  # noqa: E402

SETTINGS = WebSettings(max_jobs=1, max_queue=2, max_upload_mb=5, max_seconds=30)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Any, str]]:
    demo = build_app(Engine(debug=True), SETTINGS)
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True, **launch_options(SETTINGS)
    )
    try:
        yield demo, url
    finally:
        demo.close()
        demo.moodscore_jobs.close()


@pytest.fixture(scope="module")
def client(server: tuple[Any, str]) -> Client:
    return Client(server[1], verbose=False, download_files=True)


def _cuts_clip(path: Path) -> Path:
    """The 12 s clip with hard cuts (5 bars with the debug engine), for the rescore."""
    mf.make_example().make_cuts_clip(path)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("web-clips")
    big = folder / "big.mp4"
    big.write_bytes(b"\0" * (SETTINGS.max_upload_mb * 1024**2 + 1))
    return {
        "face": mf.face_clip(folder, 2.0),
        "text": mf.text_as_mp4(folder),
        "long": mf.audio_only(folder, "m4a", SETTINGS.max_seconds + 1),
        "big": big,
        "surround": mf.surround_clip(folder, "7.1"),
        "webm": mf.codec_clip(folder, "webm_vp8_opus"),
        "cuts": _cuts_clip(folder / "cuts.mp4"),
    }


def _compose_args(quadrant: str, bars: int, variations: int = 1) -> list[Any]:
    return ["quadrant", quadrant, 0.0, 0.0, bars, 120, "auto", ["bass"], 7, variations]


def test_score_with_stems_offers_them_as_a_zip(client: Client, clips: dict[str, Path]) -> None:
    import zipfile

    _, _, _, downloads, _ = client.predict(
        handle_file(str(clips["face"])), 100, "auto", ["bass", "stems (zip)"], 1, api_name="/score"
    )
    (zipped,) = [Path(f) for f in downloads if f.endswith(".zip")]
    with zipfile.ZipFile(zipped) as z:
        names = sorted(z.namelist())
    expected = {f"face_{p}.{x}" for p in ("piano", "bass") for x in ("mid", "wav")} | {"face_mix.wav"}
    assert set(names) == expected


def test_score_endpoint_returns_every_file(client: Client, clips: dict[str, Path]) -> None:
    plot, mp3, video, downloads, summary_html = client.predict(
        handle_file(str(clips["face"])), 110, "A minor", ["bass"], 3, api_name="/score"
    )
    names = sorted(Path(f).name for f in downloads)
    assert names == sorted(["score.mid", "music.wav", "music.mp3", "face_scored.mp4", "timeline.json", "score.json"])
    by_name = {Path(f).name: Path(f) for f in downloads}
    midi = pretty_midi.PrettyMIDI(str(by_name["score.mid"]))
    assert sum(len(i.notes) for i in midi.instruments) > 0
    assert {i.name for i in midi.instruments} == {"Piano", "Bass"}
    timeline = Timeline.from_json(by_name["timeline.json"].read_text())
    assert timeline.duration_s == pytest.approx(2.0, abs=0.2)
    summary = json.loads(by_name["score.json"].read_text())
    # the core keeps the key signature and may take the relative mode that suits the emotion
    assert summary["key"] in {"A minor", "C major"} and summary["seed"] == 3 and summary["tempo"] == 110
    assert Path(plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Path(mp3).stat().st_size > 1000 and Path(video).name == "face_scored.mp4"
    assert "ms-chip" in summary_html and "Emotion read from: face" in summary_html


@pytest.mark.parametrize(
    ("kind", "video"), [("surround", "surround_7_1_scored.mp4"), ("webm", "webm_vp8_opus_clip_scored.mkv")]
)
def test_uploads_that_once_broke_the_server_are_scored_and_it_answers_on(
    client: Client, clips: dict[str, Path], kind: str, video: str
) -> None:
    """7.1 audio killed the whole web server (SIGSEGV in PyAV); WebM from the page's webcam button was analysed
    and then refused. Both are scored now, and the server answers the next request."""
    _, _, scored, downloads, _ = client.predict(handle_file(str(clips[kind])), 100, "auto", [], 0, api_name="/score")
    assert Path(scored).name == video and video in {Path(f).name for f in downloads}
    assert client.predict(*_compose_args("Q4", 1), api_name="/compose")  # still serving


def _notes(path: Path, lo: float, hi: float, *, inside: bool) -> list[tuple[float, float, int, int]]:
    """The notes that start inside [lo, hi) (or outside it: those ending past lo are cut there, as a splice lifts
    the pedal and ends the notes sounding into the new bars), rounded to 0.1 ms."""
    midi = pretty_midi.PrettyMIDI(str(path))
    return sorted(
        (round(n.start, 4), round(min(n.end, lo) if n.start < lo and not inside else n.end, 4), n.pitch, n.velocity)
        for i in midi.instruments
        for n in i.notes
        if (lo - 1e-4 <= n.start < hi - 1e-4) == inside
    )


def test_rescore_writes_only_the_bars_asked_for_and_analyses_nothing(
    server: tuple[Any, str], clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's rescore (issue 20): bars of the visitor's last score written again from a new seed, every other
    bar note for note as it was, through the same job interface and without a new analysis."""
    me = Client(server[1], verbose=False, download_files=True)  # a session of its own: its own last score
    jobs = server[0].moodscore_jobs
    _, _, _, downloads, _ = me.predict(handle_file(str(clips["cuts"])), 100, "auto", [], 4, api_name="/score")
    before = tmp_path / "before.mid"
    before.write_bytes(next(Path(f) for f in downloads if f.endswith("score.mid")).read_bytes())
    downbeats = pretty_midi.PrettyMIDI(str(before)).get_downbeats().tolist()
    n_bars = len(downbeats)
    assert n_bars >= 4, downbeats

    def no_analysis(*args: object, **kwargs: object) -> None:
        raise AssertionError("a rescore must not analyse the clip again")

    monkeypatch.setattr(Engine, "analyze", no_analysis)
    _, mp3, video, downloads, summary_html = me.predict("2-3", 9, api_name="/rescore")
    by_name = {Path(f).name: Path(f) for f in downloads}
    lo, hi = downbeats[1], downbeats[3]
    after = by_name["score.mid"]
    assert _notes(after, lo, hi, inside=False) == _notes(before, lo, hi, inside=False)
    assert _notes(after, lo, hi, inside=True) != _notes(before, lo, hi, inside=True)
    summary = json.loads(by_name["score.json"].read_text())
    assert summary["options"]["rescores"] == [[1, 3, 9]] and summary["options"]["seed"] == 4
    assert summary["timings"]["analyze_s"] < 0.5  # the timeline was followed, not made
    assert "Bars 2-3 written again from seed 9" in summary_html and Path(video).name == "cuts_scored.mp4"
    assert Path(mp3).stat().st_size > 1000

    # a second rescore starts from the first one's result, and keeps its bars
    once = tmp_path / "once.mid"
    once.write_bytes(after.read_bytes())
    downloads = me.predict(f"{n_bars}", 2, api_name="/rescore")[3]
    again = next(Path(f) for f in downloads if f.endswith("score.mid"))
    last = downbeats[-1]
    assert _notes(again, last, 1e9, inside=False) == _notes(once, last, 1e9, inside=False)
    summary = json.loads(next(Path(f) for f in downloads if f.endswith("score.json")).read_text())
    assert summary["options"]["rescores"] == [[1, 3, 9], [n_bars - 1, n_bars, 2]]

    # bad ranges get one line each, and leave no job folder behind
    folders = len(list(jobs.root.iterdir()))
    for bars, needle in (
        (f"4-{n_bars + 35}", f"bars 4-{n_bars + 35} are not within this score: it has bars 1-{n_bars}"),
        ("0-1", "are not within this score"),
        ("3-2", "give the first bar before the last"),
        ("nine to twelve", "give the bars as FIRST-LAST"),
        ("9" * 5000, "give the bars as FIRST-LAST"),
    ):
        with pytest.raises(AppError) as err:
            me.predict(bars, 1, api_name="/rescore")
        message = str(err.value)
        assert needle in message and "\n" not in message.strip() and "Traceback" not in message, message
    assert len(list(jobs.root.iterdir())) == folders


def test_rescore_without_a_score_gets_a_message(server: tuple[Any, str]) -> None:
    fresh = Client(server[1], verbose=False)  # a new visitor: no score in this session
    with pytest.raises(AppError, match="score a clip first"):
        fresh.predict("1-2", 3, api_name="/rescore")
    with pytest.raises(AppError, match="less than minimum value 0"):
        fresh.predict("1-2", -1, api_name="/rescore")


def test_bad_upload_gives_the_one_line_message(client: Client, clips: dict[str, Path]) -> None:
    with pytest.raises(AppError) as err:
        client.predict(handle_file(str(clips["text"])), 100, "auto", [], 0, api_name="/score")
    message = str(err.value)
    assert "Traceback" not in message and "\n" not in message.strip()
    assert "text" in message or "media" in message or "open" in message, message


def test_too_long_and_too_large_uploads_are_refused(
    server: tuple[Any, str], client: Client, clips: dict[str, Path]
) -> None:
    with pytest.raises(AppError, match=r"31(\.0)? s is longer than the limit of 30(\.0)? s"):
        client.predict(handle_file(str(clips["long"])), 100, "auto", [], 0, api_name="/score")
    with pytest.raises(ValueError, match="exceeds the maximum file size"):  # the client reads the limit first
        client.predict(handle_file(str(clips["big"])), 100, "auto", [], 0, api_name="/score")
    # and the server refuses it too, whoever sends it
    reply = httpx.post(f"{server[1]}gradio_api/upload", files={"files": ("big.mp4", clips["big"].read_bytes())})
    assert reply.status_code == 413, reply.text


def test_out_of_range_option_is_refused_with_a_message(client: Client) -> None:
    with pytest.raises(AppError, match="less than minimum value 1"):
        client.predict(*_compose_args("Q1", 0), api_name="/compose")
    with pytest.raises(AppError, match="less than minimum value 0"):
        client.predict("quadrant", "Q1", 0.0, 0.0, 2, 120, "auto", [], -5, 1, api_name="/compose")


def test_compose_endpoint_gives_each_variation(client: Client) -> None:
    values = client.predict(*_compose_args("Q3", 4, variations=2), api_name="/compose")
    audios, rolls, files, summary_html = values[:8], values[8:16], values[16], values[17]
    assert [a is not None for a in audios] == [True, True] + [False] * 6
    assert [r is not None for r in rolls] == [True, True] + [False] * 6
    mids = [Path(f) for f in files if f.endswith(".mid")]
    assert len(mids) == 2 and len({m.name for m in mids}) == 2
    for m in mids:
        assert sum(len(i.notes) for i in pretty_midi.PrettyMIDI(str(m)).instruments) > 0
    assert summary_html.count("<li>") == 2 and "Q3" in summary_html


def _wait_for(job: Any, codes: set[Status], timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while job.status().code not in codes:
        assert time.monotonic() < end, f"job stayed {job.status().code}"
        time.sleep(0.02)


def test_two_jobs_at_once_finish_and_the_queue_refuses_past_its_size(client: Client) -> None:
    both = [client.submit(*_compose_args(q, 2), api_name="/compose") for q in ("Q1", "Q2")]
    for job, q in zip(both, ("Q1", "Q2"), strict=True):
        values = job.result(timeout=60)
        assert values[0] is not None and q in values[17]

    # one running (max_jobs=1) and two waiting (max_queue=2) fill the line; the fourth is refused. The running job
    # is long (32 bars: seconds of rendering) so that it is still running while the others queue up
    running = client.submit(*_compose_args("Q4", 32), api_name="/compose")
    _wait_for(running, {Status.PROCESSING, Status.PROGRESS, Status.ITERATING})
    waiting = [client.submit(*_compose_args("Q1", 1), api_name="/compose") for _ in range(2)]
    for job in waiting:
        _wait_for(job, {Status.IN_QUEUE})
    assert running.status().code not in {Status.FINISHED}, "the first job ended too soon to fill the queue"
    refused = client.submit(*_compose_args("Q1", 1), api_name="/compose")
    with pytest.raises(QueueError, match="full"):
        refused.result(timeout=30)
    for job in [running, *waiting]:
        assert job.result(timeout=60)[0] is not None


def test_job_folders_are_swept(server: tuple[Any, str]) -> None:
    jobs = server[0].moodscore_jobs
    folder = jobs.new_folder()
    (folder / "x.txt").write_text("x")
    assert jobs.sweep(now=time.time() + 3600 * 24) >= 1
    assert not folder.exists()


def test_only_files_inside_the_upload_folder_are_used(tmp_path: Path) -> None:
    uploads, outside = tmp_path / "uploads", tmp_path / "elsewhere"
    (uploads / "abc").mkdir(parents=True)
    outside.mkdir()
    good = uploads / "abc" / "clip.mp4"
    good.write_bytes(b"x")
    secret = outside / "secret.mp4"
    secret.write_bytes(b"x")
    (uploads / "abc" / "link.mp4").symlink_to(secret)
    assert trusted_upload(str(good), uploads=uploads) == good.resolve()
    for bad in (
        str(secret),
        str(uploads / "abc" / ".." / ".." / "elsewhere" / "secret.mp4"),
        str(uploads / "abc" / "link.mp4"),
        "",
        None,
    ):
        with pytest.raises(UserFacingError):
            trusted_upload(bad, uploads=uploads)


def test_pad_maps_clicks_to_the_plane(tmp_path: Path) -> None:
    assert point_at(SIZE / 2, SIZE / 2) == (0.0, 0.0)
    assert point_at(0, 0) == (-1.0, 1.0) and point_at(SIZE, SIZE) == (1.0, -1.0)
    assert point_at(SIZE * 0.75, SIZE * 0.25) == (0.5, 0.5)  # Q1 is up and right
    assert point_at(-50, SIZE * 2) == (-1.0, -1.0)  # clipped
    from PIL import Image

    with Image.open(draw_pad(tmp_path / "pad.png")) as img:
        assert img.size == (SIZE, SIZE)
        assert img.getpixel((SIZE * 3 // 4, SIZE // 8)) != img.getpixel((SIZE // 4, SIZE // 8))  # Q1 and Q2 differ


def test_command_line_options() -> None:
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.share, args.auth, args.max_jobs) == ("127.0.0.1", 7860, False, None, 1)
    args = build_parser().parse_args(["--auth", "ann:pa:ss", "--max-jobs", "2", "--share"])
    assert args.auth == ("ann", "pa:ss") and args.max_jobs == 2 and args.share
    for bad in (["--auth", "nopassword"], ["--max-jobs", "0"], ["--share"], ["--host", "0.0.0.0"]):
        with pytest.raises(SystemExit) as exc:
            main(bad)  # a public link or an open address without a login is refused unless --no-auth says so
        assert exc.value.code == 2


def test_uploads_are_bounded_per_visitor_and_in_total() -> None:
    """Uploads alone (no job) cannot fill the disk: past a visitor's budget the server answers 429 without
    reading the body."""
    from moodscore.web.limits import UploadBudget

    settings = WebSettings(max_upload_mb=1, visitor_upload_mb=2, total_upload_mb=3)
    demo = build_app(Engine(debug=True), settings)
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True, **launch_options(settings)
    )
    try:
        codes = []
        for i in range(3):
            data = bytes([i]) * 800_000
            codes.append(httpx.post(f"{url}gradio_api/upload", files={"files": (f"c{i}.mp4", data)}).status_code)
        assert codes[:2] == [200, 200] and codes[2] == 429
        refused = httpx.post(f"{url}gradio_api/upload", files={"files": ("c.mp4", b"x" * 800_000)})
        assert "upload budget used up" in refused.json()["detail"]
    finally:
        demo.close()
        demo.moodscore_jobs.close()
    budget = UploadBudget(lambda *a: None, per_client=2_000, total=3_000, window_s=60)  # type: ignore[arg-type,return-value]
    assert budget._take("a", 1_500) is None and budget._take("b", 1_400) is None
    assert "as many uploads as it may" in str(budget._take("c", 200))  # 3,100 bytes in all
    assert "per visitor" in str(budget._take("a", 600))


def test_sigterm_stops_the_server_and_removes_its_job_folders(tmp_path: Path) -> None:
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moodscore.models.cli", "web", "--debug-engine", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert list(tmp_path.glob("moodscore-web-*")), "the server made no job folder"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not list(tmp_path.glob("moodscore-web-*"))  # the users' results went with the server


def test_a_job_over_the_time_limit_ends_with_a_message(tmp_path: Path) -> None:
    from moodscore.models import ComposeRequest
    from moodscore.models.jobs.runner import ThreadRunner
    from moodscore.models.jobs.tasks import compose_params
    from moodscore.web.jobs import WebJobs

    jobs = WebJobs(ThreadRunner(Engine(debug=True), time_limit=1e-9), WebSettings(), root=tmp_path / "jobs")
    try:
        request = ComposeRequest(emotion="Q2", bars=8, variations=2, tempo=100)
        with pytest.raises(UserFacingError, match="ran longer than"):
            jobs.run("compose", compose_params(request), jobs.new_folder())
        assert not list((tmp_path / "jobs").rglob("*.mid"))
    finally:
        jobs.close()
