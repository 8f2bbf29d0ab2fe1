"""Event handlers: page inputs -> a core job -> component values. No model or music logic lives here."""

from __future__ import annotations

import html
import os
import shutil
from pathlib import Path
from typing import Any

from moodscore.models import (  # (MAX_VARIATIONS: the page has as many result slots)
    DEFAULTS,
    MAX_SEED,
    MAX_VARIATIONS,
    QUADRANT_COLOURS,
    QUADRANT_NAMES,
    ComposeRequest,
    MoodscoreError,
    ScoreSummary,
    compose_params,
    parse_instruments,
    piano_roll_png,
    rescore_params,
    safe_stem,
    score_params,
)
from moodscore.web.jobs import ProgressFn, UserFacingError, WebJobs, trusted_upload

SCORE_DOWNLOADS = ("midi", "audio", "mp3", "video", "timeline", "summary", "stems_zip")
STEMS = "stems (zip)"  # the score tab's extra that asks for the stems


def instruments_of(extra: list[str] | None) -> tuple[str, ...]:
    """Piano always plays; the checkboxes add bass and pad."""
    return parse_instruments(["piano", *[i for i in ("bass", "pad") if i in (extra or [])]])


def chip(quadrant: str) -> str:
    colour = QUADRANT_COLOURS.get(quadrant, "#999999")
    return f'<span class="ms-chip" style="background:{colour}">{html.escape(quadrant)}</span>'


def evidence_html(modalities: tuple[str, ...]) -> str:
    """Which modalities the emotion came from; a clear note when there was neither a face nor speech."""
    if not modalities:
        return "<p>No face and no speech were found in this clip: the music follows a neutral guess.</p>"
    return f"<p>Emotion read from: {html.escape(' and '.join(modalities))}.</p>"


def score_summary_html(summary: ScoreSummary, modalities: tuple[str, ...] = ()) -> str:
    """The segments of a scored clip as a small coloured list (quadrant chips), and the evidence used."""
    rows = "".join(
        f"<li>{chip(s.quadrant)} {s.start_s:.1f}-{s.end_s:.1f} s: {html.escape(s.label)}"
        f" ({QUADRANT_NAMES.get(s.quadrant, '')}, confidence {s.confidence:.2f})</li>"
        for s in summary.segments
    )
    head = (
        f"<p><b>{html.escape(summary.clip)}</b>: {summary.duration_s:.1f} s, "
        f"{summary.bars} bars at {summary.tempo:g} BPM in {html.escape(summary.key)}"
        "</p>"
    )
    warnings = "".join(f'<p class="ms-warning">⚠ {html.escape(str(w))}</p>' for w in summary.warnings)
    return f'<div class="ms-summary">{head}{warnings}{evidence_html(modalities)}<ul>{rows}</ul></div>'


