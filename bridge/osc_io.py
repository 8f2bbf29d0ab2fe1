"""OSC datagrams in and out over one UDP socket (python-osc does the encoding; we keep the socket loop)."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterable, Sequence
from typing import Any

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket, ParseError

log = logging.getLogger("moodscore.bridge")

Addr = tuple[str, int]
MAX_DATAGRAM = 65507


class Typed:
    """An argument with an explicit OSC type tag, e.g. ``Typed(1.5, "d")`` for a 64-bit float."""

    __slots__ = ("tag", "value")

    def __init__(self, value: Any, tag: str) -> None:
        self.value, self.tag = value, tag


def build(address: str, args: Iterable[Any] = ()) -> bytes:
    b = OscMessageBuilder(address)
    for a in args:
        if isinstance(a, Typed):
            b.add_arg(a.value, a.tag)
        elif isinstance(a, bool):
            b.add_arg(int(a), "i")
        elif isinstance(a, bytes | bytearray):
            b.add_arg(bytes(a), "b")
        else:
            b.add_arg(a)
    return bytes(b.build().dgram)


def parse(data: bytes) -> list[OscMessage]:
    """The messages in one datagram (a bundle is flattened); raises ValueError when it is not OSC."""
    try:
        return [m.message for m in OscPacket(data).messages]
    except RecursionError:  # bundles nested a thousand deep (a 64 KB datagram holds over 3,000 levels)
        raise ValueError("not an OSC message (bundles nested too deep)") from None
    except (ParseError, IndexError, TypeError, ValueError, OverflowError, UnicodeDecodeError) as exc:
        raise ValueError(f"not an OSC message ({' '.join(str(exc).split())[:120]})") from None


def udp_socket(host: str = "127.0.0.1", port: int = 0, *, rcvbuf: int = 4 << 20) -> socket.socket:
    """A bound UDP socket (port 0 = any free port) with a generous receive buffer."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    with contextlib.suppress(OSError):  # the kernel caps it; the default still works
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind((host, port))
    return sock


def send(sock: socket.socket, dest: Addr, address: str, args: Sequence[Any] = ()) -> bool:
    """Send one message; a failure (unreachable port, too big) is logged and reported as False."""
    try:
        data = build(address, args)
        if len(data) > MAX_DATAGRAM:
            log.warning("dropped %s to %s: %d bytes is more than one UDP datagram", address, dest, len(data))
            return False
        sock.sendto(data, dest)
        return True
    except (OSError, ValueError, TypeError) as exc:
        log.warning("could not send %s to %s: %s", address, dest, exc)
        return False
