"""moodscore's shared inference core.

Front ends import only what this module exports::

    from models import load_engine
    engine = load_engine()
    timeline = engine.analyze("clip.mp4", progress=lambda f, msg: print(f, msg))
    print(timeline.to_json())
"""

from models.affect import CLASSES, QUADRANTS
from models.atomic import atomic_output
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
from models.fusion import FusionOptions
from models.jobs import ComposeJobResult, ScoreJobResult, compose_job, safe_stem, score_job
from models.media import MediaInfo, MediaLimits, probe
from models.music.mix import export_mp3
from models.plots import QUADRANT_COLOURS, QUADRANT_NAMES, piano_roll_png, timeline_png
from models.runner import Job, JobRunner, QueueFullError
from models.types import ComposeRequest, Emotion, Score, Segment, Timeline

__all__ = [
    "CLASSES",
    "QUADRANTS",
    "QUADRANT_COLOURS",
    "QUADRANT_NAMES",
    "ComposeJobResult",
    "ComposeRequest",
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
    "QueueFullError",
    "Score",
    "ScoreJobResult",
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
    "piano_roll_png",
    "probe",
    "safe_stem",
    "score_job",
    "timeline_png",
]
