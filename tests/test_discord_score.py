"""/score end to end through discord.py: gateway payload -> command callback -> HTTP requests Discord would get.

The bot's real discord.py HTTP client talks to a stand-in API on 127.0.0.1 (tests/discord_standin.py); the
job runs in the real JobRunner with the debug Engine (real decoding, FluidSynth, muxing).
"""

from __future__ import annotations

import asyncio
import io
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import discord
import mido
import pretty_midi
import pytest
from discord_payloads import MIB, TOKEN, attachment, interaction_payload, invoke, logged_in_bot, settle
from discord_standin import Recorded, StandIn
from media_fixtures import face_clip

from bots.app import BotSettings

RECORD = Path(tempfile.gettempdir()) / "moodscore-discord-score-requests.txt"  # one recorded /score, for reading


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    with StandIn() as server:
        monkeypatch.setattr(discord.http.Route, "BASE", server.api_base)
        yield server


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return face_clip(tmp_path_factory.mktemp("clip"), seconds=3.0).read_bytes()


def interaction_calls(requests: list[Recorded]) -> list[Recorded]:
    return [r for r in requests if "/interactions/" in r.path or "/webhooks/" in r.path or "/channels/" in r.path]


def test_score_defers_reports_progress_and_follows_up_with_files(api: StandIn, clip: bytes) -> None:
    lags: list[float] = []

    async def scenario() -> None:
        bot = await logged_in_bot(BotSettings(progress_every_s=0.2, cooldown_s=0))
        try:
            api.clear()
            att = attachment(api, "my holiday clip.mp4", clip, "video/mp4")
            payload = interaction_payload("score", {"clip": "", "tempo": 90}, attachments={"clip": att})

            async def heartbeat_probe() -> None:  # what the gateway heartbeat would feel
                while True:
                    t = time.perf_counter()
                    await asyncio.sleep(0.02)
                    lags.append(time.perf_counter() - t - 0.02)

            probe = asyncio.create_task(heartbeat_probe())
            started = time.perf_counter()
            await invoke(bot, payload)
            probe.cancel()
            assert time.perf_counter() - started < 60
        finally:
            await bot.close()

    asyncio.run(scenario())
    calls = interaction_calls(api.snapshot())
    RECORD.write_text("\n".join(r.summary() for r in api.snapshot()) + "\n", encoding="utf-8")

    # 1. the deferral comes first: a "thinking" deferred channel message (type 5)
    first = calls[0]
    assert first.method == "POST" and first.path.endswith("/callback")
    assert first.json == {"type": 5}
    # 2. progress by editing the original reply
    edits = [r for r in calls[1:] if r.method == "PATCH" and r.path.endswith("/messages/@original")]
    progress = [r.json["content"] for r in edits if r.json["content"].startswith("⏳")]
    assert progress, [r.summary() for r in calls]
    assert all("%" in p for p in progress)
    # 3. the follow-up webhook with the files and the embed
    (follow,) = [r for r in calls if r.method == "POST" and r.path.startswith("/api/v10/webhooks/")]
    assert follow.query.get("wait") in {"1", "true"}
    assert follow.content_type.startswith("multipart/form-data")
    names = {f["filename"]: f for f in follow.files}
    assert set(names) == {
        "my_holiday_clip.mid",
        "my_holiday_clip_music.mp3",
        "timeline.png",
        "my_holiday_clip_scored.mp4",
    }
    midi = mido.MidiFile(file=io.BytesIO(names["my_holiday_clip.mid"]["data"]))
    assert midi.type == 1 and midi.length > 0
    pm = pretty_midi.PrettyMIDI(io.BytesIO(names["my_holiday_clip.mid"]["data"]))
    assert pm.get_tempo_changes()[1][0] == pytest.approx(90, abs=0.5)
    mp3 = names["my_holiday_clip_music.mp3"]["data"]
    assert mp3[:3] == b"ID3" or (mp3[0] == 0xFF and mp3[1] & 0xE0 == 0xE0)  # an MP3 frame or ID3 tag
    assert names["timeline.png"]["data"][:8] == b"\x89PNG\r\n\x1a\n"
    assert names["my_holiday_clip_scored.mp4"]["data"][4:8] == b"ftyp"
    assert sum(len(f["data"]) for f in follow.files) <= 10 * MIB
    (embed,) = follow.json["embeds"]
    assert embed["title"] == "🎹 moodscore: my holiday clip.mp4"
    assert embed["image"]["url"] == "attachment://timeline.png"
    assert embed["color"] in {0xF2B134, 0xE4572E, 0x4A6FA5, 0x76B041}
    lines = embed["description"].splitlines()
    assert lines and all("`0:0" in line and "%" in line and "**Q" in line for line in lines)
    assert lines[0].split("`")[1].startswith("0:00–")
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert "90 BPM" in fields["Music"] and fields["Instruments"] == "piano"
    # 4. the reply says it is done; the token never travels in a body
    assert calls[-1].method == "PATCH" and calls[-1].json["content"].startswith("✅")
    assert all(TOKEN not in r.summary() for r in api.snapshot())
    # the event loop stayed responsive while the job ran (the heartbeat is never blocked)
    assert lags and max(lags) < 0.1, f"worst event-loop lag {max(lags):.3f} s"


def test_score_leaves_out_a_video_over_the_upload_limit(api: StandIn, clip: bytes) -> None:
    async def scenario() -> None:
        bot = await logged_in_bot(BotSettings(cooldown_s=0))
        try:
            api.clear()
            att = attachment(api, "clip.mp4", clip, "video/mp4")
            # a server whose upload limit fits MIDI, MP3 and image but not the video as well
            payload = interaction_payload("score", {"clip": ""}, attachments={"clip": att}, upload_limit=200_000)
            await invoke(bot, payload)
        finally:
            await bot.close()

    asyncio.run(scenario())
    (follow,) = [r for r in api.snapshot() if r.method == "POST" and r.path.startswith("/api/v10/webhooks/")]
    names = {f["filename"] for f in follow.files}
    assert names == {"clip.mid", "clip_music.mp3", "timeline.png"}
    assert sum(len(f["data"]) for f in follow.files) <= 200_000
    assert "scored video" in follow.json["content"] and "left out" in follow.json["content"]
    assert "0.2 MiB" in follow.json["content"]


def test_results_go_to_the_channel_when_the_interaction_has_expired(api: StandIn) -> None:
    async def scenario() -> None:
        bot = await logged_in_bot(BotSettings(cooldown_s=0))
        try:
            api.clear()
            payload = interaction_payload("compose", {"quadrant": "Q3", "bars": 2, "seed": 7}, user_id=77)
            api.expired_tokens.add(payload["token"])  # Discord answers 401 once the 15 minutes are over
            await invoke(bot, payload)
        finally:
            await settle()
            await bot.close()

    asyncio.run(scenario())
    (post,) = [
        r for r in api.snapshot() if r.method == "POST" and r.path == "/api/v10/channels/1200000000000000002/messages"
    ]
    assert post.json["content"].startswith("<@77> here are your results in the channel, because Discord no longer")
    assert post.json["allowed_mentions"]["parse"] == ["users"]  # the user is pinged; nobody else can be
    assert {f["filename"] for f in post.files} == {"Q3_seed7.mid", "Q3_seed7.mp3", "piano_roll.png"}
