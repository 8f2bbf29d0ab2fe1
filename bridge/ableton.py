"""Ableton Live through the AbletonOSC remote script's protocol (github.com/ideoforms/AbletonOSC).

AbletonOSC listens on UDP 11000 and sends every reply to port 11001 of the host that asked, on the query's own
address with the query's arguments first (``/live/clip_slot/get/has_clip`` -> ``track, slot, has_clip``).
A clip exists only a moment after ``create_clip``, so we poll ``has_clip`` before adding notes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from moodscore.bridge import osc_io
from moodscore.bridge.protocol import Note, chunks

SEND_PORT = 11000
REPLY_PORT = 11001
NOTES_PER_MESSAGE = 100  # 100 notes x 5 arguments: about 4 KB per datagram


class AbletonError(Exception):
    """Live did not answer, or answered with /live/error."""


@dataclass(frozen=True)
class LiveClip:
    """One session clip to make: its track and slot (scene), its length and notes in beats (from the clip's
    start), name and colour."""

    track: int
    slot: int
    length_beats: float
    notes: Sequence[Note]
    name: str
    color: int  # 0xRRGGBB


@dataclass(frozen=True)
class Cue:
    """A locator (an arrangement cue point) at ``beat``, named ``name``."""

    beat: float
    name: str


class AbletonLink:
    """One connection to AbletonOSC: sends to ``host:port`` and receives replies on ``reply_port``.

    ``reply_port=0`` binds any free port (tests point their stand-in at :attr:`reply_port`).
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = SEND_PORT, reply_port: int = REPLY_PORT, timeout: float = 2.0
    ) -> None:
        self.dest = (host, port)
        self.timeout = timeout
        bind_host = "127.0.0.1" if host in ("127.0.0.1", "localhost") else "0.0.0.0"
        try:
            self._sock = osc_io.udp_socket(bind_host, reply_port)
        except OSError as exc:
            raise AbletonError(f"cannot listen for AbletonOSC replies on port {reply_port}: {exc.strerror}") from None
        self.reply_port: int = self._sock.getsockname()[1]
        self._lock = threading.Lock()  # one conversation at a time

    def close(self) -> None:
        self._sock.close()

    def _send(self, address: str, *args: Any) -> None:
        if not osc_io.send(self._sock, self.dest, address, args):
            raise AbletonError(f"could not send {address} to AbletonOSC at {self.dest[0]}:{self.dest[1]}")

    def _query(self, address: str, *args: Any) -> list[Any]:
        """Send a query and return the arguments of its reply (replies to other addresses are skipped)."""
        self._send(address, *args)
        deadline = time.monotonic() + self.timeout
        while (left := deadline - time.monotonic()) > 0:
            self._sock.settimeout(left)
            try:
                data = self._sock.recv(osc_io.MAX_DATAGRAM)
            except TimeoutError:
                break
            except OSError:  # e.g. ICMP port unreachable from an earlier send
                continue
            try:
                messages = osc_io.parse(data)
            except ValueError:
                continue
            for m in messages:
                if m.address == "/live/error":
                    raise AbletonError(f"Live reported an error: {' '.join(map(str, m.params))[:200]}")
                if m.address == address:
                    return list(m.params)
        raise AbletonError(
            f"no reply to {address} from AbletonOSC at {self.dest[0]}:{self.dest[1]} within {self.timeout:g} s "
            f"(is Live running with AbletonOSC selected as a control surface, replying to port {self.reply_port}?)"
        )

    def _drain(self) -> None:
        self._sock.settimeout(0)
        try:
            while True:
                self._sock.recv(osc_io.MAX_DATAGRAM)
        except (BlockingIOError, TimeoutError, OSError):
            pass

    def tempo(self) -> float:
        with self._lock:
            self._drain()
            reply = self._query("/live/song/get/tempo")
        if not reply or not isinstance(reply[-1], int | float):
            raise AbletonError(f"unexpected tempo reply from Live: {reply!r}")
        return float(reply[-1])

    def put_clip(
        self, track: int, slot: int, notes: Sequence[Note], length_beats: float, name: str, *, wait_s: float = 5.0
    ) -> int:
        """Create a clip of ``length_beats`` in an empty slot, wait until it exists, add the notes, name it,
        and read the notes back (``/live/clip/get/notes``) to confirm they all arrived.

        Returns how many notes the clip holds. Raises AbletonError if the slot is taken or the clip never appears.
        """
        with self._lock:
            self._drain()
            if _truthy(self._query("/live/clip_slot/get/has_clip", track, slot)):
                raise AbletonError(f"track {track} slot {slot} already holds a clip; pick an empty slot")
            self._send("/live/clip_slot/create_clip", track, slot, float(length_beats))
            self._wait_for_clip(track, slot, wait_s)
            for group in chunks(notes, NOTES_PER_MESSAGE):
                args: list[Any] = [track, slot]
                for pitch, start, dur, vel in group:
                    args += [int(pitch), float(start), float(dur), int(vel), 0]
                self._send("/live/clip/add/notes", *args)
            self._send("/live/clip/set/name", track, slot, name)
            # read the clip back: the sends are fire-and-forget, this confirms Live holds every note
            held = (len(self._query("/live/clip/get/notes", track, slot)) - 2) // 5
        if held != len(notes):
            raise AbletonError(f"the clip in track {track} slot {slot} holds {held} of the {len(notes)} notes sent")
        return len(notes)

    def _wait_for_clip(self, track: int, slot: int, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        while not _truthy(self._query("/live/clip_slot/get/has_clip", track, slot)):
            if time.monotonic() > deadline:
                raise AbletonError(f"the clip in track {track} slot {slot} did not appear within {wait_s:g} s")
            time.sleep(0.02)

    def _number(self, address: str, *args: Any) -> float:
        reply = self._query(address, *args)
        if not reply or not isinstance(reply[-1], int | float) or isinstance(reply[-1], bool):
            raise AbletonError(f"unexpected reply to {address} from Live: {reply!r}")
        return float(reply[-1])

    def _cue_points(self) -> list[tuple[str, float]]:
        flat = self._query("/live/song/get/cue_points")  # name, time, name, time, ...
        return [(str(flat[i]), float(flat[i + 1])) for i in range(0, len(flat) - 1, 2)]

    def put_score(
        self, clips: Sequence[LiveClip], *, tempo: float, cues: Sequence[Cue] = (), wait_s: float = 5.0
    ) -> int:
        """A scored clip into the session view: every clip in its track and slot (scenes are added at the end of
        the set when there are too few), the song's tempo set to ``tempo``, and ``cues`` as locators (arrangement
        cue points) where there is none yet; each clip is read back to confirm its notes.

        Every track must exist and every target slot be empty (checked before anything changes). Returns the
        number of notes sent.
        """
        if not clips:
            return 0
        with self._lock:
            self._drain()
            tracks = int(self._number("/live/song/get/num_tracks"))
            wanted = sorted({c.track for c in clips})
            if wanted[-1] >= tracks:
                need = f"track {wanted[0]}" if len(wanted) == 1 else f"tracks {wanted[0]}-{wanted[-1]}"
                raise AbletonError(f"Live's set has {tracks} tracks (numbered from 0); the music needs {need}")
            scenes = int(self._number("/live/song/get/num_scenes"))
            first, last = min(c.slot for c in clips), max(c.slot for c in clips) + 1
            for clip in sorted(clips, key=lambda c: (c.track, c.slot)):
                if clip.slot < scenes and _truthy(self._query("/live/clip_slot/get/has_clip", clip.track, clip.slot)):
                    raise AbletonError(f"track {clip.track} slot {clip.slot} already holds a clip; the music needs "
                                       f"slots {first}-{last - 1} empty")  # fmt: skip
            for _ in range(scenes, last):
                self._send("/live/song/create_scene", -1)  # -1: at the end of the list
            deadline = time.monotonic() + wait_s
            while scenes < last:
                if time.monotonic() > deadline:
                    raise AbletonError(f"Live did not add the {last - scenes} scenes asked for within {wait_s:g} s")
                time.sleep(0.02)
                scenes = int(self._number("/live/song/get/num_scenes"))
            self._send("/live/song/set/tempo", float(tempo))
            for clip in clips:
                self._send("/live/clip_slot/create_clip", clip.track, clip.slot, float(clip.length_beats))
                self._wait_for_clip(clip.track, clip.slot, wait_s)
                for group in chunks(clip.notes, NOTES_PER_MESSAGE):
                    args: list[Any] = [clip.track, clip.slot]
                    for pitch, start, dur, vel in group:
                        args += [int(pitch), float(start), float(dur), int(vel), 0]
                    self._send("/live/clip/add/notes", *args)
                self._send("/live/clip/set/name", clip.track, clip.slot, clip.name)
                self._send("/live/clip/set/color", clip.track, clip.slot, int(clip.color))
            if cues:
                self._put_cues(cues)
            for clip in clips:  # the sends are fire-and-forget: confirm Live holds every note
                held = (len(self._query("/live/clip/get/notes", clip.track, clip.slot)) - 2) // 5
                if held != len(clip.notes):
                    raise AbletonError(f"the clip in track {clip.track} slot {clip.slot} holds {held} of the "
                                       f"{len(clip.notes)} notes sent")  # fmt: skip
        return sum(len(c.notes) for c in clips)

    def _put_cues(self, cues: Sequence[Cue]) -> None:
        """AbletonOSC adds a cue point only where the song's time is (``/live/song/cue_point/add_or_delete``, which
        deletes one that is there): so, for each cue where there is none, move the time there and add one; then
        name them by their index in ``/live/song/get/cue_points``; then put the song's time back."""
        close = 1e-3  # beats
        before = self._number("/live/song/get/current_song_time")
        have = [t for _, t in self._cue_points()]
        ours = [c for c in cues if not any(abs(t - c.beat) < close for t in have)]
        for cue in ours:
            self._send("/live/song/set/current_song_time", float(cue.beat))
            self._send("/live/song/cue_point/add_or_delete")
        now = self._cue_points()
        for cue in ours:
            found = [i for i, (_, t) in enumerate(now) if abs(t - cue.beat) < close]
            if not found:
                raise AbletonError(f"Live did not add the locator at beat {cue.beat:g} ({cue.name})")
            self._send("/live/song/cue_point/set/name", found[0], cue.name)
        self._send("/live/song/set/current_song_time", float(before))


def _truthy(reply: list[Any]) -> bool:
    """The last argument of a has_clip reply (AbletonOSC sends a bool, i.e. OSC T/F, or 0/1)."""
    return bool(reply) and bool(reply[-1]) and reply[-1] not in ("0", "false", "False")
