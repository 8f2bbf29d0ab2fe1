"""A real redis-server and real ``moodscore worker`` processes for the tests of the Celery runner.

Nothing is mocked: the server is Debian's redis-server on a free loopback port (``.ci/run`` installs it), the
workers are the CLI's own command in separate processes with the tiny test models.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A private redis-server on 127.0.0.1 (no persistence); yields its URL."""
    exe = shutil.which("redis-server")
    assert exe, "redis-server is not installed (bash scripts/setup.sh test installs Debian's redis-server)"
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


class Worker:
    """``moodscore worker`` as a separate process (its own process group, so it and its pool can be killed)."""

    def __init__(self, broker: str, storage: Path, *, concurrency: int = 1, job_seconds: float = 120.0,
                 name: str = "w1", log: Path | None = None, debug: bool = True) -> None:  # fmt: skip
        self.log = log or storage.parent / f"worker-{name}-{os.getpid()}.log"
        cmd = [sys.executable, "-m", "moodscore.models.cli", "worker", "--broker", broker, "--storage", str(storage),
               "--concurrency", str(concurrency), "--job-seconds", str(job_seconds),
               "--hostname", f"{name}@test", "--loglevel", "INFO"] + (["--debug-models"] if debug else [])  # fmt: skip
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True)
        self.name = name

    def wait_ready(self, timeout: float = 90.0) -> Worker:
        """Until the worker says it is ready (its pool processes are up and have loaded their models)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if " ready." in text:
                return self
            assert self.proc.poll() is None, f"the worker exited:\n{text[-3000:]}"
            time.sleep(0.2)
        raise AssertionError(
            f"the worker was not ready in {timeout} s:\n{self.log.read_text(errors='replace')[-3000:]}"
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._out.close()
