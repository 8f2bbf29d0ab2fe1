"""The analysis cache keeps the pictures of the faces read (so a re-score's timeline.png has its row of faces),
and never serves an analysis made by an older face choice (moodscore.models.analysis.cache, `score_job(cache=...)`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from moodscore.models import Engine, Timeline, score_job
from moodscore.models.types import FaceThumb
from tests import media_fixtures
from tests.test_score import unwritable_folder


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(debug=True)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return media_fixtures.face_clip(tmp_path_factory.mktemp("clip"))  # the smiling astronaut, 2 s


def counting(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The calls of ``engine.analyze`` from now on (the analysis still runs)."""
    calls: list[Any] = []
    real: Callable[..., Timeline] = engine.analyze

    def analyze(*args: Any, **kwargs: Any) -> Timeline:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "analyze", analyze)
    return calls


def same_faces(a: tuple[FaceThumb, ...], b: tuple[FaceThumb, ...]) -> bool:
    return len(a) == len(b) and all(
        x.t_s == y.t_s and x.track == y.track and x.rgb.dtype == y.rgb.dtype and np.array_equal(x.rgb, y.rgb)
        for x, y in zip(a, b, strict=True)
    )


def png_height(path: Path) -> int:
    return int(cv2.imread(str(path)).shape[0])


