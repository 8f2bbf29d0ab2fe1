"""Face finding and tracking (models.faces.tracker) with the real MediaPipe bundle, on scikit-image's astronaut()."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from skimage import data

from moodscore.models.errors import InputError
from moodscore.models.faces.tracker import (
    ANCHORS,
    BLENDSHAPE_NAMES,
    FER_TEMPLATE,
    FaceObservation,
    FaceTracker,
    alignment_matrix,
    anchor_points,
    default_model_path,
    open_face_tracker,
    search_tiles,
)

SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
ASTRO_BOX = (180.7, 71.8, 270.2, 177.4)  # landmark extent of the face in astronaut() (512x512)
HEAD = (110, 0, 350, 260)  # pasted region: head and helmet


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def small_face_frames(
    face_w: float, start: tuple[int, int], step: tuple[int, int], n: int
) -> Iterator[tuple[np.ndarray, tuple[float, float, float, float]]]:
    """1280x720 frames of a textured background with the astronaut's head, face ``face_w`` px wide, moving."""
    rng = np.random.default_rng(0)
    bg = cv2.resize(rng.integers(40, 200, (19, 33, 3), dtype=np.uint8), (1280, 720), interpolation=cv2.INTER_CUBIC)
    s = face_w / (ASTRO_BOX[2] - ASTRO_BOX[0])
    head = cv2.resize(data.astronaut()[HEAD[1] : HEAD[3], HEAD[0] : HEAD[2]], None, fx=s, fy=s)
    hh, hw = head.shape[:2]
    for i in range(n):
        x, y = start[0] + i * step[0], start[1] + i * step[1]
        frame = bg.copy()
        frame[y : y + hh, x : x + hw] = head
        ox, oy = x - HEAD[0] * s, y - HEAD[1] * s
        yield frame, (ox + ASTRO_BOX[0] * s, oy + ASTRO_BOX[1] * s, ox + ASTRO_BOX[2] * s, oy + ASTRO_BOX[3] * s)


@pytest.fixture(scope="module")
def tracker() -> Iterator[FaceTracker]:
    with open_face_tracker(crop_size=48, blendshapes=True) as t:
        yield t


def test_bundle_sha256() -> None:
    assert hashlib.sha256(default_model_path().read_bytes()).hexdigest() == SHA256


def test_finds_astronaut_on_canvas(tracker: FaceTracker) -> None:
    tracker.reset()
    canvas = np.full((480, 640, 3), 90, np.uint8)
    canvas[:, 64:576] = data.astronaut()[16:496]
    obs = tracker.process(canvas, 0.0)
    assert isinstance(obs, FaceObservation)
    expected = (ASTRO_BOX[0] + 64, ASTRO_BOX[1] - 16, ASTRO_BOX[2] + 64, ASTRO_BOX[3] - 16)
    assert iou(obs.box, expected) > 0.7
    assert obs.landmarks.shape == (478, 3) and obs.landmarks.dtype == np.float32
    assert obs.blendshapes.shape == (len(BLENDSHAPE_NAMES),) == (52,)
    smile = [obs.blendshapes[BLENDSHAPE_NAMES.index(n)] for n in ("mouthSmileLeft", "mouthSmileRight")]
    assert min(smile) > 0.5  # she smiles
    assert obs.crop.shape == (48, 48) and obs.crop.dtype == np.uint8
    # a second frame is tracked, not searched
    again = tracker.process(canvas, 0.2)
    assert again is not None and not again.searched and iou(again.box, obs.box) > 0.9


@pytest.mark.parametrize(("face_w", "start"), [(110, (60, 40)), (150, (780, 240)), (190, (40, 120))])
def test_small_face_found_by_tiles_and_tracked(face_w: float, start: tuple[int, int]) -> None:
    with open_face_tracker() as t:
        hits, searched = 0, 0
        for i, (frame, box) in enumerate(small_face_frames(face_w, start, (4, 2), 20)):
            obs = t.process(frame, i / 5)
            hits += obs is not None and iou(obs.box, box) > 0.5
            searched += obs is not None and obs.searched
            if i == 0:
                assert obs is not None and obs.searched  # found by the search, not by a prior
        assert hits == 20
        assert searched <= 3  # the first frame plus at most the periodic re-searches


