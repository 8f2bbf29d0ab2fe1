"""moodscore's shared inference core.

Front ends import only what this module exports::

    from models import load_engine
    engine = load_engine()
    timeline = engine.analyze("clip.mp4", progress=lambda f, msg: print(f, msg))
    print(timeline.to_json())
"""

from .affect import CLASSES, QUADRANTS
from .engine import Engine, analyze, load_engine
from .errors import (
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
from .fusion import FusionOptions
from .types import Emotion, Segment, Timeline

__all__ = [
    "CLASSES",
    "QUADRANTS",
    "Emotion",
    "Engine",
    "FusionOptions",
    "InputError",
    "InvalidOptionError",
    "LimitExceededError",
    "ModelLoadError",
    "MoodscoreError",
    "NoUsableStreamError",
    "OutputError",
    "Segment",
    "Timeline",
    "TooLargeError",
    "TooLongError",
    "TooWideError",
    "UnreadableMediaError",
    "analyze",
    "load_engine",
]
