"""The front ends with jobs on Celery workers (real redis-server, real ``moodscore worker`` processes): the Discord
bot's /score and /compose (its real discord.py code against the stand-in API), the web page's API and the OSC
bridge, each sending its jobs through Redis and getting the files back through the shared storage."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pretty_midi
import pytest
from discord_payloads import attachment, interaction_payload, invoke, logged_in_bot
from discord_standin import StandIn

from moodscore.bots.app import BotSettings
from moodscore.models.jobs.celery import CeleryRunner


@pytest.fixture
def runner(celery_broker: str, celery_storage: Path, celery_worker: Any) -> Iterator[CeleryRunner]:
    r = CeleryRunner(celery_broker, storage=celery_storage, max_queue=20)
    yield r
    r.shutdown()


def test_the_bot_scores_and_composes_on_celery_workers(
    api: StandIn, clip: bytes, runner: CeleryRunner, celery_storage: Path
) -> None:
    settings = BotSettings(progress_every_s=0.2, cooldown_s=0, work_dir=celery_storage)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        bot = await logged_in_bot(settings, runner=runner)  # type: ignore[arg-type]
        try:
            att = attachment(api, "party.mp4", clip, "video/mp4")
            scored = interaction_payload("score", {"clip": "", "tempo": 96}, attachments={"clip": att}, user_id=1)
            composed = interaction_payload("compose", {"quadrant": "Q4", "bars": 4, "seed": 9}, user_id=2)
            await invoke(bot, scored, timeout=180)
            await invoke(bot, composed, timeout=180)
            return scored, composed
        finally:
            await bot.close()

    scored, composed = asyncio.run(scenario())
    for payload, expected in (
        (scored, {"party.mid", "party_music.mp3", "timeline.png", "party_scored.mp4"}),
        (composed, {"Q4_seed9.mid", "Q4_seed9.mp3", "piano_roll.png"}),
    ):
        calls = [r for r in api.snapshot() if f"/{payload['token']}" in r.path]
        progress = [r.json["content"] for r in calls if r.method == "PATCH" and r.json["content"].startswith("⏳")]
        assert progress, [r.summary() for r in calls]
        (follow,) = [r for r in calls if r.method == "POST" and r.path.startswith("/api/v10/webhooks/")]
        files = {f["filename"]: f["data"] for f in follow.files}
        assert set(files) == expected
        mid = next(data for name, data in files.items() if name.endswith(".mid"))
        assert sum(len(i.notes) for i in pretty_midi.PrettyMIDI(io.BytesIO(mid)).instruments) > 0
    assert not [p for p in celery_storage.glob("moodscore-discord-*")], "the bot's job folders were removed"


def test_the_bot_shows_the_queue_place_while_no_worker_is_free(
    api: StandIn, celery_broker: str, celery_storage: Path
) -> None:
    # a Redis database no worker listens on: the job waits in the queue
    idle = CeleryRunner(celery_broker.replace("/0", "/7"), storage=celery_storage)
    settings = BotSettings(progress_every_s=0.2, cooldown_s=0, work_dir=celery_storage)

    async def scenario() -> dict[str, Any]:
        bot = await logged_in_bot(settings, runner=idle)  # type: ignore[arg-type]
        payload = interaction_payload("compose", {"quadrant": "Q1", "bars": 2}, user_id=3)
        try:
            bot._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
            for _ in range(100):
                await asyncio.sleep(0.1)
                edits = [r for r in api.snapshot() if f"/{payload['token']}" in r.path and r.method == "PATCH"]
                if edits:
                    break
        finally:
            idle.shutdown()  # the waiting job is revoked; the user is told
            await asyncio.sleep(0.5)
            await bot.close()
        return payload

    payload = asyncio.run(scenario())
    edits = [r.json["content"] for r in api.snapshot() if f"/{payload['token']}" in r.path and r.method == "PATCH"]
    assert edits and "you are number 1 in the queue" in edits[0], edits


def test_the_web_page_runs_its_jobs_on_celery_workers(runner: CeleryRunner, celery_storage: Path) -> None:
    from gradio_client import Client

    from moodscore.web.jobs import WebSettings
    from moodscore.web.ui import build_app, launch_options

    settings = WebSettings(max_jobs=1, max_queue=2, max_upload_mb=5, max_seconds=30)
    demo = build_app(settings=settings, runner=runner, storage=celery_storage)
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True, **launch_options(settings)
    )
    try:
        root = demo.moodscore_jobs.root
        assert root.is_relative_to(celery_storage)
        client = Client(url, verbose=False, download_files=True)
        out = client.predict("quadrant", "Q3", 0.0, 0.0, 2, 90, "A minor", [], 4, 1, api_name="/compose")
        downloads = out[-2]
        names = sorted(Path(f).name for f in downloads)
        assert names == ["Q3_seed4.mid", "Q3_seed4.wav", "compose.json"]
        assert pretty_midi.PrettyMIDI(str(next(f for f in downloads if f.endswith(".mid")))).instruments
    finally:
        demo.close()
        demo.moodscore_jobs.close()
    assert not root.exists()


def test_the_bridge_composes_on_celery_workers(runner: CeleryRunner, celery_storage: Path) -> None:
    from osc_helpers import Peer

    from moodscore.bridge.server import BridgeServer

    with (
        BridgeServer(runner=runner, host="127.0.0.1", port=0, out_dir=celery_storage / "bridge") as bridge,
        Peer() as peer,
    ):
        peer.send(bridge.address, "/moodscore/compose", "r1", "quadrant", "Q2", "bars", 2, "seed", 4)
        replies = peer.until("r1", 120)
    assert replies[-1] == ("/moodscore/done", ["r1", "compose", 1]), replies[-3:]
    (piece,) = [a for addr, a in replies if addr == "/moodscore/piece"]
    path = Path(piece[8])
    assert path.is_relative_to(celery_storage / "bridge") and path.read_bytes() == piece[9]
    notes = [a for addr, a in replies if addr == "/moodscore/notes"]
    assert sum((len(a) - 3) // 4 for a in notes) == piece[6] > 0


def test_the_bridge_reports_the_queue_place_while_no_worker_is_free(celery_broker: str, celery_storage: Path) -> None:
    from osc_helpers import Peer

    from moodscore.bridge.server import BridgeServer

    idle = CeleryRunner(celery_broker.replace("/0", "/8"), storage=celery_storage)  # no worker listens here
    try:
        with (
            BridgeServer(runner=idle, host="127.0.0.1", port=0, out_dir=celery_storage / "bridge-idle") as bridge,
            Peer() as peer,
        ):
            peer.send(bridge.address, "/moodscore/compose", "q1", "quadrant", "Q1", "bars", 2)
            got = peer.receive(timeout=10, quiet=2.0)
    finally:
        idle.shutdown()
    progress = [args for address, args in got if address == "/moodscore/progress"]
    assert any("number 1 in the queue" in args[2] for args in progress), got
