"""``moodscore bridge``: the OSC server that keeps an Engine warm and answers /moodscore/... requests.

One thread reads datagrams and answers what is quick (ping, status, every error) at once; composing and
scoring go to a bounded :class:`models.JobRunner`, so a flood of requests costs error replies, not memory.
The address table is :data:`ROUTES`; bridge/PROTOCOL.md documents the same list (a test keeps them equal).
"""

from __future__ import annotations

import hmac
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moodscore.bridge import handlers, osc_io, scoring
from moodscore.bridge.ableton import AbletonError
from moodscore.bridge.handlers import Context, Reply
from moodscore.bridge.protocol import (
    CANCELLED,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DONE,
    PONG,
    PREFIX,
    STATUS,
    RequestError,
    parse_forced,
    parse_hits,
    parse_options,
)

log = osc_io.log
VERSION = "1"


@dataclass(frozen=True)
class Route:
    address: str
    method: str  # name of the BridgeServer method that handles it
    summary: str


ROUTES: tuple[Route, ...] = (
    Route(f"{PREFIX}/ping", "on_ping", "is the bridge there? replies /moodscore/pong"),
    Route(f"{PREFIX}/status", "on_status", "the bridge's load, or the state of one earlier request"),
    Route(f"{PREFIX}/compose", "on_compose", "compose for a quadrant or a valence-arousal point"),
    Route(f"{PREFIX}/score", "on_score", "score a video file on the bridge's machine"),
    Route(f"{PREFIX}/ableton", "on_ableton", "compose (or score a video) into Ableton Live through AbletonOSC"),
    Route(f"{PREFIX}/cancel", "on_cancel", "cancel an earlier request that is still queued or running"),
)


MEDIA_FOLDERS = ("Videos", "Movies", "Desktop", "Downloads", "Documents", "Music")


def default_allowed(home: Path | None = None) -> list[Path]:
    """The folders a bridge reads videos from without --allow: the user's media and document folders that
    exist (REAPER keeps its projects under Documents), not the whole home (keys, mail, browser profiles)."""
    home = home or Path.home()
    found = [home / name for name in MEDIA_FOLDERS if (home / name).is_dir()]
    return found or [home]


def private_folder(path: Path) -> Path:
    """``path`` as a folder only this user can enter (0700), made safely in a shared place such as /tmp: a
    symlink or a folder of another user planted there is refused, never followed."""
    import stat

    from moodscore.models import OutputError

    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise OutputError(f"cannot make {path}: {exc.strerror or exc}") from None
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise OutputError(f"{path} is not a folder of this user (a symlink or someone else's); give --out")
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


