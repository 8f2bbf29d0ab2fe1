"""Test helper: run a call under a deadline so that a hang fails the test instead of stalling the run."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

DEADLINE_S = 60.0  # generous: only catches hangs


def within(fn: Callable[[], Any], seconds: float = DEADLINE_S) -> Any:
    """Run ``fn`` in a thread; fail if it has not finished in ``seconds``; return its result or raise."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"call did not finish within {seconds} s"
    if "error" in box:
        raise box["error"]
    return box.get("value")
