"""The command tree as Discord receives it at sync time, and `moodscore discord`'s start-up (token handling)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import discord
import pytest
from discord_payloads import GUILD_ID, TOKEN, logged_in_bot
from discord_standin import APP_ID, StandIn

from moodscore.bots import discord_bot
from moodscore.bots.app import BotSettings


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    with StandIn() as server:
        monkeypatch.setattr(discord.http.Route, "BASE", server.api_base)
        yield server


def synced(api: StandIn, settings: BotSettings) -> tuple[str, list[dict[str, Any]]]:
    async def login() -> None:
        bot = await logged_in_bot(settings)
        await bot.close()

    asyncio.run(login())
    (put,) = [r for r in api.snapshot() if r.method == "PUT"]
    return put.path, put.json


def options(command: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in command.get("options", [])}


def test_commands_sync_to_one_guild_with_names_types_descriptions_and_limits(api: StandIn) -> None:
    path, commands = synced(api, BotSettings(guild_id=int(GUILD_ID)))
    assert path == f"/api/v10/applications/{APP_ID}/guilds/{GUILD_ID}/commands"
    by_name = {c["name"]: c for c in commands}
    assert set(by_name) == {"score", "compose", "help"}
    assert all(c["type"] == 1 and 1 <= len(c["description"]) <= 100 for c in commands)

    score = options(by_name["score"])
    assert list(score) == ["clip", "tempo", "instruments", "stems"]
    assert score["stems"]["type"] == 5 and not score["stems"]["required"]  # BOOLEAN
    assert score["clip"]["type"] == 11 and score["clip"]["required"] is True  # ATTACHMENT
    assert score["tempo"]["type"] == 4 and not score["tempo"]["required"]
    assert (score["tempo"]["min_value"], score["tempo"]["max_value"]) == (40, 240)
    assert score["instruments"]["type"] == 3
    assert score["instruments"]["choices"][0]["value"] == "piano"
    assert all(o["description"] for o in score.values())

    compose = options(by_name["compose"])
    assert list(compose) == ["quadrant", "bars", "tempo", "key", "seed"]
    assert compose["quadrant"]["required"] is True and compose["quadrant"]["type"] == 3
    assert [c["value"] for c in compose["quadrant"]["choices"]] == ["Q1", "Q2", "Q3", "Q4"]
    assert compose["quadrant"]["choices"][0]["name"] == "Q1 happy / excited"
    assert (compose["bars"]["min_value"], compose["bars"]["max_value"]) == (1, 64)
    assert (compose["key"]["min_length"], compose["key"]["max_length"]) == (1, 24)
    assert compose["seed"]["type"] == 4 and compose["seed"]["min_value"] == 0
    assert not any(o["required"] for name, o in compose.items() if name != "quadrant")
    assert "options" not in by_name["help"] or by_name["help"]["options"] == []


def test_without_a_guild_commands_sync_globally(api: StandIn) -> None:
    path, commands = synced(api, BotSettings())
    assert path == f"/api/v10/applications/{APP_ID}/commands"
    assert {c["name"] for c in commands} == {"score", "compose", "help"}


def test_refuses_to_start_without_a_token(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    assert discord_bot.main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "DISCORD_TOKEN" in err and "--token-file" in err


def test_unreadable_or_empty_token_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert discord_bot.main(["--token-file", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "empty").chmod(0o600)
    assert discord_bot.main(["--token-file", str(tmp_path / "empty")]) == 2
    assert "is empty" in capsys.readouterr().err


def test_a_token_file_others_can_read_is_refused_and_the_environment_is_emptied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o644)
    assert discord_bot.main(["--token-file", str(token_file)]) == 2
    err = capsys.readouterr().err
    assert "can be read by other users" in err and "chmod 600" in err and TOKEN not in err
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    assert discord_bot.read_token(discord_bot.build_parser().parse_args([])) == TOKEN
    assert "DISCORD_TOKEN" not in os.environ  # worker processes started later do not inherit it


def test_a_refused_token_never_appears_in_logs_or_errors(
    api: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    api.bot_token = "the-right-token"
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    monkeypatch.setenv("DISCORD_TOKEN", "not-this-one")  # the file wins over the environment
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        code = discord_bot.main(["--token-file", str(token_file), "--log-level", "DEBUG"])
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
    out, err = capfd.readouterr()
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        "moodscore discord: error: Discord refused the token; copy it again from the Developer Portal"
    )
    assert TOKEN not in out + err and "SECRETSECRET" not in out + err
    assert "/users/@me" in err  # the DEBUG log did run (and was redacted where needed)
    assert any(r.path == "/api/v10/users/@me" for r in api.snapshot())


def test_the_log_filter_withholds_the_token(capfd: pytest.CaptureFixture[str]) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(discord_bot.RedactToken(TOKEN))
    log = logging.getLogger("moodscore.test.redact")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.error("connecting with %s", TOKEN)
        try:
            raise RuntimeError(f"bad header Bot {TOKEN}")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    err = capfd.readouterr().err
    assert TOKEN not in err and "connecting with [token]" in err and "traceback withheld" in err
