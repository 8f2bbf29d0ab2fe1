"""Which face carries the scene: a score per face and frame, and a choice per shot that does not flicker.

Each face the tracker follows (:class:`models.faces.tracker.FaceTracker`, several at once) is scored in every frame it
is seen by what makes a viewer look at it: its size (next to the largest face in the frame and the frames either
side), how central it is, how sharp it is (the variance of the Laplacian of a small crop over the crop's own
variance, next to the sharpest face nearby: a face blurred by the depth of field loses), whether it is speaking
(its mouth opening moves while the voice detector hears speech, more than it does in silence) and how much of
the shot it is on screen. :func:`choose_faces` then picks
one face per frame with a Viterbi pass over the faces of each shot: staying with a face is free, switching costs
``switch_cost`` and a frame in which the chosen face is not seen costs ``absent_cost``, so the choice moves only
when another face has been clearly better for a while, or at a cut (a new shot starts a new choice).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from moodscore.models.fusion.timeline import viterbi_min_duration
from moodscore.models.types import FaceThumb

FACE_CHOICE_VERSION = 1  # a change of the choice changes analyses: part of what makes a cached analysis stale

# MediaPipe Face Mesh indices: inner lips (upper, lower) at the middle of the mouth; forehead and chin
LIP_UPPER, LIP_LOWER, FOREHEAD, CHIN = 13, 14, 10, 152


@dataclass(frozen=True, kw_only=True)
class FaceChoiceOptions:
    """Weights of the per-frame score (each part is in [0, 1]) and the costs of the choice, in score units."""

    size: float = 1.0
    centre: float = 0.5
    sharp: float = 1.0
    speak: float = 1.5
    on_screen: float = 0.5
    switch_cost: float = 3.0  # at 3 frames a second: another face must be better by 1 for about a second
    absent_cost: float = 1.5  # a frame without the chosen face
    speak_window_s: float = 2.0  # mouth movement is judged over this much time either side of a frame
    # mean change of the mouth opening (of the face's height) between neighbouring sampled frames: landmarks on a
    # still, sharp face jitter by about 0.003; a speaker's mouth, sampled a few times a second, moves between
    # closed (about 0.02) and open (0.06 and more) at random
    speak_floor: float = 0.008
    speak_full: float = 0.03


@dataclass(frozen=True)
class FaceRecord:
    """What the choice needs of one face in one frame (the tracker's :class:`models.faces.tracker.FaceObservation`)."""

    frame: int  # index of the frame in the sampled sequence
    track: int  # the tracker's id of this face
    box: tuple[float, float, float, float]
    mouth: float  # inner-lip gap over the face's height
    sharpness: float | None  # None where it was not measured (a frame with one face)


def mouth_opening(landmarks: np.ndarray) -> float:
    """The gap between the inner lips over the face's height (forehead to chin), from 478 landmarks."""
    gap = float(np.linalg.norm(landmarks[LIP_LOWER, :2] - landmarks[LIP_UPPER, :2]))
    height = float(np.linalg.norm(landmarks[CHIN, :2] - landmarks[FOREHEAD, :2]))
    return gap / max(height, 1e-6)


def sharpness(grey: np.ndarray) -> float:
    """Variance of the Laplacian of a grey crop over the crop's variance (so contrast and brightness cancel)."""
    import cv2

    g = np.asarray(grey, dtype=np.float32)
    var = float(g.var())
    return float(cv2.Laplacian(g, cv2.CV_32F, ksize=1).var()) / var if var > 1e-6 else 0.0


def speech_per_frame(times: np.ndarray, speech: dict[str, object] | None, *, threshold: float = 0.5) -> np.ndarray:
    """Whether speech is heard at each frame time, from the voice's windows (``{"t", "win_s", "share"}``)."""
    out = np.zeros(len(times), dtype=bool)
    if not speech:
        return out
    starts = np.asarray(speech.get("t") or [], dtype=float)
    share = np.asarray(speech.get("share") or [], dtype=float)
    win = float(speech.get("win_s") or 1.0)  # type: ignore[arg-type]
    if len(starts) == 0 or len(starts) != len(share):
        return out
    for i, t in enumerate(np.asarray(times, dtype=float)):
        inside = (starts <= t) & (t < starts + win)
        out[i] = bool(inside.any() and share[inside].mean() >= threshold)
    return out


def _static_scores(records: Sequence[FaceRecord], frame_size: tuple[int, int], opts: FaceChoiceOptions) -> np.ndarray:
    """Size, centrality and sharpness of each record against the other faces of its frame and the frames either
    side (the tracker reads faces other than its main one every other frame only)."""
    w, h = frame_size
    if not records:
        return np.zeros(0)
    frames = np.array([r.frame for r in records])
    areas = np.array([max(1.0, (r.box[2] - r.box[0]) * (r.box[3] - r.box[1])) for r in records])
    sharp = np.array([np.nan if r.sharpness is None else r.sharpness for r in records])
    n = int(frames.max()) + 1
    top_area, top_sharp = np.zeros(n + 2), np.zeros(n + 2)  # per frame, padded by one either side
    np.maximum.at(top_area, frames + 1, areas)
    np.maximum.at(top_sharp, frames + 1, np.nan_to_num(sharp))
    near_area = np.maximum(np.maximum(top_area[:-2], top_area[1:-1]), top_area[2:])  # frames f-1..f+1
    near_sharp = np.maximum(np.maximum(top_sharp[:-2], top_sharp[1:-1]), top_sharp[2:])
    out = np.zeros(len(records))
    for i, r in enumerate(records):
        x0, y0, x1, y1 = r.box
        dx = abs((x0 + x1) / 2 - w / 2) / max(w / 2, 1.0)
        dy = abs((y0 + y1) / 2 - h / 2) / max(h / 2, 1.0)
        centre = 1.0 - min(1.0, math.hypot(dx, dy) / math.sqrt(2.0))
        top = near_sharp[r.frame]
        sharp_rel = 1.0 if np.isnan(sharp[i]) or top <= 0 else min(1.0, sharp[i] / top)
        size = math.sqrt(min(1.0, areas[i] / near_area[r.frame]))
        out[i] = opts.size * size + opts.centre * centre + opts.sharp * sharp_rel
    return out


def score_frame(
    records: Sequence[FaceRecord], frame_size: tuple[int, int], opts: FaceChoiceOptions | None = None
) -> np.ndarray:
    """The score of each face of one frame without its history (size, centrality, sharpness), as the tracker uses
    it to name its main face while it runs."""
    return _static_scores(records, frame_size, opts or FaceChoiceOptions())


def _speaking(
    records: Sequence[FaceRecord], times: np.ndarray, talking: np.ndarray, opts: FaceChoiceOptions
) -> np.ndarray:
    """For each record, how much its face's mouth moved between frames while speech was heard nearby, in [0, 1]."""
    out = np.zeros(len(records))
    if not talking.any():
        return out
    by_track: dict[int, list[int]] = {}
    for i, r in enumerate(records):
        by_track.setdefault(r.track, []).append(i)
    for idx in by_track.values():
        idx = sorted(idx, key=lambda i: records[i].frame)
        frames = np.array([records[i].frame for i in idx])
        mouth = np.array([records[i].mouth for i in idx])
        t = times[frames]
        # a change counts where the two frames are neighbours in the sampling and speech is heard at either
        step = np.abs(np.diff(mouth))
        pairs = np.diff(frames) <= 2  # neighbours in the sampling (a face other than the main one: every other)
        heard = talking[frames[1:]] | talking[frames[:-1]]
        ok, quiet = pairs & heard, pairs & ~heard
        if not ok.any():
            continue
        # what the mouth does in silence is this face's own baseline (chewing, smiling, or landmarks that jitter
        # on a blurred face): only movement beyond it counts as speaking
        floor = max(opts.speak_floor, float(step[quiet].mean())) if quiet.sum() >= 2 else opts.speak_floor
        mid = (t[1:] + t[:-1]) / 2
        for k, i in enumerate(idx):
            near = ok & (np.abs(mid - t[k]) <= opts.speak_window_s)
            if near.sum() >= 2:
                act = float(step[near].mean())
                out[i] = min(1.0, max(0.0, (act - floor) / (opts.speak_full - opts.speak_floor)))
    return out


def record_scores(
    records: Sequence[FaceRecord],
    times: np.ndarray,
    frame_size: tuple[int, int],
    *,
    talking: np.ndarray | None = None,
    opts: FaceChoiceOptions | None = None,
) -> np.ndarray:
    """Size, centrality, sharpness and speaking of every record (without time on screen)."""
    opts = opts or FaceChoiceOptions()
    times = np.asarray(times, dtype=float)
    talk = np.zeros(len(times), bool) if talking is None else np.asarray(talking, dtype=bool)
    return _static_scores(records, frame_size, opts) + opts.speak * _speaking(records, times, talk, opts)


def choose_faces(
    records: Sequence[FaceRecord],
    times: np.ndarray,
    frame_size: tuple[int, int],
    *,
    cuts: Sequence[float] = (),
    talking: np.ndarray | None = None,
    opts: FaceChoiceOptions | None = None,
) -> list[int | None]:
    """For each frame, the index in ``records`` of the face that carries the scene (None: no face that frame).

    ``times``: the sampled frames' times; ``cuts``: the first time of each new shot; ``talking``: per frame,
    whether speech is heard (:func:`speech_per_frame`)."""
    opts = opts or FaceChoiceOptions()
    times = np.asarray(times, dtype=float)
    chosen: list[int | None] = [None] * len(times)
    if not records:
        return chosen
    scores = record_scores(records, times, frame_size, talking=talking, opts=opts)
    shot_of = np.searchsorted(np.asarray(sorted(cuts), dtype=float), times + 1e-6, side="right")
    in_shot: dict[int, list[int]] = {}
    for i, r in enumerate(records):
        in_shot.setdefault(int(shot_of[r.frame]), []).append(i)
    for shot, mine in in_shot.items():
        frames = np.flatnonzero(shot_of == shot)
        first, last = int(frames[0]), int(frames[-1])
        tracks = sorted({records[i].track for i in mine})
        col = {tr: k for k, tr in enumerate(tracks)}
        n = last - first + 1
        emit = np.full((n, len(tracks)), -opts.absent_cost)
        where = np.full((n, len(tracks)), -1, dtype=np.int64)
        for i in mine:
            r = records[i]
            emit[r.frame - first, col[r.track]] = scores[i]
            where[r.frame - first, col[r.track]] = i
        # a frame the tracker skipped for a face it reads every other frame: as in the frames either side, and that
        # face's expression is the one read just before
        gap = (where[1:-1] < 0) & (where[:-2] >= 0) & (where[2:] >= 0)
        emit[1:-1][gap] = ((emit[:-2] + emit[2:]) / 2)[gap]
        where[1:-1][gap] = where[:-2][gap]
        emit += opts.on_screen * (where >= 0).mean(axis=0)  # time on screen within the shot
        for f, k in enumerate(viterbi_min_duration(emit, min_len=1, switch_cost=opts.switch_cost)):
            if where[f, k] >= 0:
                chosen[first + f] = int(where[f, k])
    return chosen


@dataclass
class FacePass:
    """The faces of a clip's sampled frames as the tracker followed them, and the expression read on each."""

    times: np.ndarray  # (F,) the sampled frames' times
    records: list[FaceRecord]
    probs: np.ndarray  # (len(records), classes) the expression of each face seen
    thumbs: dict[int, np.ndarray]  # record index -> RGB thumbnail, about one a second per face
    frame_size: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class FaceChoice:
    """The face chosen in each frame and what follows from it."""

    chosen: list[int | None]  # per frame, the index of the chosen record
    frame_probs: np.ndarray  # (F, classes): the chosen face's expression, NaN where none
    thumbs: tuple[FaceThumb, ...]  # the chosen face's thumbnails, in time order
    meta: dict[str, object]  # for the timeline's meta: how many faces, and which one was read when


def choose(
    face_pass: FacePass,
    *,
    cuts: Sequence[float] = (),
    speech: dict[str, object] | None = None,
    opts: FaceChoiceOptions | None = None,
) -> FaceChoice:
    """Choose the face of each frame of ``face_pass`` (:func:`choose_faces`), given the cuts and the voice's speech
    windows, and collect the chosen face's expressions and thumbnails."""
    fp = face_pass
    talking = speech_per_frame(fp.times, speech)
    chosen = choose_faces(fp.records, fp.times, fp.frame_size, cuts=cuts, talking=talking, opts=opts)
    n_classes = fp.probs.shape[1] if fp.probs.ndim == 2 else 0
    frame_probs = np.full((len(fp.times), n_classes), np.nan)
    for f, i in enumerate(chosen):
        if i is not None:
            frame_probs[f] = fp.probs[i]
    thumbs = tuple(
        FaceThumb(float(fp.times[fp.records[i].frame]), fp.thumbs[i], fp.records[i].track)
        for i in chosen
        if i is not None and i in fp.thumbs
    )
    # stretches of frames that read one face (frames with no face in between do not break one)
    stretches: list[dict[str, object]] = []
    boxes: list[tuple[float, float, float, float]] = []
    cut_list = sorted(cuts)
    for f, i in enumerate(chosen):
        if i is None:
            continue
        r, t = fp.records[i], float(fp.times[f])
        shot = int(np.searchsorted(cut_list, t + 1e-6, side="right"))
        if not stretches or stretches[-1]["track"] != r.track or stretches[-1]["shot"] != shot:
            if stretches:
                stretches[-1]["box"] = [round(float(v), 1) for v in np.median(boxes, axis=0)]
            stretches.append({"start_s": round(t, 3), "end_s": round(t, 3), "track": r.track, "shot": shot})
            boxes = []
        stretches[-1]["end_s"] = round(t, 3)
        boxes.append(r.box)
    if stretches:
        stretches[-1]["box"] = [round(float(v), 1) for v in np.median(boxes, axis=0)]
    for s in stretches:
        del s["shot"]
    meta: dict[str, object] = {
        "tracked": len({r.track for r in fp.records}),
        "frames_with_several": int(np.count_nonzero(np.bincount([r.frame for r in fp.records]) > 1))
        if fp.records
        else 0,
        "read": stretches,
    }
    return FaceChoice(chosen=chosen, frame_probs=frame_probs, thumbs=thumbs, meta=meta)


def save_thumbs(path: str | os.PathLike[str], faces: Sequence[FaceThumb]) -> None:
    """Write a timeline's face pictures (:attr:`Timeline.faces`) to an ``.npz`` file (e.g. beside a cached
    timeline's JSON, which has no room for them)."""
    rgb = np.stack([f.rgb for f in faces]) if faces else np.zeros((0, 1, 1, 3), np.uint8)
    t_s = np.array([f.t_s for f in faces], dtype=np.float64)
    np.savez_compressed(path, t_s=t_s, track=np.array([f.track for f in faces], dtype=np.int64), rgb=rgb)


def load_thumbs(path: str | os.PathLike[str]) -> tuple[FaceThumb, ...]:
    """The face pictures :func:`save_thumbs` wrote."""
    with np.load(path) as data:
        return tuple(
            FaceThumb(float(t), np.ascontiguousarray(rgb), int(k))
            for t, k, rgb in zip(data["t_s"], data["track"], data["rgb"], strict=True)
        )
