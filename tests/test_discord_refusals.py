"""Every refusal and failure with the reply the user would see, and the queue: place in line, full, cooldown."""

from __future__ import annotations

import asyncio
import functools
import io
import time
from pathlib import Path
from typing import Any

import pretty_midi
import pytest
from discord_payloads import (
    MIB,
    answered,
    attachment,
    dispatch,
    interaction_payload,
    invoke,
    logged_in_bot,
    settle,
    sleepy_job,
)
from discord_standin import Recorded, StandIn

from moodscore.bots.app import BotSettings, MoodscoreBot
from moodscore.models import ComposeRequest, Engine, MoodscoreError
from moodscore.models.jobs.pool import EngineProcesses
from moodscore.models.jobs.runner import ProcessRunner


def for_token(api: StandIn, payload: dict[str, Any]) -> list[Recorded]:
    return [r for r in api.snapshot() if f"/{payload['token']}" in r.path]


def private_reply(calls: list[Recorded]) -> str:
    """The one ephemeral message a refusal before deferring makes (interaction callback type 4, flags 64)."""
    (call,) = calls
    assert call.path.endswith("/callback") and call.json["type"] == 4
    assert call.json["data"]["flags"] == 64
    return str(call.json["data"]["content"])


def last_edit(calls: list[Recorded]) -> str:
    assert calls[0].json == {"type": 5}, "deferred first"
    edits = [r for r in calls if r.method == "PATCH"]
    return str(edits[-1].json["content"])


@pytest.mark.parametrize(
    ("filename", "content_type", "size", "reply"),
    [
        ("notes.txt", "text/plain; charset=utf-8", None, "❌ notes.txt is not a video or audio clip (text/plain)."),
        ("photo.png", "image/png", None, "❌ photo.png is not a video or audio clip (image/png)."),
        ("big.mp4", "video/mp4", 60 * MIB, "❌ big.mp4 is 60.0 MiB; clips may be at most 50.0 MiB."),
    ],
)
def test_attachments_refused_from_their_metadata_without_downloading(
    api: StandIn, clip: bytes, filename: str, content_type: str, size: int | None, reply: str
) -> None:
    async def scenario() -> dict[str, Any]:
        bot = await logged_in_bot(BotSettings())
        try:
            att = attachment(api, filename, clip, content_type, size=size)
            payload = interaction_payload("score", {"clip": ""}, attachments={"clip": att})
            await invoke(bot, payload)
            return payload
        finally:
            await bot.close()

    payload = asyncio.run(scenario())
    assert private_reply(for_token(api, payload)).startswith(reply)
    assert not any(r.path.startswith("/attachments/") for r in api.snapshot())


@pytest.mark.parametrize(
    ("data", "reply"),
    [
        (None, "❌ clip.mp4: 3.0 s is longer than the limit of 2.0 s"),
        (b"This is a text file, not a video.\n" * 20, "❌ clip.mp4: not a readable media file"),
    ],
)
def test_clips_refused_after_download_and_probe(api: StandIn, clip: bytes, data: bytes | None, reply: str) -> None:
    async def scenario() -> dict[str, Any]:
        bot = await logged_in_bot(BotSettings(max_duration_s=2.0))
        try:
            att = attachment(api, "clip.mp4", data or clip, "video/mp4")
            payload = interaction_payload("score", {"clip": ""}, attachments={"clip": att})
            await invoke(bot, payload)
            assert bot.cooldowns.retry_after(42) == 0, "a refused clip does not cost the user their cooldown"
            assert bot.runner.in_flight == 0 and bot.preparing == 0
            return payload
        finally:
            await bot.close()

    payload = asyncio.run(scenario())
    assert last_edit(for_token(api, payload)).startswith(reply)


def test_a_failing_job_tells_the_user_in_one_line(api: StandIn, tmp_path: Path) -> None:
    # a broken install: the composer's statistics file is unreadable (here: truncated JSON)
    patterns = tmp_path / "patterns.json"
    patterns.write_text('{"chords": {', encoding="utf-8")
    factory = functools.partial(Engine, patterns_path=patterns)
    runner = ProcessRunner(factory, warm=False)

    async def scenario(window_s: float) -> dict[str, Any]:
        bot = await logged_in_bot(BotSettings(window_s=window_s), runner=runner)
        try:
            payload = interaction_payload("compose", {"quadrant": "Q2", "bars": 2}, user_id=5)
            await invoke(bot, payload)
            return payload
        finally:
            await bot.close()

    try:
        payload = asyncio.run(scenario(900))
        late = asyncio.run(scenario(0))  # the same failure once the interaction window has closed
    finally:
        runner.shutdown()
    reply = last_edit(for_token(api, payload))
    assert reply.startswith("❌ ") and "patterns.json" in reply and "\n" not in reply and "Traceback" not in reply
    assert not any(r.method == "POST" and "/webhooks/" in r.path for r in api.snapshot())
    assert [r.method for r in for_token(api, late)] == ["POST"]  # the deferral, then nothing through the webhook
    (post,) = [r for r in api.snapshot() if r.path.endswith("/messages") and r.method == "POST"]
    note = "(posted here because Discord's 15-minute window for a reply had closed)"
    assert post.json["content"] == f"<@5> {reply} {note}"


def test_a_bad_key_is_refused_before_any_work(api: StandIn) -> None:
    async def scenario() -> dict[str, Any]:
        bot = await logged_in_bot(BotSettings())
        try:
            payload = interaction_payload("compose", {"quadrant": "Q1", "key": "H major"})
            await invoke(bot, payload)
            return payload
        finally:
            await bot.close()

    payload = asyncio.run(scenario())
    assert private_reply(for_token(api, payload)).startswith("❌ ") and "H major" in private_reply(
        for_token(api, payload)
    )


