"""Test helpers for the OSC bridge: a shared debug Engine, a running bridge, and a plain OSC peer."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

_ENGINE: Any = None


def debug_engine() -> Any:
    """One warm debug Engine for all bridge tests (tiny random networks; loading it takes about a second)."""
    global _ENGINE
    if _ENGINE is None:
        from moodscore.models import Engine

        _ENGINE = Engine(debug=True)
        _ENGINE.composer  # noqa: B018
    return _ENGINE


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Torch on one thread: on this 2-core machine, shared with a training job, two threads thrash."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def running_bridge(out_dir: Path, **kwargs: Any) -> Iterator[Any]:
    from moodscore.bridge.server import BridgeServer

    server = BridgeServer(debug_engine(), host="127.0.0.1", port=0, out_dir=out_dir, **kwargs)
    with server:
        yield server


class Peer:
    """A plain OSC peer on an ephemeral loopback port: sends requests, collects replies."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # room for a flood of replies
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, dest: tuple[str, int], address: str, *args: Any) -> None:
        b = OscMessageBuilder(address)
        for a in args:
            if isinstance(a, tuple):
                b.add_arg(a[0], a[1])
            else:
                b.add_arg(a)
        self.sock.sendto(b.build().dgram, dest)

    def send_raw(self, dest: tuple[str, int], data: bytes) -> None:
        self.sock.sendto(data, dest)

    def receive(
        self, timeout: float = 10.0, quiet: float = 0.25, count: int | None = None
    ) -> list[tuple[str, list[Any]]]:
        """Messages until ``timeout`` s pass with none at all, or ``quiet`` s with nothing new after the first; with
        ``count``, until that many have come (or ``timeout`` s in all have passed), however slowly they come."""
        out: list[tuple[str, list[Any]]] = []
        deadline = time.monotonic() + timeout
        self.sock.settimeout(timeout)
        while True:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return out
            out += [(m.message.address, list(m.message.params)) for m in OscPacket(data).messages]
            if count is not None:
                left = deadline - time.monotonic()
                if len(out) >= count or left <= 0:
                    return out
                self.sock.settimeout(left)
            else:
                self.sock.settimeout(min(timeout, quiet))

    def until(self, rid: str, timeout: float = 30.0, last: tuple[str, ...] = ()) -> list[tuple[str, list[Any]]]:
        """The replies to request ``rid`` up to its /moodscore/done or /moodscore/error (or ``last``)."""
        ends = ("/moodscore/done", "/moodscore/error", *last)
        out: list[tuple[str, list[Any]]] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                break
            for m in OscPacket(data).messages:
                msg = (m.message.address, list(m.message.params))
                if msg[1] and msg[1][0] == rid:
                    out.append(msg)
                    if msg[0] in ends:
                        return out
        raise AssertionError(f"no final reply for {rid!r} within {timeout} s; got {[a for a, _ in out]}")


def notes_in_beats(midi: Any, tempo: float) -> list[tuple[int, float, float, int]]:
    """The test's own conversion of a PrettyMIDI to (pitch, start beats, length beats, velocity), sorted."""
    per_beat = tempo / 60.0
    return sorted(
        (n.pitch, n.start * per_beat, (n.end - n.start) * per_beat, n.velocity)
        for inst in midi.instruments
        for n in inst.notes
    )