def test_a_score_from_the_cache_has_the_pictures_of_the_faces(
    engine: Engine, clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    calls = counting(engine, monkeypatch)
    first = score_job(engine, clip, tmp_path / "a", seed=1, cache=cache)
    assert len(calls) == 1 and first.timeline.faces  # the clip's face was read, and pictured
    (entry,) = cache.glob("*.json")
    assert sorted(p.name for p in cache.iterdir()) == sorted([entry.name, f"{entry.stem}.faces.npz"])  # nothing staged
    seen: list[str] = []
    second = score_job(engine, clip, tmp_path / "b", seed=2, cache=cache, progress=lambda f, m: seen.append(m))
    assert len(calls) == 1 and "analysis taken from the cache" in seen  # no analysis the second time
    assert second.timeline.segments == first.timeline.segments
    assert same_faces(second.timeline.faces, first.timeline.faces)
    # and timeline.png has its row of faces, as the first did, over a picture of the same timeline without them
    assert png_height(second.files["plot"]) == png_height(first.files["plot"])
    from moodscore.models.media.plots import timeline_png

    bare = timeline_png(Timeline.from_json(second.timeline.to_json()), tmp_path / "bare.png")
    assert png_height(second.files["plot"]) > png_height(bare) + 50


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing", "not pictures"])
def test_missing_or_damaged_pictures_lose_only_the_row_of_faces(
    engine: Engine, clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    cache = tmp_path / "cache"
    first = score_job(engine, clip, tmp_path / "a", cache=cache)
    (pictures,) = cache.glob("*.faces.npz")
    if damage == "garbage":
        pictures.write_bytes(b"not a zip file at all")
    elif damage == "truncated":
        pictures.write_bytes(pictures.read_bytes()[: pictures.stat().st_size // 2])
    elif damage == "missing":
        pictures.unlink()
    else:  # a readable file of the wrong pictures (grey floats, one channel)
        np.savez_compressed(pictures, t_s=np.zeros(1), track=np.zeros(1, np.int64), rgb=np.zeros((1, 8, 8, 1)))
    calls = counting(engine, monkeypatch)
    again = score_job(engine, clip, tmp_path / "b", cache=cache)
    assert not calls and again.timeline.segments == first.timeline.segments  # the analysis is still the cache's
    assert again.timeline.faces == () and png_height(again.files["plot"]) < png_height(first.files["plot"])


def test_an_analysis_cached_by_an_older_face_choice_is_not_used(
    engine: Engine, clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry written before the face choice changed (which read the largest face) is stale: analysed again."""
    from moodscore.models.faces import choice as face_choice

    cache = tmp_path / "cache"
    calls = counting(engine, monkeypatch)
    with monkeypatch.context() as old:
        old.setattr(face_choice, "FACE_CHOICE_VERSION", face_choice.FACE_CHOICE_VERSION - 1)
        score_job(engine, clip, tmp_path / "old", cache=cache)
    assert len(calls) == 1 and len(list(cache.glob("*.json"))) == 1
    score_job(engine, clip, tmp_path / "new", cache=cache)
    assert len(calls) == 2 and len(list(cache.glob("*.json"))) == 2  # analysed again, and kept under its own key
    score_job(engine, clip, tmp_path / "again", cache=cache)
    assert len(calls) == 2  # the current version's entry is used


def test_a_given_timeline_takes_the_clips_pictures_from_the_cache(
    engine: Engine, clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--timeline timeline.json` (edited or not) has no pictures of its own: the clip's cached analysis has them."""
    cache = tmp_path / "cache"
    first = score_job(engine, clip, tmp_path / "a", cache=cache, tempo=120)
    data = json.loads(first.files["timeline"].read_text())
    data["segments"][-1].update(quadrant="Q3", label="sad", probs={"sad": 1.0}, valence=-0.6, arousal=-0.5)
    edited = Timeline.from_json(json.dumps(data))
    assert edited.faces == ()
    calls = counting(engine, monkeypatch)
    followed = score_job(engine, clip, tmp_path / "b", cache=cache, timeline=edited, tempo=120)
    assert not calls and followed.summary.segments[-1].quadrant == "Q3"
    assert same_faces(followed.timeline.faces, first.timeline.faces)
    assert png_height(followed.files["plot"]) == png_height(first.files["plot"])
    plain = score_job(engine, clip, tmp_path / "c", timeline=edited, tempo=120)  # without the cache: no pictures
    assert not calls and plain.timeline.faces == ()
    assert png_height(plain.files["plot"]) < png_height(first.files["plot"])


def test_a_cache_folder_that_refuses_files_does_not_fail_the_score(engine: Engine, clip: Path, tmp_path: Path) -> None:
    with unwritable_folder(tmp_path / "ro") as ro:
        result = score_job(engine, clip, tmp_path / "out", cache=ro)
        assert result.files["plot"].is_file() and result.timeline.faces
        assert list(ro.iterdir()) == []


def test_a_rescore_keeps_the_pictures_of_the_faces(
    engine: Engine, clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`moodscore rescore` reads no clip again: its timeline comes from the folder and its faces from the cache."""
    from moodscore.models.jobs.rescore import rescore_job

    cache = tmp_path / "cache"
    first = score_job(engine, clip, tmp_path / "a", seed=1, cache=cache)
    calls = counting(engine, monkeypatch)
    again = rescore_job(engine, tmp_path / "a", tmp_path / "a", first=1, last=1, seed=5, cache=cache)
    assert not calls and same_faces(again.timeline.faces, first.timeline.faces)
    assert png_height(again.files["plot"]) == png_height(first.files["plot"])
    bare = rescore_job(engine, tmp_path / "a", tmp_path / "b", first=1, last=1, seed=6)  # (no cache: no row)
    assert not bare.timeline.faces and png_height(bare.files["plot"]) < png_height(first.files["plot"])


def test_the_key_follows_the_fusion_and_the_bundled_weights(
    engine: Engine, clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release that changes the fusion or ships new weights must not be served the timelines of the one before."""
    import dataclasses

    from moodscore.models import affect
    from moodscore.models.analysis import cache as analysis_cache
    from moodscore.models.fusion import timeline as fusion

    key = analysis_cache.analysis_key(engine, clip, {})
    assert analysis_cache.analysis_key(engine, clip, {}) == key
    monkeypatch.setattr(affect, "QUADRANT_RULE", "mass")
    assert analysis_cache.analysis_key(engine, clip, {}) != key
    monkeypatch.undo()
    switchier = dataclasses.replace(fusion.FusionOptions(), switch_cost=3.0)
    monkeypatch.setattr(fusion, "FusionOptions", lambda: switchier)
    assert analysis_cache.analysis_key(engine, clip, {}) != key
    monkeypatch.undo()
    # other bundled weight files (a new release's) give another key
    import importlib.resources

    weights = tmp_path / "weights"
    weights.mkdir()
    for name in ("expression.pt", "voice.pt", "face_landmarker.task"):
        (weights / name).write_bytes(b"a newer file")
    monkeypatch.setattr(importlib.resources, "files", lambda _pkg: weights)
    assert analysis_cache.analysis_key(engine, clip, {}) != key
