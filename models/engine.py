"""The Engine: holds the models, loads each once (lazily, thread-safely) and lends them to the work.

The work itself lives by stage: :mod:`moodscore.models.analysis.pipeline` reads a clip with the face and voice models,
:mod:`models.music.composer` writes the music, :mod:`models.jobs` turns both into files. ``analyze``, ``evidence``
and ``compose`` here are one-line doors to them, so a front end needs only the Engine.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moodscore.models.analysis.pipeline import ANALYSIS_FPS, ClipSource, Evidence
from moodscore.models.types import Progress

if TYPE_CHECKING:
    from moodscore.models.faces.expression import ExpressionModel
    from moodscore.models.fusion.timeline import FusionOptions
    from moodscore.models.media.decode import MediaLimits
    from moodscore.models.music.composer import Composer
    from moodscore.models.music.judge import Judge
    from moodscore.models.types import ComposeRequest, Score, Timeline
    from moodscore.models.voices.model import VoiceModel

__all__ = ["ANALYSIS_FPS", "Engine", "Evidence", "default_example_clip", "load_engine"]


class Engine:
    """Holds the networks; ``analyze`` turns a clip into a :class:`Timeline`.

    ``debug=True`` uses tiny random networks (for tests): the pipeline runs for real, the emotions are noise.
    """

    def __init__(
        self,
        *,
        debug: bool = False,
        expression_path: str | os.PathLike[str] | None = None,
        voice_path: str | os.PathLike[str] | None = None,
        landmarker_path: str | os.PathLike[str] | None = None,
        patterns_path: str | os.PathLike[str] | None = None,
        judge_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.debug = debug
        self._paths: dict[str, Any] = {
            "expression": expression_path,
            "voice": voice_path,
            "landmarker": landmarker_path,
            "patterns": patterns_path,
            "judge": judge_path,
        }
        self._models: dict[str, Any] = {}
        self._locks = {name: threading.Lock() for name in ("expression", "voice", "composer", "judge")}

    # -- lazy model access -------------------------------------------------------------------------
    def path_of(self, name: str) -> Any:
        """The file asked for model ``name`` (None: the shipped default)."""
        return self._paths.get(name)

    def _get(self, name: str, loader: Callable[[], Any]) -> Any:
        model = self._models.get(name)
        if model is None:
            with self._locks[name]:
                model = self._models.get(name)
                if model is None:
                    model = loader()
                    self._models[name] = model
        return model

    @property
    def expression(self) -> ExpressionModel:
        from moodscore.models.faces.expression import load_expression_model

        return self._get(
            "expression", lambda: load_expression_model(self._paths["expression"], debug=self.debug, fuse=True)
        )

    @property
    def voice(self) -> VoiceModel:
        from moodscore.models.voices.model import load_voice_model

        return self._get("voice", lambda: load_voice_model(self._paths["voice"], debug=self.debug))

    @property
    def composer(self) -> Composer:
        from moodscore.models.music.composer import Composer

        path = self._paths["patterns"]
        return self._get("composer", lambda: Composer(None if path is None else str(path)))

    @property
    def judge(self) -> Judge:
        from moodscore.models.music.judge import load_judge

        return self._get("judge", lambda: load_judge(self._paths["judge"], debug=self.debug))

    def judge_score(self, score: Score) -> list[dict[str, Any]]:
        """The judge's verdict on each run of bars that asked for one quadrant (the piano part alone)."""
        from moodscore.models.music.judge import judge_runs

        return judge_runs(self.judge, score)

    def compose(self, request: ComposeRequest, *, progress: Progress | None = None) -> list[Score]:
        """Compose ``request.variations`` pieces following the request's emotion bar by bar."""
        return self.composer.compose(request, progress=progress)

    def warm_up(self) -> Engine:
        """Load every model now instead of at first use."""
        _ = self.expression, self.voice, self.composer, self.judge
        return self

    # -- the work, done elsewhere ----------------------------------------------------------------------
    def analyze(
        self,
        clip: ClipSource | bytes,
        *,
        fps: float = ANALYSIS_FPS,
        limits: MediaLimits | None = None,
        fusion: FusionOptions | None = None,
        progress: Progress | None = None,
    ) -> Timeline:
        """Read the faces and voices of ``clip`` (a path, or the file's bytes) and return its emotion timeline
        (:func:`moodscore.models.analysis.pipeline.analyze`)."""
        from moodscore.models.analysis import pipeline

        return pipeline.analyze(self, clip, fps=fps, limits=limits, fusion=fusion, progress=progress)

    def evidence(
        self,
        clip: ClipSource,
        *,
        fps: float = ANALYSIS_FPS,
        limits: MediaLimits | None = None,
        fusion: FusionOptions | None = None,
        progress: Progress | None = None,
    ) -> Evidence:
        """What the faces and the voices of ``clip`` say, window by window
        (:func:`moodscore.models.analysis.pipeline.evidence`)."""
        from moodscore.models.analysis import pipeline

        return pipeline.evidence(self, clip, fps=fps, limits=limits, fusion=fusion, progress=progress)


def load_engine(*, debug: bool = False, warm: bool = False) -> Engine:
    """Build an Engine (models load on first use, or now with ``warm=True``)."""
    engine = Engine(debug=debug)
    return engine.warm_up() if warm else engine


def default_example_clip() -> Path:
    """The bundled example clip (a face and speech whose emotion changes; package data, see models/examples)."""
    import importlib.resources

    return Path(str(importlib.resources.files("moodscore.models.examples").joinpath("example.mp4")))
