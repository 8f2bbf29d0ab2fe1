"""The life of one /score or /compose: check, defer, download and probe, run in the pool, report, deliver.

Everything slow runs off the event loop (the job on the core's runner: a local worker process or a Celery
worker; the probe in a thread), so the gateway heartbeat never waits on a job. Replies go through the
interaction while its 15-minute window is open and to the channel after that, saying why.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import aiohttp
import discord

from moodscore.bots import replies
from moodscore.bots.replies import Upload, refusal
from moodscore.models import (
    ComposeRequest,
    Job,
    MediaLimits,
    MoodscoreError,
    TaskResult,
    compose_params,
    probe,
    safe_stem,
    score_params,
)

if TYPE_CHECKING:
    from moodscore.bots.app import MoodscoreBot

log = logging.getLogger("moodscore.discord")

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi")
AUDIO_EXTENSIONS = (".mp3", ".wav", ".m4a", ".ogg", ".flac", ".aac", ".opus")
NETWORK_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)  # Discord unreachable or the connection dropped
EXPIRED_STATUSES = (401, 404)  # an expired interaction token: "Invalid Webhook Token" / "Unknown Webhook"
OOPS = "Something went wrong on our side; it has been logged. Please try again later."

Interaction: TypeAlias = "discord.Interaction[MoodscoreBot]"


class Progress:
    """The latest (fraction, message) a job reported; read by the event loop (a tuple swap is atomic)."""

    def __init__(self) -> None:
        self.value: tuple[float, str] = (0.0, "starting")

    def __call__(self, fraction: float, message: str) -> None:
        self.value = (min(max(float(fraction), 0.0), 1.0), str(message)[:100])


def check_attachment(clip: discord.Attachment, max_bytes: int) -> str | None:
    """A refusal for an attachment of the wrong type or size, decided from Discord's metadata alone."""
    name = discord.utils.escape_markdown(clip.filename)[:80]
    ext = Path(clip.filename).suffix.lower()
    ctype = (clip.content_type or "").split(";")[0].strip().lower()
    if ext not in VIDEO_EXTENSIONS + AUDIO_EXTENSIONS or (ctype and not ctype.startswith(("video/", "audio/"))):
        kinds = ", ".join(e[1:].upper() for e in VIDEO_EXTENSIONS + AUDIO_EXTENSIONS)
        return f"{name} is not a video or audio clip ({ctype or 'unknown type'}). Attach one of: {kinds}."
    if clip.size > max_bytes:
        return f"{name} is {replies.mib(clip.size)}; clips may be at most {replies.mib(max_bytes)}."
    return None


def expired(interaction: Interaction) -> bool:
    window = datetime.timedelta(seconds=interaction.client.settings.window_s)
    return discord.utils.utcnow() >= interaction.created_at + window


async def refuse(interaction: Interaction, text: str) -> None:
    """Answer with a refusal: a private reply before deferring, an edit of the deferred reply after."""
    try:
        if interaction.response.is_done():
            if not expired(interaction):
                await interaction.edit_original_response(content=refusal(text))
            elif interaction.channel is not None and hasattr(interaction.channel, "send"):
                note = "(posted here because Discord's 15-minute window for a reply had closed)"
                await interaction.channel.send(
                    f"{interaction.user.mention} {refusal(text)} {note}",
                    allowed_mentions=discord.AllowedMentions(users=True, everyone=False, roles=False),
                )
        else:
            await interaction.response.send_message(refusal(text), ephemeral=True)
    except discord.HTTPException as exc:
        log.warning("could not send a refusal (HTTP %s)", exc.status)
    except NETWORK_ERRORS as exc:
        log.warning("could not send a refusal (%s)", type(exc).__name__)


async def edit(interaction: Interaction, text: str) -> None:
    if expired(interaction):
        return
    try:
        await interaction.edit_original_response(content=text)
    except discord.HTTPException as exc:
        log.warning("could not edit the progress reply (HTTP %s)", exc.status)
    except NETWORK_ERRORS as exc:
        log.warning("could not edit the progress reply (%s)", type(exc).__name__)


