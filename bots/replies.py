"""What the bot says: refusal lines, progress lines, result embeds, and which files fit in one upload.

Plain functions of plain values (no network), so the wording a user sees is defined in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import discord

from moodscore.models import QUADRANT_COLOURS, QUADRANT_NAMES, Piece, ScoreSummary, SegmentSummary

SQUARES = {"Q1": "🟨", "Q2": "🟥", "Q3": "🟦", "Q4": "🟩"}  # the same hues as QUADRANT_COLOURS
MAX_SEGMENT_LINES = 20
MIB = 1024 * 1024


def mib(n: float) -> str:
    return f"{n / MIB:.1f} MiB"


def clock(seconds: float) -> str:
    whole = max(0, round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def colour(quadrant: str) -> discord.Colour:
    return discord.Colour.from_str(QUADRANT_COLOURS.get(quadrant, "#888888"))


def refusal(text: str) -> str:
    return f"❌ {text}"


def progress_line(command: str, fraction: float, message: str) -> str:
    bar = "█" * round(10 * fraction) + "░" * (10 - round(10 * fraction))
    return f"⏳ `/{command}` {bar} {round(100 * fraction)}% · {message}"


def queued_line(command: str, place: int) -> str:
    return f"🕒 `/{command}` is queued: you are number {place} in the queue; it starts when a worker is free."


def dominant_quadrant(segments: Sequence[SegmentSummary]) -> str:
    """The quadrant that covers most of the clip's time."""
    totals: dict[str, float] = {}
    for s in segments:
        totals[s.quadrant] = totals.get(s.quadrant, 0.0) + s.end_s - s.start_s
    return max(totals, key=lambda q: totals[q]) if totals else "Q4"


def segment_lines(segments: Sequence[SegmentSummary]) -> list[str]:
    lines = []
    for s in segments[:MAX_SEGMENT_LINES]:
        q = s.quadrant
        lines.append(
            f"{SQUARES.get(q, '⬜')} `{clock(s.start_s)}–{clock(s.end_s)}` **{q}** {QUADRANT_NAMES.get(q, '')}"
            f" · {s.label} · {round(100 * s.confidence)}%"
        )
    if len(segments) > MAX_SEGMENT_LINES:
        lines.append(f"… and {len(segments) - MAX_SEGMENT_LINES} more segments (see the timeline image)")
    return lines


def score_embed(summary: ScoreSummary, clip_name: str, image_name: str | None) -> discord.Embed:
    """The emotion timeline of a scored clip: one line per segment, coloured by the dominant quadrant."""
    segments = summary.segments
    embed = discord.Embed(
        title=f"🎹 moodscore: {clip_name}"[:256],
        description="\n".join(segment_lines(segments)),
        colour=colour(dominant_quadrant(segments)),
    )
    embed.add_field(name="Length", value=clock(summary.duration_s))
    embed.add_field(name="Music", value=f"{summary.key} · {summary.tempo:g} BPM · {summary.bars} bars")
    embed.add_field(name="Instruments", value=", ".join(summary.instruments))
    for warning in summary.warnings[:2]:
        embed.add_field(name="⚠ Warning", value=str(warning)[:1024], inline=False)
    if image_name:
        embed.set_image(url=f"attachment://{image_name}")
    embed.set_footer(text="Q1 happy/excited · Q2 tense/angry · Q3 sad/low · Q4 calm/content")
    return embed


def compose_embed(quadrant: str, piece: Piece, tempo: float, image_name: str | None) -> discord.Embed:
    embed = discord.Embed(
        title=f"🎹 {SQUARES.get(quadrant, '')} {quadrant}: {QUADRANT_NAMES.get(quadrant, '')}",
        colour=colour(quadrant),
    )
    embed.add_field(name="Key", value=piece.key)
    embed.add_field(name="Tempo", value=f"{tempo:g} BPM")
    embed.add_field(name="Bars", value=str(len(piece.bar_quadrants)))
    embed.add_field(name="Seed", value=str(piece.seed))
    if image_name:
        embed.set_image(url=f"attachment://{image_name}")
    return embed


@dataclass(frozen=True)
class Upload:
    """A file to attach: where it is, the name Discord shows, and what it is (for a 'left out' line)."""

    path: Path
    name: str
    what: str

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def fit_uploads(candidates: Sequence[Upload], limit: int) -> tuple[list[Upload], list[Upload]]:
    """Keep files in order of importance while their total stays within ``limit`` bytes; return (kept, left out).

    The total is checked, not each file, so one message never exceeds the limit whichever way Discord counts.
    """
    kept: list[Upload] = []
    left: list[Upload] = []
    total = 0
    for up in candidates:
        if total + up.size <= limit:
            kept.append(up)
            total += up.size
        else:
            left.append(up)
    return kept, left


def left_out_lines(left: Sequence[Upload], limit: int) -> list[str]:
    return [
        f"⚠️ The {u.what} ({mib(u.size)}) is left out: with it the upload would pass"
        f" this server's limit of {mib(limit)}."
        for u in left
    ]


def files_for(uploads: Sequence[Upload]) -> list[discord.File]:
    """Fresh discord.File objects (a File is spent once sent, so a retry needs new ones)."""
    return [discord.File(u.path, filename=u.name) for u in uploads]


HELP_TEXT = """\
**/score** `clip` `[tempo]` `[instruments]` `[stems]`: attach a video (or audio) clip; moodscore reads the faces \
and voices in it, follows the emotion over time and composes piano music that follows it, its bars on the \
clip's cuts. You get the emotion timeline, the MIDI, the music as MP3, the clip with its new score as MP4 (when \
it fits this server's upload limit), a picture of the timeline and, with `stems`, a zip of a WAV per part and \
the mix for a DAW.
**/compose** `quadrant` `[bars]` `[tempo]` `[key]` `[seed]`: new piano music in one emotion. You get MIDI, \
MP3 and a piano-roll picture. The same seed gives the same music.
Quadrants: 🟨 **Q1** happy/excited · 🟥 **Q2** tense/angry · 🟦 **Q3** sad/low · 🟩 **Q4** calm/content.
Limits here: clips up to {max_mb} and {max_s}; one job per person every {cooldown}; at most {max_jobs} jobs \
at a time (you are told your place in the queue)."""
