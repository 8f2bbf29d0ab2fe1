"""Fixtures shared by several test modules (imports stay inside them, so other tests do not pay for them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from discord_standin import StandIn


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The analysis cache (and any other user cache) of this test run lives in a folder of its own, so a test never
    reads what an earlier run or the user's own work left (child processes inherit it)."""
    import os

    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    """A stand-in for Discord's HTTP API on 127.0.0.1, with discord.py's client pointed at it."""
    import discord
    from discord_standin import StandIn

    with StandIn() as server:
        monkeypatch.setattr(discord.http.Route, "BASE", server.api_base)
        yield server


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A 3 s clip with a face, as uploaded bytes."""
    from media_fixtures import face_clip

    return face_clip(tmp_path_factory.mktemp("clip"), seconds=3.0).read_bytes()


@pytest.fixture(scope="session")
def celery_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server on loopback for the Celery tests (database 0: the workers'; others: no worker)."""
    from celery_helpers import redis_server

    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def celery_storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the front ends and the workers share."""
    return tmp_path_factory.mktemp("storage")


@pytest.fixture(scope="session")
def celery_worker(celery_broker: str, celery_storage: Path) -> Iterator[Any]:
    """``moodscore worker`` with two pool processes and the tiny test models, ready before the first test."""
    from celery_helpers import Worker

    worker = Worker(celery_broker, celery_storage, concurrency=2, name="main").wait_ready()
    yield worker
    worker.stop()