class BridgeServer:
    """The OSC bridge. ``engine`` is any object with the :class:`models.Engine` interface (tests pass a debug one)."""

    def __init__(
        self,
        engine: Any = None,
        *,
        runner: Any = None,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        out_dir: str | Path | None = None,
        allowed_roots: Sequence[str | Path] = (),
        ableton: Callable[[], Any] | None = None,
        workers: int = 1,
        max_queue: int = 8,
        keep: int = 200,
        secret: str | None = None,
        job_seconds: float | None = 600.0,
    ) -> None:
        from moodscore.models import JobRunner, ProcessRunner, ThreadRunner

        if out_dir is not None:
            out = Path(out_dir)
            out.mkdir(parents=True, exist_ok=True)
        else:
            out = private_folder(Path(tempfile.gettempdir()) / f"moodscore-bridge-{os.getuid()}")
        roots = tuple(Path(r).expanduser().resolve() for r in (allowed_roots or default_allowed()))
        # the core's runner does the work: given, or threads sharing ``engine``, or local worker processes
        self._owns_jobs = runner is None
        if runner is None and engine is not None:
            runner = ThreadRunner(engine, workers=workers, max_queue=max_queue, time_limit=job_seconds)
        elif runner is None:
            runner = ProcessRunner(workers=workers, max_queue=max_queue, time_limit=job_seconds)
        self.engine_kind = "debug" if getattr(engine, "debug", False) else "real"
        self.ctx = Context(runner=runner, out_dir=out.resolve(), allowed_roots=roots, ableton=ableton, keep=keep)
        self.sock = osc_io.udp_socket(host, port)
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        # requests queue here (places, states, replies); each waits on its core job with the GIL released
        self.runner = JobRunner(workers=workers, max_queue=max_queue, name="moodscore-bridge")
        self.secret = secret  # None: any request is served (a library or test bridge); else it must carry it
        self.job_seconds = job_seconds  # a running job's time limit (None: none)
        self._routes = {r.address: getattr(self, r.method) for r in ROUTES}
        self._states: OrderedDict[str, tuple[str, float, str]] = OrderedDict()  # last 256 requests
        self._states_lock = threading.Lock()
        self._active: dict[str, tuple[Reply, Any]] = {}  # queued or running requests: their reply and job
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> BridgeServer:
        self._thread = threading.Thread(target=self.serve_forever, name="moodscore-bridge-recv", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(osc_io.MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError as exc:  # ICMP errors from replies to closed ports surface here on some systems
                if self._stop.is_set():
                    break
                log.debug("recv: %s", exc)
                continue
            try:
                self.handle_datagram(data, addr[:2])
            except Exception:  # never let one request stop the server
                log.exception("unexpected failure handling a datagram from %s", addr)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        self.runner.shutdown(wait=False, cancel_waiting=True)
        if self._owns_jobs:
            self.ctx.runner.shutdown()
        self.sock.close()

    def __enter__(self) -> BridgeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- dispatch ------------------------------------------------------------------------------------
    def handle_datagram(self, data: bytes, addr: osc_io.Addr) -> None:
        try:
            messages = osc_io.parse(data)
        except ValueError as exc:
            Reply(self.sock, addr, "").error(str(exc))
            return
        for m in messages:
            self.handle_message(m.address, list(m.params), addr)

    def handle_message(self, address: str, params: list[Any], addr: osc_io.Addr) -> None:
        rid = params[0] if params else ""
        rid = str(rid) if isinstance(rid, str | int) and not isinstance(rid, bool) else ""
        reply = Reply(self.sock, addr, rid[:200], address=address, on_progress=self._progress)
        handler = self._routes.get(address)
        if handler is None:
            reply.error(f"unknown address {address[:200]!r}; known: {', '.join(r.address for r in ROUTES)}")
            return
        if not rid and address != ROUTES[0].address:
            reply.error("the first argument must be a request id (a string or an integer)")
            return
        try:
            opts = parse_options(params[1:])
            given = opts.pop("secret", None)
            needs = self.secret is not None and address != ROUTES[0].address  # ping answers anyone
            if needs and not (isinstance(given, str) and hmac.compare_digest(given, str(self.secret))):
                raise RequestError(
                    "this bridge needs its secret: run `moodscore osc` as the bridge's user, or send the "
                    "'secret' option (see --secret-file)"
                )
            if "reply_port" in opts:
                if not 1 <= opts["reply_port"] <= 65535:
                    raise RequestError(f"reply_port must be from 1 to 65535, got {opts['reply_port']}")
                reply.dest = (addr[0], int(opts.pop("reply_port")))
            handler(reply, opts)
        except Exception as exc:
            self._fail(reply, exc)

    def _fail(self, reply: Reply, exc: BaseException) -> None:
        from moodscore.models import MoodscoreError

        with self._states_lock:
            active = self._active.get(reply.rid)
        mine = active is None or active[0] is reply  # a request that reused a queued one's id leaves its state be
        if isinstance(exc, handlers.Cancelled):
            if mine:
                self._set_state(reply.rid, "cancelled", 1.0, "cancelled")
            reply.error("cancelled")
            return
        if isinstance(exc, MoodscoreError):
            message = exc.message
        elif isinstance(exc, RequestError | AbletonError):
            message = " ".join(str(exc).split())
        else:
            log.error("internal error on %s %r", reply.address, reply.rid, exc_info=exc)
            message = f"internal error: {type(exc).__name__}: {exc}"
        if mine:
            self._set_state(reply.rid, "error", 1.0, message)
        reply.error(message)

    def _submit(self, reply: Reply, fn: Callable[..., tuple[str, int]], *args: Any) -> None:
        def job() -> None:
            self._set_state(reply.rid, "running", 0.0, "")
            try:
                if reply.cancelled.is_set():
                    raise handlers.Cancelled("cancelled")
                kind, n = fn(self.ctx, reply, *args)
                self._set_state(reply.rid, "done", 1.0, "")
                reply.send(DONE, kind, n)
            except Exception as exc:
                self._fail(reply, exc)
            finally:
                with self._states_lock:
                    if self._active.get(reply.rid, (None,))[0] is reply:
                        del self._active[reply.rid]

        with self._states_lock:
            if reply.rid in self._active:
                raise RequestError(f"a request with the id {reply.rid!r} is still queued or running; use a new id")
        self._set_state(reply.rid, "queued", 0.0, "")
        with self._states_lock:  # (held, so the job cannot end before it is listed as active)
            submitted = self.runner.submit(job)  # QueueFullError (a MoodscoreError) becomes an error reply
            self._active[reply.rid] = (reply, submitted)

    # -- request state (bounded) ---------------------------------------------------------------------
    def _set_state(self, rid: str, state: str, fraction: float, message: str) -> None:
        if not rid:
            return
        with self._states_lock:
            self._states[rid] = (state, fraction, message)
            self._states.move_to_end(rid)
            while len(self._states) > 256:
                self._states.popitem(last=False)

    def _progress(self, rid: str, fraction: float, message: str) -> None:
        self._set_state(rid, "running", float(fraction), message)

    # -- handlers (one per route) --------------------------------------------------------------------
    def on_ping(self, reply: Reply, opts: dict[str, Any]) -> None:
        reply.send(PONG, VERSION)

    def on_status(self, reply: Reply, opts: dict[str, Any]) -> None:
        if "of" in opts:
            with self._states_lock:
                state, fraction, message = self._states.get(opts["of"], ("unknown", 0.0, ""))
            reply.send(STATUS, opts["of"], state, float(fraction), message)
            return
        busy = self.runner.in_flight
        reply.send(STATUS, "", "busy" if busy else "idle", float(busy), f"jobs={busy} max_queue={self.runner.max_queue}"
                   f" engine={self.engine_kind}")  # fmt: skip

    def on_compose(self, reply: Reply, opts: dict[str, Any]) -> None:
        request = handlers.compose_request(opts)  # bad options fail here, before queueing
        self._submit(reply, handlers.run_compose, opts, request)

    def on_score(self, reply: Reply, opts: dict[str, Any]) -> None:
        if "path" not in opts:
            raise RequestError("score needs a 'path' option: a video file on the bridge's machine")
        self._submit_clip(reply, scoring.run_score, opts)

    def _submit_clip(self, reply: Reply, job: Callable[..., tuple[str, int]], opts: dict[str, Any]) -> None:
        """Queue a job on the clip at ``opts["path"]`` (checked against ``--allow`` and held open now); its hits
        and forced stretches are checked first, before anything is queued."""
        parse_hits(str(opts.get("hits", "")))
        parse_forced(str(opts.get("set", "")))
        clip = handlers.allowed_clip(self.ctx, str(opts["path"]))
        try:
            self._submit(reply, job, opts, clip)
        except BaseException:
            clip.close()  # not queued: nothing will read it
            raise

    def on_ableton(self, reply: Reply, opts: dict[str, Any]) -> None:
        for name in ("track", "slot"):
            if name not in opts or opts[name] < 0:
                raise RequestError(f"ableton needs a '{name}' option (an integer from 0)")
        if "path" in opts:  # score the video into Live
            if {"quadrant", "valence", "arousal", "bars", "variations"} & set(opts):
                raise RequestError("ableton with a 'path' scores the video: give no quadrant, valence, arousal or bars")
            if self.ctx.ableton is None:
                raise RequestError("this bridge has no Ableton connection")
            self._submit_clip(reply, scoring.run_ableton_score, opts)
            return
        if "parts" in opts:
            raise RequestError("'parts' goes with 'path' (a scored video's parts on tracks of their own)")
        handlers.compose_request({**opts, "variations": 1}, tempo=opts.get("tempo"))  # check early
        self._submit(reply, handlers.run_ableton, opts)

    def on_cancel(self, reply: Reply, opts: dict[str, Any]) -> None:
        if "of" not in opts:
            raise RequestError("cancel needs an 'of' option: the id of the request to cancel")
        of = str(opts["of"])
        with self._states_lock:
            active = self._active.get(of)
            state = self._states.get(of, ("unknown", 0.0, ""))[0]
        if active is None:
            raise RequestError(f"nothing to cancel: request {of!r} is {state}")
        target, job = active
        target.cancelled.set()
        if job.cancel():  # it was still waiting: it never runs
            with self._states_lock:
                self._active.pop(of, None)
            self._set_state(of, "cancelled", 1.0, "cancelled")
            target.error("cancelled")
        # a running one stops at its next progress report, or is abandoned (see handlers.run_job)
        reply.send(CANCELLED, of, state)


def main(argv: Sequence[str] | None = None) -> int:
    """``moodscore bridge`` (its options and start-up are in :mod:`moodscore.bridge.serve`)."""
    from moodscore.bridge.serve import main as serve

    return serve(argv)
