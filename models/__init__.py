"""moodscore's shared inference core: its public API, the only names the front ends (web/, bots/, bridge/) import.

    from models import load_engine
    engine = load_engine()
    timeline = engine.analyze("clip.mp4", progress=lambda f, msg: print(f, msg))
    print(timeline.to_json())

Names load on first use (PEP 562), so importing ``models`` costs nothing until a name is used: a command that only
parses its arguments, or the OSC client a REAPER action starts, does not pay for numpy, PyAV or torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the module that defines it
_WHERE: dict[str, str] = {
    # the emotion vocabulary, the defaults and the limits
    "CLASSES": "models.affect",
    "QUADRANTS": "models.affect",
    "QUADRANT_NAMES": "models.affect",
    "QUADRANT_COLOURS": "models.affect",
    "DEFAULTS": "models.defaults",
    "Defaults": "models.defaults",
    "MAX_SEED": "models.defaults",
    "MAX_VARIATIONS": "models.defaults",
    "parse_instruments": "models.defaults",
    "Command": "models.commands",
    # the data contracts
    "ComposeRequest": "models.types",
    "Emotion": "models.types",
    "Score": "models.types",
    "Segment": "models.types",
    "Timeline": "models.types",
    # errors
    "MoodscoreError": "models.errors",
    "InputError": "models.errors",
    "InvalidOptionError": "models.errors",
    "LimitExceededError": "models.errors",
    "ModelLoadError": "models.errors",
    "NoUsableStreamError": "models.errors",
    "OutputError": "models.errors",
    "QueueFullError": "models.errors",
    "TooLargeError": "models.errors",
    "TooLongError": "models.errors",
    "TooWideError": "models.errors",
    "UnreadableMediaError": "models.errors",
    # the models and the example clip
    "Engine": "models.engine",
    "load_engine": "models.engine",
    "default_example_clip": "models.engine",
    # media
    "MediaInfo": "models.media.decode",
    "MediaLimits": "models.media.decode",
    "probe": "models.media.decode",
    "piano_roll_png": "models.media.plots",
    # jobs, their results and the runner that carries them
    "score_job": "models.jobs.work",
    "compose_job": "models.jobs.work",
    "safe_stem": "models.jobs.work",
    "ScoreResult": "models.jobs.results",
    "ComposeResult": "models.jobs.results",
    "ScoreSummary": "models.jobs.results",
    "ComposeSummary": "models.jobs.results",
    "Piece": "models.jobs.results",
    "Section": "models.jobs.results",
    "SegmentSummary": "models.jobs.results",
    "TaskResult": "models.jobs.tasks",
    "score_params": "models.jobs.tasks",
    "compose_params": "models.jobs.tasks",
    "rescore_params": "models.jobs.tasks",
    "Job": "models.jobs.runner",
    "JobRunner": "models.jobs.runner",
    "Runner": "models.jobs.runner",
    "ThreadRunner": "models.jobs.runner",
    "ProcessRunner": "models.jobs.runner",
    "make_runner": "models.jobs.runner",
    "add_broker_options": "models.jobs.runner",
    "broker_problem": "models.jobs.runner",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # the same names, for type checkers
    from models.affect import CLASSES, QUADRANT_COLOURS, QUADRANT_NAMES, QUADRANTS
    from models.commands import Command
    from models.defaults import DEFAULTS, MAX_SEED, MAX_VARIATIONS, Defaults, parse_instruments
    from models.engine import Engine, default_example_clip, load_engine
    from models.errors import (
        InputError,
        InvalidOptionError,
        LimitExceededError,
        ModelLoadError,
        MoodscoreError,
        NoUsableStreamError,
        OutputError,
        QueueFullError,
        TooLargeError,
        TooLongError,
        TooWideError,
        UnreadableMediaError,
    )
    from models.jobs.results import (
        ComposeResult,
        ComposeSummary,
        Piece,
        ScoreResult,
        ScoreSummary,
        Section,
        SegmentSummary,
    )
    from models.jobs.runner import (
        Job,
        JobRunner,
        ProcessRunner,
        Runner,
        ThreadRunner,
        add_broker_options,
        broker_problem,
        make_runner,
    )
    from models.jobs.tasks import TaskResult, compose_params, rescore_params, score_params
    from models.jobs.work import compose_job, safe_stem, score_job
    from models.media.decode import MediaInfo, MediaLimits, probe
    from models.media.plots import piano_roll_png
    from models.types import ComposeRequest, Emotion, Score, Segment, Timeline
