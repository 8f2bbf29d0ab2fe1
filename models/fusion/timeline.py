"""Late fusion of face and voice evidence, and temporal smoothing into a Timeline.

The clip is cut into windows (default 1 s long, every 0.5 s). In each window each modality gives a
distribution over the eight classes or nothing (no face found, no speech heard). Present modalities are
mixed linearly with the brief's weights (0.75 face, 0.25 voice) renormalised over those present.

Smoothing is an exact Viterbi pass over the four quadrants (what the music follows) with a switching cost
and a minimum segment length, done on a duration-expanded state space: a quadrant's state counts how long
it has lasted, up to the minimum, and may only be left once the minimum is reached. Windows with no
evidence emit nothing (uniform), so they join whichever segment surrounds them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from moodscore.models import affect
from moodscore.models.types import Emotion, Segment, Timeline


@dataclass(frozen=True, kw_only=True)
class FusionOptions:
    """How windows are cut, mixed and smoothed."""

    win_s: float = 1.0
    hop_s: float = 0.5
    face_weight: float = 0.75
    voice_weight: float = 0.25
    min_segment_s: float = 2.0
    switch_cost: float = 1.0  # in nats: a switch must be paid for by this much evidence
    min_face_fraction: float = 0.34  # share of a window's sampled frames with a face for the face to vote
    # How much a modality's weight in a window follows its confidence there: weight = prior x (0.05 + c) ** this,
    # c = 1 - entropy / log 4 of its quadrant probabilities (0 = the fixed prior weights)
    confidence_power: float = 0.5
    pooling: str = "log"  # "log" (weighted geometric mean) or "linear" (weighted mean of probabilities)
    # the fused distribution raised to this power and renormalised (1 / temperature): a geometric mean of two
    # calibrated opinions is less sure than their agreement warrants
    sharpness: float = 1.5
    smooth_s: float = 0.5  # the fused probabilities are averaged over the windows within this many seconds

    def __post_init__(self) -> None:
        numbers = (self.win_s, self.hop_s, self.face_weight, self.voice_weight, self.min_segment_s, self.switch_cost,
                   self.min_face_fraction, self.confidence_power, self.smooth_s, self.sharpness)  # fmt: skip
        if not all(isinstance(x, int | float) and math.isfinite(x) for x in numbers):
            raise ValueError("fusion options must be finite numbers")
        if not 0 <= self.min_face_fraction <= 1:
            raise ValueError("min_face_fraction must be between 0 and 1")
        if not (0 < self.hop_s <= self.win_s):
            raise ValueError("need 0 < hop_s <= win_s")
        if self.face_weight < 0 or self.voice_weight < 0 or self.face_weight + self.voice_weight <= 0:
            raise ValueError("modality weights must be non-negative and not both zero")
        if min(self.min_segment_s, self.switch_cost, self.confidence_power, self.smooth_s) < 0:
            raise ValueError("min_segment_s, switch_cost, confidence_power and smooth_s must be non-negative")
        if not self.sharpness > 0:
            raise ValueError("sharpness must be positive")
        if self.pooling not in ("linear", "log"):
            raise ValueError(f"pooling must be 'linear' or 'log', got {self.pooling!r}")


def window_starts(duration_s: float, opts: FusionOptions) -> np.ndarray:
    """Start times of the analysis windows: 0, hop, 2 hop, ... while the start lies inside the clip."""
    n = max(1, math.ceil(duration_s / opts.hop_s - 1e-9))
    return np.arange(n, dtype=np.float64) * opts.hop_s


def pool_frames(
    frame_times: np.ndarray, frame_probs: np.ndarray, starts: np.ndarray, opts: FusionOptions
) -> np.ndarray:
    """Average per-frame class probabilities (NaN rows = no face) into windows; NaN where too few faces."""
    out = np.full((len(starts), affect.N_CLASSES), np.nan)
    frame_times = np.asarray(frame_times, dtype=np.float64)
    frame_probs = np.asarray(frame_probs, dtype=np.float64).reshape(len(frame_times), affect.N_CLASSES)
    found = ~np.isnan(frame_probs).any(axis=1)
    for i, s in enumerate(starts):
        in_win = (frame_times >= s) & (frame_times < s + opts.win_s)
        n = int(in_win.sum())
        k = in_win & found
        if n and k.sum() / n >= opts.min_face_fraction:
            out[i] = frame_probs[k].mean(axis=0)
    return out


def quadrant_confidence(probs: np.ndarray) -> np.ndarray:
    """1 - entropy / log 4 of each row's quadrant probabilities: 0 for no preference, 1 for certainty."""
    q = np.clip(affect.quadrant_scores(probs), 1e-12, 1.0)  # rows sum to 1
    out: np.ndarray = 1.0 + (q * np.log(q)).sum(axis=1) / math.log(4.0)
    return np.clip(out, 0.0, 1.0)


_FLOOR = 1e-3  # probabilities are floored before a geometric mean, so that no class is vetoed outright


