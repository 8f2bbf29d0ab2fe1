"""Scored clips as the bridge hands them on: the sections of the music with their times, the cuts and hits, the
stems (the ``score`` request), and a clip per section for Ableton Live (``ableton`` with a ``path``).

The work is the core's score job (:mod:`models.jobs.tasks`), run through :func:`bridge.handlers.run_job`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moodscore.bridge.handlers import CheckedClip, Context, Reply, run_job, send_piece
from moodscore.bridge.protocol import (
    CLIP,
    MARKER,
    SECTION,
    SEGMENT,
    STEM,
    TEXT_CHUNK,
    TIMELINE,
    RequestError,
    notes_of,
    parse_forced,
    parse_hits,
    quadrant_color,
    section_name,
)

if TYPE_CHECKING:
    from moodscore.models import ScoreSummary, TaskResult


@dataclass(frozen=True)
class Section:
    """One section of a scored clip's music: seconds from the clip's first frame, bars (1-based, inclusive) and
    beats of the score's own grid (quarter notes in score.mid, whose tempo map follows the picture)."""

    index: int
    start_s: float
    end_s: float
    first_bar: int
    last_bar: int
    quadrant: str
    key: str
    start_beat: float
    end_beat: float


@dataclass(frozen=True)
class Marker:
    """A cut or a hit: its time in seconds from the clip's first frame and its distance from its downbeat."""

    time_s: float
    kind: str  # "cut" or "hit"
    name: str
    offset_ms: float


@dataclass
class Scored:
    """A finished score job, as the bridge reports it (every path inside the request's folder)."""

    result: TaskResult
    midi: Any  # score.mid as a PrettyMIDI
    clip_name: str
    sections: list[Section]
    markers: list[Marker]
    stems: list[tuple[str, Path, Path]]  # (part, wav, mid)


def sections_of(midi: Any, summary: ScoreSummary) -> list[Section]:
    """score.json's sections with their times, read off score.mid's own tempo map (bar b starts at beat 4b)."""
    per_bar = 4.0
    if midi.time_signature_changes:
        ts = midi.time_signature_changes[0]
        per_bar = ts.numerator * 4.0 / ts.denominator
    duration = summary.duration_s or float(midi.get_end_time())

    def at(beat: float) -> float:
        return min(float(midi.tick_to_time(round(beat * midi.resolution))), duration)

    out = []
    for i, sec in enumerate(summary.sections):
        first, last = sec.first, sec.last
        a, b = (first - 1) * per_bar, last * per_bar
        out.append(Section(i, at(a), at(b), first, last, sec.quadrant, sec.key, a, b))
    return out


def markers_of(summary: ScoreSummary) -> list[Marker]:
    """The cuts the analysis found and the hits asked for, in time order, with where they landed in the music."""
    out = []
    for kind, times, landed in (
        ("cut", summary.cuts, summary.sync.cuts),
        ("hit", summary.options.hits, summary.sync.hits),
    ):
        for k, t in enumerate(times):
            offset = landed[k].offset_ms if k < len(landed) else 0.0
            out.append(Marker(float(t), kind, f"{kind} {k + 1}", offset))
    return sorted(out, key=lambda m: (m.time_s, m.kind))


def stems_of(result: TaskResult, midi: Any, stem: str) -> list[tuple[str, Path, Path]]:
    """The stems a score job wrote, one per part in score.mid's track order: (part, its WAV, its MIDI file)."""
    from moodscore.models import safe_stem

    folder = result.files.get("stems")
    if folder is None:
        return []
    out = []
    for i, inst in enumerate(midi.instruments):
        part = safe_stem(inst.name or f"track{i + 1}").lower()
        wav, mid = folder / f"{stem}_{part}.wav", folder / f"{stem}_{part}.mid"
        if not (wav.is_file() and mid.is_file()):
            raise RequestError(f"the score job wrote no stem for the part {part!r}")
        out.append((part, wav, mid))
    return out


def score_clip(
    ctx: Context, reply: Reply, opts: dict[str, Any], checked: CheckedClip, *, stems: bool,
    tempo: float | None = None,
) -> Scored:  # fmt: skip
    """Score the video held in ``checked`` in a new request folder (the clip is copied in, and deleted after)."""
    import pretty_midi

    from moodscore.models import DEFAULTS, parse_instruments, safe_stem, score_params

    instruments = parse_instruments(str(opts.get("instruments", ",".join(DEFAULTS.instruments))))
    hits = parse_hits(str(opts.get("hits", "")))
    force = parse_forced(str(opts.get("set", "")))
    clip = checked.path
    folder = ctx.job_dir(reply.rid)
    local = folder / f"{safe_stem(clip.name)}{clip.suffix.lower()[:10]}"
    try:
        checked.place(local)
    finally:
        checked.close()
    params = score_params(
        local.name, out=".", tempo=float(tempo) if tempo is not None else None, instruments=instruments,
        key=str(opts.get("key", DEFAULTS.key)), seed=int(opts.get("seed", DEFAULTS.seed)), name=clip.name,
        stems=stems, hits=hits, force=force,
    )  # fmt: skip
    try:
        result = run_job(ctx, reply, "score", params, folder)
    finally:
        local.unlink(missing_ok=True)  # the request's copy of the clip
    midi = pretty_midi.PrettyMIDI(str(result.files["midi"]))  # the notes as the file holds them (tick grid)
    summary = result.score
    return Scored(result, midi, clip.name, sections_of(midi, summary), markers_of(summary),
                  stems_of(result, midi, safe_stem(clip.name)))  # fmt: skip