def test_whole_frame_alone_misses_small_face() -> None:
    """The reason for the tiles: the short-range detector on the whole 1280x720 frame misses a 110 px face."""
    frame, _ = next(small_face_frames(110, (60, 40), (0, 0), 1))
    with open_face_tracker() as t:
        assert t._search(frame, (0,)) == []
        assert t.process(frame, 0.0) is not None


@pytest.mark.parametrize("kind", ["blank", "noise"])
def test_no_face_returns_none(tracker: FaceTracker, kind: str) -> None:
    tracker.reset()
    rng = np.random.default_rng(1)
    frame = np.zeros((720, 1280, 3), np.uint8) if kind == "blank" else rng.integers(0, 256, (720, 1280, 3), np.uint8)
    assert tracker.process(frame, 10.0) is None
    assert tracker.process(frame, 10.2) is None


@pytest.mark.parametrize("angle", [0.0, 18.0, -25.0])
@pytest.mark.parametrize("crop_size", [44, 64])
def test_crop_size_and_level_eyes(angle: float, crop_size: int) -> None:
    canvas = np.full((640, 640, 3), 90, np.uint8)
    canvas[64:576, 64:576] = data.astronaut()
    rot = cv2.getRotationMatrix2D((320.0, 320.0), angle, 1.0)
    frame = cv2.warpAffine(canvas, rot, (640, 640), borderValue=(90, 90, 90))
    with open_face_tracker(crop_size=crop_size) as t:
        obs = t.process(frame, 0.0)
    assert obs is not None and obs.crop.shape == (crop_size, crop_size)
    m = alignment_matrix(obs.landmarks, crop_size)
    pts = anchor_points(obs.landmarks) @ m[:, :2].T + m[:, 2]
    template = np.array(list(FER_TEMPLATE.values())) * crop_size / 48
    eyes = list(ANCHORS).index("eye_left"), list(ANCHORS).index("eye_right")
    assert abs(pts[eyes[0], 1] - pts[eyes[1], 1]) < 1e-6 * crop_size  # eyes level in the crop
    assert np.abs(pts - template).max() < 0.12 * crop_size  # the face sits where FER2013 puts it


def test_crop_matches_direct_warp() -> None:
    """The crop shows the face: it correlates with the astronaut's face warped independently."""
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[:, 64:576] = data.astronaut()[16:496]
    with open_face_tracker(crop_size=48) as t:
        obs = t.process(frame, 0.0)
    assert obs is not None
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    direct = cv2.warpAffine(cv2.GaussianBlur(grey, (0, 0), 1.5), alignment_matrix(obs.landmarks), (48, 48))
    shifted = np.roll(direct, 12, axis=1)
    corr = np.corrcoef(obs.crop.ravel(), direct.ravel())[0, 1]
    assert corr > 0.9 and corr > np.corrcoef(obs.crop.ravel(), shifted.ravel())[0, 1] + 0.2


def test_tiles_cover_the_frame() -> None:
    for w, h in [(1280, 720), (720, 1280), (640, 480), (500, 500)]:
        for level in (1, 2):
            tiles = search_tiles(w, h, level)
            assert all(x >= 0 and y >= 0 and x + s <= w and y + s <= h for x, y, s in tiles)
            cover = np.zeros((h, w), bool)
            for x, y, s in tiles:
                cover[y : y + s, x : x + s] = True
            assert cover.all()


def test_close_and_bad_input() -> None:
    t = open_face_tracker()
    with pytest.raises(InputError):
        t.process(np.zeros((100, 100), np.uint8), 0.0)
    with pytest.raises(InputError):
        t.process(np.zeros((100, 100, 3), np.float32), 0.0)
    assert t.process(np.zeros((100, 100, 3), np.uint8), 0.0) is None
    assert t.process(np.zeros((100, 100, 3), np.uint8), 0.0) is None  # same time again: no VIDEO-mode error
    t.close()
    t.close()  # idempotent
    with pytest.raises(InputError):
        t.process(np.zeros((100, 100, 3), np.uint8), 1.0)


