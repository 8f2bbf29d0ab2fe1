"""The Discord client: settings, the command tree (/score, /compose, /help), cooldowns and the job pool.

Jobs go through the core's runner (:mod:`models.jobs.runner`): by default a local pool of worker processes that
hold a warm Engine, or Celery workers with ``--broker``. It is injectable: tests pass
``ProcessRunner(partial(Engine, debug=True))``.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

from moodscore.bots.flows import compose as run_compose
from moodscore.bots.flows import score as run_score
from moodscore.bots.replies import HELP_TEXT, MIB, clock, mib, refusal
from moodscore.models import DEFAULTS, QUADRANT_NAMES, ProcessRunner, Runner, parse_instruments

log = logging.getLogger("moodscore.discord")

SCOPES = ("bot", "applications.commands")
PERMISSIONS = discord.Permissions(send_messages=True, attach_files=True, embed_links=True)  # 51200
INSTRUMENT_CHOICES = ("piano", "piano + bass", "piano + pad", "piano + bass + pad")  # read by parse_instruments


@dataclass(frozen=True)
class BotSettings:
    """What a server owner can tune (``moodscore discord --help``)."""

    max_input_bytes: int = 50 * MIB
    max_duration_s: float = 120.0
    cooldown_s: float = 30.0
    max_jobs: int = 4  # in flight: running, waiting, or being downloaded and checked
    workers: int = 1
    upload_limit: int = 10 * MIB  # when Discord does not say what the server allows
    window_s: float = 15 * 60 - 45  # Discord's interaction window is 15 minutes; keep a margin
    progress_every_s: float = 2.0
    queue_every_s: float = 15.0  # how often a waiting user's place is shown anew
    guild_id: int | None = None
    job_time_limit_s: float = 10 * 60  # a job still running after this long is stopped (its worker is replaced)
    work_dir: Path | None = None  # where per-job folders go (default: the system's; with a broker, the storage)


class Cooldowns:
    """One job per user per ``seconds`` (0 turns it off)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._started: dict[int, float] = {}

    def retry_after(self, user_id: int) -> float:
        started = self._started.get(user_id)
        return 0.0 if started is None else max(0.0, started + self.seconds - time.monotonic())

    def start(self, user_id: int) -> None:
        if self.seconds > 0:
            self._started[user_id] = time.monotonic()

    def forget(self, user_id: int) -> None:
        self._started.pop(user_id, None)


class MoodscoreBot(discord.Client):
    def __init__(
        self,
        settings: BotSettings | None = None,
        *,
        runner: Runner | None = None,
    ) -> None:
        super().__init__(intents=discord.Intents(guilds=True))  # slash commands need no privileged intents
        self.settings = settings or BotSettings()
        s = self.settings
        self._owns_runner = runner is None
        self.runner = runner or ProcessRunner(
            workers=s.workers, max_queue=max(0, s.max_jobs - s.workers), time_limit=s.job_time_limit_s, warm=False
        )
        self.cooldowns = Cooldowns(s.cooldown_s)
        self.preparing = 0  # accepted jobs still downloading or being probed
        self.tree = app_commands.CommandTree(self)
        self.tree.on_error = self._on_command_error  # type: ignore[method-assign]
        for command in build_commands():
            self.tree.add_command(command)

    def busy(self) -> bool:
        return self.runner.in_flight + self.preparing >= self.settings.max_jobs

    def precheck(self, user_id: int) -> str | None:
        """A refusal for a user on cooldown or when every job slot is taken; None when a job may start."""
        wait = self.cooldowns.retry_after(user_id)
        if wait > 0:
            return f"Slow down a little: you can start another job in {wait:.0f} s."
        if self.busy():
            return (
                f"moodscore is busy: {self.settings.max_jobs} jobs are already running or waiting. "
                "Please try again in a few minutes."
            )
        return None

    async def setup_hook(self) -> None:
        guild_id = self.settings.guild_id
        if guild_id is not None:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to guild %s (available at once)", len(synced), guild_id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d commands globally (Discord may take a while to show them)", len(synced))
        # what was made while starting (modules, discord.py's tables) lives as long as the bot: out of the garbage
        # collector's full passes, which would otherwise walk it all and stall the event loop (measured: 123 ms)
        gc.freeze()

    async def on_ready(self) -> None:
        log.info("logged in as %s; /score and /compose are ready", self.user)
        if self.application_id is not None:
            url = discord.utils.oauth_url(self.application_id, permissions=PERMISSIONS, scopes=SCOPES)
            log.info("invite the bot to a server with %s", url)

    async def close(self) -> None:
        if self._owns_runner:
            self.runner.shutdown()
        await super().close()

    async def _on_command_error(
        self, interaction: discord.Interaction[discord.Client], error: app_commands.AppCommandError
    ) -> None:
        log.error("command failed: %s", getattr(interaction.command, "name", "?"), exc_info=error)
        text = refusal("Something went wrong on our side; it has been logged. Please try again later.")
        with contextlib.suppress(discord.HTTPException):
            if interaction.response.is_done():
                await interaction.edit_original_response(content=text, attachments=[], embed=None)
            else:
                await interaction.response.send_message(text, ephemeral=True)


