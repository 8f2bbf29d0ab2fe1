"""Jobs: a function of files and options to an output folder plus JSON; the same whichever front end asks.

Every file of a job is written into a hidden temporary folder inside the output folder and moved into place
only when the whole job has succeeded, so a failed job leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from moodscore.models.errors import InvalidOptionError
from moodscore.models.files.folders import holding_output, safe_stem, staged_output
from moodscore.models.jobs.results import (
    ComposeResult,
    ComposeSummary,
    JudgeRun,
    Landed,
    Missed,
    Piece,
    RequestSummary,
    ScoreOptions,
    ScoreResult,
    ScoreSummary,
    SegmentSummary,
    SyncReport,
    sections_of,
)
from moodscore.models.types import Progress, no_progress

if TYPE_CHECKING:
    from moodscore.models.engine import Engine
    from moodscore.models.media.decode import MediaLimits
    from moodscore.models.types import ComposeRequest, Timeline


SR = 44100  # rendered and mixed audio


COMPOSE_EXTRAS = ("mp3", "png")


@holding_output
def compose_job(
    engine: Engine,
    request: ComposeRequest,
    out_dir: str | os.PathLike[str],
    *,
    extras: tuple[str, ...] = (),
    audio: bool = True,
    progress: Progress | None = None,
) -> ComposeResult:
    """Compose ``request.variations`` pieces; write ``<name>.mid`` and ``<name>.wav`` for each, and compose.json.

    ``extras``: also ``<name>.mp3`` ("mp3") and a piano-roll picture ``<name>.png`` ("png") per piece.
    ``audio=False``: the MIDI (and the picture) only, nothing rendered (what a DAW needs).
    """
    from moodscore.models.errors import InvalidOptionError
    from moodscore.models.media.plots import piano_roll_png
    from moodscore.models.music.mix import export_mp3, loop_around
    from moodscore.models.music.render import write_wav

    unknown = [e for e in extras if e not in COMPOSE_EXTRAS]
    if unknown:
        raise InvalidOptionError(f"unknown extra outputs {unknown}; choose from {', '.join(COMPOSE_EXTRAS)}")
    if not audio and "mp3" in extras:
        raise InvalidOptionError("an MP3 needs the audio: drop 'mp3' or keep audio on")

    report = progress or no_progress
    scores = engine.compose(request, progress=lambda f, m: report(0.6 * f, m))
    names = []
    with staged_output(out_dir) as stage:
        for i, score in enumerate(scores):
            name = (
                f"{score.bar_quadrants[0]}_seed{score.seed}"
                if len(set(score.bar_quadrants)) == 1
                else f"score_seed{score.seed}"
            )
            names.append(name)
            score.midi.write(str(stage / f"{name}.mid"))
            if audio:
                report(0.6 + 0.4 * i / len(scores), f"rendering {i + 1}/{len(scores)}")
                sound = render_score(score)
                if request.loop:  # exactly the piece's bars, its ring-out folded onto the start
                    sound = loop_around(sound, round(score.duration_s * SR))
                write_wav(stage / f"{name}.wav", sound, SR)
                if "mp3" in extras:
                    export_mp3(stage / f"{name}.mp3", sound, SR)
            if "png" in extras:
                piano_roll_png(score.midi, stage / f"{name}.png", title=name)
        summary = ComposeSummary(
            request=RequestSummary(
                tempo=float(request.tempo),  # type: ignore[arg-type]  # (set by the request)
                bars=request.n_bars,
                key=request.key,
                instruments=request.instruments,
                seed=request.seed,
            ),
            pieces=tuple(
                Piece(
                    midi=f"{n}.mid",
                    audio=f"{n}.wav" if audio else None,
                    seed=s.seed,
                    tempo=s.tempo,
                    bars=s.n_bars,
                    key=s.key,
                    bar_quadrants=s.bar_quadrants,
                    sections=sections_of(s),
                    duration_s=s.duration_s,
                    judge=tuple(JudgeRun.from_dict(v) for v in engine.judge_score(s)),
                )
                for n, s in zip(names, scores, strict=True)
            ),
        )
        (stage / "compose.json").write_text(json.dumps(summary.to_dict(), indent=2) + "\n", encoding="utf-8")
    report(1.0, "done")
    out = Path(out_dir)
    kinds = ("mid", "wav", *extras) if audio else ("mid", *extras)
    files = (*(out / f"{n}.{k}" for n in names for k in kinds), out / "compose.json")
    return ComposeResult(files=files, summary=summary)


def picture_lock(
    timeline: Timeline, tempo: float, tempo_range: tuple[float, float] | None, hits: tuple[float, ...]
) -> Any:
    """The beat grid that puts the timeline's emotion changes, the ``hits`` and the cuts on bar lines."""
    from moodscore.models.music.sync import Moment, picture_grid

    moments = [Moment(s.start_s, "segment", 3) for s in timeline.segments[1:]]
    moments += [Moment(float(t), "hit", 2) for t in hits]
    moments += [Moment(float(t), "cut", 1) for t in timeline.meta.get("cuts", [])]
    try:
        if tempo_range is None:
            return picture_grid(timeline.duration_s, moments, tempo)
        lo, hi = tempo_range
        return picture_grid(timeline.duration_s, moments, min(max(tempo, lo), hi), lo=lo, hi=hi)
    except ValueError as exc:
        raise InvalidOptionError(str(exc)) from None


