"""Face finding and tracking: MediaPipe Face Landmarker (Tasks API) plus a tiled search for small faces.

::

    with open_face_tracker(crop_size=48) as tracker:
        for frame in frames:                       # RGB uint8 (H, W, 3), in time order
            obs = tracker.process(frame.rgb, frame.t_s)
            if obs is not None:
                obs.crop                           # (48, 48) uint8 grey, framed like FER2013

The Landmarker's own detector is short-range (BlazeFace): it finds faces that fill roughly 13-100% of the
image it is given. A face of 200 px in a 1280x720 frame is missed, so when the whole frame shows nothing the
tracker searches overlapping square tiles at two scales, landmarks a crop around each face found (up to
``max_faces``), and tracks each in the following frames by landmarking a crop around its previous box (a
VIDEO-mode landmarker, so MediaPipe's own landmark tracking applies inside the crop). It searches again at once
when a face is lost, and every ``research_every`` frames to catch new faces. ``process_all`` gives every tracked
face of a frame, ``process`` the main one; which face carries the scene over a whole shot is decided after the
tracking, with the speech and the cuts known (:mod:`moodscore.models.faces.choice`).

The FER2013 alignment of the face crop (anchors, template, transform, crop) lives in :mod:`models.faces.align`,
the geometry of the search (boxes, patches, tiles) in :mod:`moodscore.models.faces.geometry`, the MediaPipe models
(landmarker, detector, their results as arrays) in :mod:`moodscore.models.faces.landmarker`; all are re-exported here.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from moodscore.models.errors import InputError
from moodscore.models.faces.align import ANCHORS as ANCHORS
from moodscore.models.faces.align import FER_SIZE as FER_SIZE
from moodscore.models.faces.align import FER_TEMPLATE as FER_TEMPLATE
from moodscore.models.faces.align import aligned_crop as aligned_crop
from moodscore.models.faces.align import alignment_matrix as alignment_matrix
from moodscore.models.faces.align import anchor_points as anchor_points
from moodscore.models.faces.choice import FaceChoiceOptions, FaceRecord, mouth_opening, score_frame, sharpness
from moodscore.models.faces.geometry import Box, box_area, box_iou, same_face
from moodscore.models.faces.geometry import check_rgb as check_rgb
from moodscore.models.faces.geometry import landmark_box as landmark_box
from moodscore.models.faces.geometry import search_tiles as search_tiles
from moodscore.models.faces.geometry import square_patch as square_patch
from moodscore.models.faces.landmarker import BLENDSHAPE_NAMES as BLENDSHAPE_NAMES
from moodscore.models.faces.landmarker import N_LANDMARKS as N_LANDMARKS
from moodscore.models.faces.landmarker import _to_mp_image as _to_mp_image
from moodscore.models.faces.landmarker import create_detector as create_detector
from moodscore.models.faces.landmarker import create_landmarker as create_landmarker
from moodscore.models.faces.landmarker import default_model_path as default_model_path
from moodscore.models.faces.landmarker import result_faces as result_faces
from moodscore.models.faces.native_logs import quiet_native_stderr


@dataclass(frozen=True)
class FaceObservation:
    """One face in one frame. Coordinates are frame pixels; landmark z is scaled like x."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1 (landmark extent)
    landmarks: np.ndarray  # (478, 3) float32
    blendshapes: np.ndarray  # (52,) float32, in the order of BLENDSHAPE_NAMES; zeros from a tracker without them
    crop: np.ndarray  # (crop_size, crop_size) uint8 grey, aligned like FER2013
    t_s: float = 0.0
    searched: bool = False  # True when this frame ran the (tiled) search rather than pure tracking
    track: int = 0  # the tracker's id of this face: the same face in following frames keeps it
    mouth: float = 0.0  # the gap between the inner lips over the face's height (it moves while the face speaks)
    sharpness: float | None = None  # variance of the Laplacian of the face over its variance (with ``thumb``)
    thumb: np.ndarray | None = None  # (thumb_size, thumb_size, 3) uint8 RGB around the face, when taken
    frame_size: tuple[int, int] = (0, 0)  # width, height of the frame


