"""Event handlers: page inputs -> a core job -> component values. No model or music logic lives here."""

from __future__ import annotations

import html
import os
import shutil
from pathlib import Path
from typing import Any

from models import QUADRANT_COLOURS, QUADRANT_NAMES, ComposeRequest, MoodscoreError, piano_roll_png, safe_stem
from models.tasks import compose_params, score_params

from .jobs import ProgressFn, UserFacingError, WebJobs, trusted_upload

MAX_VARIATIONS = 8  # the core's limit; the page has this many result slots
SCORE_DOWNLOADS = ("midi", "audio", "mp3", "video", "timeline", "summary", "stems_zip")
STEMS = "stems (zip)"  # the score tab's extra that asks for the stems


def instruments_of(extra: list[str] | None) -> tuple[str, ...]:
    """Piano always plays; the checkboxes add bass and pad."""
    return ("piano", *[i for i in ("bass", "pad") if i in (extra or [])])


def chip(quadrant: str) -> str:
    colour = QUADRANT_COLOURS.get(quadrant, "#999999")
    return f'<span class="ms-chip" style="background:{colour}">{html.escape(quadrant)}</span>'


def evidence_html(modalities: tuple[str, ...]) -> str:
    """Which modalities the emotion came from; a clear note when there was neither a face nor speech."""
    if not modalities:
        return "<p>No face and no speech were found in this clip: the music follows a neutral guess.</p>"
    return f"<p>Emotion read from: {html.escape(' and '.join(modalities))}.</p>"


def score_summary_html(summary: dict[str, Any], modalities: tuple[str, ...] = ()) -> str:
    """The segments of a scored clip as a small coloured list (quadrant chips), and the evidence used."""
    rows = "".join(
        f"<li>{chip(s['quadrant'])} {s['start_s']:.1f}-{s['end_s']:.1f} s: {html.escape(str(s['label']))}"
        f" ({QUADRANT_NAMES.get(s['quadrant'], '')}, confidence {s['confidence']:.2f})</li>"
        for s in summary.get("segments", [])
    )
    head = (
        f"<p><b>{html.escape(str(summary.get('clip', '')))}</b>: {summary.get('duration_s', 0):.1f} s, "
        f"{summary.get('bars', '?')} bars at {summary.get('tempo', 0):g} BPM in {html.escape(str(summary.get('key')))}"
        "</p>"
    )
    warnings = "".join(f'<p class="ms-warning">⚠ {html.escape(str(w))}</p>' for w in summary.get("warnings", []))
    return f'<div class="ms-summary">{head}{warnings}{evidence_html(modalities)}<ul>{rows}</ul></div>'


class Handlers:
    """The functions the page's buttons call; each runs its job on the shared runner."""

    def __init__(self, jobs: WebJobs, *, uploads: str) -> None:
        self.jobs, self.uploads = jobs, uploads

    def score(
        self,
        clip: str | None,
        tempo: float,
        key: str,
        extra: list[str] | None,
        seed: float,
        progress: ProgressFn | None = None,
    ) -> tuple[str, str, str | None, list[str], str]:
        """Score an uploaded clip: (timeline plot, music mp3, scored video or None, downloads, summary HTML)."""
        src = trusted_upload(clip, uploads=self.uploads)
        folder = self.jobs.new_folder()
        local = folder / f"{safe_stem(src.name)}{src.suffix.lower()[:10]}"
        share(src, local)
        params = score_params(
            local.name,
            tempo=float(tempo),
            instruments=instruments_of(extra),
            key=str(key or "auto"),
            seed=int(seed or 0),
            name=src.name,
            limits=self.jobs.settings.limits,
            stems=STEMS in (extra or []),
        )
        result = self.jobs.run("score", params, folder, progress=progress)
        files = result.files
        downloads = [str(files[k]) for k in SCORE_DOWNLOADS if k in files]
        video = str(files["video"]) if "video" in files else None
        return (
            str(files["plot"]),
            str(files["mp3"]),
            video,
            downloads,
            score_summary_html(result.summary, result.modalities),
        )

    def compose(
        self,
        mode: str,
        quadrant: str,
        valence: float,
        arousal: float,
        bars: float,
        tempo: float,
        key: str,
        extra: list[str] | None,
        seed: float,
        variations: float,
        progress: ProgressFn | None = None,
    ) -> list[Any]:
        """Compose without a video: [audio x 8, piano roll x 8, downloads, summary HTML]; unused slots None."""
        emotion: str | tuple[float, float] = (
            (float(valence), float(arousal)) if mode == "valence / arousal point" else str(quadrant)
        )
        try:
            request = ComposeRequest(
                emotion=emotion,
                bars=int(bars),
                tempo=float(tempo),
                key=str(key or "auto"),
                instruments=instruments_of(extra),
                seed=int(seed or 0),
                variations=int(variations),
            )
        except MoodscoreError as exc:
            raise UserFacingError(exc.public_message, "Invalid option") from None
        folder = self.jobs.new_folder()
        result = self.jobs.run("compose", compose_params(request), folder, progress=progress)
        out = folder / "out"
        pieces = result.summary["pieces"]
        audios: list[str | None] = [None] * MAX_VARIATIONS
        rolls: list[str | None] = [None] * MAX_VARIATIONS
        for i, piece in enumerate(pieces[:MAX_VARIATIONS]):
            audios[i] = str(out / piece["audio"])
            rolls[i] = str(self._roll(out / piece["midi"], f"variation {i + 1}: seed {piece['seed']}"))
        items = "".join(
            f"<li>variation {i + 1}: {' '.join(chip(q) for q in dict.fromkeys(p['bar_quadrants']))} "
            f"seed {p['seed']}, {html.escape(str(p['key']))}, {p['duration_s']:.1f} s</li>"
            for i, p in enumerate(pieces)
        )
        summary = f'<div class="ms-summary"><ul>{items}</ul></div>'
        return [*audios, *rolls, [str(f) for f in result.files.values()], summary]

    @staticmethod
    def _roll(midi_path: Path, title: str) -> Path:
        import pretty_midi

        try:
            midi = pretty_midi.PrettyMIDI(str(midi_path))
            return piano_roll_png(midi, midi_path.with_suffix(".png"), title=title)
        except MoodscoreError as exc:
            raise UserFacingError(exc.public_message) from None


def share(src: Path, dest: Path) -> None:
    """Put the upload into the job's folder: a hard link where both are on one file system, else a copy."""
    try:
        os.link(src, dest)
    except OSError:
        try:
            shutil.copyfile(src, dest)
        except OSError as exc:
            raise UserFacingError(f"the upload could not be prepared: {exc.strerror or exc}") from None
