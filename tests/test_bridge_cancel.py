"""/moodscore/cancel: a queued request never runs, a running one stops and leaves no folder, and cancelling what
is not queued or running is a clear error."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from osc_helpers import Peer, one_torch_thread, running_bridge

from moodscore.models import default_example_clip

FINAL = ("/moodscore/error", "/moodscore/done", "/moodscore/cancelled")


def test_cancel_a_queued_and_a_running_score(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    clip = videos / "clip.mp4"
    shutil.copy(default_example_clip(), clip)
    with one_torch_thread(), running_bridge(tmp_path / "out", allowed_roots=[videos]) as bridge, Peer() as peer:
        peer.send(bridge.address, "/moodscore/score", "r1", "path", str(clip), "stems", 1)
        peer.send(bridge.address, "/moodscore/score", "r2", "path", str(clip))
        time.sleep(0.3)
        assert bridge._states["r2"][0] == "queued"
        replies: dict[str, list[tuple[str, list[object]]]] = {"r1": [], "r2": [], "c1": [], "c2": []}

        def collect(until: float) -> None:
            deadline = time.monotonic() + until
            while time.monotonic() < deadline and not all(r and r[-1][0] in FINAL for r in replies.values()):
                for address, args in peer.receive(timeout=0.2, quiet=0.1):
                    if args and args[0] in replies:
                        replies[str(args[0])].append((address, args))

        peer.send(bridge.address, "/moodscore/cancel", "c2", "of", "r2")
        collect(1.0)
        assert replies["c2"] == [("/moodscore/cancelled", ["c2", "r2", "queued"])]
        # r1 is running: once it has reported progress, cancel it too
        deadline = time.monotonic() + 60
        while bridge._states["r1"][1] <= 0.0 and time.monotonic() < deadline:
            time.sleep(0.05)
        with Peer() as other:  # the id of a running request cannot be taken, and its state stays
            other.send(bridge.address, "/moodscore/compose", "r1", "quadrant", "Q1")
            (taken,) = other.until("r1", 10)
        assert "a request with the id 'r1' is still queued or running" in taken[1][2]
        assert bridge._states["r1"][0] == "running"
        peer.send(bridge.address, "/moodscore/cancel", "c1", "of", "r1")
        collect(60.0)
        assert replies["r2"] == [("/moodscore/error", ["r2", "/moodscore/score", "cancelled"])]  # it never ran
        assert replies["r1"][-1] == ("/moodscore/error", ["r1", "/moodscore/score", "cancelled"])
        assert "/moodscore/piece" not in [a for a, _ in replies["r1"]]
        assert replies["c1"] == [("/moodscore/cancelled", ["c1", "r1", "running"])]
        assert bridge._states["r1"][0] == bridge._states["r2"][0] == "cancelled"
        # the cancelled job's folder goes once it has stopped; the queued one's was never made
        deadline = time.monotonic() + 30
        while list(bridge.ctx.out_dir.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list(bridge.ctx.out_dir.iterdir()) == []

        peer.send(bridge.address, "/moodscore/cancel", "c3", "of", "r1")
        peer.send(bridge.address, "/moodscore/cancel", "c4")
        (late,) = peer.until("c3", 10)
        (bare,) = peer.until("c4", 10)
    assert late == ("/moodscore/error", ["c3", "/moodscore/cancel", "nothing to cancel: request 'r1' is cancelled"])
    assert "cancel needs an 'of' option" in bare[1][2]


def test_a_job_in_a_worker_process_is_abandoned_at_once_and_its_folder_removed_when_it_ends(tmp_path: Path) -> None:
    import functools

    from moodscore.bridge.server import BridgeServer
    from moodscore.models import Engine
    from moodscore.models.jobs.runner import ProcessRunner

    videos = tmp_path / "videos"
    videos.mkdir()
    clip = videos / "clip.mp4"
    shutil.copy(default_example_clip(), clip)
    runner = ProcessRunner(functools.partial(Engine, debug=True), warm=True).start()
    try:
        with (
            BridgeServer(runner=runner, host="127.0.0.1", port=0, out_dir=tmp_path / "out", allowed_roots=[videos])
            as bridge,
            Peer() as peer,
        ):  # fmt: skip
            peer.send(bridge.address, "/moodscore/score", "w1", "path", str(clip))
            deadline = time.monotonic() + 120
            while bridge._states.get("w1", ("", 0.0))[1] <= 0.0 and time.monotonic() < deadline:
                time.sleep(0.05)  # until the worker reports progress: it is running
            (folder,) = list(bridge.ctx.out_dir.iterdir())
            peer.send(bridge.address, "/moodscore/cancel", "c1", "of", "w1")
            t0 = time.monotonic()
            replies = peer.until("w1", 30)
            assert replies[-1] == ("/moodscore/error", ["w1", "/moodscore/score", "cancelled"])
            assert time.monotonic() - t0 < 2.0  # at once, not when the worker is done
            # the worker finishes the job; then its folder goes, and the worker takes the next request
            deadline = time.monotonic() + 120
            while folder.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not folder.exists()
            peer.send(bridge.address, "/moodscore/compose", "n1", "quadrant", "Q1", "bars", 1)
            assert peer.until("n1", 120)[-1] == ("/moodscore/done", ["n1", "compose", 1])
    finally:
        runner.shutdown()


def test_a_job_that_ends_just_as_it_is_cancelled_is_not_delivered(tmp_path: Path) -> None:
    import socket

    from moodscore.bridge.handlers import Cancelled, Context, Reply, run_job

    class Ending:  # a job whose result is handed over just as the cancel arrives
        def __init__(self, reply: Reply) -> None:
            self.reply = reply

        def result(self, timeout: float | None = None) -> object:
            self.reply.cancelled.set()
            return object()

        def cancel(self) -> bool:
            return False

        def done(self) -> bool:
            return True

    class Runner:
        def submit(self, kind: str, params: object, folder: Path, progress: object = None) -> Ending:
            return Ending(reply)

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        reply = Reply(sock, ("127.0.0.1", 9), "late")
        ctx = Context(runner=Runner(), out_dir=tmp_path, allowed_roots=())
        folder = ctx.job_dir("late")
        (folder / "score.json").write_text("{}")
        with pytest.raises(Cancelled):
            run_job(ctx, reply, "score", {}, folder)
    assert not folder.exists()