@dataclass
class _Track:
    id: int
    box: Box
    slot: int  # which of the tracker's landmarkers follows it
    thumb_t: float = -math.inf  # time of its last thumbnail
    mouth: float | None = None  # its mouth opening when last read
    lively: float = 0.0  # running mean of how much its mouth opening changed from one reading to the next


class FaceTracker:
    """Finds and tracks up to ``max_faces`` faces in a stream of frames; see the module docstring.

    :meth:`process_all` returns every face read in a frame (each with its track id, mouth opening, and in
    frames with several faces or once a second a thumbnail and its sharpness); :meth:`process` returns the main
    one (the best by size, centrality, sharpness (:func:`models.faces.choice.score_frame`) and how much its mouth
    moves, held until another face is clearly better for two readings).

    Holds a BlazeFace detector (IMAGE mode) for the search over the whole frame and its tiles, and a landmarker
    (VIDEO mode) per face followed, for the crop around it (the second and third are made when a second and a
    third face appear, in about 50 ms each). Each face followed costs one landmarker call a frame, except that
    faces other than the main one whose mouths stay still are read every ``secondary_every`` frames only. Use it
    as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        crop_size: int = FER_SIZE,
        research_every: int = 10,
        search_size: int = 256,
        track_size: int = 256,
        track_margin: float = 2.2,
        strong_score: float = 0.75,
        max_candidates: int = 3,
        max_faces: int = 3,
        secondary_every: int = 2,
        thumb_size: int = 64,
        thumb_every_s: float = 1.0,
        video_track: bool = True,
        blendshapes: bool = False,
    ) -> None:
        if crop_size < 8 or research_every < 1 or max_faces < 1 or thumb_size < 8:
            raise InputError(
                f"crop_size and thumb_size must be >= 8, research_every and max_faces >= 1, got {crop_size}, "
                f"{thumb_size}, {research_every}, {max_faces}"
            )
        self.crop_size, self.research_every = crop_size, research_every
        self.search_size, self.track_size, self.track_margin = search_size, track_size, track_margin
        self.strong_score, self.max_candidates, self.max_faces = strong_score, max_candidates, max_faces
        self.secondary_every = max(1, secondary_every)
        self.thumb_size, self.thumb_every_s = thumb_size, thumb_every_s
        with quiet_native_stderr():
            self._detector = create_detector(model_path)
            try:
                # blendshapes cost about 1.2 ms a frame and the analysis does not use them
                first = create_landmarker(model_path, video=video_track, num_faces=1, blendshapes=blendshapes)
            except BaseException:
                self._detector.close()
                raise
        self._video = video_track
        # one landmarker per face followed (and a spare to try a candidate with): a VIDEO-mode landmarker smooths
        # the landmarks from one call to the next, so sharing one would blend the faces' mouths and eyes
        self._landmarkers: list[Any] = [first]
        self._make_landmarker = lambda: create_landmarker(
            model_path, video=video_track, num_faces=1, blendshapes=blendshapes
        )
        self._tracks: list[_Track] = []
        self._gone: list[tuple[int, Box, float]] = []  # tracks lost lately (id, last box, time): found again, kept
        self._next_id = 0
        self._since_search = 0
        self._periodic = 0  # periodic searches so far (they take the two tile scales in turn)
        self._lost = 0  # frames in a row without any face
        self._rejected: list[Box] = []  # candidate boxes the landmarker turned down lately
        self._main: int | None = None  # the track :meth:`process` returns
        self._challenger: tuple[int, int] = (-1, 0)  # a track clearly better than the main one, for how many frames
        self._frame_no = 0
        self._last_ms = -1
        self._closed = False
        self._first = True  # the first inference logs a native warning; it runs silenced
        self.calls = {"detect": 0, "landmark": 0}  # model calls so far (for benchmarks)

    # -- life cycle ------------------------------------------------------------------------------------
    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with quiet_native_stderr():
                self._detector.close()
                for landmarker in self._landmarkers:
                    landmarker.close()

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self) -> None:
        """Forget the tracked faces (e.g. at a cut)."""
        self._tracks, self._gone, self._main, self._challenger = [], [], None, (-1, 0)
        self._since_search, self._lost = 0, 0
        self._rejected.clear()

    # -- steps -----------------------------------------------------------------------------------------
    def _candidates(self, rgb: np.ndarray, level: int) -> list[tuple[float, Box]]:
        """Detector boxes (score, frame box) of one search level, strong and large first."""
        h, w = rgb.shape[:2]
        if level == 0:
            f = min(1.0, self.search_size / max(w, h))
            img = rgb if f == 1.0 else cv2.resize(rgb, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
            tiles = [(np.ascontiguousarray(img), 1.0 / f, 0.0, 0.0)]
        else:
            tiles = []
            for tx, ty, side in search_tiles(w, h, level):
                patch, f = square_patch(rgb, tx, ty, side, min(side, self.search_size))
                tiles.append((patch, f, float(tx), float(ty)))
        found: list[tuple[float, Box]] = []
        for patch, f, ox, oy in tiles:
            self.calls["detect"] += 1
            for det in self._detector.detect(_to_mp_image(patch)).detections:
                bb = det.bounding_box
                score = float(det.categories[0].score) if det.categories else 0.0
                x0, y0 = bb.origin_x * f + ox, bb.origin_y * f + oy
                found.append((score, (x0, y0, x0 + bb.width * f, y0 + bb.height * f)))
        return sorted(found, key=lambda c: (c[0] >= self.strong_score, box_area(c[1])), reverse=True)

    def _search(
        self,
        rgb: np.ndarray,
        levels: tuple[int, ...],
        taken: list[Box] | None = None,
        room: int | None = None,
        busy: set[int] | None = None,
    ) -> list[tuple[FaceObservation, int]]:
        """Faces not among ``taken``, at most ``room`` (default max_faces), each with the landmarker slot that found
        it (not one of ``busy``): level by level, each new candidate landmarked until ``max_candidates`` of them were
        turned down, up to the first level that finds a face (smaller faces beside it are left to the periodic
        searches: a lost face is searched for often, and the tiles cost several detector calls)."""
        taken = list(taken or [])
        room = self.max_faces if room is None else room
        busy = set(busy or ())
        found: list[tuple[FaceObservation, int]] = []
        failures = 0
        for level in levels:
            if found:
                break
            for _, box in self._candidates(rgb, level):
                if len(found) >= room or failures >= self.max_candidates:
                    return found
                # overlapping tiles report the same face twice; a static false positive comes back every frame
                if same_face(box, taken) or any(box_iou(box, r) > 0.5 for r in self._rejected):
                    continue
                slot = min(set(range(self.max_faces + 1)) - busy)
                obs = self._landmark_around(rgb, box, slot)
                if obs is None:
                    failures += 1
                    self._rejected.append(box)
                elif same_face(obs.box, taken):
                    failures += 1  # the crop held a face already known: the candidate was that face again
                    taken.append(box)
                else:
                    found.append((obs, slot))
                    busy.add(slot)
                    taken += [obs.box, box]
        return found

    def _landmark_around(self, rgb: np.ndarray, box: Box, slot: int = 0) -> FaceObservation | None:
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        side = self.track_margin * max(box[2] - box[0], box[3] - box[1], 4.0)
        x0, y0 = cx - side / 2, cy - side / 2
        patch, f = square_patch(rgb, x0, y0, side, self.track_size)
        self.calls["landmark"] += 1
        while len(self._landmarkers) <= slot:
            with quiet_native_stderr():
                self._landmarkers.append(self._make_landmarker())
        landmarker = self._landmarkers[slot]
        img = _to_mp_image(patch)
        if self._video:
            self._last_ms += 1
            res = landmarker.detect_for_video(img, self._last_ms)
        else:
            res = landmarker.detect(img)
        faces = result_faces(res, patch.shape[1], patch.shape[0])
        if not faces:
            return None
        pts, bs = faces[0]
        pts = pts * f
        pts[:, 0] += x0
        pts[:, 1] += y0
        crop = aligned_crop(rgb, pts, self.crop_size)
        return FaceObservation(
            box=landmark_box(pts), landmarks=pts, blendshapes=bs, crop=crop, mouth=mouth_opening(pts)
        )

    def _thumb(self, rgb: np.ndarray, box: Box) -> tuple[np.ndarray, float]:
        """A ``thumb_size`` RGB square around the face (the face box 1/1.4 of it) and the sharpness of its face."""
        side = 1.4 * max(box[2] - box[0], box[3] - box[1], 4.0)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        thumb, _ = square_patch(rgb, cx - side / 2, cy - side / 2, side, self.thumb_size, area=True)
        m = round(self.thumb_size * 0.2 / 1.4)
        grey = cv2.cvtColor(thumb[m:-m, m:-m], cv2.COLOR_RGB2GRAY)
        return thumb, sharpness(grey)

    def process_all(self, rgb: np.ndarray, t_s: float) -> list[FaceObservation]:
        """Every face read in this frame (at most ``max_faces``; a still face beside the main one is read every
        ``secondary_every`` frames), main face first. Frames must come in time order."""
        if self._closed:
            raise InputError("the face tracker is closed")
        if self._first:
            self._first = False
            with quiet_native_stderr():
                return self._process_all(rgb, t_s)
        return self._process_all(rgb, t_s)

    def process(self, rgb: np.ndarray, t_s: float) -> FaceObservation | None:
        """The main face of this frame (see the class docstring), or None. Frames must come in time order."""
        faces = self.process_all(rgb, t_s)
        return next((o for o in faces if o.track == self._main), faces[0] if faces else None)

    def _process_all(self, rgb: np.ndarray, t_s: float) -> list[FaceObservation]:
        rgb = check_rgb(rgb)
        self._last_ms = max(self._last_ms, round(t_s * 1000) - 1)  # VIDEO mode needs increasing timestamps
        self._frame_no += 1
        kept: list[tuple[_Track, FaceObservation]] = []
        # faces other than the main one whose mouths are still are read every ``secondary_every`` frames only (a
        # mouth that moves may be speaking, which the choice after the tracking wants to see in every frame)
        skipped: list[_Track] = []
        still = FaceChoiceOptions().speak_floor
        lost = False
        for tr in sorted(self._tracks, key=lambda tr: tr.id != self._main):  # the main face first
            main_read = bool(kept) and kept[0][0].id == self._main
            if main_read and tr.lively < still and (self._frame_no + tr.id) % self.secondary_every:
                skipped.append(tr)
                continue
            obs = self._landmark_around(rgb, tr.box, tr.slot)
            if obs is None or same_face(obs.box, [o.box for _, o in kept]):  # gone, or two tracks on one face
                lost = True
                self._gone.append((tr.id, tr.box, t_s))
            else:
                if tr.mouth is not None:
                    tr.lively = 0.7 * tr.lively + 0.3 * abs(obs.mouth - tr.mouth)
                tr.box, tr.mouth = obs.box, obs.mouth
                kept.append((tr, obs))
        searched = False
        if not kept:
            searched = True
            if self._lost % self.research_every == 0:
                self._rejected.clear()  # give turned-down candidates another chance now and then
            # lost just now: search every frame (tiles of the small scale every other frame); lost for a while
            # (no face in view): the full search every third frame only, a third of the cost of empty scenes
            new: list[tuple[FaceObservation, int]] = []
            if self._lost < self.research_every:
                new = self._search(rgb, (0, 1, 2) if self._lost % 2 == 0 else (0, 1))
            elif self._lost % 3 == 0:
                new = self._search(rgb, (0, 1, 2))
        elif lost or self._since_search >= self.research_every:
            # a face left (look for it, or another, at once) or time for the periodic look for new faces; every
            # third periodic search takes the small tiles (8 detector calls at 1280x720, where the large take 2),
            # and it finds at least one face even when all the places are taken (the weakest face then makes room)
            searched = True
            levels = (0, 1) if lost else (2,) if self._periodic % 3 == 2 else (1,)
            self._periodic += not lost
            room = max(1, self.max_faces - len(kept) - len(skipped))
            taken = [o.box for _, o in kept] + [tr.box for tr in skipped]
            new = self._search(rgb, levels, taken, room, {tr.slot for tr, _ in kept} | {tr.slot for tr in skipped})
        else:
            new = []
        self._gone = [g for g in self._gone if t_s - g[2] <= 2.0]
        for obs, slot in new:
            same = [g for g in self._gone if same_face(obs.box, [g[1]])]
            if same:  # a face found again where one was lost lately keeps its id
                track_id = same[-1][0]
                self._gone = [g for g in self._gone if g[0] != track_id]
            else:
                track_id, self._next_id = self._next_id, self._next_id + 1
            kept.append((_Track(track_id, obs.box, slot, mouth=obs.mouth), obs))
        if searched:
            self._since_search = 0
        if not kept:
            self._tracks, self._main = [], None
            self._lost += 1
            return []
        self._lost = 0
        if searched and self._periodic % 3 == 0:
            self._rejected.clear()  # turned-down candidates get another chance now and then (a face turned away)
        self._since_search += 1
        out = [
            replace(o, track=tr.id, t_s=t_s, searched=searched, frame_size=(rgb.shape[1], rgb.shape[0]))
            for tr, o in kept
        ]
        for k, (tr, _) in enumerate(kept):
            if len(kept) + len(skipped) > 1 or t_s - tr.thumb_t >= self.thumb_every_s:
                thumb, sharp = self._thumb(rgb, out[k].box)
                out[k] = replace(out[k], thumb=thumb, sharpness=sharp)
                tr.thumb_t = t_s
        if len(out) + len(skipped) > self.max_faces:  # the weakest face makes room for the one found
            weakest = int(np.argmin(score_frame([_record(o) for o in out], out[0].frame_size)))
            del out[weakest], kept[weakest]
        self._tracks = [tr for tr, _ in kept] + skipped
        self._update_main(out, [tr.lively for tr, _ in kept], rgb.shape[1], rgb.shape[0])
        return out

    def _update_main(self, faces: list[FaceObservation], lively: list[float], width: int, height: int) -> None:
        """The main face among this frame's (by size, centrality, sharpness and how much its mouth moves, which
        may be speech: the tracker does not know where the speech is); it changes when another is better by 0.3
        for two readings in a row."""
        if not faces:
            self._main = None
            return
        ids = [o.track for o in faces]
        opts = FaceChoiceOptions()
        moving = np.clip((np.array(lively) - opts.speak_floor) / (opts.speak_full - opts.speak_floor), 0.0, 1.0)
        scores = score_frame([_record(o) for o in faces], (width, height), opts) + opts.speak * moving
        best = int(np.argmax(scores))
        if self._main not in ids:
            self._main, self._challenger = ids[best], (-1, 0)
        else:
            cur = ids.index(self._main)
            if best != cur and scores[best] > scores[cur] + 0.3:
                count = self._challenger[1] + 1 if self._challenger[0] == ids[best] else 1
                self._challenger = (ids[best], count)
                if count >= 2:
                    self._main, self._challenger = ids[best], (-1, 0)
            else:
                self._challenger = (-1, 0)


def _record(obs: FaceObservation) -> FaceRecord:
    return FaceRecord(frame=0, track=obs.track, box=obs.box, mouth=obs.mouth, sharpness=obs.sharpness)


def open_face_tracker(
    model_path: str | os.PathLike[str] | None = None,
    *,
    crop_size: int = FER_SIZE,
    research_every: int = 10,
    max_faces: int = 3,
    blendshapes: bool = False,
) -> FaceTracker:
    """A :class:`FaceTracker` over the bundled (or the given) ``face_landmarker.task``, following up to
    ``max_faces`` faces; ``blendshapes=True`` also fills :attr:`FaceObservation.blendshapes`."""
    return FaceTracker(
        model_path, crop_size=crop_size, research_every=research_every, max_faces=max_faces, blendshapes=blendshapes
    )
