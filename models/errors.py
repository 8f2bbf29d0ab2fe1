"""Typed errors of the moodscore core.

Every error a user can cause derives from :class:`MoodscoreError`. Its ``str()`` is one line that a front
end can show as it is (a CLI prints it and exits with status 2, Gradio wraps it in ``gr.Error``, Discord
replies with it, the bridge sends it to ``/moodscore/error``).
"""

from __future__ import annotations

import re

_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/[^\s'\",;()]+")


class MoodscoreError(Exception):
    """Base class: something the user can fix, described in one line."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        message = " ".join(str(message).split())  # one line, whatever the cause
        super().__init__(message)
        self.message = message

    @property
    def public_message(self) -> str:
        """The message with every absolute path cut to its last part, for people who must not see the server's
        folders (the web page, Discord): "cannot write to /tmp/moodscore-web/ab12/out: ..." -> "cannot write
        to out: ..."."""
        return _ABSOLUTE_PATH.sub(lambda m: m.group(0).rstrip("/").rsplit("/", 1)[-1] or "/", self.message)


class InputError(MoodscoreError, ValueError):
    """The input (a file or an option) cannot be used."""


class UnreadableMediaError(InputError):
    """The file is missing, empty, truncated, or not a media file PyAV can open."""


class NoUsableStreamError(InputError):
    """The file opens but holds no stream this step needs (e.g. no video and no audio)."""


class LimitExceededError(InputError):
    """The input exceeds a configured limit (duration, size, frame width)."""


class TooLongError(LimitExceededError):
    """The clip is longer than the configured maximum duration."""


class TooLargeError(LimitExceededError):
    """The file is larger than the configured maximum size."""


class TooWideError(LimitExceededError):
    """The video frames are wider than the configured maximum width."""


class InvalidOptionError(InputError):
    """An option is out of range or unknown (a quadrant Q5, tempo 0, ...)."""


class ModelLoadError(MoodscoreError):
    """A model file is missing, corrupt, or does not match the code that loads it."""


class OutputError(MoodscoreError):
    """An output cannot be written (e.g. the folder is not writable)."""


class QueueFullError(MoodscoreError):
    """Too many jobs are waiting; try again later."""


class TimeLimitError(MoodscoreError):
    """A job ran longer than its front end allows."""


class WorkerError(MoodscoreError):
    """The worker running a job stopped or failed (not the job's input): try again."""
