"""A stand-in for Discord's HTTP API on 127.0.0.1 that records what the bot sends (test helper).

discord.py's own HTTP client talks to it once ``discord.http.Route.BASE`` points here (Discord's servers cannot
be reached from tests). It answers the few endpoints the bot uses with payloads shaped like Discord's, serves
attachment downloads (the CDN), and can play an expired interaction (webhook calls answered 401).

    with StandIn() as api:
        api.serve_attachment("face.mp4", data)        # -> its URL
        ... run the bot ...
        api.requests                                   # [Recorded(method, path, content_type, json, files), ...]
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

APP_ID = "1100000000000000001"
BOT_ID = "1100000000000000001"
OWNER = {"id": "1100000000000000099", "username": "owner", "discriminator": "0", "avatar": None, "global_name": None}
BOT_USER = {"id": BOT_ID, "username": "moodscore", "discriminator": "0", "avatar": None, "bot": True, "flags": 0}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    json: Any = None
    files: list[dict[str, Any]] = field(default_factory=list)  # name, filename, content_type, data
    at: float = field(default_factory=time.monotonic)  # when the request arrived (time.monotonic)

    def summary(self) -> str:
        parts = [f"{self.method} {self.path}", self.content_type or "-"]
        if self.query:
            parts.append("?" + "&".join(f"{k}={v}" for k, v in self.query.items()))
        if isinstance(self.json, dict):
            keys = {k: self.json[k] for k in ("type", "flags", "content") if k in self.json}
            data = self.json.get("data") if isinstance(self.json.get("data"), dict) else {}
            keys |= {f"data.{k}": data[k] for k in ("flags", "content") if k in data}
            if self.json.get("embeds"):
                keys["embeds"] = [e.get("title") for e in self.json["embeds"]]
            if self.json.get("attachments"):
                keys["attachments"] = [a.get("filename") for a in self.json["attachments"]]
            parts.append(json.dumps(keys, ensure_ascii=False)[:300])
        parts += [f"file {f['name']}={f['filename']} ({f['content_type']}, {len(f['data'])} B)" for f in self.files]
        return " | ".join(parts)


def _json(data: Any, status: int = 200) -> web.Response:
    """A JSON answer with Discord's exact Content-Type (discord.py compares it as a whole string)."""
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


class StandIn:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.expired_tokens: set[str] = set()
        self.bot_token: str | None = None  # when set, any other bot token gets 401 (as Discord answers)
        self._attachments: dict[str, bytes] = {}
        self._ids = itertools.count(1300000000000000001)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="discord-standin", daemon=True)
        self.base_url = ""

    # -- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> StandIn:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the stand-in server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    # -- test-facing helpers -----------------------------------------------------------------------
    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    def serve_attachment(self, name: str, data: bytes) -> str:
        self._attachments[name] = data
        return f"{self.base_url}/attachments/{name}"

    def snapshot(self) -> list[Recorded]:
        with self._lock:
            return list(self.requests)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def new_id(self) -> str:
        return str(next(self._ids))

    # -- the fake API ------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        rec = Recorded(request.method, request.path, dict(request.query), request.content_type)
        if request.content_type == "application/json":
            rec.json = await request.json()
        elif request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                data = await part.read()  # type: ignore[union-attr]
                if part.name == "payload_json":
                    rec.json = json.loads(data)
                else:
                    ctype = part.headers.get("Content-Type", "")
                    rec.files.append(
                        {"name": part.name, "filename": part.filename, "content_type": ctype, "data": data}
                    )
        with self._lock:
            self.requests.append(rec)
        auth = request.headers.get("Authorization")
        if self.bot_token is not None and auth is not None and auth != f"Bot {self.bot_token}":
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        return self._answer(rec)

    def _answer(self, rec: Recorded) -> web.StreamResponse:
        path, method = rec.path, rec.method
        if m := re.fullmatch(r"/attachments/(.+)", path):
            data = self._attachments.get(m[1])
            return web.Response(body=data) if data is not None else web.Response(status=404)
        if path == "/api/v10/users/@me":
            return _json(BOT_USER)
        if path == "/api/v10/oauth2/applications/@me":
            return _json(
                {"id": APP_ID, "name": "moodscore", "description": "", "icon": None, "bot_public": True}
                | {"bot_require_code_grant": False, "owner": OWNER, "verify_key": "0" * 64, "flags": 0}
            )
        if re.fullmatch(r"/api/v10/applications/\d+(/guilds/\d+)?/commands", path) and method == "PUT":
            commands = [{**c, "id": self.new_id(), "application_id": APP_ID, "version": "1"} for c in rec.json]
            return _json(commands)
        if m := re.fullmatch(r"/api/v10/interactions/(\d+)/([^/]+)/callback", path):
            body = rec.json or {}
            kind = body.get("type")
            interaction = {"id": m[1], "type": 2, "response_message_loading": kind == 5}
            interaction["response_message_ephemeral"] = bool((body.get("data") or {}).get("flags", 0) & 64)
            resource: dict[str, Any] = {"type": kind}
            if kind == 4:
                resource["message"] = self._message(body.get("data") or {}, rec)
            return _json({"interaction": interaction, "resource": resource})
        if m := re.fullmatch(r"/api/v10/webhooks/(\d+)/([^/]+)(/messages/@original)?", path):
            if m[2] in self.expired_tokens:
                return _json({"message": "Invalid Webhook Token", "code": 50027}, status=401)
            return _json(self._message(rec.json or {}, rec))
        if re.fullmatch(r"/api/v10/channels/(\d+)/messages", path) and method == "POST":
            return _json(self._message(rec.json or {}, rec))
        return _json({"message": f"stand-in: no route for {method} {path}", "code": 0}, status=404)

    def _message(self, body: dict[str, Any], rec: Recorded) -> dict[str, Any]:
        attachments = [
            {"id": self.new_id(), "filename": f["filename"], "size": len(f["data"]), "url": "", "proxy_url": ""}
            for f in rec.files
        ]
        return {
            "id": self.new_id(),
            "channel_id": "1200000000000000002",
            "type": 0,
            "content": body.get("content") or "",
            "author": BOT_USER,
            "attachments": attachments,
            "embeds": body.get("embeds") or [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": "2026-11-22T08:00:00.000000+00:00",
            "edited_timestamp": None,
            "flags": int(body.get("flags") or 0),
        }
