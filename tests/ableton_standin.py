"""A stand-in for Ableton Live with the AbletonOSC remote script, on loopback, for tests.

It implements the addresses the bridge uses exactly as AbletonOSC's README documents them: it listens on one
UDP port and sends each reply to ``response_port`` (11001 in Live) of the host that asked, on the query's
address with the query's own arguments first. A clip appears only ``clip_delay`` seconds after
``/live/clip_slot/create_clip`` (as in Live, where adding notes at once fails); notes sent to a slot without a
clip are refused with ``/live/error``. Everything received is recorded.

The song has ``num_tracks`` tracks and ``num_scenes`` scenes (``/live/song/create_scene index``, -1 at the end,
adds one); a clip slot outside them makes AbletonOSC's handler fail, which it only logs: no reply. Cue points
(``cue_points``: name and time in beats, in time order) are added and deleted only as AbletonOSC can:
``/live/song/cue_point/add_or_delete`` toggles one at ``current_song_time``; ``/live/song/cue_point/set/name index
name`` renames one.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket


@dataclass
class Clip:
    length: float
    name: str = ""
    notes: list[tuple[int, float, float, int, bool]] = field(default_factory=list)
    color: int | None = None


class AbletonStandIn:
    def __init__(
        self, *, tempo: float = 123.0, clip_delay: float = 0.15, response_port: int = 11001, num_scenes: int = 8,
        num_tracks: int = 8,
    ) -> None:  # fmt: skip
        self.tempo = tempo
        self.num_scenes = num_scenes
        self.num_tracks = num_tracks
        self.current_song_time = 0.0
        self.cue_points: list[list[Any]] = []  # [name, time] in time order
        self.clip_delay = clip_delay
        self.response_port = response_port
        self.received: list[tuple[str, list[Any]]] = []
        self.clips: dict[tuple[int, int], Clip] = {}
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> AbletonStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()

    def _reply(self, host: str, address: str, *params: Any) -> None:
        b = OscMessageBuilder(address)
        for p in params:
            b.add_arg(p)
        self.sock.sendto(b.build().dgram, (host, self.response_port))

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                data, (host, _port) = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                continue
            for timed in OscPacket(data).messages:
                m = timed.message
                with self._lock:
                    self.received.append((m.address, list(m.params)))
                self._handle(host, m.address, list(m.params))

    def _handle(self, host: str, address: str, p: list[Any]) -> None:
        slot_addresses = ("/live/clip_slot/create_clip", "/live/clip_slot/get/has_clip")
        if address in slot_addresses and not (0 <= int(p[0]) < self.num_tracks and 0 <= int(p[1]) < self.num_scenes):
            self.errors.append(f"{address}: IndexError: no slot {p[0]} {p[1]}")  # AbletonOSC logs it, sends nothing
            return
        if address == "/live/song/get/tempo":
            self._reply(host, address, float(self.tempo))
        elif address == "/live/song/set/tempo":
            self.tempo = float(p[0])
        elif address == "/live/song/get/num_tracks":
            self._reply(host, address, self.num_tracks)
        elif address == "/live/song/get/num_scenes":
            self._reply(host, address, self.num_scenes)
        elif address == "/live/song/create_scene":
            self.num_scenes += 1
        elif address == "/live/song/get/current_song_time":
            self._reply(host, address, float(self.current_song_time))
        elif address == "/live/song/set/current_song_time":
            self.current_song_time = float(p[0])
        elif address == "/live/song/get/cue_points":
            flat = [x for name, t in self.cue_points for x in (name, float(t))]
            self._reply(host, address, *flat)
        elif address == "/live/song/cue_point/add_or_delete":
            here = [c for c in self.cue_points if abs(c[1] - self.current_song_time) < 1e-6]
            if here:
                self.cue_points.remove(here[0])
            else:
                self.cue_points.append(["", self.current_song_time])
                self.cue_points.sort(key=lambda c: c[1])
        elif address == "/live/song/cue_point/set/name":
            self.cue_points[int(p[0])][0] = str(p[1])
        elif address == "/live/clip/set/color":
            clip = self.clips.get((int(p[0]), int(p[1])))
            if clip is None:
                self._error(host, "set/color: no clip")
                return
            clip.color = int(p[2])
        elif address == "/live/clip_slot/create_clip":
            track, slot, length = int(p[0]), int(p[1]), float(p[2])
            timer = threading.Timer(self.clip_delay, self._make_clip, (track, slot, length))
            timer.daemon = True
            timer.start()
        elif address == "/live/clip_slot/get/has_clip":
            track, slot = int(p[0]), int(p[1])
            with self._lock:
                has = (track, slot) in self.clips
            self._reply(host, address, track, slot, has)
        elif address == "/live/clip/add/notes":
            clip = self.clips.get((int(p[0]), int(p[1])))
            if clip is None or (len(p) - 2) % 5:
                self._error(host, f"add/notes: no clip in {p[0]} {p[1]} or a bad note list")
                return
            for k in range(2, len(p), 5):
                pitch, start, dur, vel, mute = p[k : k + 5]
                clip.notes.append((int(pitch), float(start), float(dur), int(vel), bool(mute)))
        elif address == "/live/clip/set/name":
            clip = self.clips.get((int(p[0]), int(p[1])))
            if clip is None:
                self._error(host, "set/name: no clip")
                return
            clip.name = str(p[2])
        elif address == "/live/clip/get/notes":
            clip = self.clips.get((int(p[0]), int(p[1])))
            flat: list[Any] = []
            for n in clip.notes if clip else []:
                flat += list(n)
            self._reply(host, address, int(p[0]), int(p[1]), *flat)
        else:
            self._error(host, f"Unknown OSC address: {address}")

    def _error(self, host: str, message: str) -> None:
        self.errors.append(message)
        self._reply(host, "/live/error", message)

    def _make_clip(self, track: int, slot: int, length: float) -> None:
        with self._lock:
            self.clips.setdefault((track, slot), Clip(length))

    def addresses(self) -> list[str]:
        with self._lock:
            return [a for a, _ in self.received]
