"""JobRunner: bounded workers, a bounded waiting line with positions, errors handed to the caller."""

from __future__ import annotations

import threading

import pytest

from moodscore.models import JobRunner, QueueFullError


def test_jobs_run_queue_and_refuse_past_the_limit() -> None:
    gate = threading.Event()
    started = threading.Event()

    def slow(x: int) -> int:
        started.set()
        assert gate.wait(10)
        return x * 2

    runner = JobRunner(workers=1, max_queue=2)
    try:
        first = runner.submit(slow, 1)
        assert started.wait(5)
        second, third = runner.submit(slow, 2), runner.submit(slow, 3)
        assert (first.position(), second.position(), third.position()) == (0, 1, 2)
        assert runner.in_flight == 3
        with pytest.raises(QueueFullError, match="queue is full"):
            runner.submit(slow, 4)
        assert third.cancel() and not first.cancel()
        assert runner.submit(slow, 5).position() == 2  # the freed place is usable
        gate.set()
        assert first.result(10) == 2 and second.result(10) == 4
    finally:
        gate.set()
        runner.shutdown()
    assert third.future.cancelled()


def test_errors_reach_the_caller_and_the_worker_survives() -> None:
    runner = JobRunner(workers=2, max_queue=0)
    try:

        def boom() -> None:
            raise ValueError("bad input")

        with pytest.raises(ValueError, match="bad input"):
            runner.submit(boom).result(10)
        assert runner.submit(lambda: 42).result(10) == 42
    finally:
        runner.shutdown()


def test_two_workers_run_at_once() -> None:
    barrier = threading.Barrier(2, timeout=10)
    runner = JobRunner(workers=2, max_queue=0)
    try:
        jobs = [runner.submit(barrier.wait) for _ in range(2)]  # would time out if they ran one after the other
        assert sorted(j.result(10) for j in jobs) == [0, 1]
    finally:
        runner.shutdown()
