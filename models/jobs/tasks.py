"""Jobs as data: a kind, JSON options and a job folder. This is what every runner backend carries to a worker
(a thread, a local worker process, a Celery worker on another machine) and what comes back.

A job folder holds the job's inputs and gets its outputs; every path in the options is relative to it and must
stay inside it. The result is JSON too: the files the job wrote (relative to the folder) and its summary. The
front end turns it into a :class:`TaskResult` with paths on its own side of the storage.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moodscore.models.errors import InvalidOptionError
from moodscore.models.jobs.results import ComposeSummary, ScoreSummary, summary_from_dict
from moodscore.models.types import Progress

if TYPE_CHECKING:
    from moodscore.models.engine import Engine
    from moodscore.models.types import ComposeRequest

KINDS = ("score", "compose", "rescore")


@dataclass(frozen=True)
class TaskResult:
    """What a job wrote, with absolute paths: ``files`` maps a name to a file (score and rescore: timeline, midi,
    audio, mp3, plot, summary, video; compose: the files in order under ``"0"``, ``"1"``...), ``summary`` is the job's
    summary (score.json's or compose.json's), ``modalities`` what the emotion was read from (score only)."""

    files: dict[str, Path]
    summary: ScoreSummary | ComposeSummary
    modalities: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any], folder: str | os.PathLike[str]) -> TaskResult:
        base = Path(folder)
        files = {str(k): inside(base, v) for k, v in dict(data.get("files") or {}).items()}
        return cls(files, summary_from_dict(data.get("summary") or {}), tuple(data.get("modalities") or ()))

    @property
    def score(self) -> ScoreSummary:
        """The summary of a score or rescore job."""
        if not isinstance(self.summary, ScoreSummary):
            raise TypeError("a compose job has no score summary")
        return self.summary

    @property
    def composed(self) -> ComposeSummary:
        """The summary of a compose job."""
        if not isinstance(self.summary, ComposeSummary):
            raise TypeError("a score job has no compose summary")
        return self.summary


def inside(folder: Path, relative: object) -> Path:
    """``folder / relative``, refused unless it stays inside ``folder`` (no absolute paths, no '..')."""
    if not isinstance(relative, str) or not relative or Path(relative).is_absolute() or "\\" in relative:
        raise InvalidOptionError(f"a job path must be relative to its folder, got {relative!r}")
    path = folder / relative
    if ".." in Path(relative).parts or not path.resolve().is_relative_to(folder.resolve()):
        raise InvalidOptionError(f"a job path must stay inside its folder, got {relative!r}")
    return path


def request_to_json(request: ComposeRequest) -> dict[str, Any]:
    """A ComposeRequest as JSON options (its emotion a quadrant, a [valence, arousal] pair or a timeline)."""
    from moodscore.models.types import Timeline

    e = request.emotion
    emotion: Any = {"timeline": e.to_dict()} if isinstance(e, Timeline) else list(e) if isinstance(e, tuple) else e
    return {
        "emotion": emotion,
        "bars": request.bars,
        "seconds": request.seconds,
        "tempo": request.tempo,
        "time_signature": list(request.time_signature),
        "key": request.key,
        "instruments": list(request.instruments),
        "seed": request.seed,
        "temperature": request.temperature,
        "variations": request.variations,
        "loop": request.loop,
    }


def request_from_json(data: Mapping[str, Any]) -> ComposeRequest:
    """The inverse of :func:`request_to_json`; the request checks its values (InvalidOptionError)."""
    from moodscore.models.types import ComposeRequest, Timeline

    e = data.get("emotion")
    if isinstance(e, Mapping) and "timeline" in e:
        emotion: Any = Timeline.from_dict(e["timeline"])
    elif isinstance(e, list):
        emotion = tuple(e)
    else:
        emotion = e
    try:
        return ComposeRequest(
            emotion=emotion,
            bars=data.get("bars"),
            seconds=data.get("seconds"),
            tempo=data.get("tempo"),
            time_signature=tuple(data.get("time_signature") or (4, 4)),
            key=str(data.get("key", "auto")),
            instruments=tuple(data.get("instruments") or ("piano",)),
            seed=int(data.get("seed", 0)),
            temperature=float(data.get("temperature", 1.0)),
            variations=int(data.get("variations", 1)),
            loop=bool(data.get("loop", False)),
        )
    except (TypeError, ValueError) as exc:
        raise InvalidOptionError(f"malformed compose options: {exc}") from None


def score_params(
    clip: str,
    *,
    out: str = "out",
    tempo: float | None = None,
    instruments: tuple[str, ...] = ("piano",),
    key: str = "auto",
    seed: int = 0,
    name: str | None = None,
    limits: Any = None,
    stems: bool = False,
    hits: tuple[float, ...] = (),
    force: tuple[tuple[float, float, str], ...] = (),
) -> dict[str, Any]:
    """The options of a ``score`` job (``clip`` and ``out`` relative to the job folder; ``stems``: also the
    stems, as a folder and zipped, ``stems.zip``; ``hits``: moments in seconds the music accents; ``force``:
    (start_s, end_s, quadrant) stretches that take that quadrant whatever the analysis found)."""
    from dataclasses import asdict

    return {
        "clip": clip,
        "out": out,
        "tempo": tempo,
        "instruments": list(instruments),
        "key": key,
        "seed": seed,
        "name": name,
        "limits": asdict(limits) if limits is not None else None,
        "stems": stems,
        "hits": [float(t) for t in hits],
        "force": [[float(a), float(b), str(q)] for a, b, q in force],
    }


def rescore_params(
    clip: str,
    scored: str,
    *,
    bars: tuple[int, int],
    seed: int,
    out: str = "out",
    name: str | None = None,
    limits: Any = None,
) -> dict[str, Any]:
    """The options of a ``rescore`` job: bars ``bars`` (first, last; 1-based, inclusive) of the score whose
    score.json and timeline.json are in ``scored`` written again from ``seed``, every other bar as it was; the
    clip, ``scored`` and ``out`` are relative to the job folder. Nothing is analysed."""
    from dataclasses import asdict

    return {
        "clip": clip,
        "scored": scored,
        "out": out,
        "bars": [int(bars[0]), int(bars[1])],
        "seed": int(seed),
        "name": name,
        "limits": asdict(limits) if limits is not None else None,
    }


def compose_params(
    request: ComposeRequest, *, out: str = "out", extras: tuple[str, ...] = (), audio: bool = True
) -> dict[str, Any]:
    """The options of a ``compose`` job (``out`` relative to the job folder; ``audio=False``: MIDI only)."""
    return {"request": request_to_json(request), "out": out, "extras": list(extras), "audio": audio}


def run_task(
    engine: Engine,
    kind: str,
    params: Mapping[str, Any],
    folder: str | os.PathLike[str],
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run one job in ``folder`` with ``engine``; return its JSON result (files relative to the folder).
    Raises the core's errors (MoodscoreError) for bad options and inputs."""
    from moodscore.models.files.folders import zip_folder
    from moodscore.models.jobs.work import compose_job, score_job
    from moodscore.models.media.decode import MediaLimits

    base = Path(folder)
    if not base.is_dir():
        raise InvalidOptionError("the job's folder is missing (is the storage shared with the workers?)")
    out = inside(base, params.get("out", "out"))
    if kind in ("score", "rescore"):
        limits = params.get("limits")
        if kind == "score":
            result = score_job(
                engine,
                inside(base, params.get("clip")),
                out,
                tempo=params.get("tempo"),
                instruments=tuple(params.get("instruments") or ("piano",)),
                key=str(params.get("key", "auto")),
                seed=int(params.get("seed", 0)),
                name=params.get("name"),
                limits=MediaLimits(**limits) if limits else None,
                stems=bool(params.get("stems", False)),
                hits=tuple(float(t) for t in params.get("hits") or ()),
                force=tuple((float(a), float(b), str(q)) for a, b, q in params.get("force") or ()),
                progress=progress,
            )
        else:
            from moodscore.models.jobs.rescore import rescore_job

            bars = params.get("bars")
            if not (isinstance(bars, list | tuple) and len(bars) == 2 and all(type(b) is int for b in bars)):
                raise InvalidOptionError(f"a rescore needs its bars as [first, last], got {bars!r}")
            result = rescore_job(
                engine,
                inside(base, params.get("scored")),
                out,
                first=bars[0],
                last=bars[1],
                seed=int(params.get("seed", 0)),
                clip=inside(base, params.get("clip")),
                name=params.get("name"),
                limits=MediaLimits(**limits) if limits else None,
                progress=progress,
                what="the bars",
            )
        files = dict(result.files)
        if "stems" in files:  # for the web page and the bot: one download
            files["stems_zip"] = zip_folder(files["stems"], base / "stems.zip")
        return {
            "files": {k: relative_to(v, base) for k, v in files.items()},
            "summary": result.summary.to_dict(),
            "modalities": list(result.timeline.modalities),
        }
    if kind == "compose":
        request = request_from_json(params.get("request") or {})
        made = compose_job(
            engine,
            request,
            out,
            extras=tuple(params.get("extras") or ()),
            audio=bool(params.get("audio", True)),
            progress=progress,
        )
        return {
            "files": {str(i): relative_to(f, base) for i, f in enumerate(made.files)},
            "summary": made.summary.to_dict(),
        }
    raise InvalidOptionError(f"unknown job kind {kind!r}; expected one of {', '.join(KINDS)}")


def relative_to(path: str | os.PathLike[str], base: Path) -> str:
    return Path(path).relative_to(base).as_posix()
