"""moodscore's shared inference core: its public API, the names the front ends (web/, bots/, bridge/) and the
README's examples use, and nothing else (the rest of the core is reached through these).

    from moodscore.models import load_engine
    engine = load_engine()
    timeline = engine.analyze("clip.mp4", progress=lambda f, msg: print(f, msg))
    print(timeline.to_json())

Names load on first use (PEP 562), so importing ``moodscore.models`` costs nothing until a name is used: a command
that only parses its arguments, or the OSC client a REAPER action starts, does not pay for numpy, PyAV or torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the module that defines it
_WHERE: dict[str, str] = {
    # the emotion vocabulary, the defaults and the limits
    "QUADRANT_NAMES": "moodscore.models.affect",
    "QUADRANT_COLOURS": "moodscore.models.affect",
    "DEFAULTS": "moodscore.models.defaults",
    "MAX_SEED": "moodscore.models.defaults",
    "MAX_VARIATIONS": "moodscore.models.defaults",
    "parse_instruments": "moodscore.models.defaults",
    "Command": "moodscore.models.commands",
    # the data contracts
    "ComposeRequest": "moodscore.models.types",
    "Timeline": "moodscore.models.types",
    # errors
    "MoodscoreError": "moodscore.models.errors",
    "OutputError": "moodscore.models.errors",
    "QueueFullError": "moodscore.models.errors",
    # the models and the example clip
    "Engine": "moodscore.models.engine",
    "load_engine": "moodscore.models.engine",
    "default_example_clip": "moodscore.models.engine",
    # media
    "MediaLimits": "moodscore.models.media.decode",
    "probe": "moodscore.models.media.decode",
    "piano_roll_png": "moodscore.models.media.plots",
    # jobs, their results and the runner that carries them
    "score_job": "moodscore.models.jobs.work",
    "compose_job": "moodscore.models.jobs.work",
    "safe_stem": "moodscore.models.files.folders",
    "ScoreSummary": "moodscore.models.jobs.results",
    "Piece": "moodscore.models.jobs.results",
    "SegmentSummary": "moodscore.models.jobs.results",
    "TaskResult": "moodscore.models.jobs.tasks",
    "score_params": "moodscore.models.jobs.tasks",
    "compose_params": "moodscore.models.jobs.tasks",
    "rescore_params": "moodscore.models.jobs.tasks",
    "Job": "moodscore.models.jobs.runner",
    "JobRunner": "moodscore.models.jobs.runner",
    "Runner": "moodscore.models.jobs.runner",
    "ThreadRunner": "moodscore.models.jobs.runner",
    "ProcessRunner": "moodscore.models.jobs.runner",
    "make_runner": "moodscore.models.jobs.runner",
    "add_broker_options": "moodscore.models.jobs.runner",
    "broker_problem": "moodscore.models.jobs.runner",
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
    from moodscore.models.affect import QUADRANT_COLOURS, QUADRANT_NAMES
    from moodscore.models.commands import Command
    from moodscore.models.defaults import DEFAULTS, MAX_SEED, MAX_VARIATIONS, parse_instruments
    from moodscore.models.engine import Engine, default_example_clip, load_engine
    from moodscore.models.errors import MoodscoreError, OutputError, QueueFullError
    from moodscore.models.files.folders import safe_stem
    from moodscore.models.jobs.results import Piece, ScoreSummary, SegmentSummary
    from moodscore.models.jobs.runner import (
        Job,
        JobRunner,
        ProcessRunner,
        Runner,
        ThreadRunner,
        add_broker_options,
        broker_problem,
        make_runner,
    )
    from moodscore.models.jobs.tasks import TaskResult, compose_params, rescore_params, score_params
    from moodscore.models.jobs.work import compose_job, score_job
    from moodscore.models.media.decode import MediaLimits, probe
    from moodscore.models.media.plots import piano_roll_png
    from moodscore.models.types import ComposeRequest, Timeline
