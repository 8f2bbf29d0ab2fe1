"""Every network's loader turns a missing, junk or foreign checkpoint into one ModelLoadError (models.checkpoints)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from models.errors import ModelLoadError
from models.expression import load_expression_model
from models.landmark_baseline import load_landmark_baseline
from models.music.generator import load_generator
from models.music.judge import load_judge
from models.voice import load_voice_model

LOADERS: dict[str, Callable[[Path], Any]] = {
    "expression": load_expression_model,
    "voice": load_voice_model,
    "judge": load_judge,
    "generator": load_generator,
    "landmark_baseline": load_landmark_baseline,
}


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_bad_checkpoints_raise_model_load_error(tmp_path: Path, name: str) -> None:
    load = LOADERS[name]
    with pytest.raises(ModelLoadError):
        load(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelLoadError):
        load(junk)
    other = tmp_path / "other.pt"
    torch.save({"format": "something/else"}, other)
    with pytest.raises(ModelLoadError):
        load(other)
