"""Bounds on what visitors can store by uploading, before any job runs.

Gradio keeps an uploaded file on disk for as long as the page keeps results (``--keep-minutes``), whether or not a
job ever uses it, so without a bound anyone who reaches the page can fill the disk with uploads alone. This ASGI
middleware (installed through ``demo.launch(app_kwargs=...)``) counts the bytes of every upload request, by
client address and in total, over the keep window, and answers ``429`` with a one-line reason when a request
would go over either budget; the request's body is then never read.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


class UploadBudget:
    """At most ``per_client`` bytes of uploads per client address and ``total`` bytes from everyone within the
    last ``window_s`` seconds. A request without a Content-Length is counted as it streams and cut off when it
    goes over."""

    def __init__(self, app: ASGIApp, *, per_client: int, total: int, window_s: float) -> None:
        if per_client <= 0 or total <= 0 or window_s <= 0:
            raise ValueError("upload budgets and their window must be positive")
        self.app, self.per_client, self.total, self.window_s = app, per_client, total, window_s
        self._log: deque[tuple[float, str, int]] = deque()  # (time, client, bytes)
        self._lock = threading.Lock()

    def _used(self, now: float) -> tuple[dict[str, int], int]:
        while self._log and self._log[0][0] < now - self.window_s:
            self._log.popleft()
        per: dict[str, int] = {}
        for _, client, n in self._log:
            per[client] = per.get(client, 0) + n
        return per, sum(per.values())

    def _take(self, client: str, n: int) -> str | None:
        """Count ``n`` more bytes for ``client``; the reason it is refused, or None."""
        with self._lock:
            now = time.monotonic()
            per, total = self._used(now)
            if per.get(client, 0) + n > self.per_client:
                minutes = max(1, round(self.window_s / 60))
                return f"upload budget used up: at most {self.per_client // 2**20} MB per visitor in {minutes} min"
            if total + n > self.total:
                return "the server holds as many uploads as it may; try again in a few minutes"
            self._log.append((now, client, n))
            return None

    async def __call__(
        self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
    ) -> None:
        if (
            scope.get("type") != "http"
            or scope.get("method") != "POST"
            or not scope.get("path", "").endswith("/upload")
        ):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("?", 0))[0]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        declared = headers.get("content-length", "")
        if declared.isdigit():
            reason = self._take(client, int(declared))
            if reason is not None:
                await _refuse(send, reason)
                return
            await self.app(scope, receive, send)
            return
        refused: list[str] = []

        async def counted() -> Message:  # no length given: count the body as it comes
            message = await receive()
            if message.get("type") == "http.request" and not refused:
                reason = self._take(client, len(message.get("body", b"")))
                if reason is not None:
                    refused.append(reason)
                    return {"type": "http.disconnect"}
            return message

        await self.app(scope, counted, send)


async def _refuse(send: Callable[[Message], Awaitable[None]], reason: str) -> None:
    body = json.dumps({"detail": reason}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
