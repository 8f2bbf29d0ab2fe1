"""Which face carries the scene (models.faces.choice): the rules on made-up faces, then a real clip of two faces
(tests/data/make_example.py --two-faces) whose small, sharp, speaking face must be read, and timeline.png
showing it."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest
from media_fixtures import make_example

from moodscore.models import Engine, Timeline
from moodscore.models.faces.choice import FaceRecord, choose_faces, speech_per_frame
from moodscore.models.types import FaceThumb

DATA = Path(__file__).parent / "data"
SIZE = (640, 360)
LEFT_BIG = (20.0, 40.0, 260.0, 300.0)  # a large face off to the left
MIDDLE = (280.0, 120.0, 380.0, 240.0)  # a smaller face in the middle
RIGHT = (450.0, 110.0, 570.0, 250.0)
RIGHT_SMALL = (480.0, 130.0, 560.0, 230.0)


def rec(frame: int, track: int, box: tuple[float, float, float, float], *, sharp: float = 1.0, mouth: float = 0.02):
    return FaceRecord(frame=frame, track=track, box=box, mouth=mouth, sharpness=sharp)


def test_a_sharp_face_beats_a_larger_blurred_one() -> None:
    n = 12
    records = [r for f in range(n) for r in (rec(f, 0, LEFT_BIG, sharp=0.05), rec(f, 1, MIDDLE, sharp=0.4))]
    chosen = choose_faces(records, np.arange(n) / 3, SIZE)
    assert [records[i].track for i in chosen if i is not None] == [1] * n
    # both in focus: the larger one carries the scene
    records = [r for f in range(n) for r in (rec(f, 0, LEFT_BIG, sharp=0.4), rec(f, 1, MIDDLE, sharp=0.4))]
    chosen = choose_faces(records, np.arange(n) / 3, SIZE)
    assert [records[i].track for i in chosen if i is not None] == [0] * n


def test_the_face_that_speaks_wins_while_speech_is_heard() -> None:
    n = 15
    opening = [0.02, 0.09, 0.03, 0.1, 0.02, 0.08] * 3
    records = [r for f in range(n) for r in (rec(f, 0, LEFT_BIG, mouth=0.03), rec(f, 1, RIGHT, mouth=opening[f]))]
    times = np.arange(n) / 3
    silent = choose_faces(records, times, SIZE)  # no speech: the moving mouth means nothing
    assert {records[i].track for i in silent if i is not None} == {0}
    talking = np.ones(n, bool)
    spoken = choose_faces(records, times, SIZE, talking=talking)
    assert [records[i].track for i in spoken if i is not None] == [1] * n


def test_the_choice_holds_through_a_short_lapse_and_changes_at_a_cut() -> None:
    def clip(n: int) -> list[FaceRecord]:
        # face 0 (central, larger) is the better one, except while it is blurred: frames 5-6, and from frame 12 on
        out = []
        for f in range(n):
            blurred = f in (5, 6) or f >= 12
            out += [rec(f, 0, MIDDLE, sharp=0.05 if blurred else 0.4), rec(f, 1, RIGHT_SMALL, sharp=0.3)]
        return out

    def tracks(records: list[FaceRecord], **kw: object) -> list[int]:
        chosen = choose_faces(records, np.arange(len(records) // 2) / 3, SIZE, **kw)  # type: ignore[arg-type]
        return [records[i].track for i in chosen if i is not None]

    assert tracks(clip(15)) == [0] * 15  # neither two frames nor one second at the end pay for a switch
    assert tracks(clip(15), cuts=[4.0]) == [0] * 12 + [1] * 3  # at a cut the new shot's best face is taken at once
    assert tracks(clip(30)) == [0] * 12 + [1] * 18  # a lasting change is followed, once, where it began


def test_a_face_that_leaves_is_replaced() -> None:
    records = [rec(f, 0, MIDDLE) for f in range(6)] + [rec(f, 1, RIGHT, sharp=0.2) for f in range(12)]
    chosen = choose_faces(records, np.arange(12) / 3, SIZE)
    assert [records[i].track for i in chosen if i is not None][:6] == [0] * 6
    assert all(records[i].track == 1 for i in chosen[7:] if i is not None) and chosen[-1] is not None


def test_a_face_read_every_other_frame_is_chosen_in_every_frame() -> None:
    """The tracker reads a still face other than its main one every other frame: the frames between take the
    reading before them, and the face is neither punished for them nor dropped in them."""
    n = 12
    records = [rec(f, 0, LEFT_BIG, sharp=0.05) for f in range(n)]
    records += [rec(f, 1, MIDDLE, sharp=0.4) for f in range(0, n, 2)]
    chosen = choose_faces(records, np.arange(n) / 3, SIZE)
    assert all(i is not None and records[i].track == 1 for i in chosen[:-1])
    assert [records[i].frame for i in chosen[:-1] if i is not None] == [f - f % 2 for f in range(n - 1)]


def test_speech_per_frame() -> None:
    speech = {"t": [0.0, 0.5, 1.0, 1.5], "win_s": 1.0, "share": [1.0, 0.8, 0.1, 0.0]}
    talk = speech_per_frame(np.array([0.1, 0.6, 1.2, 1.8, 3.0]), speech)
    assert talk.tolist() == [True, True, False, False, False]
    assert not speech_per_frame(np.array([0.1]), None).any()


# -- a real clip of two faces ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_faces(tmp_path_factory: pytest.TempPathFactory) -> tuple[Timeline, ModuleType, np.ndarray]:
    maker = make_example()
    path = tmp_path_factory.mktemp("faces") / "two_faces.mp4"
    maker.make_two_faces_clip(path)
    from moodscore.models.media.decode import iter_frames

    frame = next(iter(iter_frames(path, fps=1.0))).rgb
    return Engine(debug=True).analyze(path), maker, frame


@pytest.fixture(scope="module")
def two_sharp_faces(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ModuleType]:
    maker = make_example()
    path = tmp_path_factory.mktemp("faces") / "two_sharp_faces.mp4"
    maker.make_two_faces_clip(path, blur=0.0)
    return path, maker


def test_the_speaker_is_read_over_a_larger_silent_face(two_sharp_faces: tuple[Path, ModuleType]) -> None:
    """Both faces in focus: the larger one wins on looks alone, the smaller one because it speaks."""
    from moodscore.models.analysis.pipeline import track_faces
    from moodscore.models.faces.choice import choose

    path, maker = two_sharp_faces
    engine = Engine(debug=True)
    tl = engine.analyze(path)
    (read,) = tl.meta["faces"]["read"]
    x0, y0, x1, y1 = read["box"]
    sx, sy, side = maker.SMALL_FACE
    assert sx <= (x0 + x1) / 2 <= sx + side and sy <= (y0 + y1) / 2 <= sy + side
    seen = track_faces(engine, path, tl.duration_s, 3.0, lambda f, m: None, {})
    tracks = {r.track for r in seen.records}
    assert len(tracks) == 2
    # each face has its own landmarker: the small face's mouth moves, the big one's stays still (not blended)
    spread = {t: float(np.std([r.mouth for r in seen.records if r.track == t])) for t in tracks}
    small_track = read["track"]
    (big_track,) = tracks - {small_track}
    assert spread[small_track] > 0.01 > 3 * spread[big_track], spread
    without_speech = choose(seen).chosen
    assert {seen.records[i].track for i in without_speech if i is not None} == {big_track}
    with_speech = choose(seen, speech=tl.meta["speech"]).chosen
    assert {seen.records[i].track for i in with_speech if i is not None} == {small_track}


def _face_crops(tl: Timeline, maker: ModuleType, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """64x64 pictures of the small and the big face of ``frame``, framed as the tracker frames its thumbnails (the
    face box, 1.4 times as wide); the big face's box is the small one's, moved and scaled with its square."""
    (read,) = tl.meta["faces"]["read"]
    box = np.array(read["box"], dtype=float)
    (sx, sy, ss), (bx, by, bs) = maker.SMALL_FACE, maker.BIG_FACE
    big_box = (box - [sx, sy, sx, sy]) / ss * bs + [bx, by, bx, by]
    crops = []
    for x0, y0, x1, y1 in (box, big_box):
        half = 0.7 * max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        ya, yb = max(0, round(cy - half)), round(cy + half)
        xa, xb = max(0, round(cx - half)), round(cx + half)
        crops.append(cv2.resize(frame[ya:yb, xa:xb], (64, 64), interpolation=cv2.INTER_AREA))
    return crops[0], crops[1]


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two pictures brought to 16x16 (position and blur matter little, colour much)."""
    small = [cv2.resize(x, (16, 16), interpolation=cv2.INTER_AREA).astype(float) for x in (a, b)]
    return float(np.abs(small[0] - small[1]).mean())


