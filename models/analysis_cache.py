"""The analysis of a clip kept by content, so that scoring it again (another seed, tempo or key) costs only the
composing.

A timeline is stored under a key made of the clip's bytes (SHA-256), the analysis settings and the identity of
the models that read it (each weight file's path, size and modification time), in ``$XDG_CACHE_HOME/moodscore/
analysis`` (``~/.cache/...``) or a folder given. Files are written atomically; the newest ``MAX_ENTRIES`` are
kept. A damaged entry is ignored and replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomic import atomic_output
from .types import Timeline

if TYPE_CHECKING:
    from .engine import Engine

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
    """The key of a clip's analysis: its content, the settings and the models' identity."""
    models: dict[str, Any] = {"debug": bool(engine.debug)}
    for name in ("expression", "voice", "landmarker"):
        path = engine._paths.get(name)
        if path is not None and Path(path).is_file():
            st = Path(path).stat()
            models[name] = [str(Path(path).resolve()), st.st_size, st.st_mtime_ns]
        else:
            models[name] = None  # the bundled default (its version is the package's)
    text = json.dumps({"format": FORMAT, "clip": file_digest(clip), "settings": settings, "models": models},
                      sort_keys=True, default=str)  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def load(folder: Path, key: str) -> Timeline | None:
    try:
        return Timeline.from_json((folder / f"{key}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store(folder: Path, key: str, timeline: Timeline) -> None:
    """Keep ``timeline`` (failures to write are ignored: the cache only saves time)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_output(folder / f"{key}.json", errors=(OSError,)) as tmp:
            Path(tmp).write_text(timeline.to_json() + "\n", encoding="utf-8")
        entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[MAX_ENTRIES:]:
            old.unlink(missing_ok=True)
    except (OSError, ValueError):  # a full disk or a read-only home must not fail the job
        return
