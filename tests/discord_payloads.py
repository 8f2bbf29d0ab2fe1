"""Test helper: realistic INTERACTION_CREATE payloads, a bot logged in against the stand-in, and dispatch.

An interaction goes in the way the gateway delivers it: ``ConnectionState.parse_interaction_create(payload)``,
which builds ``discord.Interaction(data=..., state=...)`` and hands it to the CommandTree, which runs the real
command callback in a task named "CommandTree-invoker".
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import time
from typing import Any

import discord
from discord_standin import APP_ID, StandIn

from moodscore.bots.app import BotSettings, MoodscoreBot
from moodscore.models import Engine
from moodscore.models.jobs.runner import ProcessRunner

GUILD_ID = "1200000000000000001"
CHANNEL_ID = "1200000000000000002"
TOKEN = "test-bot-token.not-a-real-one.SECRETSECRET"
MIB = 1024 * 1024
_tokens = itertools.count(1)


@functools.cache
def debug_runner() -> ProcessRunner:
    """One worker process with a tiny-network engine for every Discord test (started and warmed once)."""
    return ProcessRunner(functools.partial(Engine, debug=True), warm=True, max_queue=16).start()


def sleepy_job(engine: Engine, seconds: float, *, progress: Any) -> int:
    """A job for the worker processes that reports its process id, sleeps, and returns the id."""
    progress(0.5, f"pid {os.getpid()}")
    time.sleep(seconds)
    return os.getpid()


def user(uid: int) -> dict[str, Any]:
    return {"id": str(uid), "username": f"user{uid}", "discriminator": "0", "avatar": None, "global_name": None}


def attachment(api: StandIn, filename: str, data: bytes, content_type: str | None, size: int | None = None) -> dict:
    att: dict[str, Any] = {
        "id": api.new_id(),
        "filename": filename,
        "size": len(data) if size is None else size,
        "url": api.serve_attachment(filename, data),
        "proxy_url": f"{api.base_url}/attachments/{filename}",
        "ephemeral": True,
    }
    if content_type is not None:
        att["content_type"] = content_type
    return att


def interaction_payload(
    command: str,
    options: dict[str, Any],
    *,
    user_id: int = 42,
    attachments: dict[str, dict[str, Any]] | None = None,
    upload_limit: int = 10 * MIB,
) -> dict[str, Any]:
    """An application-command interaction from a member in a guild text channel, as the gateway sends it."""
    types = {bool: 5, int: 4, float: 10, str: 3}
    opts = []
    for name, value in options.items():
        if attachments and name in attachments:
            opts.append({"name": name, "type": 11, "value": attachments[name]["id"]})
        else:
            opts.append({"name": name, "type": types[type(value)], "value": value})
    data: dict[str, Any] = {"id": "1300000000000000000", "name": command, "type": 1, "options": opts}
    if attachments:
        data["resolved"] = {"attachments": {a["id"]: a for a in attachments.values()}}
    return {
        "id": str(discord.utils.time_snowflake(discord.utils.utcnow())),
        "application_id": APP_ID,
        "type": 2,
        "token": f"interaction-token-{next(_tokens)}",
        "version": 1,
        "guild_id": GUILD_ID,
        "channel_id": CHANNEL_ID,
        "channel": {
            "id": CHANNEL_ID,
            "type": 0,
            "guild_id": GUILD_ID,
            "name": "general",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
        },
        "member": {
            "user": user(user_id),
            "roles": [],
            "joined_at": "2026-01-01T00:00:00.000000+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": "2248473465835073",
        },
        "app_permissions": str(discord.Permissions(send_messages=True, attach_files=True, embed_links=True).value),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": GUILD_ID},
        "context": 0,
        "attachment_size_limit": upload_limit,
        "data": data,
    }


async def logged_in_bot(settings: BotSettings, runner: ProcessRunner | None = None) -> MoodscoreBot:
    """A bot logged in against the stand-in (GET /users/@me, the application, then the command sync)."""
    bot = MoodscoreBot(settings, runner=runner or debug_runner())
    try:
        await bot.login(TOKEN)
    except BaseException:
        await bot.close()
        raise
    return bot


async def dispatch(bot: MoodscoreBot, payload: dict[str, Any]) -> None:
    """Deliver an interaction as the gateway would; return once the command's task has started."""
    bot._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
    await asyncio.sleep(0)


async def settle(timeout: float = 60.0) -> None:
    """Wait until every command task has finished."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        running = [t for t in asyncio.all_tasks() if t.get_name() == "CommandTree-invoker" and not t.done()]
        if not running:
            return
        if loop.time() > end:
            raise AssertionError(f"{len(running)} command(s) still running after {timeout} s")
        await asyncio.wait(running, timeout=0.1)


async def answered(api: StandIn, payload: dict[str, Any], timeout: float = 5.0) -> None:
    """Wait until the stand-in has the interaction's callback (the first answer Discord needs within 3 s)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not any(r.path.endswith(f"/{payload['token']}/callback") for r in api.snapshot()):
        if loop.time() > end:
            raise AssertionError(f"no answer to the interaction within {timeout} s")
        await asyncio.sleep(0.01)


async def invoke(bot: MoodscoreBot, payload: dict[str, Any], timeout: float = 60.0) -> None:
    await dispatch(bot, payload)
    await settle(timeout)
