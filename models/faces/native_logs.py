"""Keep native libraries' console chatter (MediaPipe / LiteRT C++ logging) off the user's terminal."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_saved_fd: int | None = None


@contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the duration (re-entrant, thread-safe).

    MediaPipe's C++ code logs INFO/WARNING lines straight to fd 2 when a graph is created, first run and
    destroyed; no environment variable silences all of them. Python-level ``sys.stderr`` is flushed first
    and is unaffected outside the (short) block. Set MOODSCORE_NATIVE_LOGS=1 to see them.
    """
    global _depth, _saved_fd
    if os.environ.get("MOODSCORE_NATIVE_LOGS") == "1":
        yield
        return
    with _lock:
        if _depth == 0:
            try:
                sys.stderr.flush()
                _saved_fd = os.dup(2)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)
                os.close(devnull)
            except OSError:  # no fd 2 to redirect (embedded interpreters): nothing to silence
                _saved_fd = None
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved_fd is not None:
                os.dup2(_saved_fd, 2)
                os.close(_saved_fd)
                _saved_fd = None