def test_queue_place_full_queue_and_cooldown(api: StandIn) -> None:
    settings = BotSettings(max_jobs=2, workers=1, cooldown_s=60, progress_every_s=0.1)

    async def scenario() -> list[dict[str, Any]]:
        bot = await logged_in_bot(settings)
        try:
            first = interaction_payload("compose", {"quadrant": "Q1", "bars": 3, "seed": 1}, user_id=1)
            await dispatch(bot, first)
            for _ in range(200):  # until the first job runs
                if bot.runner.in_flight == 1 and not bot.preparing:
                    break
                await asyncio.sleep(0.02)
            second = interaction_payload("compose", {"quadrant": "Q4", "bars": 1, "seed": 2}, user_id=2)
            await dispatch(bot, second)
            await asyncio.sleep(0.3)
            full = interaction_payload("compose", {"quadrant": "Q3"}, user_id=3)
            again = interaction_payload("compose", {"quadrant": "Q2"}, user_id=1)
            for payload in (full, again):  # refusals answer at once, while the jobs still run
                await dispatch(bot, payload)
                await answered(api, payload, timeout=1.0)
            assert bot.runner.in_flight == 2
            await settle()
            return [first, second, full, again]
        finally:
            await bot.close()

    first, second, full, again = asyncio.run(scenario())
    edits = [r.json["content"] for r in for_token(api, second) if r.method == "PATCH"]
    assert edits[0] == "🕒 `/compose` is queued: you are number 1 in the queue; it starts when a worker is free."
    busy = "❌ moodscore is busy: 2 jobs are already running or waiting. Please try again in a few minutes."
    assert private_reply(for_token(api, full)) == busy
    assert private_reply(for_token(api, again)).startswith("❌ Slow down a little: you can start another job in")
    for payload, name, quadrant, seed in ((first, "Q1_seed1", "Q1", 1), (second, "Q4_seed2", "Q4", 2)):
        (follow,) = [r for r in for_token(api, payload) if r.method == "POST" and "/webhooks/" in r.path]
        files = {f["filename"]: f["data"] for f in follow.files}
        assert set(files) == {f"{name}.mid", f"{name}.mp3", "piano_roll.png"}
        midi = pretty_midi.PrettyMIDI(io.BytesIO(files[f"{name}.mid"]))  # valid MIDI (the debug net may be silent)
        # no tempo given: the one the emotion suggests, as on every front end (moodscore.models.types.DEFAULTS)
        suggested = ComposeRequest(emotion=quadrant, seed=seed).tempo
        assert midi.get_tempo_changes()[1][0] == pytest.approx(suggested, abs=0.5) and suggested != 100
        assert files[f"{name}.mp3"][:3] == b"ID3" or files[f"{name}.mp3"][0] == 0xFF
        (embed,) = follow.json["embeds"]
        assert embed["image"]["url"] == "attachment://piano_roll.png"
        assert {f["name"] for f in embed["fields"]} == {"Key", "Tempo", "Bars", "Seed"}


def test_help_explains_both_commands_privately(api: StandIn) -> None:
    async def scenario() -> dict[str, Any]:
        bot = await logged_in_bot(BotSettings(cooldown_s=45))
        try:
            payload = interaction_payload("help", {})
            await invoke(bot, payload)
            return payload
        finally:
            await bot.close()

    payload = asyncio.run(scenario())
    (call,) = for_token(api, payload)
    assert call.json["type"] == 4 and call.json["data"]["flags"] == 64
    (embed,) = call.json["data"]["embeds"]
    assert "**/score**" in embed["description"] and "**/compose**" in embed["description"]
    assert "50.0 MiB" in embed["description"] and "2:00" in embed["description"] and "45 s" in embed["description"]


def test_a_job_past_the_time_limit_is_stopped_and_its_worker_replaced() -> None:
    processes = EngineProcesses(functools.partial(Engine, debug=True), time_limit=2.0).start()
    assert processes.time_limit == 2.0
    seen: list[str] = []
    try:
        processes.time_limit = None  # a first job imports this test module in the worker, which takes a while
        first = processes.run(sleepy_job, 0)
        processes.time_limit = 2.0
        t = time.monotonic()
        with pytest.raises(MoodscoreError, match=r"^the job took longer than 2 s and was stopped$"):
            processes.run(sleepy_job, 60, progress=lambda f, m: seen.append(m))
        assert time.monotonic() - t < 10  # not the 60 s the job wanted
        (line,) = seen  # its progress arrived before the stop
        pid = int(line.split()[1])
        assert pid == first  # the same worker, stopped
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid), "the stopped job's worker process is gone"
        processes.time_limit = None  # nor may the new worker's start-up count against a tiny limit
        assert processes.run(sleepy_job, 0) not in (pid, None)  # the next job runs, in a new worker
    finally:
        processes.shutdown()
    with pytest.raises(ValueError, match="time_limit"):
        EngineProcesses(functools.partial(Engine, debug=True), time_limit=0)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has stopped; only its exit status is left


def test_the_bot_passes_its_job_time_limit_to_the_workers() -> None:
    from moodscore.bots.discord_bot import build_parser, main

    assert build_parser().parse_args([]).job_time_limit == 10.0
    assert main(["--job-time-limit", "0"]) == 2  # refused before any token is read
    bot = MoodscoreBot(BotSettings(job_time_limit_s=90.0))
    try:
        assert isinstance(bot.runner, ProcessRunner)
        assert bot.runner.time_limit == bot.runner.processes.time_limit == 90.0
    finally:
        bot.runner.shutdown()
