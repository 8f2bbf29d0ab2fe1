"""The hostile corpus (:mod:`hostile_corpus`) as the web page and the OSC bridge are asked for it, and their answers.

    from hostile_corpus import build_corpus
    from hostile_fronts import bridge_cases, run_bridge, run_web, verdict, web_cases
    web, skipped = web_cases(cases, folder)     # Gradio API requests, and what only the page takes
    osc = bridge_cases(cases, folder, outside)  # /moodscore/... requests, and hostile OSC messages

The web page and the bridge are asked for the same inputs as a user would ask them (an upload through the Gradio
API; a path under the bridge's ``--allow`` folder), where they take such an input at all, plus what only they take:
requests without a clip or a score, values no widget offers, raw HTTP requests no client library sends, OSC
arguments of the wrong type, huge strings, paths that climb out with ``..`` or a symlink, undecodable datagrams.
:func:`run_web` and :func:`run_bridge` send one case and tell how it was answered; :func:`verdict` says whether that
was a clear answer.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import media_fixtures as fx
from hostile_corpus import Case


@dataclass(frozen=True)
class FrontCase:
    """One request (or a few, in one session) to a front end. Web: steps ``(api_name, *args)``, a Path argument
    uploaded as a file; the answer of the last step counts. Bridge: one step ``(address, request id, *args)``, an
    argument ``(value, tag)`` sent with that OSC type tag, or ``("raw", datagram)``."""

    name: str
    ok: bool  # True: a result expected; False: a one-line refusal
    steps: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class Outcome:
    """How a front end answered: ``answer`` is "ok", "refused", "hang" or "dead" (the server stopped answering)."""

    answer: str
    text: str
    seconds: float
    steps_done: int = 0  # requests of the case that succeeded (each leaves its job's results)


def verdict(ok: bool, outcome: Outcome, *, private: tuple[str, ...] = ()) -> str:
    """The verdict on an answer: "clear"; "crash" (the server stopped answering, an internal error, a traceback);
    "unclear" (a refusal without a message, of more than one line, or showing a server path); "hang"; or "wrong"
    (a result where a refusal was expected, or the other way round)."""
    if outcome.answer == "hang":
        return "hang"
    if outcome.answer == "dead":
        return "crash"
    text = outcome.text
    if outcome.answer == "refused":
        if any(u in text for u in ("Traceback", "internal error", "has raised an exception", "Error(")):
            return "crash"
        if "\n" in text.strip() or not text.strip() or any(p and p in text for p in private):
            return "unclear"
    return "clear" if (outcome.answer == "ok") == ok else "wrong"


WEB_SCORE = {"tempo": 100.0, "key": "auto", "instruments": "piano", "seed": 0}


def _web_score(media: Any, options: dict[str, Any]) -> tuple[Any, ...]:
    o = {**WEB_SCORE, **options}
    extra = [x for x in str(o["instruments"]).split(",") if x and x != "piano"]
    return ("/score", media, o["tempo"], o["key"], extra, o["seed"])


def _web_compose(options: dict[str, Any]) -> tuple[Any, ...]:
    mode, v, a = ("quadrant", 0.0, 0.0)
    if "va" in options:
        mode, (v, a) = "valence / arousal point", options["va"]
    return ("/compose", mode, options.get("quadrant", "Q1"), v, a, options.get("bars", 4), 120, "auto", [], 0, 1)


def web_cases(cases: list[Case], folder: Path) -> tuple[list[FrontCase], list[tuple[str, str]]]:
    """The corpus as a visitor of the web page sends it (a score with the file uploaded, a compose), plus what only
    the page takes; and the cases it cannot be sent, with the reason."""
    out: list[FrontCase] = []
    skipped: list[tuple[str, str]] = []
    for case in cases:
        opts = dict(case.options)
        if case.job == "score" and case.media is not None:
            if not case.media.is_file():
                skipped.append((case.name, "a browser uploads only files that exist (not a folder or a pipe)"))
                continue
            out.append(FrontCase(case.name, case.ok, (_web_score(case.media, opts),)))
        elif case.job == "compose":
            out.append(FrontCase(case.name, case.ok, (_web_compose(opts),)))
        else:
            skipped.append((case.name, "the page takes no output path, analysis option or MIDI file"))
    face = fx.face_clip(folder)
    odd = folder / "odd\nname <b>&amp;.mp4"
    odd.write_text("not a video\n")
    long_name = folder / ("long" * 60 + ".mp4")
    long_name.write_bytes(face.read_bytes())
    score = _web_score(face, {})
    for name, ok, steps in (
        ("web: score without a clip", False, (_web_score(None, {}),)),
        ("web: score with a 100 KB key", False, (_web_score(face, {"key": "A" * 100_000}),)),
        ("web: score with tempo 1e308", False, (_web_score(face, {"tempo": 1e308}),)),
        ("web: score with seed 10^12", False, (_web_score(face, {"seed": 10**12}),)),
        ("web: score with a fractional seed", False, (_web_score(face, {"seed": 2.5}),)),
        ("web: text upload named with a newline and HTML", False, (_web_score(odd, {}),)),
        ("web: upload with a 244-character name", True, (_web_score(long_name, {}),)),
        ("web: compose 100 variations", False, (("/compose", "quadrant", "Q1", 0.0, 0.0, 2, 120, "auto", [], 0, 100),)),
        ("web: compose 10^9 bars", False, (_web_compose({"bars": 10**9}),)),
        ("web: compose an unknown mode", False, (("/compose", "x" * 1000, "Q1", 0.0, 0.0, 2, 120, "auto", [], 0, 1),)),
        ("web: rescore without a score", False, (("/rescore", "1-2", 3),)),
        ("web: rescore bars 1-1 after a score", True, (score, ("/rescore", "1-1", 5))),
        ("web: rescore bars 1-99 after a score", False, (score, ("/rescore", "1-99", 5))),
        ("web: rescore with 100 KB of bars", False, (score, ("/rescore", "1" * 100_000, 5))),
        ("web: rescore with seed -1", False, (score, ("/rescore", "1-1", -1))),
        ("web (raw HTTP): compose with bars NaN", False, (_raw("/compose", _compose_json(bars="NaN")),)),
        ("web (raw HTTP): compose with seed NaN", False, (_raw("/compose", _compose_json(seed="NaN")),)),
        ("web (raw HTTP): compose with valence NaN", False, (_raw("/compose", _va_json("NaN")),)),
        ("web (raw HTTP): compose with a string for bars", False, (_raw("/compose", _compose_json(bars='"2"')),)),
        ("web (raw HTTP): score with tempo NaN", False, (_raw("/score", '{"data": [null, NaN, "auto", [], 0]}'),)),
        ("web (raw HTTP): score a server file never uploaded", False, (_raw("/score", _SERVER_FILE),)),
        ("web (raw HTTP): rescore with seed NaN", False, (_raw("/rescore", '{"data": ["1-2", NaN]}'),)),
        ("web (raw HTTP): rescore with a forged state", False, (_raw("/rescore", _FORGED_STATE),)),
        ("web (raw HTTP): malformed JSON", False, (_raw("/compose", '{"data": [1, 2'),)),
    ):
        out.append(FrontCase(name, ok, steps))
    return out, skipped


def _compose_json(*, bars: str = "2", seed: str = "0") -> str:
    return f'{{"data": ["quadrant", "Q1", 0, 0, {bars}, 120, "auto", [], {seed}, 1]}}'


def _va_json(value: str) -> str:
    return f'{{"data": ["valence / arousal point", "Q1", {value}, 0, 2, 120, "auto", [], 0, 1]}}'


_SERVER_FILE = '{"data": [{"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}, 100, "auto", [], 0]}'
_FORGED_STATE = '{"data": [{"folder": "../../etc", "clip": "passwd", "bars": 9}, "1-2", 1]}'


def _raw(api_name: str, body: str) -> tuple[str, str, str]:
    """A request as raw JSON through Gradio's HTTP API (``/gradio_api/call/NAME``), as a script would send it:
    values no client library sends (NaN, strings for numbers, paths of the server's files)."""
    return ("raw", api_name, body)


def _raw_call(url: str, api_name: str, body: str, timeout: float) -> tuple[str, str]:
    """("ok" or "refused", the message) for one raw call; raises TimeoutError."""
    import json

    import httpx

    base = f"{url.rstrip('/')}/gradio_api/call{api_name}"
    try:
        posted = httpx.post(base, content=body, headers={"content-type": "application/json"}, timeout=timeout)
        if posted.status_code != 200:
            return "refused", f"HTTP {posted.status_code}: " + " ".join(posted.text.split())[:300]
        event = posted.json()["event_id"]
        with httpx.stream("GET", f"{base}/{event}", timeout=timeout) as stream:
            text = stream.read().decode()
    except httpx.TimeoutException:
        raise TimeoutError from None
    kind, data = "", ""
    for line in text.splitlines():
        if line.startswith("event: "):
            kind = line[7:].strip()
        elif line.startswith("data: "):
            data = line[6:]
    if kind == "complete":
        return "ok", "ok"
    try:
        message = (json.loads(data) or {}).get("error") if data.startswith("{") else data
    except ValueError:
        message = data
    return "refused", str(message or "")


def run_web(url: str, case: FrontCase, *, timeout: float = 180.0) -> Outcome:
    """Send ``case`` to the web page at ``url`` through its Gradio API, in a session of its own."""
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    start = time.perf_counter()
    try:
        client = Client(url, verbose=False, download_files=False)
    except Exception as exc:  # whatever it is, the server did not answer
        return Outcome("dead", f"{type(exc).__name__}: {exc}", time.perf_counter() - start)
    values: Any = None
    done = 0
    for api_name, *args in case.steps:
        if api_name == "raw":
            try:
                answer, text = _raw_call(url, args[0], args[1], timeout)
            except TimeoutError:
                return Outcome("hang", "", time.perf_counter() - start, done)
            except Exception as exc:  # a broken connection: the server is gone
                return Outcome("dead", f"{type(exc).__name__}: {exc}", time.perf_counter() - start, done)
            return Outcome(answer, text, time.perf_counter() - start, done + (answer == "ok"))
        sent = [handle_file(str(a)) if isinstance(a, Path) else a for a in args]
        try:
            job = client.submit(*sent, api_name=api_name)
            values = job.result(timeout=timeout)
        except TimeoutError:
            return Outcome("hang", "", time.perf_counter() - start, done)
        except AppError as exc:
            return Outcome("refused", " ".join(str(exc).split("\n")), time.perf_counter() - start, done)
        except ValueError as exc:  # the client's own checks (a file over the size limit)
            return Outcome("refused", str(exc), time.perf_counter() - start, done)
        except Exception as exc:  # a broken connection: the server is gone
            return Outcome("dead", f"{type(exc).__name__}: {exc}", time.perf_counter() - start, done)
        done += 1
    ok = isinstance(values, list | tuple) and any(v for v in values)
    said = "ok" if ok else f"empty result {values!r}"
    return Outcome("ok" if ok else "refused", said, time.perf_counter() - start, done)


def web_answers(url: str, *, timeout: float = 10.0) -> bool:
    """Whether the page still serves (its config, through the same API a client starts with)."""
    import httpx

    try:
        return httpx.get(f"{url.rstrip('/')}/config", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


RID = "<id>"  # replaced by a new request id for every case


def _osc_options(options: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for name, value in options.items():
        if name == "va":
            out += ["valence", float(value[0]), "arousal", float(value[1])]
        else:
            out += [name, value]
    return out


def bridge_cases(cases: list[Case], allowed: Path, outside: Path) -> list[FrontCase]:
    """The corpus as /moodscore/score and /moodscore/compose requests (the media named by its path under the
    bridge's ``--allow`` folder ``allowed``), plus hostile OSC: wrong types, huge strings, paths that leave
    ``allowed`` (``..``, symlinks into ``outside``), special files, undecodable datagrams."""
    out: list[FrontCase] = []
    for case in cases:
        opts = dict(case.options)
        if case.job == "score" and case.media is not None:
            step = ("/moodscore/score", RID, "path", str(case.media), *_osc_options(opts))
            out.append(FrontCase(case.name, case.ok, (step,)))
        elif case.job == "compose":
            out.append(FrontCase(case.name, case.ok, (("/moodscore/compose", RID, *_osc_options(opts)),)))
    outside.mkdir(parents=True, exist_ok=True)
    face = fx.face_clip(allowed)
    secret = fx.face_clip(outside)
    links = {"link_out.mp4": secret, "link_in.mp4": face, "linkdir": outside}
    for name, target in links.items():
        if not (allowed / name).is_symlink():
            (allowed / name).symlink_to(target)
    if not (allowed / "loop.mp4").is_symlink():
        (allowed / "loop.mp4").symlink_to(allowed / "loop.mp4")
    (allowed / "sub").mkdir(exist_ok=True)
    nested = b"/moodscore/ping\x00,\x00\x00\x00"
    for _ in range(2000):
        nested = b"#bundle\x00" + bytes(8) + len(nested).to_bytes(4, "big") + nested
    score = "/moodscore/score"
    for name, ok, step in (
        ("osc: path outside --allow", False, (score, RID, "path", "/etc/passwd")),
        ("osc: path climbing out with ..", False, (score, RID, "path", f"{allowed}/../{outside.name}/{secret.name}")),
        ("osc: path with .. that stays inside", True, (score, RID, "path", f"{allowed}/sub/../{face.name}")),
        ("osc: symlink to a file outside", False, (score, RID, "path", str(allowed / "link_out.mp4"))),
        ("osc: symlinked folder leading outside", False, (score, RID, "path", f"{allowed}/linkdir/{secret.name}")),
        ("osc: symlink to a file inside", True, (score, RID, "path", str(allowed / "link_in.mp4"))),
        ("osc: symlink to itself", False, (score, RID, "path", str(allowed / "loop.mp4"))),
        ("osc: the allowed folder itself", False, (score, RID, "path", str(allowed))),
        ("osc: empty path", False, (score, RID, "path", "")),
        ("osc: relative path", False, (score, RID, "path", face.name)),
        ("osc: /dev/zero", False, (score, RID, "path", "/dev/zero")),
        ("osc: /proc/self/environ", False, (score, RID, "path", "/proc/self/environ")),
        ("osc: 60,000-character path", False, (score, RID, "path", f"{allowed}/{'a' * 60_000}.mp4")),
        ("osc: 60,000-character key", False, (score, RID, "path", str(face), "key", "K" * 60_000)),
        ("osc: 60,000-character request id", False, (score, "r" * 60_000, "path", "/etc/passwd")),
        ("osc: path as an integer", False, (score, RID, "path", 5)),
        ("osc: path as a blob", False, (score, RID, "path", b"/etc/passwd")),
        ("osc: tempo as a string", False, (score, RID, "path", str(face), "tempo", "fast")),
        ("osc: seed as a float", False, (score, RID, "path", str(face), "seed", 1.5)),
        ("osc: seed 2^31", False, (score, RID, "path", str(face), "seed", (2**31, "h"))),
        ("osc: tempo 1e308", False, (score, RID, "path", str(face), "tempo", (1e308, "d"))),
        ("osc: tempo infinity", False, (score, RID, "path", str(face), "tempo", (float("inf"), "d"))),
        ("osc: a true where a number goes", False, (score, RID, "path", str(face), "seed", True)),
        ("osc: 1,000 option pairs", False, (score, RID, "path", str(face), *["tempo", 100.0] * 1000)),
        ("osc: request id as a float", False, (score, 2.5, "path", str(face))),
        ("osc: compose 2^31-1 bars", False, ("/moodscore/compose", RID, "quadrant", "Q1", "bars", 2**31 - 1)),
        ("osc: compose 10^6 variations", False, ("/moodscore/compose", RID, "quadrant", "Q1", "variations", 10**6)),
        ("osc: reply_port 0", False, ("/moodscore/compose", RID, "quadrant", "Q1", "reply_port", 0)),
        ("osc: unknown address with ..", False, ("/moodscore/../score", RID, "path", str(face))),
        ("osc: not OSC at all", False, ("raw", bytes(range(256)))),
        ("osc: bundles nested 2,000 deep", False, ("raw", nested)),
    ):
        out.append(FrontCase(name, ok, (step,)))
    return [
        FrontCase(c.name, c.ok, tuple(tuple(f"h{i}" if a == RID else a for a in step) for step in c.steps))
        for i, c in enumerate(out, 1)
    ]


def _osc_datagram(step: tuple[Any, ...]) -> bytes:
    from pythonosc.osc_message_builder import OscMessageBuilder

    if step[0] == "raw":
        return bytes(step[1])
    builder = OscMessageBuilder(step[0])
    for arg in step[1:]:
        if isinstance(arg, tuple):
            builder.add_arg(arg[0], arg[1])
        else:
            builder.add_arg(arg)
    return bytes(builder.build().dgram)


def _osc_exchange(address: tuple[str, int], datagram: bytes, timeout: float) -> list[tuple[str, list[Any]]] | None:
    """Send one datagram from a socket of its own; the replies up to /moodscore/done or /moodscore/error (or
    /moodscore/pong), None when none came within ``timeout`` s."""
    from pythonosc.osc_packet import OscPacket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.sendto(datagram, address)
        replies: list[tuple[str, list[Any]]] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            for m in OscPacket(data).messages:
                replies.append((m.message.address, list(m.message.params)))
                if m.message.address in ("/moodscore/done", "/moodscore/error", "/moodscore/pong"):
                    return replies
    return None


def run_bridge(address: tuple[str, int], case: FrontCase, *, timeout: float = 180.0) -> Outcome:
    """Send ``case`` to the bridge at ``address`` and wait for its last reply."""
    start = time.perf_counter()
    (step,) = case.steps
    try:
        datagram = _osc_datagram(step)
    except Exception as exc:  # a case this OSC library cannot even build
        return Outcome("refused", f"unsendable: {exc}", 0.0)
    replies = _osc_exchange(address, datagram, timeout)
    seconds = time.perf_counter() - start
    if replies is None:
        return Outcome("hang", "", seconds)
    last, args = replies[-1]
    if last == "/moodscore/done":
        return Outcome("ok", "ok", seconds, 1)
    return Outcome("refused", str(args[2]) if len(args) > 2 else repr(args), seconds)


def bridge_answers(address: tuple[str, int], *, timeout: float = 10.0) -> bool:
    """Whether the bridge still answers a ping."""
    replies = _osc_exchange(address, _osc_datagram(("/moodscore/ping", "alive")), timeout)
    return bool(replies) and replies[-1][0] == "/moodscore/pong"


def files_under(folder: Path) -> set[str]:
    """Every file below ``folder`` (relative paths), to see what a refused request left."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir()}
