"""Rescoring: some bars of a scored clip written again from another seed, every other bar as it was.

A ``moodscore score`` folder keeps what it needs to make the same piece again: ``timeline.json`` (so nothing is
analysed again) and the options in ``score.json`` (with the bars rescored so far, so that earlier rescores stay).
:func:`rescore_job` reads them and runs :func:`models.jobs.work.score_job` with one more rescore; the command line
(``moodscore rescore``) and the ``rescore`` job kind (:mod:`models.jobs.tasks`, for the web page) both call it.
"""

from __future__ import annotations

import inspect
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.errors import InputError, InvalidOptionError

if TYPE_CHECKING:
    from models.engine import Engine
    from models.jobs.work import Progress, ScoreJobResult
    from models.media.decode import MediaLimits
    from models.types import Timeline


@dataclass(frozen=True)
class ScoredFolder:
    """What a scored folder holds for a rescore: its summary (score.json), its options and its timeline."""

    summary: dict[str, Any]
    options: dict[str, Any]
    timeline: Timeline

    @property
    def bars(self) -> int:
        return int(self.summary.get("bars") or 0)


def read_scored(folder: str | os.PathLike[str]) -> ScoredFolder:
    """The score.json and timeline.json of a ``moodscore score`` folder (InputError when either is missing or
    not what a score wrote)."""
    from models.types import Timeline

    base = Path(folder)
    try:
        summary = json.loads((base / "score.json").read_text(encoding="utf-8"))
        options = summary["options"]
        if not isinstance(options, dict):
            raise TypeError("options")
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"{base} holds no score.json of a `moodscore score` run to rescore") from None
    path = base / "timeline.json"
    try:
        timeline = Timeline.from_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not a moodscore timeline JSON ({' '.join(str(exc).split())[:200]})") from None
    return ScoredFolder(summary, options, timeline)


def check_bars(first: int, last: int, n_bars: int, *, what: str = "--bars") -> None:
    """Refuse a bar range (1-based, inclusive) that does not lie within a score of ``n_bars`` bars."""
    if not (isinstance(first, int) and isinstance(last, int)) or not 1 <= first <= last <= n_bars:
        raise InvalidOptionError(f"{what} must lie within bars 1-{n_bars} of this score, got {first}-{last}")


def rescore_job(
    engine: Engine,
    scored: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    first: int,
    last: int,
    seed: int,
    clip: str | os.PathLike[str] | None = None,
    name: str | None = None,
    limits: MediaLimits | None = None,
    progress: Progress | None = None,
    what: str = "--bars",
    cache: str | os.PathLike[str] | bool = False,
) -> ScoreJobResult:
    """Bars ``first``-``last`` (1-based, inclusive) of the score in the folder ``scored`` written again from
    ``seed``, into ``out_dir`` (the same folder for a rescore in place). The clip is ``clip``, else the one the
    score was made from (its ``source``); nothing is analysed. ``what`` names the bar range in errors. ``cache``:
    the analysis cache the pictures of the faces read come from (for ``timeline.png``; see ``score_job``)."""
    from models.jobs.work import score_job

    found = read_scored(scored)
    check_bars(first, last, found.bars, what=what)
    src = Path(clip) if clip is not None else Path(str(found.summary.get("source", "")))
    if not src.is_file():
        raise InputError(f"the clip {src} is not there any more; give it with --clip")
    options = found.options
    done = [(int(a), int(b), int(c)) for a, b, c in options.get("rescores") or ()]
    kept: dict[str, Any] = {
        "tempo": options.get("tempo"),
        "instruments": tuple(options.get("instruments") or ("piano",)),
        "key": options.get("key", "auto"),
        "seed": int(options.get("seed", 0)),
        "temperature": float(options.get("temperature", 1.0)),
        "tempo_range": tuple(options["tempo_range"]) if options.get("tempo_range") else None,
        "hits": tuple(options.get("hits") or ()),
        "stems": bool(options.get("stems")),
        "loop": bool(options.get("loop")),
        "music_db": options.get("music_db"),
        "duck_db": options.get("duck_db"),
    }
    # any other option score.json keeps that score_job takes (lists as tuples), so that the other bars come out the
    # same; not ``force``, whose stretches the timeline already holds
    takes = inspect.signature(score_job).parameters
    for option, value in options.items():
        if option not in kept and option not in ("force", "rescores", "cache") and option in takes:
            kept[option] = _tupled(value)
    return score_job(
        engine,
        src,
        out_dir,
        name=name if name is not None else found.summary.get("clip"),
        limits=limits,
        progress=progress,
        timeline=found.timeline,
        rescores=(*done, (first - 1, last, seed)),
        cache=cache,
        **kept,
    )


def _tupled(value: Any) -> Any:
    """JSON lists back as the tuples score_job takes."""
    return tuple(_tupled(v) for v in value) if isinstance(value, list) else value