def test_the_small_sharp_speaking_face_is_read_throughout(two_faces: tuple[Timeline, ModuleType, np.ndarray]) -> None:
    tl, maker, _ = two_faces
    faces = tl.meta["faces"]
    assert faces["tracked"] == 2, faces  # both faces were followed: the choice was a real one
    assert tl.meta["frames_with_face"] == tl.meta["frames_sampled"]
    (read,) = faces["read"]  # one face, the whole shot: no flicker
    assert read["start_s"] == 0.0 and read["end_s"] >= tl.duration_s - 0.5
    x0, y0, x1, y1 = read["box"]
    sx, sy, side = maker.SMALL_FACE
    assert sx <= (x0 + x1) / 2 <= sx + side and sy <= (y0 + y1) / 2 <= sy + side
    assert (x1 - x0) < 0.75 * maker.BIG_FACE[2] * 0.62  # it is not the largest face in the picture
    assert len({f.track for f in tl.faces}) == 1
    assert tl.forced(0.0, 1.0, "Q3").faces == tl.faces  # the pictures stay with a timeline the user steers
    assert "faces" not in tl.to_dict()  # and stay out of timeline.json


def test_face_pictures_round_trip(two_faces: tuple[Timeline, ModuleType, np.ndarray], tmp_path: Path) -> None:
    from moodscore.models.faces.choice import load_thumbs, save_thumbs

    tl = two_faces[0]
    save_thumbs(tmp_path / "faces.npz", tl.faces)
    again = load_thumbs(tmp_path / "faces.npz")
    assert [(f.t_s, f.track) for f in again] == [(f.t_s, f.track) for f in tl.faces]
    assert all(np.array_equal(a.rgb, b.rgb) and a.rgb.dtype == np.uint8 for a, b in zip(again, tl.faces, strict=True))
    save_thumbs(tmp_path / "none.npz", ())
    assert load_thumbs(tmp_path / "none.npz") == ()