def sync_report(grid: Any, timeline: Timeline, hits: tuple[float, ...]) -> SyncReport:
    """score.json's account of the picture lock: the tempo of every bar, and where each cut and hit landed."""

    def landed(t: float) -> Landed:
        return Landed(round(t, 3), round(1000 * grid.offset_s(t), 1))

    return SyncReport(
        tempo_map=tuple(round(t, 2) for t in grid.tempos),
        cuts=tuple(landed(float(t)) for t in timeline.meta.get("cuts", [])),
        hits=tuple(landed(float(t)) for t in hits),
        missed=tuple(Missed(round(m.t_s, 3), m.kind) for m in grid.missed),
    )


def tracks_alone(midi: Any) -> dict[str, Any]:
    """Every track of a PrettyMIDI as a PrettyMIDI of its own (the tempo map and meter kept), by part name."""
    import copy

    tracks, midi.instruments = midi.instruments, []
    try:
        bare = copy.deepcopy(midi)  # the tempo map and meta events only, not every other track's notes
    finally:
        midi.instruments = tracks
    out: dict[str, Any] = {}
    for i, inst in enumerate(tracks):
        alone = copy.deepcopy(bare)
        alone.instruments = [copy.deepcopy(inst)]
        out[safe_stem(inst.name or f"track{i + 1}").lower()] = alone
    return out


def render_parts(score: Any, *, sr: int = SR) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The music and its stems: every track rendered alone, all the same length, each scaled by the one gain
    that brings their sum to the loudness :func:`render_score` gives (its true peak under -1 dBTP, without a
    limiter), so the stems add up to the music sample for sample."""
    from moodscore.models.music.render import loudness_gain, render_midi

    raw = {name: render_midi(alone, sr=sr) for name, alone in tracks_alone(score.midi).items()}
    n = max(round(score.duration_s * sr), *(len(a) for a in raw.values()))
    parts = {k: np.pad(a, ((0, n - len(a)), (0, 0))) for k, a in raw.items()}
    total = np.sum(list(parts.values()), axis=0)
    gain = loudness_gain(total, sr)
    return (total * gain).astype(np.float32), {k: (a * gain).astype(np.float32) for k, a in parts.items()}


def write_stems(
    folder: Path, stem: str, score: Any, parts: dict[str, np.ndarray], music: np.ndarray, *, sr: int = SR
) -> None:
    """``<stem>_<part>.wav`` and ``.mid`` for every part, and ``<stem>_mix.wav``: the same length, from 0 s, 24-bit
    at ``sr``, each MIDI file with the score's tempo map (a DAW lines them up by dropping them at the start)."""
    from moodscore.models.music.render import write_wav

    folder.mkdir()
    for name, alone in tracks_alone(score.midi).items():
        alone.write(str(folder / f"{stem}_{name}.mid"))
        write_wav(folder / f"{stem}_{name}.wav", parts[name], sr, subtype="PCM_24")
    write_wav(folder / f"{stem}_mix.wav", music, sr, subtype="PCM_24")


def output_rate(info: Any) -> int:
    """The sample rate a scored clip's audio is written at: the clip's own from 44.1 to 96 kHz (no resampling of
    its sound on the way out); 48 kHz, video's rate, for a clip with less (a 16 kHz recording would leave the
    music without its top octave) or without audio."""
    rate = info.audio_rate if info.has_audio else None
    if rate is not None and 44100 <= rate <= 96000:
        return int(rate)
    return 48000


