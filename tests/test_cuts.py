"""Shot cuts, found to the frame on a clip whose cuts are known (tests/data/make_example.py --cuts), listed in
timeline.json and score.json; a clip of one shot (whose face changes expression) has none."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest
from media_fixtures import make_example

from moodscore.models import Engine, default_example_clip, score_job

FRAME_S = 1 / 25


@pytest.fixture(scope="module")
def cuts_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ModuleType]:
    maker = make_example()
    path = tmp_path_factory.mktemp("cuts") / "cuts.mp4"
    maker.make_cuts_clip(path)
    return path, maker


def test_hard_cuts_are_found_to_the_frame_and_the_fade_in_its_black(cuts_clip: tuple[Path, ModuleType]) -> None:
    path, maker = cuts_clip
    timeline = Engine(debug=True).analyze(path)
    cuts = timeline.meta["cuts"]
    hard, fade = cuts[:-1], cuts[-1]
    assert len(hard) == len(maker.CUTS_S), cuts
    for found, true in zip(hard, maker.CUTS_S, strict=True):
        assert abs(found - true) <= FRAME_S / 2, (found, true)
    fade_out, _, _, fade_in = maker.FADE_S
    assert fade_out < fade < fade_in, cuts
    assert json.loads(timeline.to_json())["meta"]["cuts"] == cuts


def test_one_shot_has_no_cuts_and_score_json_lists_them(cuts_clip: tuple[Path, ModuleType], tmp_path: Path) -> None:
    engine = Engine(debug=True)
    assert engine.analyze(default_example_clip()).meta["cuts"] == []  # a changing face is not a cut
    path, maker = cuts_clip
    result = score_job(engine, path, tmp_path / "out")
    summary = json.loads(result.files["summary"].read_text())
    assert summary["cuts"][:3] == pytest.approx(list(maker.CUTS_S), abs=FRAME_S / 2)
    assert json.loads(result.files["timeline"].read_text())["meta"]["cuts"] == summary["cuts"]
