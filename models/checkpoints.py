"""Reading and writing the project's self-describing torch checkpoints: one place for the file handling and its
errors."""

from __future__ import annotations

import importlib.resources
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from .errors import ModelLoadError


def load_checkpoint(path: str | os.PathLike[str] | None, *, default: str, what: str) -> dict[str, Any]:
    """Load a checkpoint dict with ``weights_only=True`` (no code is unpickled).

    ``path=None`` means the shipped ``models/weights/<default>``, found with importlib.resources. Any failure
    (missing, truncated, not a torch file, not a dict) is a one-line :class:`ModelLoadError` naming ``what``.
    """
    where = str(path) if path is not None else f"models/weights/{default}"
    try:
        if path is None:
            with importlib.resources.as_file(importlib.resources.files("models.weights") / default) as p:
                ckpt = torch.load(p, map_location="cpu", weights_only=True)
        else:
            ckpt = torch.load(Path(path), map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as e:
        raise ModelLoadError(f"cannot read the {what} weights {where}: {e}") from e
    if not isinstance(ckpt, dict):
        raise ModelLoadError(f"the {what} weights {where} are not a moodscore checkpoint")
    return ckpt


def write_checkpoint(ckpt: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Save a checkpoint dict atomically (a temporary file beside ``path``, renamed into place on success)."""
    from .atomic import atomic_output

    with atomic_output(path, suffix=".tmp") as tmp:
        torch.save(ckpt, tmp)
    return Path(path)