def render_score(score: Any, *, sr: int = SR) -> np.ndarray:
    """A Score rendered at ``sr``, at least as long as its bars (the last bar lasts to its end even where it is
    quiet), loudness-normalised."""
    from moodscore.models.music.render import normalize_loudness, render_midi

    audio = render_midi(score.midi, sr=sr)
    need = round(score.duration_s * sr)
    if len(audio) < need:
        audio = np.concatenate([audio, np.zeros((need - len(audio), audio.shape[1]), audio.dtype)])
    return normalize_loudness(audio, sr)


def _cache_entry(
    engine: Engine, clip: Path, cache: str | os.PathLike[str] | bool, limits: MediaLimits | None
) -> tuple[Path, str]:
    """The analysis cache's folder and the key of ``clip``'s analysis there (:mod:`moodscore.models.analysis.cache`)."""
    from moodscore.models.analysis import cache as analysis_cache
    from moodscore.models.engine import ANALYSIS_FPS
    from moodscore.models.media.cuts import CUTS_VERSION

    folder = analysis_cache.default_folder() if isinstance(cache, bool) else Path(cache)
    settings = {"fps": ANALYSIS_FPS, "limits": repr(limits), "cuts": CUTS_VERSION, "speech": 1}
    return folder, analysis_cache.analysis_key(engine, clip, settings)