def fuse(face: np.ndarray, voice: np.ndarray, opts: FusionOptions) -> np.ndarray:
    """Mix per-window face and voice probabilities (W, 8) with NaN rows for absence; NaN where neither.

    Each present modality gets its prior weight, times ``(0.05 + confidence) ** confidence_power``; the
    weights are renormalised over the modalities present. With ``pooling="log"`` the mix is a weighted geometric
    mean, in which a face's ``neutral`` also stands for ``calm`` where a voice is heard (a face cannot tell them
    apart; a voice can). The result is raised to ``sharpness`` and renormalised.
    """
    has_f = ~np.isnan(np.asarray(face, dtype=np.float64)).any(axis=1)
    has_v = ~np.isnan(np.asarray(voice, dtype=np.float64)).any(axis=1)
    face = np.nan_to_num(np.asarray(face, dtype=np.float64))  # absent rows are 0 and weigh 0
    voice = np.nan_to_num(np.asarray(voice, dtype=np.float64))
    wf = np.where(has_f, opts.face_weight, 0.0)
    wv = np.where(has_v, opts.voice_weight, 0.0)
    if opts.confidence_power > 0:
        wf = wf * (0.05 + quadrant_confidence(face)) ** opts.confidence_power
        wv = wv * (0.05 + quadrant_confidence(voice)) ** opts.confidence_power
    total = wf + wv
    with np.errstate(invalid="ignore", divide="ignore"):
        wf, wv = (wf / total)[:, None], (wv / total)[:, None]
        if opts.pooling == "log":
            f = face.copy()
            calm, neutral = affect.CLASS_INDEX["calm"], affect.CLASS_INDEX["neutral"]
            f[has_v, calm] = np.maximum(f[has_v, calm], f[has_v, neutral])  # beside a voice only
            f = f / np.maximum(f.sum(axis=1, keepdims=True), 1e-12)
            logs = np.log(np.clip(f, _FLOOR, 1.0)) * wf + np.log(np.clip(voice, _FLOOR, 1.0)) * wv
            logs = logs * opts.sharpness
            out = np.exp(logs - logs.max(axis=1, keepdims=True))
        else:
            out = (face * wf + voice * wv) ** opts.sharpness
        out = out / out.sum(axis=1, keepdims=True)
    out[total <= 0] = np.nan
    return out


def smooth_windows(probs: np.ndarray, half_width: int) -> np.ndarray:
    """Average each present window (a row without NaN) with the present windows up to ``half_width`` away."""
    if half_width <= 0:
        return probs
    present = ~np.isnan(probs).any(axis=1)
    n = len(probs)
    values = np.where(present[:, None], probs, 0.0)
    total = np.zeros_like(values)
    count = np.zeros(n)
    for shift in range(-half_width, half_width + 1):
        lo, hi = max(0, -shift), min(n, n - shift)  # rows i with i + shift inside the clip
        total[lo:hi] += values[lo + shift : hi + shift]
        count[lo:hi] += present[lo + shift : hi + shift]
    out = np.full_like(probs, np.nan)
    out[present] = total[present] / count[present, None]
    return out


def viterbi_min_duration(log_emit: np.ndarray, *, min_len: int, switch_cost: float) -> np.ndarray:
    """Most likely state path where every run lasts at least ``min_len`` steps and each switch costs.

    ``log_emit`` is (T, K). Returns (T,) state indices. If T < min_len the best single state is returned.
    """
    t_len, k = log_emit.shape
    if t_len == 0:
        return np.zeros(0, dtype=np.int64)
    min_len = max(1, int(min_len))
    if t_len < min_len or k == 1:
        return np.full(t_len, int(np.argmax(log_emit.sum(axis=0))), dtype=np.int64)
    neg = -np.inf
    # score[q, c]: best log score ending at current step in quadrant q whose run has lasted c+1 steps (capped).
    score = np.full((k, min_len), neg)
    score[:, 0] = log_emit[0]
    back = np.zeros((t_len, k, min_len, 2), dtype=np.int64)  # (prev q, prev c)
    for t in range(1, t_len):
        new = np.full((k, min_len), neg)
        full = score[:, min_len - 1]  # runs long enough to be left
        for q in range(k):
            # continue the same run
            for c in range(1, min_len):
                new[q, c] = score[q, c - 1]
                back[t, q, c] = (q, c - 1)
            if min_len > 1:
                if score[q, min_len - 1] > new[q, min_len - 1]:
                    new[q, min_len - 1] = score[q, min_len - 1]
                    back[t, q, min_len - 1] = (q, min_len - 1)
            else:
                new[q, 0] = score[q, 0]
                back[t, q, 0] = (q, 0)
            # switch in from another quadrant whose run is complete
            others = [(full[p] - switch_cost, p) for p in range(k) if p != q]
            best_val, best_p = max(others)
            if best_val > new[q, 0]:
                new[q, 0] = best_val
                back[t, q, 0] = (best_p, min_len - 1)
        score = new + log_emit[t][:, None]
    last = score[:, min_len - 1]
    if np.isfinite(last).any():  # prefer paths whose final run is complete
        q, c = int(np.argmax(last)), min_len - 1
    else:
        qi, ci = np.unravel_index(int(np.argmax(score)), score.shape)
        q, c = int(qi), int(ci)
    path = np.zeros(t_len, dtype=np.int64)
    for t in range(t_len - 1, -1, -1):
        path[t] = q
        if t:
            q, c = int(back[t, q, c, 0]), int(back[t, q, c, 1])
    return path


