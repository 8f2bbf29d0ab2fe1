"""The analysis of a clip: decoding, face tracking and expression, voice activity and emotion, and shot cuts,
run in overlapping threads over the models an :class:`~models.engine.Engine` holds, then fused into a Timeline.

:func:`evidence` reads what the faces and the voices say, window by window; :func:`analyze` fuses it. The video
side runs three overlapping stages (:func:`track_faces`: decode frames on a thread, track faces here, classify
crops on a thread) while the voice is read on a fourth.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from moodscore.models import affect
from moodscore.models.defaults import DEFAULTS
from moodscore.models.errors import MoodscoreError, UnreadableMediaError
from moodscore.models.faces.choice import FacePass, FaceRecord
from moodscore.models.faces.choice import choose as choose_face
from moodscore.models.fusion.timeline import FusionOptions, build_timeline, pool_frames, window_starts
from moodscore.models.media.cuts import detect_cuts
from moodscore.models.types import FaceThumb, Progress, Timeline, no_progress

if TYPE_CHECKING:
    from moodscore.models.engine import Engine
    from moodscore.models.media.decode import MediaLimits

ClipSource = str | os.PathLike[str]

_FACE_BATCH = 32
MIN_MEDIA_S = 0.5  # a clip must hold at least this much decodable audio or video
# Video frames read per second. Three are plenty for the timeline (1 s windows every 0.5 s, segments of 2 s and
# more): on held-out faces (benchmarks/bench_face_video.py) 3 and 5 fps read the same, and 3 costs 40% less.
ANALYSIS_FPS = DEFAULTS.fps
MAX_FACES = 3  # faces followed at once; the one that carries each shot is read (moodscore.models.faces.choice)
THUMB_EVERY_S = 1.0  # thumbnails kept of each face (for the timeline's picture)


@dataclass(frozen=True)
class Evidence:
    """A clip's per-window evidence before fusion: class probabilities (W, 8) from the faces and from the voices,
    NaN rows where a modality says nothing, on the grid of :func:`moodscore.models.fusion.timeline.window_starts`.
    ``meta`` is what the timeline reports of the reading (source, frames, speech, cuts, faces, warnings, timings)."""

    duration_s: float
    face: np.ndarray
    voice: np.ndarray
    meta: dict[str, Any]
    faces: tuple[FaceThumb, ...] = ()


def analyze(
    engine: Engine,
    clip: ClipSource | bytes,
    *,
    fps: float = ANALYSIS_FPS,
    limits: MediaLimits | None = None,
    fusion: FusionOptions | None = None,
    progress: Progress | None = None,
) -> Timeline:
    """Read the faces and voices of ``clip`` (a path, or the file's bytes) and return its emotion timeline."""
    if isinstance(clip, bytes | bytearray | memoryview):
        import tempfile

        with tempfile.TemporaryDirectory(prefix="moodscore-") as tmp:
            path = Path(tmp) / "clip"
            path.write_bytes(bytes(clip))
            return analyze(engine, path, fps=fps, limits=limits, fusion=fusion, progress=progress)
    opts = fusion or FusionOptions()
    ev = evidence(engine, clip, fps=fps, limits=limits, fusion=opts, progress=progress)
    report = progress or no_progress
    report(0.95, "fusing")
    t_fuse = time.perf_counter()
    timeline = build_timeline(ev.duration_s, ev.face, ev.voice, opts)
    meta = dict(timeline.meta)
    meta.update(ev.meta)
    timings = dict(ev.meta["timings"])
    timings["fusion_s"] = round(time.perf_counter() - t_fuse, 4)
    timings["total_s"] = round(timings["total_s"] + timings["fusion_s"], 4)
    meta["timings"] = timings
    report(1.0, "done")
    return Timeline(duration_s=timeline.duration_s, segments=timeline.segments, meta=meta, faces=ev.faces)


def evidence(
    engine: Engine,
    clip: ClipSource,
    *,
    fps: float = ANALYSIS_FPS,
    limits: MediaLimits | None = None,
    fusion: FusionOptions | None = None,
    progress: Progress | None = None,
) -> Evidence:
    """What the faces and the voices of ``clip`` (a path) say, window by window, before fusion.

    The windows are those of ``fusion`` (``win_s``, ``hop_s``, ``min_face_fraction``); ``analyze`` fuses them.
    """
    from moodscore.models.media import decode as media

    report = progress or no_progress
    opts = fusion or FusionOptions()
    if not (0 < fps <= 30):
        raise MoodscoreError(f"fps must be in (0, 30], got {fps}")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    info = media.probe(clip, limits=limits or media.MediaLimits())
    report(0.02, "probed")
    starts = window_starts(info.duration_s, opts)

    voice_result: dict[str, Any] = {}
    voice_thread = None
    if info.has_audio:
        voice_thread = threading.Thread(
            target=_voice_job, args=(engine, clip, starts, opts, voice_result, timings), daemon=True
        )
        voice_thread.start()

    face_windows = np.full((len(starts), affect.N_CLASSES), np.nan)
    n_frames = n_faces = 0
    times = np.zeros(0)
    cuts: list[float] = []
    faces_seen = None
    if info.has_video:
        thumbs: list[Any] = []
        faces_seen = track_faces(engine, clip, info.duration_s, fps, report, timings, thumbs)
        times, n_frames = faces_seen.times, len(faces_seen.times)
        t_cuts = time.perf_counter()
        cuts = detect_cuts(thumbs)
        timings["cuts_s"] = time.perf_counter() - t_cuts
    if voice_thread is not None:
        voice_thread.join()
        if "error" in voice_result:
            raise voice_result["error"]
    voice_windows = voice_result.get("windows", np.full((len(starts), affect.N_CLASSES), np.nan))
    choice = None
    if faces_seen is not None:  # which face carries each shot, now that the speech and the cuts are known
        t_choice = time.perf_counter()
        choice = choose_face(faces_seen, cuts=cuts, speech=voice_result.get("speech"))
        n_faces = sum(i is not None for i in choice.chosen)
        face_windows = pool_frames(times, choice.frame_probs, starts, opts)
        timings["face_choice_s"] = time.perf_counter() - t_choice
    # how much of the clip could actually be decoded: a cut file or a picture named .mp4 must not get a
    # timeline invented for its whole declared length
    video_s = float(times[-1]) + 1.0 / fps if info.has_video and n_frames else 0.0
    read_s = max(video_s, float(voice_result.get("audio_s", 0.0)))
    if read_s < MIN_MEDIA_S:
        raise UnreadableMediaError(
            f"{Path(info.path).name}: only {read_s:.2f} s of media could be decoded (at least {MIN_MEDIA_S} s "
            "are needed)"
        )
    warnings = []
    if read_s < info.duration_s - max(1.0, 2.0 / fps):
        warnings.append(
            f"decoding stopped early: {read_s:.1f} s of the {info.duration_s:.1f} s could be read; the rest of "
            "the timeline has no evidence"
        )
    timings["total_s"] = time.perf_counter() - t0
    meta: dict[str, Any] = {
        "source": {
            "has_video": info.has_video,
            "has_audio": info.has_audio,
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
        },
        "frames_sampled": n_frames,
        "frames_with_face": n_faces,
        "speech_windows": int((~np.isnan(voice_windows).any(axis=1)).sum()),
        "speech": voice_result.get("speech", {"t": [], "win_s": opts.win_s, "share": []}),
        "decoded_s": round(read_s, 3),
        "warnings": warnings,
        "cuts": cuts,
        "timings": {k: round(v, 4) for k, v in timings.items()},
    }
    if choice is not None:
        meta["faces"] = choice.meta
    faces = choice.thumbs if choice is not None else ()
    return Evidence(info.duration_s, face_windows, voice_windows, meta, faces)


def _voice_job(
    engine: Engine,
    clip: ClipSource,
    starts: np.ndarray,
    opts: FusionOptions,
    out: dict[str, Any],
    timings: dict[str, float],
) -> None:
    from moodscore.models.media import decode as media

    try:
        t = time.perf_counter()
        audio = media.decode_audio(clip, sr=16000)
        timings["audio_decode_s"] = time.perf_counter() - t
        out["audio_s"] = len(audio) / 16000
        t = time.perf_counter()
        track = engine.voice.analyze(audio, 16000, win_s=opts.win_s, hop_s=opts.hop_s, starts=starts)
        timings["voice_s"] = time.perf_counter() - t
        out["windows"] = track.probs
        # where people speak (share of each analysis window), for an arrangement that leaves them room
        out["speech"] = {
            "t": [round(float(x), 3) for x in track.starts],
            "win_s": float(track.win_s),
            "share": [round(float(x), 3) for x in track.speech],
        }
    except MoodscoreError as exc:
        out["error"] = exc
    except Exception as exc:  # decoding failures deep inside PyAV end here
        out["error"] = UnreadableMediaError(f"could not read the audio: {exc}")


def track_faces(
    engine: Engine,
    clip: ClipSource,
    duration_s: float,
    fps: float,
    report: Progress,
    timings: dict[str, float],
    thumbs: list[Any] | None = None,
) -> FacePass:
    """Three overlapping stages: decode frames (a thread), track faces (here), classify crops (a thread);
    every face the tracker follows is classified (the choice of one comes after).
    ``thumbs`` gets a thumbnail of every decoded frame (for the cut detection).

    A failure anywhere stops the decoder too (no thread is left blocked on a full queue).
    """
    from concurrent.futures import Future, ThreadPoolExecutor
    from contextlib import ExitStack

    from moodscore.models.faces.tracker import FER_SIZE, open_face_tracker
    from moodscore.models.media import decode as media

    frames: queue.Queue[Any] = queue.Queue(maxsize=8)
    stop = threading.Event()
    stage_time = {"decode": 0.0, "expression": 0.0}

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                frames.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        t = time.perf_counter()
        try:
            for frame in media.iter_frames(clip, fps=fps, thumbs=thumbs):
                if not put(frame):
                    return
            put(None)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(exc)
        finally:
            stage_time["decode"] = time.perf_counter() - t

    def classify(idx: list[int], batch: np.ndarray, landmarks: np.ndarray) -> tuple[list[int], np.ndarray]:
        t = time.perf_counter()
        out = affect.fer_to_classes(engine.expression.predict(batch, landmarks=landmarks))
        stage_time["expression"] += time.perf_counter() - t
        return idx, out

    producer = threading.Thread(target=produce, name="moodscore-decode", daemon=True)
    producer.start()
    expected = max(1, int(duration_s * fps))
    times: list[float] = []
    pending: list[tuple[int, np.ndarray, np.ndarray]] = []  # record index, crop, landmarks
    futures: list[Future[tuple[list[int], np.ndarray]]] = []
    records: list[FaceRecord] = []
    face_thumbs: dict[int, np.ndarray] = {}
    last_thumb: dict[int, float] = {}  # per face, the time of the last thumbnail kept
    frame_size = (0, 0)
    t_face = 0.0
    try:
        with ExitStack() as stack:
            pool = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="moodscore-expr"))
            # a fresh process imports torch for the expression network while MediaPipe is imported here and
            # the first frames decode; batches queue behind the load
            loading = pool.submit(lambda: engine.expression)
            tracker = stack.enter_context(
                open_face_tracker(engine.path_of("landmarker"), crop_size=FER_SIZE, max_faces=MAX_FACES)
            )
            while True:
                if loading.done() and loading.exception() is not None:
                    loading.result()  # a broken expression file fails the job now, not after the tracking
                item = frames.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    if isinstance(item, MoodscoreError):
                        raise item
                    raise UnreadableMediaError(f"could not decode the video: {item}")
                t = time.perf_counter()
                seen = tracker.process_all(item.rgb, item.t_s)
                t_face += time.perf_counter() - t
                frame_size = (item.rgb.shape[1], item.rgb.shape[0])
                for obs in seen:
                    k = len(records)
                    records.append(FaceRecord(len(times), obs.track, obs.box, obs.mouth, obs.sharpness))
                    pending.append((k, obs.crop, obs.landmarks))
                    # about one thumbnail a second per face is kept (memory stays small on long clips)
                    if obs.thumb is not None and item.t_s - last_thumb.get(obs.track, -np.inf) >= THUMB_EVERY_S:
                        face_thumbs[k], last_thumb[obs.track] = obs.thumb, item.t_s
                times.append(item.t_s)
                if len(pending) >= _FACE_BATCH:
                    futures.append(pool.submit(classify, *_face_batch(pending)))
                    pending = []
                if len(times) % 10 == 0:
                    report(0.05 + 0.85 * min(1.0, len(times) / expected), f"faces {len(times)}/{expected} frames")
            if pending:
                futures.append(pool.submit(classify, *_face_batch(pending)))
            probs = np.full((len(records), affect.N_CLASSES), np.nan)
            for fut in futures:
                idx, out = fut.result()
                probs[idx] = out
    finally:
        stop.set()
        producer.join()
    timings["video_decode_s"] = stage_time["decode"]
    timings["face_track_s"] = t_face
    timings["expression_s"] = stage_time["expression"]
    return FacePass(np.asarray(times), records, probs, face_thumbs, frame_size)


def _face_batch(pending: list[tuple[int, np.ndarray, np.ndarray]]) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Record indices, stacked crops and stacked landmarks of a batch."""
    return [i for i, _, _ in pending], np.stack([c for _, c, _ in pending]), np.stack([m for _, _, m in pending])