@holding_output
def score_job(
    engine: Engine,
    clip: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    tempo: float | None = None,
    instruments: tuple[str, ...] = ("piano",),
    key: str = "auto",
    seed: int = 0,
    temperature: float = 1.0,
    name: str | None = None,
    limits: MediaLimits | None = None,
    progress: Progress | None = None,
    timeline: Timeline | None = None,
    cache: str | os.PathLike[str] | bool = False,
    force: tuple[tuple[float, float, str], ...] = (),
    tempo_range: tuple[float, float] | None = None,
    hits: tuple[float, ...] = (),
    stems: bool = False,
    music_db: float | None = None,
    duck_db: float | None = None,
    rescores: tuple[tuple[int, int, int], ...] = (),
    loop: bool = False,
) -> ScoreResult:
    """Analyse ``clip``, compose music that follows its timeline, render it, mix it under the clip's audio and
    mux it into the video. Writes timeline.json, score.mid, music.wav, music.mp3, timeline.png, score.json and
    ``<name>_scored.mp4`` (``name`` defaults to the clip's file name, made safe; ``.mov`` for ProRes, ``.mkv`` for
    VP8 and the like, whose video is copied; other codecs are re-encoded as H.264) into ``out_dir``; all or nothing.

    ``timeline``: follow this one (a previous run's ``timeline.json``, edited or not) instead of analysing; it must
    last as long as the clip. ``cache``: keep and reuse the analysis by the clip's content
    (:mod:`models.analysis.cache`; True for the default folder, or a folder), with its pictures of the faces read
    for timeline.png; a ``timeline`` given without pictures takes them from the clip's cached analysis if there is
    one (the faces are the clip's, whatever the edits to the emotions). ``force``: (start_s, end_s,
    quadrant) stretches that take that quadrant whatever the analysis found (:meth:`Timeline.forced`).

    The music is locked to the picture (:mod:`models.music.sync`): every emotion change, every moment in ``hits``
    (s) and every cut the analysis found starts a bar (or falls on a third beat), by the tempo of the stretch
    before it, inside ``tempo_range`` (BPM; default the suggested tempo +-15%, or a ``tempo`` given +-8%); the last
    bar ends with the clip.
    score.json reports the tempo map and each cut's and hit's distance from its downbeat.

    ``stems``: also a folder ``stems/`` with a WAV (24-bit) and a MIDI file per part and the mix, the same length
    as the clip; the parts add up to the mix (:func:`render_parts`), and music.wav is that mix.

    The mix (:func:`moodscore.models.music.mix.mix_under`): the music ``music_db`` LU against the dialogue's loudness
    (default -6), and ``duck_db`` more (default -8; with the speech band cut) while someone speaks; score.json's
    ``audio`` reports the levels measured in the mix. All audio is written at the clip's own sample rate.

    ``rescores``: (first bar, end bar, seed) each, 0-based, end excluded, applied in turn: those bars are written
    again from ``seed`` in the piece's key, every other bar stays as it was (:func:`models.music.sync.splice`).
    score.json keeps the options (``options``), so ``moodscore rescore`` can make the same piece again.
    ``loop``: the music ends on its way back to its beginning and music.wav loops seamlessly (the scored video
    still fades out at its end).
    """
    from moodscore.models.media import decode as media
    from moodscore.models.media.mux import mux_audio_into_video, output_plan
    from moodscore.models.media.plots import timeline_png
    from moodscore.models.music.mix import export_mp3, fit_length, loop_around, mix_under
    from moodscore.models.music.render import write_wav
    from moodscore.models.music.sync import GIVEN_RANGE, splice
    from moodscore.models.types import ComposeRequest

    report = progress or no_progress
    timings: dict[str, float] = {}
    src = Path(clip)
    stem = safe_stem(name if name is not None else src.name)
    # the options are checked before the long analysis, so a bad tempo fails at once
    checked = ComposeRequest(
        emotion="Q1",
        tempo=tempo,
        instruments=tuple(instruments),
        key=key,
        seed=seed,
        temperature=temperature,
    )
    for name, value, lo, hi in (("--music-db", music_db, -40.0, 12.0), ("--duck-db", duck_db, -60.0, 0.0)):
        if value is not None and not lo <= value <= hi:
            raise InvalidOptionError(f"{name} must be from {lo:g} to {hi:g} dB, got {value!r}")
    # and how the scored video will be written (which container takes the clip's video, or a re-encode)
    info = media.probe(src, limits=limits or media.MediaLimits())
    plan = output_plan(src) if info.has_video else None
    source = {"has_video": info.has_video, "has_audio": info.has_audio}
    t = time.perf_counter()
    if timeline is not None:
        if abs(timeline.duration_s - info.duration_s) > max(0.5, 0.02 * info.duration_s):
            raise InvalidOptionError(
                f"the timeline lasts {timeline.duration_s:.2f} s but {src.name} {info.duration_s:.2f} s: "
                "give the timeline of this clip"
            )
        if cache and not timeline.faces:  # the pictures of the faces read, from this clip's cached analysis
            from moodscore.models.analysis import cache as analysis_cache

            with contextlib.suppress(OSError):
                folder, cache_key = _cache_entry(engine, src, cache, limits)
                timeline = replace(timeline, faces=analysis_cache.load_faces(folder, cache_key))
        report(0.55, "following the timeline given")
    elif cache:
        from moodscore.models.analysis import cache as analysis_cache

        folder, cache_key = _cache_entry(engine, src, cache, limits)
        timeline = analysis_cache.load(folder, cache_key)
        if timeline is not None:
            report(0.55, "analysis taken from the cache")
        else:
            timeline = engine.analyze(src, limits=limits, progress=lambda f, m: report(0.55 * f, m))
            analysis_cache.store(folder, cache_key, timeline)
    else:
        timeline = engine.analyze(src, limits=limits, progress=lambda f, m: report(0.55 * f, m))
    timings["analyze_s"] = time.perf_counter() - t
    for start_s, end_s, quadrant in force:
        try:
            timeline = timeline.forced(start_s, end_s, quadrant)
        except ValueError as exc:
            raise InvalidOptionError(f"--set {start_s:g}-{end_s:g}={quadrant}: {exc}") from None

    t = time.perf_counter()
    # validated again, its length (and with tempo None its tempo) from the timeline
    request = replace(checked, emotion=timeline, tempo=tempo)
    if tempo_range is None and tempo is not None:  # a tempo the user gave moves less
        tempo_range = (tempo * (1 - GIVEN_RANGE), tempo * (1 + GIVEN_RANGE))
    grid = picture_lock(timeline, float(request.tempo or 100.0), tempo_range, hits)
    request = replace(request, beat_grid=grid.beat_times, phrase_bars=tuple(sorted(grid.downbeat_bars())), loop=loop)
    (score,) = engine.compose(request, progress=lambda f, m: report(0.55 + 0.2 * f, m))
    for first, end, new_seed in rescores:  # bars again from another seed in the same key; the rest as it was
        if not 0 <= first < end <= score.n_bars:
            raise InvalidOptionError(
                f"--bars must lie within bars 1-{score.n_bars} of this score, got {first + 1}-{end}"
            )
        (other,) = engine.compose(replace(request, seed=new_seed, key=score.key))
        score = splice(score, other, first, end)
    timings["compose_s"] = time.perf_counter() - t

    t = time.perf_counter()
    report(0.76, "rendering")
    rate = output_rate(info)  # the clip's own sample rate, so its audio is not resampled on the way out
    # the music lasts as long as the clip: its last bar ends on the last frame, the final chord's ring-out fades
    length = max(1, round(timeline.duration_s * rate))
    parts: dict[str, np.ndarray] = {}
    # (with ``loop``, the ring-out is folded onto the start instead: the music plays round and round)
    fit = (lambda a: loop_around(a, length)) if loop else (lambda a: fit_length(a, length, rate))
    if stems:
        music, parts = render_parts(score, sr=rate)
        parts = {k: fit(a) for k, a in parts.items()}  # (the same for every part: still their sum)
        music = fit(music)
    else:
        music = fit(render_score(score, sr=rate))
    timings["render_s"] = time.perf_counter() - t

    t = time.perf_counter()
    report(0.85, "mixing")
    speech = media.decode_audio(src, sr=rate) if source["has_audio"] else np.zeros(0, np.float32)
    if len(speech) == 0:  # no audio (or an empty track): the music alone, cut to the clip with its fade-out
        speech = np.zeros(max(1, round(timeline.duration_s * rate)), np.float32)
    levels: dict[str, Any] = {}
    mixed = mix_under(speech, music, rate, music_db=music_db, duck_db=duck_db, report=levels)
    timings["mix_s"] = time.perf_counter() - t

    files: dict[str, str] = {
        "timeline": "timeline.json",
        "midi": "score.mid",
        "audio": "music.wav",
        "mp3": "music.mp3",
        "plot": "timeline.png",
        "summary": "score.json",
    }
    if source["has_video"] and plan is not None:
        files["video"] = f"{stem}_scored{plan[0]}"
    if stems:
        files["stems"] = "stems"
    with staged_output(out_dir) as stage:
        (stage / files["timeline"]).write_text(timeline.to_json() + "\n", encoding="utf-8")
        score.midi.write(str(stage / files["midi"]))
        write_wav(stage / files["audio"], music, rate)
        if stems:
            write_stems(stage / files["stems"], stem, score, parts, music, sr=rate)
        # the MP3 is encoded on a second thread while the video is muxed (both encoders release the GIL)
        with ThreadPoolExecutor(max_workers=1) as pool:
            mp3 = pool.submit(export_mp3, stage / files["mp3"], music, rate)
            if "video" in files and plan is not None:
                t = time.perf_counter()
                report(0.9, "muxing the video")
                mux_audio_into_video(src, mixed, rate, stage / files["video"], reencode=plan[1])
                timings["mux_s"] = time.perf_counter() - t
            mp3.result()
        report(0.96, "drawing the timeline")
        timeline_png(timeline, stage / files["plot"], midi=score.midi, title=src.name[:80])
        summary = ScoreSummary(
            clip=src.name,
            source=str(src.resolve()),
            options=ScoreOptions(
                tempo=tempo,
                instruments=tuple(instruments),
                key=key,
                seed=seed,
                temperature=temperature,
                tempo_range=tempo_range,
                hits=tuple(hits),
                force=tuple(force),
                music_db=music_db,
                duck_db=duck_db,
                stems=stems,
                rescores=tuple(rescores),
                loop=loop,
            ),
            duration_s=timeline.duration_s,
            tempo=score.tempo,
            key=score.key,
            seed=score.seed,
            instruments=tuple(instruments),
            bars=score.n_bars,
            bar_quadrants=score.bar_quadrants,
            sections=sections_of(score),
            judge=tuple(JudgeRun.from_dict(v) for v in engine.judge_score(score)),
            segments=tuple(
                SegmentSummary(
                    round(s.start_s, 3),
                    round(s.end_s, 3),
                    s.emotion.quadrant,
                    s.emotion.label,
                    round(s.emotion.confidence, 4),
                )
                for s in timeline.segments
            ),
            warnings=tuple(timeline.meta.get("warnings", [])),
            cuts=tuple(timeline.meta.get("cuts", [])),
            sync=sync_report(grid, timeline, hits),
            sample_rate=rate,
            levels=levels,
            files=files,
            timings={k: round(v, 4) for k, v in {**timeline.meta.get("timings", {}), **timings}.items()},
        )
        (stage / files["summary"]).write_text(json.dumps(summary.to_dict(), indent=2) + "\n", encoding="utf-8")
    report(1.0, "done")
    out = Path(out_dir)
    return ScoreResult(timeline=timeline, files={k: out / v for k, v in files.items()}, summary=summary)
