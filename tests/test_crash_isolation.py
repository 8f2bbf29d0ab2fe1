"""A job that crashes its process (here: a segmentation fault, as a native library would raise) costs that job
only: the web page and the OSC bridge run their jobs in worker processes by default, answer with one line, and
serve the next job on a fresh worker."""

from __future__ import annotations

import functools
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from moodscore.models import Engine
from moodscore.models.jobs.runner import ProcessRunner


@pytest.fixture
def runner() -> Iterator[ProcessRunner]:
    r = ProcessRunner(functools.partial(Engine, debug=True), warm=True).start()
    yield r
    r.shutdown()


def crash_worker_when(started: threading.Event) -> threading.Thread:
    """Once ``started`` is set, a segmentation fault in every worker process of this test."""

    def run() -> None:
        started.wait(60)
        for child in multiprocessing.active_children():
            if child.pid is not None:
                os.kill(child.pid, signal.SIGSEGV)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_the_bridge_survives_a_crashing_job(runner: ProcessRunner, tmp_path: Path) -> None:
    from media_fixtures import face_clip
    from osc_helpers import Peer

    from moodscore.bridge.server import BridgeServer

    clip = face_clip(tmp_path, seconds=3.0)
    started = threading.Event()
    with (
        BridgeServer(
            runner=runner, host="127.0.0.1", port=0, out_dir=tmp_path / "out", allowed_roots=[tmp_path]
        ) as bridge,
        Peer() as peer,
    ):
        peer.send(bridge.address, "/moodscore/score", "s1", "path", str(clip))
        replies: list[tuple[str, list[Any]]] = []
        killer = crash_worker_when(started)
        deadline = time.monotonic() + 120
        while not any(a in ("/moodscore/error", "/moodscore/done") for a, _ in replies):
            assert time.monotonic() < deadline, replies
            got = peer.receive(timeout=1.0, quiet=0.1)
            replies += got
            if any(a == "/moodscore/progress" for a, _ in got):
                started.set()
        killer.join(10)
        (error,) = [args for a, args in replies if a == "/moodscore/error"]
        assert error[0] == "s1" and "stopped unexpectedly" in error[2], error
        # the next request runs on a new worker process
        peer.send(bridge.address, "/moodscore/compose", "c1", "quadrant", "Q1", "bars", 2)
        after = peer.until("c1", 120)
        assert after[-1] == ("/moodscore/done", ["c1", "compose", 1]), after[-3:]
        peer.send(bridge.address, "/moodscore/ping", "p1")
        assert peer.until("p1", 10, last=("/moodscore/pong",))[-1][0] == "/moodscore/pong"


def test_the_web_page_survives_a_crashing_job(runner: ProcessRunner, tmp_path: Path) -> None:
    from gradio_client import Client, handle_file
    from media_fixtures import face_clip

    from moodscore.web.jobs import WebSettings
    from moodscore.web.ui import build_app, launch_options

    clip = face_clip(tmp_path, seconds=3.0)
    settings = WebSettings(max_jobs=1, max_queue=2, max_upload_mb=5, max_seconds=30)
    demo = build_app(settings=settings, runner=runner)
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True, **launch_options(settings)
    )
    try:
        client = Client(url, verbose=False, download_files=True)
        started = threading.Event()
        job = client.submit(handle_file(str(clip)), 100, "auto", [], 0, api_name="/score")
        deadline = time.monotonic() + 60
        while not job.status().progress_data and not job.done():  # the job reports progress: it is running
            assert time.monotonic() < deadline
            time.sleep(0.05)
        started.set()
        crash_worker_when(started).join(10)
        with pytest.raises(Exception, match="stopped unexpectedly"):
            job.result(120)
        out = client.predict("quadrant", "Q2", 0.0, 0.0, 2, 100, "auto", [], 1, 1, api_name="/compose")
        assert out[0] and Path(out[0]).stat().st_size > 0  # the next job ran, on a new worker process
    finally:
        demo.close()
        demo.moodscore_jobs.close()
