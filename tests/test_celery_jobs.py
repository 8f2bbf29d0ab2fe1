"""The Celery runner with a real redis-server and real ``moodscore worker`` processes: the same files as the local
pool, progress in order, a worker killed mid-job, a job past its time limit, a bounded queue, hostile paths."""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery_helpers import Worker

from moodscore.models import ComposeRequest, Engine, MediaLimits, MoodscoreError, QueueFullError, default_example_clip
from moodscore.models.errors import TimeLimitError
from moodscore.models.jobs.celery import CeleryRunner
from moodscore.models.jobs.runner import ProcessRunner
from moodscore.models.jobs.tasks import TaskResult, compose_params, score_params

EXAMPLE = default_example_clip()


@pytest.fixture(scope="module")
def broker(celery_broker: str) -> str:
    return celery_broker


@pytest.fixture(scope="module")
def storage(celery_storage: Path) -> Path:
    return celery_storage


@pytest.fixture(scope="module")
def workers(celery_worker: Worker) -> Worker:
    return celery_worker


@pytest.fixture(scope="module")
def runner(broker: str, storage: Path, workers: Worker) -> Iterator[CeleryRunner]:
    r = CeleryRunner(broker, storage=storage, max_queue=20)
    yield r
    r.shutdown()


def job_folder(storage: Path, name: str, clip: bool = False) -> Path:
    folder = storage / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    if clip:
        shutil.copy(EXAMPLE, folder / "clip.mp4")
    return folder


def test_compose_and_score_match_the_local_pool(runner: CeleryRunner, storage: Path, tmp_path: Path) -> None:
    request = ComposeRequest(emotion="Q2", bars=4, seed=11, variations=2)
    local = ProcessRunner(functools.partial(Engine, debug=True), warm=False)
    try:
        for kind, params, clip in (
            ("compose", compose_params(request, extras=("png",)), False),
            ("score", score_params("clip.mp4", seed=5, limits=MediaLimits(max_duration_s=60)), True),
        ):
            remote_folder = job_folder(storage, f"same-{kind}", clip)
            local_folder = tmp_path / kind
            local_folder.mkdir()
            if clip:
                shutil.copy(EXAMPLE, local_folder / "clip.mp4")
            remote: TaskResult = runner.submit(kind, params, remote_folder).result(180)
            here: TaskResult = local.submit(kind, params, local_folder).result(180)
            assert remote.files.keys() == here.files.keys()
            for name, path in remote.files.items():
                assert path.is_relative_to(remote_folder) and path.is_file()
                if path.suffix in (".mid", ".wav"):
                    assert path.read_bytes() == here.files[name].read_bytes(), f"{kind}: {path.name} differs"
            if kind == "score":
                assert remote.modalities == here.modalities
                a = json.loads(remote.files["timeline"].read_text())
                b = json.loads(here.files["timeline"].read_text())
                assert a["segments"] == b["segments"]
            else:
                assert [p.seed for p in remote.composed.pieces] == [11, 12] == [p.seed for p in here.summary.pieces]
    finally:
        local.shutdown()


def test_progress_arrives_in_order(runner: CeleryRunner, storage: Path) -> None:
    seen: list[tuple[float, str]] = []
    folder = job_folder(storage, "progress", clip=True)
    result = runner.submit("score", score_params("clip.mp4"), folder, progress=lambda f, m: seen.append((f, m)))
    result.result(180)
    fractions = [f for f, _ in seen]
    assert len(seen) >= 3, seen
    assert fractions == sorted(fractions), seen
    assert any("faces" in m for _, m in seen), seen


def test_a_worker_process_killed_mid_job_hands_the_job_on(runner: CeleryRunner, storage: Path) -> None:
    folder = job_folder(storage, "killed", clip=True)
    pids: list[int] = []

    def progress(fraction: float, message: str) -> None:
        info = runner.app.backend.get_task_meta(str(job.id)).get("result")
        if isinstance(info, dict) and "pid" in info and not pids and fraction > 0.05:
            pids.append(int(info["pid"]))
            os.kill(pids[0], signal.SIGKILL)  # the pool process running the job, mid-analysis

    job = runner.submit("score", score_params("clip.mp4", seed=3), folder, progress=progress)
    result = job.result(240)
    assert pids, "the job finished before it could be killed"
    assert result.files["video"].is_file() and result.files["mp3"].stat().st_size > 0
    out = folder / "out"
    assert not list(out.glob(".moodscore-partial-*")) and not (out / ".moodscore.lock").exists()
    assert (folder / f".moodscore-attempts-{job.id}").read_text() == "2"


def test_a_job_past_its_time_limit_is_stopped(broker: str, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    storage.mkdir()
    slow = Worker(broker.replace("/0", "/3"), storage, job_seconds=1.0, name="slow").wait_ready()
    runner = CeleryRunner(broker.replace("/0", "/3"), storage=storage)
    try:
        folder = job_folder(storage, "slow", clip=True)
        with pytest.raises(TimeLimitError, match="longer than 1 s"):
            runner.submit("score", score_params("clip.mp4"), folder).result(120)
        out = folder / "out"
        assert not out.exists() or not [p for p in out.iterdir() if p.name != ".moodscore-files"]
    finally:
        runner.shutdown()
        slow.stop()


def test_the_queue_is_bounded_and_shows_places(broker: str, tmp_path: Path) -> None:
    # a database no worker listens on: the jobs wait
    runner = CeleryRunner(broker.replace("/0", "/5"), storage=tmp_path, max_queue=2)
    try:
        a = runner.submit("compose", compose_params(ComposeRequest(emotion="Q1")), job_folder(tmp_path, "a"))
        b = runner.submit("compose", compose_params(ComposeRequest(emotion="Q1")), job_folder(tmp_path, "b"))
        assert (a.position(), b.position()) == (1, 2)
        with pytest.raises(QueueFullError, match="queue is full"):
            runner.submit("compose", compose_params(ComposeRequest(emotion="Q1")), job_folder(tmp_path, "c"))
        assert runner.cancel(a)
        with pytest.raises(MoodscoreError, match="cancelled"):
            a.result(5)
        deadline = time.monotonic() + 5
        while b.position() != 1 and time.monotonic() < deadline:  # revoked jobs leave the line when taken
            time.sleep(0.1)
    finally:
        runner.shutdown()


def test_paths_outside_the_job_folder_and_storage_are_refused(
    runner: CeleryRunner, storage: Path, tmp_path: Path
) -> None:
    folder = job_folder(storage, "hostile")
    for bad in ("../killed/clip.mp4", "/etc/passwd", ""):
        with pytest.raises(MoodscoreError, match="job path"):
            runner.submit("score", score_params(bad), folder).result(60)
    with pytest.raises(MoodscoreError, match="inside the shared storage"):
        runner.submit("compose", compose_params(ComposeRequest(emotion="Q1")), tmp_path)
    with pytest.raises(MoodscoreError, match="unknown job kind"):
        runner.submit("rm", {}, folder)
    bad = job_folder(storage, "bad-options")
    params = compose_params(ComposeRequest(emotion="Q1"))
    params["request"]["bars"] = 100000
    with pytest.raises(MoodscoreError, match="bars"):
        runner.submit("compose", params, bad).result(60)