def test_timeline_png_shows_the_face_read(two_faces: tuple[Timeline, ModuleType, np.ndarray], tmp_path: Path) -> None:
    from moodscore.models.media.plots import FACE_PX, timeline_png

    tl, maker, frame = two_faces
    assert tl.faces and all(f.rgb.shape == (64, 64, 3) for f in tl.faces)
    small, big = _face_crops(tl, maker, frame)
    for thumb in tl.faces:
        assert _distance(thumb.rgb, small) < 0.5 * _distance(thumb.rgb, big)
    # the picture, and the same with the faces painted grey: they differ where the faces are drawn
    timeline_png(tl, tmp_path / "faces.png")
    grey = tuple(FaceThumb(f.t_s, np.full_like(f.rgb, 128), f.track) for f in tl.faces)
    timeline_png(Timeline(tl.duration_s, tl.segments, tl.meta, faces=grey), tmp_path / "grey.png")
    shown = cv2.cvtColor(cv2.imread(str(tmp_path / "faces.png")), cv2.COLOR_BGR2RGB)
    plain = cv2.cvtColor(cv2.imread(str(tmp_path / "grey.png")), cv2.COLOR_BGR2RGB)
    ys, xs = np.nonzero(np.abs(shown.astype(int) - plain.astype(int)).sum(axis=2) > 30)
    assert len(ys) > 0.5 * FACE_PX**2 * len(tl.segments)
    region = shown[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    assert abs(region.shape[0] - FACE_PX) <= 4 and region.shape[1] >= FACE_PX - 4
    region = region[:, : region.shape[0]]  # the first segment's face
    assert _distance(region, small) < 0.5 * _distance(region, big)
    # and a timeline from JSON (no pictures) is drawn as before
    timeline_png(Timeline.from_json(tl.to_json()), tmp_path / "json.png")
    assert cv2.imread(str(tmp_path / "json.png")).shape[0] < shown.shape[0]
