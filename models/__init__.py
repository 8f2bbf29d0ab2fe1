"""moodscore's shared inference core.

Front ends import only what this module exports::

    from models import load_engine
    engine = load_engine()
    timeline = engine.analyze("clip.mp4", progress=lambda f, msg: print(f, msg))
    print(timeline.to_json())
"""

from models.affect import CLASSES, QUADRANT_COLOURS, QUADRANT_NAMES, QUADRANTS
from models.engine import Engine, analyze, load_engine
from models.errors import (
    InputError,
    InvalidOptionError,
    LimitExceededError,
    ModelLoadError,
    MoodscoreError,
    NoUsableStreamError,
    OutputError,
    TooLargeError,
    TooLongError,
    TooWideError,
    UnreadableMediaError,
)
from models.files.atomic import atomic_output
from models.fusion.timeline import FusionOptions
from models.jobs.results import ComposeResult, ComposeSummary, Piece, ScoreResult, ScoreSummary, Section
from models.jobs.runner import Job, JobRunner, QueueFullError
from models.jobs.work import compose_job, safe_stem, score_job
from models.media.decode import MediaInfo, MediaLimits, probe
from models.media.plots import piano_roll_png, timeline_png
from models.music.mix import export_mp3
from models.types import DEFAULTS, ComposeRequest, Defaults, Emotion, Score, Segment, Timeline, parse_instruments

__all__ = [
    "CLASSES",
    "DEFAULTS",
    "QUADRANTS",
    "QUADRANT_COLOURS",
    "QUADRANT_NAMES",
    "ComposeRequest",
    "ComposeResult",
    "ComposeSummary",
    "Defaults",
    "Emotion",
    "Engine",
    "FusionOptions",
    "InputError",
    "InvalidOptionError",
    "Job",
    "JobRunner",
    "LimitExceededError",
    "MediaInfo",
    "MediaLimits",
    "ModelLoadError",
    "MoodscoreError",
    "NoUsableStreamError",
    "OutputError",
    "Piece",
    "QueueFullError",
    "Score",
    "ScoreResult",
    "ScoreSummary",
    "Section",
    "Segment",
    "Timeline",
    "TooLargeError",
    "TooLongError",
    "TooWideError",
    "UnreadableMediaError",
    "analyze",
    "atomic_output",
    "compose_job",
    "export_mp3",
    "load_engine",
    "parse_instruments",
    "piano_roll_png",
    "probe",
    "safe_stem",
    "score_job",
    "timeline_png",
]
