"""The analysis of a clip kept by content, so that scoring it again (another seed, tempo or key) costs only the
composing.

A timeline is stored under a key made of the clip's bytes (SHA-256), the analysis settings and the identity of
the models that read it (each weight file's path, size and modification time), in ``$XDG_CACHE_HOME/moodscore/
analysis`` (``~/.cache/...``) or a folder given: ``<key>.json``, and beside it ``<key>.faces.npz`` with the
pictures of the faces read (:attr:`Timeline.faces`, which the JSON has no room for), so that a timeline taken from
the cache draws its row of faces as the first one did. Files are written atomically (the pictures first, so an
entry is never seen before its pictures are there); the newest ``MAX_ENTRIES`` are kept. A damaged entry is
ignored and replaced; missing or damaged pictures only lose the row of faces.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from moodscore.models.errors import OutputError
from moodscore.models.faces import choice as face_choice
from moodscore.models.faces.choice import load_thumbs, save_thumbs
from moodscore.models.files.atomic import atomic_output
from moodscore.models.types import FaceThumb, Timeline

if TYPE_CHECKING:
    from moodscore.models.engine import Engine

MAX_ENTRIES = 200
FORMAT = "moodscore.analysis-cache/1"


def default_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "moodscore" / "analysis"


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def analysis_key(engine: Engine, clip: Path, settings: dict[str, Any]) -> str:
    """The key of a clip's analysis: its content, the settings, the version of the face choice
    (:data:`models.faces.choice.FACE_CHOICE_VERSION`: which face is read changes the analysis), the fusion's settings
    and the models' identity (each weight file's path, size and modification time, the bundled ones included)."""
    import importlib.resources

    from moodscore.models import affect
    from moodscore.models.fusion.timeline import FusionOptions

    bundled = {"expression": "expression.pt", "voice": "voice.pt", "landmarker": "face_landmarker.task"}
    models: dict[str, Any] = {"debug": bool(engine.debug)}
    for name, default in bundled.items():
        given = engine.path_of(name)
        path = (
            Path(given)
            if given is not None
            else Path(str(importlib.resources.files("moodscore.models.weights") / default))
        )
        if path.is_file():  # a new release's weights (or another file given) make another key
            st = path.stat()
            models[name] = [str(path.resolve()), st.st_size, st.st_mtime_ns]
        else:
            models[name] = None
    settings = {
        **settings,
        "face_choice": face_choice.FACE_CHOICE_VERSION,
        # the fusion an analysis is made with (a release that changes it must not serve older timelines)
        "fusion": {**dataclasses.asdict(FusionOptions()), "quadrant_rule": affect.QUADRANT_RULE},
    }
    text = json.dumps({"format": FORMAT, "clip": file_digest(clip), "settings": settings, "models": models},
                      sort_keys=True, default=str)  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def faces_path(folder: Path, key: str) -> Path:
    """Where the pictures of the faces of the entry ``key`` are kept."""
    return folder / f"{key}.faces.npz"


def load(folder: Path, key: str) -> Timeline | None:
    """The timeline kept under ``key`` with its pictures of faces (none if they are missing or damaged), or None."""
    try:
        timeline = Timeline.from_json((folder / f"{key}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    faces = load_faces(folder, key)
    return dataclasses.replace(timeline, faces=faces) if faces else timeline


def load_faces(folder: Path, key: str) -> tuple[FaceThumb, ...]:
    """The pictures of faces kept under ``key``; none if there are none, or if the file is damaged."""
    path = faces_path(folder, key)
    if not path.is_file():
        return ()
    try:
        faces = load_thumbs(path)
    except Exception:  # a damaged file fails in numpy, zipfile or zlib in many ways: the row of faces is only lost
        return ()
    ok = all(
        f.rgb.dtype == np.uint8 and f.rgb.ndim == 3 and f.rgb.shape[2] == 3 and min(f.rgb.shape[:2]) > 0
        and np.isfinite(f.t_s)
        for f in faces
    )  # fmt: skip
    return faces if ok else ()


def store(folder: Path, key: str, timeline: Timeline) -> None:
    """Keep ``timeline`` and its pictures of faces (failures to write are ignored: the cache only saves time)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        pictures = faces_path(folder, key)
        if timeline.faces:
            # (the temporary name ends in .npz, or numpy would write to that name with .npz added)
            with atomic_output(pictures, suffix=".part.npz", errors=(OSError, ValueError)) as tmp:
                save_thumbs(tmp, timeline.faces)
        else:
            pictures.unlink(missing_ok=True)
        with atomic_output(folder / f"{key}.json", errors=(OSError,)) as tmp:
            Path(tmp).write_text(timeline.to_json() + "\n", encoding="utf-8")
        entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[MAX_ENTRIES:]:
            old.unlink(missing_ok=True)
            faces_path(folder, old.stem).unlink(missing_ok=True)
    except (OSError, ValueError, OutputError):  # a full disk or a read-only home must not fail the job
        return
