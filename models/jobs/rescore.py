"""Rescoring: some bars of a scored clip written again from another seed, every other bar as it was.

A ``moodscore score`` folder keeps what it needs to make the same piece again: ``timeline.json`` (so nothing is
analysed again) and the options in ``score.json`` (with the bars rescored so far, so that earlier rescores stay).
:func:`rescore_job` reads them and runs :func:`models.jobs.work.score_job` with one more rescore; the command line
(``moodscore rescore``) and the ``rescore`` job kind (:mod:`models.jobs.tasks`, for the web page) both call it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from moodscore.models.errors import InputError, InvalidOptionError
from moodscore.models.jobs.results import ScoreSummary

if TYPE_CHECKING:
    from moodscore.models.engine import Engine
    from moodscore.models.jobs.results import ScoreResult
    from moodscore.models.media.decode import MediaLimits
    from moodscore.models.types import Progress, Timeline


@dataclass(frozen=True)
class ScoredFolder:
    """What a scored folder holds for a rescore: its summary (score.json), its options and its timeline."""

    summary: ScoreSummary
    timeline: Timeline

    @property
    def bars(self) -> int:
        return self.summary.bars


def read_scored(folder: str | os.PathLike[str]) -> ScoredFolder:
    """The score.json and timeline.json of a ``moodscore score`` folder (InputError when either is missing or
    not what a score wrote)."""
    from moodscore.models.types import Timeline

    base = Path(folder)
    try:
        data = json.loads((base / "score.json").read_text(encoding="utf-8"))
        if not isinstance(data.get("options"), dict):
            raise TypeError("options")
        summary = ScoreSummary.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise InputError(f"{base} holds no score.json of a `moodscore score` run to rescore") from None
    path = base / "timeline.json"
    try:
        timeline = Timeline.from_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not a moodscore timeline JSON ({' '.join(str(exc).split())[:200]})") from None
    return ScoredFolder(summary, timeline)


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
) -> ScoreResult:
    """Bars ``first``-``last`` (1-based, inclusive) of the score in the folder ``scored`` written again from
    ``seed``, into ``out_dir`` (the same folder for a rescore in place). The clip is ``clip``, else the one the
    score was made from (its ``source``); nothing is analysed. ``what`` names the bar range in errors. ``cache``:
    the analysis cache the pictures of the faces read come from (for ``timeline.png``; see ``score_job``)."""
    from moodscore.models.jobs.work import score_job

    found = read_scored(scored)
    check_bars(first, last, found.bars, what=what)
    src = Path(clip) if clip is not None else Path(found.summary.source)
    if not src.is_file():
        raise InputError(f"the clip {src} is not there any more; give it with --clip")
    o = found.summary.options
    # every option the score was made with, so that the other bars come out the same; not ``force``, whose stretches
    # the timeline already holds
    return score_job(
        engine,
        src,
        out_dir,
        name=name if name is not None else found.summary.clip,
        limits=limits,
        progress=progress,
        timeline=found.timeline,
        rescores=(*o.rescores, (first - 1, last, seed)),
        cache=cache,
        tempo=o.tempo,
        instruments=o.instruments,
        key=o.key,
        seed=o.seed,
        temperature=o.temperature,
        tempo_range=o.tempo_range,
        hits=o.hits,
        stems=o.stems,
        loop=o.loop,
        music_db=o.music_db,
        duck_db=o.duck_db,
    )