async def watch(interaction: Interaction, command: str, job: Job, progress: Progress) -> Any:
    """Wait for ``job`` without blocking the loop, showing the queue place or the progress; return its result."""
    settings = interaction.client.settings
    future = asyncio.wrap_future(job.future)
    shown, shown_at, place = None, -math.inf, 0
    while not future.done():
        # (a Celery runner's place comes from its last look at Redis; a local one's is counted here)
        place = job.position()
        text = replies.queued_line(command, place) if place >= 1 else replies.progress_line(command, *progress.value)
        now = time.monotonic()
        # a place in a long queue changes with every job that ends: it is shown anew at most every queue_every_s
        # (a server with a thousand waiting users would otherwise send Discord hundreds of edits a second)
        if text != shown and (place < 1 or shown is None or now - shown_at >= settings.queue_every_s):
            await edit(interaction, text)
            shown, shown_at = text, now
        await asyncio.wait([future], timeout=settings.progress_every_s)
    return future.result()


def upload_limit(interaction: Interaction) -> int:
    """What this server lets the bot upload: Discord says per interaction; else the guild's; else the default."""
    limit = getattr(interaction, "filesize_limit", None) or (interaction.guild and interaction.guild.filesize_limit)
    return int(limit or interaction.client.settings.upload_limit)


async def deliver(interaction: Interaction, content: str, embed: discord.Embed, uploads: list[Upload]) -> None:
    """Send the results as the interaction's follow-up, or to the channel once the interaction has expired."""
    reason = "this job took longer than the 15 minutes Discord gives a bot to answer a command"
    if not expired(interaction):
        try:
            await interaction.followup.send(content=content, embed=embed, files=replies.files_for(uploads), wait=True)
        except discord.HTTPException as exc:
            if exc.status not in EXPIRED_STATUSES:
                log.warning("Discord refused the results (HTTP %s %s)", exc.status, exc.code)
                await refuse(interaction, f"Discord did not accept the results (HTTP {exc.status}).")
                return
            reason = "Discord no longer accepted a reply to the command (its 15-minute window had closed)"
        else:
            await edit(interaction, "✅ Done: the results are below.")
            return
    channel = interaction.channel
    if channel is None or not hasattr(channel, "send"):
        log.warning("the interaction expired and there is no channel to post the results to")
        return
    note = f"{interaction.user.mention} here are your results in the channel, because {reason}."
    await channel.send(
        content=f"{note}\n{content}".strip(),
        embed=embed,
        files=replies.files_for(uploads),
        allowed_mentions=discord.AllowedMentions(users=True, everyone=False, roles=False),
    )


async def run(
    interaction: Interaction,
    command: str,
    prepare: Callable[[Path], Any],
    finish: Callable[[TaskResult, Path], Any],
) -> None:
    """Defer, prepare the job's options and inputs in a folder of our own, run it on the bot's runner, then
    ``finish`` with its result."""
    bot = interaction.client
    user_id = interaction.user.id
    await interaction.response.defer(thinking=True)
    bot.cooldowns.start(user_id)
    bot.preparing += 1
    folder = Path(tempfile.mkdtemp(prefix="moodscore-discord-", dir=bot.settings.work_dir))
    job: Job | None = None
    try:
        progress = Progress()
        try:
            params = await prepare(folder)
            # (off the loop: a Celery runner talks to Redis)
            job = await asyncio.to_thread(bot.runner.submit, command, params, folder, progress=progress)
        finally:
            bot.preparing -= 1
        result = await watch(interaction, command, job, progress)
        await finish(result, folder)
    except MoodscoreError as exc:  # the user's input, a full queue, a model that failed to load
        if job is None:
            bot.cooldowns.forget(user_id)  # refused before any work: let them try again at once
        await refuse(interaction, exc.public_message)
    except Exception:
        log.exception("/%s failed", command)
        await refuse(interaction, OOPS)
    finally:
        if job is not None and not job.future.done():  # we were cancelled: clean up when the job ends
            job.future.add_done_callback(lambda _: shutil.rmtree(folder, ignore_errors=True))
        else:
            shutil.rmtree(folder, ignore_errors=True)


