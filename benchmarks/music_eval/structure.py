"""Bar-grid structure measures and note-duration distributions.

Generated pieces sit on a 4/4 grid at their manifest tempo; POP909 excerpts on the grid of their
``beat_midi.txt`` (beat times and 4/4 downbeat flags). An onset's position is its beat within the bar times 4
plus the nearest 16th inside that beat (beats are interpolated linearly, so tempo changes are followed).

- bar self-similarity: for each non-empty bar, the largest Jaccard overlap of its set of (16th position, pitch)
  with any other bar of the piece; the mean over bars.
- 4-bar recurrence: the share of 4-bar windows (at 4-bar boundaries, after the first) whose set of (bar in the
  window, 16th position, pitch class) overlaps an earlier window with Jaccard >= 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .midi import END, PITCH, START

PATTERN_BARS = 4
PATTERN_MATCH = 0.5
DUR_EDGES = (0.0, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, np.inf)  # s


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 0.0
    return len(a & b) / len(a | b)


def regular_grid(tempo: float, bars: int) -> tuple[np.ndarray, np.ndarray]:
    """(beat times, downbeat beat indices) of ``bars`` bars of 4/4 at ``tempo`` BPM from 0 s."""
    beats = np.arange(4 * bars + 1) * 60.0 / tempo
    return beats, np.arange(0, 4 * bars, 4)


def grid_positions(onsets: np.ndarray, beats: np.ndarray, downbeats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bar index, 16th position in the bar) of each onset; bar -1 for onsets outside the grid.

    ``beats``: beat times (the last one closes the last bar); ``downbeats``: beat indices starting bars.
    """
    onsets = np.asarray(onsets, float)
    b = np.searchsorted(beats, onsets + 1e-9, side="right") - 1
    inside = (b >= 0) & (b < len(beats) - 1)
    bc = np.clip(b, 0, len(beats) - 2)
    frac = (onsets - beats[bc]) / np.maximum(beats[bc + 1] - beats[bc], 1e-6)
    pos_abs = bc * 4 + np.round(frac * 4).astype(int)  # a 16th rounded up to the next beat carries over
    bar_starts = np.asarray(downbeats) * 4
    bar = np.searchsorted(bar_starts, pos_abs, side="right") - 1
    last_pos = (len(beats) - 1) * 4
    ok = inside & (bar >= 0) & (pos_abs < last_pos)
    pos = pos_abs - bar_starts[np.clip(bar, 0, len(bar_starts) - 1)]
    return np.where(ok, bar, -1), np.where(ok, pos, -1)


def bar_sets(notes: np.ndarray, beats: np.ndarray, downbeats: np.ndarray) -> list[set[tuple[int, int]]]:
    bar, pos = grid_positions(notes[:, START], beats, downbeats)
    out: list[set[tuple[int, int]]] = [set() for _ in range(len(downbeats))]
    for b, p, pitch in zip(bar, pos, notes[:, PITCH].astype(int), strict=True):
        if b >= 0:
            out[b].add((int(p), int(pitch)))
    return out


def bar_self_similarity(bars: Sequence[set]) -> float:
    full = [b for b in bars if b]
    if len(full) < 2:
        return float("nan")
    return float(np.mean([max(jaccard(a, b) for j, b in enumerate(full) if j != i) for i, a in enumerate(full)]))


def pattern_recurrence(bars: Sequence[set], size: int = PATTERN_BARS, match: float = PATTERN_MATCH) -> float:
    wins = []
    for w in range(len(bars) // size):
        wins.append({(k, p, pitch % 12) for k in range(size) for p, pitch in bars[w * size + k]})
    hits = [
        any(jaccard(wins[i], wins[j]) >= match for j in range(i) if wins[j]) for i in range(1, len(wins)) if wins[i]
    ]
    return float(np.mean(hits)) if hits else float("nan")


def structure_measures(notes: np.ndarray, beats: np.ndarray, downbeats: np.ndarray) -> dict[str, float]:
    bars = bar_sets(notes, beats, downbeats)
    return {
        "bar_self_similarity": bar_self_similarity(bars),
        "pattern4_recurrence": pattern_recurrence(bars),
        "empty_bar_share": float(np.mean([not b for b in bars])) if bars else float("nan"),
    }


def duration_distribution(pieces: Sequence[np.ndarray]) -> dict[str, object]:
    """Median, quartiles and histogram (shares in ``DUR_EDGES`` bins) of note durations in seconds, all notes."""
    d = np.concatenate([p[:, END] - p[:, START] for p in pieces if len(p)]) if pieces else np.zeros(0)
    if len(d) == 0:
        return {"n_notes": 0}
    hist = np.histogram(d, bins=np.array(DUR_EDGES))[0] / len(d)
    q1, med, q3 = np.percentile(d, [25, 50, 75])
    return {
        "n_notes": len(d),
        "median": float(med),
        "q1": float(q1),
        "q3": float(q3),
        "iqr": float(q3 - q1),
        "hist_edges_s": [float(e) for e in DUR_EDGES[:-1]] + ["inf"],
        "hist": [round(float(h), 4) for h in hist],
    }