def _mean_emotion(rows: np.ndarray) -> Emotion | None:
    rows = rows[~np.isnan(rows).any(axis=1)]
    return Emotion.from_probs(rows.mean(axis=0)) if len(rows) else None


def build_timeline(
    duration_s: float,
    face: np.ndarray,
    voice: np.ndarray,
    opts: FusionOptions | None = None,
) -> Timeline:
    """Fuse per-window evidence (both (W, 8) on the grid of :func:`window_starts`) and smooth it."""
    opts = opts or FusionOptions()
    if not (duration_s > 0 and math.isfinite(duration_s)):
        raise ValueError(f"duration must be positive, got {duration_s}")
    starts = window_starts(duration_s, opts)
    face = np.asarray(face, dtype=np.float64).reshape(len(starts), affect.N_CLASSES)
    voice = np.asarray(voice, dtype=np.float64).reshape(len(starts), affect.N_CLASSES)
    fused = smooth_windows(fuse(face, voice, opts), round(opts.smooth_s / opts.hop_s))
    present = ~np.isnan(fused).any(axis=1)
    qprobs = np.where(present[:, None], affect.quadrant_scores(np.nan_to_num(fused)), 0.25)
    log_emit = np.log(np.clip(qprobs, 1e-4, 1.0))
    min_len = max(1, round(opts.min_segment_s / opts.hop_s))
    path = viterbi_min_duration(log_emit, min_len=min_len, switch_cost=opts.switch_cost)

    # Runs of windows -> time segments; boundaries halfway between the centres of neighbouring windows.
    centres = np.minimum(starts + opts.win_s / 2, duration_s)
    runs: list[tuple[int, int]] = []
    begin = 0
    for i in range(1, len(path) + 1):
        if i == len(path) or path[i] != path[begin]:
            runs.append((begin, i))
            begin = i
    segments: list[Segment] = []
    for j, (a, b) in enumerate(runs):
        start = 0.0 if j == 0 else float((centres[a - 1] + centres[a]) / 2)
        end = duration_s if j == len(runs) - 1 else float((centres[b - 1] + centres[b]) / 2)
        emotion = _mean_emotion(fused[a:b])
        if emotion is None:  # no evidence at all in this run: a neutral, zero-confidence placeholder
            emotion = Emotion.from_probs(np.eye(affect.N_CLASSES)[affect.CLASS_INDEX["neutral"]])
            emotion = Emotion(emotion.probs, emotion.valence, emotion.arousal, emotion.quadrant, 0.0)
        segments.append(Segment(start, end, emotion, face=_mean_emotion(face[a:b]), voice=_mean_emotion(voice[a:b])))
    segments = _merge_same_quadrant(segments, fused, starts, opts)
    va = np.where(present[:, None], np.nan_to_num(fused) @ affect.VA_MATRIX, np.nan)
    meta = {
        "window_s": opts.win_s,
        "hop_s": opts.hop_s,
        "weights": {"face": opts.face_weight, "voice": opts.voice_weight},
        "curve": {
            "t": [round(float(c), 3) for c in centres],
            "valence": [None if np.isnan(v) else round(float(v), 4) for v in va[:, 0]],
            "arousal": [None if np.isnan(a) else round(float(a), 4) for a in va[:, 1]],
            "face": np.isfinite(face).all(axis=1).tolist(),
            "voice": np.isfinite(voice).all(axis=1).tolist(),
        },
    }
    return Timeline(duration_s=float(duration_s), segments=tuple(segments), meta=meta)


def _merge_same_quadrant(
    segments: list[Segment], fused: np.ndarray, starts: np.ndarray, opts: FusionOptions
) -> list[Segment]:
    """Join neighbours whose averaged emotion ended up in the same quadrant (keeps labels consistent)."""
    out: list[Segment] = [segments[0]]
    for seg in segments[1:]:
        prev = out[-1]
        if seg.emotion.quadrant != prev.emotion.quadrant:
            out.append(seg)
            continue
        # Recompute from the windows the joined span holds.
        centres = starts + opts.win_s / 2
        idx = (centres >= prev.start_s) & (centres < seg.end_s)
        emotion = _mean_emotion(fused[idx]) or prev.emotion
        face = _merge_mod(prev.face, seg.face, prev.duration_s, seg.duration_s)
        voice = _merge_mod(prev.voice, seg.voice, prev.duration_s, seg.duration_s)
        out[-1] = Segment(prev.start_s, seg.end_s, emotion, face=face, voice=voice)
    return out


def _merge_mod(a: Emotion | None, b: Emotion | None, wa: float, wb: float) -> Emotion | None:
    if a is None or b is None:
        return a or b
    return Emotion.from_probs((np.asarray(a.probs) * wa + np.asarray(b.probs) * wb) / (wa + wb))