# -- the landmark-distance baseline (models.faces.landmark_baseline) ------------------------------------------------


def test_landmark_features_are_similarity_invariant() -> None:
    from moodscore.models.faces.landmark_baseline import N_FEATURES, landmark_features

    rng = np.random.default_rng(0)
    lm = rng.uniform(0, 100, (2, 478, 3))
    theta = 0.7
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    moved = lm.copy()
    moved[:, :, :2] = 3.5 * lm[:, :, :2] @ rot.T + [40.0, -7.0]
    f, g = landmark_features(lm), landmark_features(moved)
    assert f.shape == (2, N_FEATURES) == (2, 2278)
    np.testing.assert_allclose(f, g, rtol=1e-4)
    assert not np.allclose(f[0], f[1])
    with pytest.raises(InputError):
        landmark_features(np.zeros((2, 68, 2)))


def test_landmark_baseline_roundtrip(tmp_path: object) -> None:
    import pathlib

    import torch

    from moodscore.models.faces.landmark_baseline import debug_baseline, load_landmark_baseline

    model = debug_baseline()
    lm = np.random.default_rng(1).uniform(0, 100, (5, 478, 2))
    p = model.predict(lm)
    assert p.shape == (5, 7)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    path = pathlib.Path(str(tmp_path)) / "lb.pt"
    torch.save(model.checkpoint(), path)
    again = load_landmark_baseline(path)
    np.testing.assert_allclose(again.predict(lm), p, rtol=1e-5, atol=1e-6)
    assert again.dims == model.dims


def test_face_appearing_after_an_empty_stretch_is_found_soon() -> None:
    empty = np.full((480, 640, 3), 60, np.uint8)
    face = np.full((480, 640, 3), 90, np.uint8)
    face[:, 64:576] = data.astronaut()[16:496]
    with open_face_tracker() as t:
        assert all(t.process(empty, i / 5) is None for i in range(23))
        found_at = [i for i in range(23, 30) if t.process(face, i / 5) is not None]
    assert found_at and found_at[0] <= 25  # the slowed-down search of empty scenes waits at most two frames


def test_switches_to_a_clearly_larger_face() -> None:
    small = next(small_face_frames(110, (60, 40), (0, 0), 1))
    big = next(small_face_frames(200, (700, 100), (0, 0), 1))
    both = small[0].copy()
    both[100:700, 700:1280] = big[0][100:700, 700:1280]
    with open_face_tracker(research_every=5) as t:
        first = t.process(small[0], 0.0)
        assert first is not None and iou(first.box, small[1]) > 0.5
        boxes = [t.process(both, (i + 1) / 5) for i in range(8)]
    assert boxes[0] is not None and iou(boxes[0].box, small[1]) > 0.5  # still tracking the small one
    last = boxes[-1]
    assert last is not None and iou(last.box, big[1]) > 0.5  # the periodic re-search moved to the big one


def test_two_faces_keep_their_ids_and_the_still_one_beside_the_main_is_read_every_other_frame() -> None:
    small = next(small_face_frames(110, (60, 40), (0, 0), 1))
    big = next(small_face_frames(200, (700, 100), (0, 0), 1))
    both = small[0].copy()
    both[100:700, 700:1280] = big[0][100:700, 700:1280]
    with open_face_tracker(research_every=3) as t:
        seen = [t.process_all(both, i / 3) for i in range(14)]
    boxes = {o.track: o.box for frame in seen for o in frame}
    assert len(boxes) == 2  # two faces, each keeping its id
    main = seen[-1][0].track  # the main face comes first
    assert iou(boxes[main], big[1]) > 0.5 and all(frame[0].track == main for frame in seen)
    (other,) = set(boxes) - {main}
    assert iou(boxes[other], small[1]) > 0.5
    read = [any(o.track == other for o in frame) for frame in seen[4:]]
    assert read == [i % 2 == 0 for i in range(len(read))]  # its mouth is still: every other frame
    assert all(o.thumb is not None and o.sharpness is not None for frame in seen[4:] for o in frame)
