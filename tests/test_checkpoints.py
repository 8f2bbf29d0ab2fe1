"""Every network's loader turns a missing, junk or foreign checkpoint into one ModelLoadError
(moodscore.models.files.checkpoints)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from moodscore.models.errors import ModelLoadError
from moodscore.models.faces.expression import load_expression_model
from moodscore.models.faces.landmark_baseline import load_landmark_baseline
from moodscore.models.music.baselines.generator import load_generator
from moodscore.models.music.judge import load_judge
from moodscore.models.voices.model import load_voice_model

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


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("models/weights/expression.pt", "expression"),
        ("models/weights/voice.pt", "voice"),
        ("models/music/baselines/generator.pt", "generator"),
        ("models/weights/judge.pt", "judge"),
    ],
)
def test_every_shipped_checkpoint_names_its_licence_data_and_card(name: str, kind: str) -> None:
    """The files carry what may be done with them: all four are trained on non-commercial or research-only data."""
    from moodscore.models.files.checkpoints import PROVENANCE

    root = Path(__file__).resolve().parents[1]
    ckpt = torch.load(root / name, map_location="cpu", weights_only=True)
    assert ckpt["provenance"] == PROVENANCE[kind]
    assert "non-commercial" in ckpt["provenance"]["licence"]
    assert (root / ckpt["provenance"]["card"]).is_file()


def test_write_checkpoint_adds_the_provenance_it_is_given(tmp_path: Path) -> None:
    from moodscore.models.files.checkpoints import PROVENANCE, write_checkpoint

    write_checkpoint({"format": "x", "state_dict": {}}, tmp_path / "a.pt", provenance="judge")
    write_checkpoint({"format": "x", "state_dict": {}}, tmp_path / "b.pt")
    assert torch.load(tmp_path / "a.pt", weights_only=True)["provenance"] == PROVENANCE["judge"]
    assert "provenance" not in torch.load(tmp_path / "b.pt", weights_only=True)
    with pytest.raises(KeyError):
        write_checkpoint({"format": "x"}, tmp_path / "c.pt", provenance="nothing")
    assert not (tmp_path / "c.pt").exists()
