"""The bridge talks plain OSC 1.0: an independent implementation (liblo's oscsend and oscdump) is its peer."""

from __future__ import annotations

import shlex
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from osc_helpers import one_torch_thread, running_bridge

pytestmark = pytest.mark.skipif(
    not (shutil.which("oscsend") and shutil.which("oscdump")), reason="needs liblo-tools (oscsend, oscdump)"
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dump_until(dump: subprocess.Popen[str], needle: str, timeout: float = 20.0) -> list[str]:
    assert dump.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = dump.stdout.readline()
        if line:
            lines.append(line.strip().split(" ", 1)[-1])  # oscdump puts a timestamp first
            if needle in line:
                return lines
        elif dump.poll() is not None:
            break
    raise AssertionError(f"oscdump never showed {needle!r}; got {lines}")


def test_oscsend_requests_and_oscdump_receives_the_replies(tmp_path: Path) -> None:
    port = _free_port()
    dump = subprocess.Popen(["oscdump", "-L", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)  # let oscdump bind
        with one_torch_thread(), running_bridge(tmp_path) as bridge:
            host, bport = bridge.address
            send = ["oscsend", host, str(bport)]
            subprocess.run([*send, "/moodscore/ping", "ssi", "p1", "reply_port", str(port)], check=True, timeout=10)
            assert any(line.startswith("/moodscore/pong") and '"p1"' in line for line in _dump_until(dump, "pong"))

            subprocess.run([*send, "/moodscore/compose", "ssssisfsi", "c1", "quadrant", "Q4", "bars", "2",
                            "tempo", "100.0", "reply_port", str(port)], check=True, timeout=10)  # fmt: skip
            lines = _dump_until(dump, "/moodscore/done")
            piece = next(line for line in lines if line.startswith("/moodscore/piece"))
            n_notes = int(shlex.split(piece)[8])  # address, types, id, index, tempo, key, bars, quadrants, n
            notes = [line for line in lines if line.startswith("/moodscore/notes")]
            # liblo decodes our 64-bit beats ('d') and counts the same notes the piece announces
            assert notes and all(line.split()[1].startswith("siiiddi") for line in notes)
            assert sum((len(line.split()) - 5) // 4 for line in notes) == n_notes
            assert lines[-1].split()[:4] == ["/moodscore/done", "ssi", '"c1"', '"compose"']

            subprocess.run([*send, "/moodscore/compose", "ssssi", "c2", "quadrant", "Q7", "reply_port", str(port)],
                           check=True, timeout=10)  # fmt: skip
            error = _dump_until(dump, "/moodscore/error")[-1]
            assert '"c2"' in error and "unknown quadrant" in error
    finally:
        dump.terminate()
        dump.wait(5)