def build_commands() -> list[app_commands.Command[Any, ..., None]]:
    """Fresh command objects (one set per bot)."""

    @app_commands.command(name="score", description="Compose music that follows the emotions in a video clip")
    @app_commands.describe(
        clip="A video (or audio) clip: MP4, MOV, WebM, MKV, AVI, MP3, WAV, M4A, OGG or FLAC",
        tempo="Tempo of the music in beats per minute (default: the one the emotion suggests)",
        instruments="Which parts to play (default piano)",
        stems="Also the stems: a WAV per part and the mix, zipped, for a DAW (default no)",
    )
    @app_commands.choices(instruments=[app_commands.Choice(name=k, value=k) for k in INSTRUMENT_CHOICES])
    async def score(
        interaction: discord.Interaction[MoodscoreBot],
        clip: discord.Attachment,
        tempo: app_commands.Range[int, 40, 240] | None = None,  # DEFAULTS.tempo: the emotion's
        instruments: str = " + ".join(DEFAULTS.instruments),
        stems: bool = False,
    ) -> None:
        parts = parse_instruments(instruments)
        await run_score(interaction, clip, tempo=tempo, instruments=parts, stems=stems)

    @app_commands.command(name="compose", description="Compose new piano music in one emotion (quadrant Q1 to Q4)")
    @app_commands.describe(
        quadrant="The emotion: Q1 happy, Q2 tense, Q3 sad, Q4 calm",
        bars=f"Length in bars of 4/4 (default {DEFAULTS.bars})",
        tempo="Tempo in beats per minute (default: the one the emotion suggests)",
        key="A key such as 'C major' or 'A minor', or 'auto' (default)",
        seed=f"The same seed gives the same music (default {DEFAULTS.seed}; another seed, other music)",
    )
    @app_commands.choices(
        quadrant=[app_commands.Choice(name=f"{q} {name}", value=q) for q, name in QUADRANT_NAMES.items()]
    )
    async def compose(
        interaction: discord.Interaction[MoodscoreBot],
        quadrant: str,
        bars: app_commands.Range[int, 1, 64] = DEFAULTS.bars,
        tempo: app_commands.Range[int, 40, 240] | None = None,  # DEFAULTS.tempo: the emotion's
        key: app_commands.Range[str, 1, 24] = DEFAULTS.key,
        seed: app_commands.Range[int, 0, 1_000_000_000] = DEFAULTS.seed,
    ) -> None:
        await run_compose(interaction, quadrant, bars=bars, tempo=tempo, key=key, seed=seed)

    @app_commands.command(name="help", description="What /score and /compose do, and this server's limits")
    async def help_(interaction: discord.Interaction[MoodscoreBot]) -> None:
        s = interaction.client.settings
        text = HELP_TEXT.format(
            max_mb=mib(s.max_input_bytes),
            max_s=clock(s.max_duration_s),
            cooldown=f"{s.cooldown_s:g} s",
            max_jobs=s.max_jobs,
        )
        embed = discord.Embed(title="moodscore: music from the emotions in a clip", description=text)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    return [score, compose, help_]