class Handlers:
    """The functions the page's buttons call; each runs its job on the shared runner."""

    def __init__(self, jobs: WebJobs, *, uploads: str) -> None:
        self.jobs, self.uploads = jobs, uploads

    def score(
        self,
        clip: str | None,
        tempo: float | None,
        key: str,
        extra: list[str] | None,
        seed: float,
        progress: ProgressFn | None = None,
    ) -> tuple[str, str, str | None, list[str], str, dict[str, Any]]:
        """Score an uploaded clip: (timeline plot, music mp3, scored video or None, downloads, summary HTML, the
        score kept for a rescore). The last stays on the server (a ``gr.State``): the page never sends a path."""
        src = trusted_upload(clip, uploads=self.uploads)
        checked_tempo, checked_seed = optional_number(tempo, "tempo"), whole_seed(seed)  # before a folder is made
        folder = self.jobs.new_folder()
        local = folder / f"{safe_stem(src.name)}{src.suffix.lower()[:10]}"
        params = score_params(
            local.name,
            tempo=checked_tempo,
            instruments=instruments_of(extra),
            key=str(key or DEFAULTS.key),
            seed=checked_seed,
            name=src.name,
            limits=self.jobs.settings.limits,
            stems=STEMS in (extra or []),
        )
        try:
            share(src, local)
        except UserFacingError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        result = self.jobs.run("score", params, folder, progress=progress)
        kept = {"folder": folder.name, "clip": local.name, "name": src.name, **_bars_of(result.score)}
        return (*_score_outputs(result), kept)

    def rescore(
        self,
        previous: dict[str, Any] | None,
        bars: str | None,
        seed: float | None,
        progress: ProgressFn | None = None,
    ) -> tuple[str, str, str | None, list[str], str, dict[str, Any]]:
        """Write bars ``bars`` ("9-12", 1-based) of the last score again from ``seed``, every other bar as it
        was, without analysing the clip again: the same values as :meth:`score`, the new score kept in turn."""
        if not previous:
            raise UserFacingError("score a clip first: this writes some bars of its music again", "No score yet")
        first, last = bar_range(bars, int(previous.get("bars") or 0))
        new_seed = whole_seed(seed)
        folder = self.jobs.new_folder()  # (old folders are swept first: the previous one may have gone)
        before = self.jobs.folder_of(str(previous.get("folder", "")))
        if before is None:
            shutil.rmtree(folder, ignore_errors=True)
            minutes = f"{self.jobs.settings.keep_minutes:g}"
            raise UserFacingError(
                f"the last score is no longer on the server (results are kept {minutes} minutes); score the clip again",
                "No score yet",
            )
        clip = str(previous["clip"])
        try:
            share(before / clip, folder / clip)
            (folder / "scored").mkdir()
            for name in ("score.json", "timeline.json"):
                share(before / "out" / name, folder / "scored" / name)
        except UserFacingError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        params = rescore_params(
            clip,
            "scored",
            bars=(first, last),
            seed=new_seed,
            name=str(previous.get("name") or clip),
            limits=self.jobs.settings.limits,
        )
        result = self.jobs.run("rescore", params, folder, progress=progress)
        plot, mp3, video, downloads, summary = _score_outputs(result)
        note = (
            f'<p class="ms-rescored">Bars {first}-{last} written again from seed {new_seed}; '
            "every other bar is as it was.</p>"
        )
        kept = {**previous, "folder": folder.name, **_bars_of(result.score)}
        return plot, mp3, video, downloads, note + summary, kept

    def compose(
        self,
        mode: str,
        quadrant: str,
        valence: float,
        arousal: float,
        bars: float,
        tempo: float | None,
        key: str,
        extra: list[str] | None,
        seed: float,
        variations: float,
        progress: ProgressFn | None = None,
    ) -> list[Any]:
        """Compose without a video: [audio x 8, piano roll x 8, downloads, summary HTML]; unused slots None."""
        emotion: str | tuple[float, float] = (
            (number(valence, "valence"), number(arousal, "arousal"))
            if mode == "valence / arousal point"
            else str(quadrant)
        )
        try:
            request = ComposeRequest(
                emotion=emotion,
                bars=whole(bars, "bars"),
                tempo=optional_number(tempo, "tempo"),
                key=str(key or DEFAULTS.key),
                instruments=instruments_of(extra),
                seed=whole_seed(seed),
                variations=whole(variations, "variations"),
            )
        except MoodscoreError as exc:
            raise UserFacingError(exc.public_message, "Invalid option") from None
        folder = self.jobs.new_folder()
        result = self.jobs.run("compose", compose_params(request), folder, progress=progress)
        out = folder / "out"
        pieces = result.composed.pieces
        audios: list[str | None] = [None] * MAX_VARIATIONS
        rolls: list[str | None] = [None] * MAX_VARIATIONS
        for i, piece in enumerate(pieces[:MAX_VARIATIONS]):
            audios[i] = str(out / str(piece.audio))
            rolls[i] = str(self._roll(out / piece.midi, f"variation {i + 1}: seed {piece.seed}"))
        items = "".join(
            f"<li>variation {i + 1}: {' '.join(chip(q) for q in dict.fromkeys(p.bar_quadrants))} "
            f"seed {p.seed}, {html.escape(p.key)}, {p.duration_s:.1f} s</li>"
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


def _bars_of(summary: ScoreSummary) -> dict[str, Any]:
    """What the page keeps of a score for a rescore: its bars and its sections."""
    return {"bars": summary.bars, "sections": list(summary.sections)}


def _score_outputs(result: Any) -> tuple[str, str, str | None, list[str], str]:
    """A score job's result as the page shows it: plot, music, scored video (or None), downloads, summary HTML."""
    files = result.files
    downloads = [str(files[k]) for k in SCORE_DOWNLOADS if k in files]
    video = str(files["video"]) if "video" in files else None
    return (
        str(files["plot"]),
        str(files["mp3"]),
        video,
        downloads,
        score_summary_html(result.score, result.modalities),
    )


def sections_of(kept: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The choices of the page's segment picker for the kept score: (label, "first-last") per section."""
    out = []
    for s in (kept or {}).get("sections", []):
        a, b, q = s.first, s.last, s.quadrant
        out.append((f"bars {a}-{b}: {q} {QUADRANT_NAMES.get(q, '')}, {s.key}", f"{a}-{b}"))
    return out


def bar_range(text: str | None, n_bars: int) -> tuple[int, int]:
    """The bars "9-12" (or "9") as (9, 12), refused with a message unless they lie within bars 1-``n_bars``."""
    raw = str(text or "").strip()
    a, sep, b = raw.partition("-")
    if not sep:
        b = a
    if len(raw) > 20 or not (a.strip().isdecimal() and b.strip().isdecimal()):
        shown = raw if len(raw) <= 20 else raw[:20] + "..."
        raise UserFacingError(f"give the bars as FIRST-LAST, e.g. 2-3, got {shown!r}", "Which bars?")
    first, last = int(a), int(b)
    if first > last:
        raise UserFacingError(f"give the first bar before the last, got {first}-{last}", "Which bars?")
    if not 1 <= first <= last <= n_bars:
        raise UserFacingError(f"bars {first}-{last} are not within this score: it has bars 1-{n_bars}", "Which bars?")
    return first, last


def number(value: object, name: str) -> float:
    """A finite number from the page (a request can carry anything where a slider's number goes), else a message."""
    import math

    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UserFacingError(f"{name} must be a finite number, got {str(value)[:40]!r}", "Invalid option")
    return float(value)


def optional_number(value: object, name: str) -> float | None:
    """None (a field left empty: the core's default), else a finite number, else a message."""
    return None if value is None else number(value, name)


def whole(value: object, name: str) -> int:
    """A whole number from the page, else a message."""
    x = number(value, name)
    if x != int(x):
        raise UserFacingError(f"{name} must be a whole number, got {x:g}", "Invalid option")
    return int(x)


def whole_seed(value: float | None) -> int:
    """A seed from the page: a whole number from 0 to 2^31 - 1, else a message."""
    try:
        seed = float(value if value is not None else 0)
    except (TypeError, ValueError):
        seed = -1.0
    if not (seed == seed and 0 <= seed <= MAX_SEED and seed == int(seed)):
        raise UserFacingError(f"the seed must be a whole number from 0 to {MAX_SEED}, got {value!r}", "Invalid option")
    return int(seed)


def share(src: Path, dest: Path) -> None:
    """Put the upload into the job's folder: a hard link where both are on one file system, else a copy."""
    try:
        os.link(src, dest)
    except OSError:
        try:
            shutil.copyfile(src, dest)
        except OSError as exc:
            raise UserFacingError(f"the upload could not be prepared: {exc.strerror or exc}") from None