def run_score(ctx: Context, reply: Reply, opts: dict[str, Any], checked: CheckedClip) -> tuple[str, int]:
    from moodscore.models import Timeline

    scored = score_clip(ctx, reply, opts, checked, stems=bool(opts.get("stems", 0)), tempo=opts.get("tempo"))
    result = scored.result
    timeline = Timeline.from_json(result.files["timeline"].read_text(encoding="utf-8"))
    text = timeline.to_json(indent=None)
    parts = [text[i : i + TEXT_CHUNK] for i in range(0, len(text), TEXT_CHUNK)]
    for i, part in enumerate(parts):
        reply.send(TIMELINE, i, len(parts), str(result.files["timeline"]), part)
    for i, seg in enumerate(timeline.segments):
        e = seg.emotion
        reply.send(SEGMENT, i, float(seg.start_s), float(seg.end_s), e.quadrant, e.label)
    for sec in scored.sections:
        reply.send(SECTION, sec.index, sec.start_s, sec.end_s, sec.first_bar, sec.last_bar, sec.quadrant, sec.key,
                   section_name(sec.quadrant), quadrant_color(sec.quadrant))  # fmt: skip
    for i, m in enumerate(scored.markers):
        reply.send(MARKER, i, m.time_s, m.kind, m.name, m.offset_ms)
    for i, (part, wav, mid) in enumerate(scored.stems):
        reply.send(STEM, i, part, str(wav), str(mid))
    tempo = result.score.tempo
    quadrants = result.score.bar_quadrants
    send_piece(
        reply, 0, midi_path=result.files["midi"], notes=notes_of(scored.midi, tempo), tempo=tempo,
        key=result.score.key, quadrants=quadrants, name=f"moodscore {scored.clip_name}"[:120],
        blob=bool(opts.get("blob", 1)),
    )  # fmt: skip
    return "score", 1


def live_clips(scored: Scored, track: int, slot: int, *, parts: bool = False) -> list[Any]:
    """The Live clips of a scored clip: section k in scene ``slot + k``, on ``track`` with the notes of every part,
    or with ``parts`` one track per part from ``track`` on (in score.mid's track order). Notes are in beats of the
    score's own grid from the section's start (cut at its end); each clip is named and coloured after its
    section's emotion."""
    from moodscore.bridge.ableton import LiveClip
    from moodscore.models import safe_stem

    midi = scored.midi
    res = float(midi.resolution)

    def beat(t: float) -> float:
        return round(midi.time_to_tick(t) / res * 1920) / 1920

    groups = [(i, inst) for i, inst in enumerate(midi.instruments)] if parts else [(-1, None)]
    out = []
    for k, (i, only) in enumerate(groups):
        insts = [only] if only is not None else midi.instruments
        notes = sorted(
            (beat(n.start), beat(n.end), int(n.pitch), int(n.velocity)) for inst in insts for n in inst.notes
        )
        suffix = f" ({safe_stem(only.name or f'track{i + 1}').lower()})" if only is not None else ""
        for sec in scored.sections:
            mine = [
                (p, s - sec.start_beat, min(e, sec.end_beat) - s, v)
                for s, e, p, v in notes
                if sec.start_beat <= s < sec.end_beat and min(e, sec.end_beat) > s
            ]
            mine.sort(key=lambda n: (n[1], n[0]))
            name = f"{sec.index + 1} {section_name(sec.quadrant)}{suffix}"
            out.append(LiveClip(track + k, slot + sec.index, sec.end_beat - sec.start_beat, mine, name,
                                quadrant_color(sec.quadrant)))  # fmt: skip
    return out


def run_ableton_score(ctx: Context, reply: Reply, opts: dict[str, Any], checked: CheckedClip) -> tuple[str, int]:
    """Score a video and put its music into Live: a clip per section in consecutive scenes of one track (or of one
    track per part), the song's tempo the score's, the cuts and hits as locators at their beats in the score."""
    from moodscore.bridge.ableton import Cue

    if ctx.ableton is None:
        checked.close()
        raise RequestError("this bridge has no Ableton connection")
    link = ctx.ableton()
    scored = score_clip(ctx, reply, opts, checked, stems=False, tempo=opts.get("tempo"))
    midi = scored.midi
    tempo = scored.result.score.tempo
    clips = live_clips(scored, int(opts["track"]), int(opts["slot"]), parts=bool(opts.get("parts", 0)))
    cues = [Cue(round(midi.time_to_tick(m.time_s) / midi.resolution, 4), m.name) for m in scored.markers]
    reply.progress(0.99, "putting the music into Live")
    link.put_score(clips, tempo=tempo, cues=cues)
    for clip in clips:
        reply.send(CLIP, clip.track, clip.slot, len(clip.notes), clip.name, tempo, float(clip.length_beats),
                   str(scored.result.files["midi"]))  # fmt: skip
    for i, m in enumerate(scored.markers):
        reply.send(MARKER, i, m.time_s, m.kind, m.name, m.offset_ms)
    return "ableton", len(clips)