async def score(
    interaction: Interaction,
    clip: discord.Attachment,
    *,
    tempo: int | None,
    instruments: tuple[str, ...],
    stems: bool = False,
) -> None:
    bot = interaction.client
    s = bot.settings
    problem = bot.precheck(interaction.user.id) or check_attachment(clip, s.max_input_bytes)
    if problem:
        await refuse(interaction, problem)
        return
    limits = MediaLimits(max_duration_s=s.max_duration_s, max_bytes=s.max_input_bytes)
    stem = safe_stem(clip.filename)

    async def prepare(folder: Path) -> dict[str, Any]:
        path = folder / f"{stem}{Path(clip.filename).suffix.lower()}"
        await clip.save(path)
        await asyncio.to_thread(probe, path, limits=limits)
        return score_params(path.name, tempo=tempo, instruments=instruments, limits=limits, stems=stems)

    async def finish(result: TaskResult, folder: Path) -> None:
        files = result.files
        candidates = [
            Upload(files["midi"], f"{stem}.mid", "MIDI file"),
            Upload(files["mp3"], f"{stem}_music.mp3", "music"),
            Upload(files["plot"], "timeline.png", "timeline image"),
        ]
        if "video" in files:
            candidates.append(Upload(files["video"], f"{stem}_scored{Path(files['video']).suffix}", "scored video"))
        if "stems_zip" in files:
            candidates.append(Upload(files["stems_zip"], f"{stem}_stems.zip", "stems"))
        limit = upload_limit(interaction)
        kept, left = replies.fit_uploads(candidates, limit)
        image = "timeline.png" if any(u.name == "timeline.png" for u in kept) else None
        embed = replies.score_embed(result.score, discord.utils.escape_markdown(clip.filename)[:80], image)
        await deliver(interaction, "\n".join(replies.left_out_lines(left, limit)), embed, kept)

    await run(interaction, "score", prepare, finish)


async def compose(
    interaction: Interaction, quadrant: str, *, bars: int, tempo: int | None, key: str, seed: int
) -> None:
    bot = interaction.client
    problem = bot.precheck(interaction.user.id)
    try:
        request = ComposeRequest(
            emotion=quadrant, bars=bars, tempo=None if tempo is None else float(tempo), key=key, seed=seed
        )
    except MoodscoreError as exc:
        problem = problem or exc.public_message
    if problem:
        await refuse(interaction, problem)
        return

    async def prepare(folder: Path) -> dict[str, Any]:
        return compose_params(request, extras=("mp3", "png"))

    async def finish(result: TaskResult, folder: Path) -> None:
        piece = result.composed.pieces[0]
        made = folder / "out" / Path(piece.midi).stem
        name = f"{request.emotion}_seed{request.seed}"
        candidates = [
            Upload(made.with_suffix(".mid"), f"{name}.mid", "MIDI file"),
            Upload(made.with_suffix(".mp3"), f"{name}.mp3", "music"),
            Upload(made.with_suffix(".png"), "piano_roll.png", "piano-roll image"),
        ]
        limit = upload_limit(interaction)
        kept, left = replies.fit_uploads(candidates, limit)
        image = "piano_roll.png" if any(u.name == "piano_roll.png" for u in kept) else None
        tempo_bpm = result.composed.request.tempo  # the request's, or the emotion's suggestion
        embed = replies.compose_embed(str(request.emotion), piece, tempo_bpm, image)
        await deliver(interaction, "\n".join(replies.left_out_lines(left, limit)), embed, kept)

    await run(interaction, "compose", prepare, finish)
