"""Reading and writing the project's self-describing torch checkpoints: one place for the file handling and its
errors."""

from __future__ import annotations

import importlib.resources
import os
import pickle
import threading
from pathlib import Path
from typing import Any

import torch

from moodscore.models.errors import ModelLoadError

# The tiny random 'debug' networks are seeded from PyTorch's global generator; two built at once on two threads
# (the Engine loads the voice and the expression networks side by side) would interleave their draws and differ
# from run to run. Building one holds this lock, so each gets the same weights whatever the order.
DEBUG_INIT_LOCK = threading.Lock()

# What each kind of shipped weights may be used for (inherited from the data it was trained on) and its model card.
# Writers put the entry under the checkpoint's top-level key "provenance" (write_checkpoint(..., provenance=kind)).
PROVENANCE: dict[str, dict[str, str]] = {
    "expression": {
        "licence": "research / non-commercial use only, inherited from FER2013 (Kaggle challenge data, research use)",
        "data": "FER2013 Training (training); PublicTest (epochs, members, weights, and the accuracy reported)",
        "card": "models/weights/expression.md",
    },
    "voice": {
        "licence": "CC BY-NC-SA 4.0 (non-commercial), inherited from RAVDESS; the Whisper base encoder it reads "
        "(MIT, OpenAI) is not in this file",
        "data": "RAVDESS speech, actors 01-20; accuracy from cross-validation with folds by actor",
        "card": "models/weights/voice.md",
    },
    "generator": {
        "licence": "CC BY-NC-SA 4.0 (non-commercial), inherited from EMOPIA (fine-tuning); POP909 (pre-training): MIT",
        "data": "POP909 (pre-training, no labels); EMOPIA 1.0 train split (fine-tuning with emotion tokens)",
        "card": "models/music/baselines/generator.md",
    },
    "judge": {
        "licence": "CC BY-NC-SA 4.0 (non-commercial), inherited from EMOPIA",
        "data": "EMOPIA 1.0 official song-disjoint split; accuracy on its test split",
        "card": "models/weights/judge.md",
    },
}


def load_checkpoint(path: str | os.PathLike[str] | None, *, default: str, what: str) -> dict[str, Any]:
    """Load a checkpoint dict with ``weights_only=True`` (no code is unpickled).

    ``path=None`` means the shipped ``models/weights/<default>``, found with importlib.resources. Any failure
    (missing, truncated, not a torch file, not a dict) is a one-line :class:`ModelLoadError` naming ``what``.
    """
    where = str(path) if path is not None else f"models/weights/{default}"
    try:
        if path is None:
            with importlib.resources.as_file(importlib.resources.files("moodscore.models.weights") / default) as p:
                ckpt = torch.load(p, map_location="cpu", weights_only=True)
        else:
            ckpt = torch.load(Path(path), map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as e:
        raise ModelLoadError(f"cannot read the {what} weights {where}: {e}") from e
    if not isinstance(ckpt, dict):
        raise ModelLoadError(f"the {what} weights {where} are not a moodscore checkpoint")
    return ckpt


def write_checkpoint(ckpt: dict[str, Any], path: str | os.PathLike[str], *, provenance: str | None = None) -> Path:
    """Save a checkpoint dict atomically (a temporary file beside ``path``, renamed into place on success).

    ``provenance``: a key of :data:`PROVENANCE`; its licence, data and model card go into the file."""
    from moodscore.models.files.atomic import atomic_output

    if provenance is not None:
        ckpt = {**ckpt, "provenance": dict(PROVENANCE[provenance])}

    with atomic_output(path, suffix=".tmp") as tmp:
        torch.save(ckpt, tmp)
    return Path(path)
