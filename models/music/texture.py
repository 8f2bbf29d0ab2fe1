"""Texture calibration: four numbers per quadrant that put the generator's note counts, durations and register
where EMOPIA has them.

The per-quadrant emotion bias (token log-ratios added at every step) steers the emotion, but it compounds
along a sequence: measured on the evaluation pieces, Q2 came out as clusters of ~8 low notes (mean pitch 37,
EMOPIA 58) with 57% silence, Q3 as long high chords. Four offsets per quadrant, added to the logits beside
the bias, correct the texture without touching which pitch classes, positions or velocities the bias favours:

- ``pitch``: added to every Pitch token: more or fewer notes per onset (chords vs single notes);
- ``position``: added to every Position token: more or fewer onsets per bar;
- ``duration``: times log2(duration in beats) on Duration tokens: longer or shorter notes;
- ``register``: times (pitch - 60) / 12 on Pitch tokens: higher or lower.

:func:`calibrate` finds them by stochastic approximation (common random numbers: the same seeds at every
step) so that pieces sampled for each quadrant match that quadrant's :func:`token_stats` in EMOPIA train.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from models.music import tokens

KNOBS = ("pitch", "position", "duration", "register")
STATS = ("notes_per_onset", "onsets_per_bar", "log2_duration", "pitch_mean")  # log2 of the mean duration
MAX_OFFSET = 4.0
MAX_STEP = {"pitch": 0.8, "position": 0.8, "duration": 0.6, "register": 0.3}  # at rate 1; the knobs interact


def texture_row(offsets: dict[str, float] | None) -> np.ndarray:
    """(vocab,) logit offsets for one quadrant's knobs (zeros for None)."""
    t = tokens.vocab_table()
    is_pitch, is_pos, log_dur, pitch = t.is_pitch, t.is_position, t.log2_duration, t.pitch
    row = np.zeros(len(is_pitch), dtype=np.float32)
    if not offsets:
        return row
    row[is_pitch] += offsets.get("pitch", 0.0) + offsets.get("register", 0.0) * (pitch[is_pitch] - 60) / 12
    row[is_pos] += offsets.get("position", 0.0)
    dur = ~np.isnan(log_dur)
    row[dur] += offsets.get("duration", 0.0) * log_dur[dur]
    return row


def token_stats(pieces: Iterable[Sequence[int] | np.ndarray]) -> dict[str, float]:
    """Pooled texture statistics of token sequences: notes per onset, onsets per bar (an onset is a Position
    token followed by a note), log2 of the mean duration in beats, mean pitch; and the variances of log2
    duration and pitch (which set the step sizes of :func:`calibrate`)."""
    t = tokens.vocab_table()
    is_pitch, is_pos, log_dur, pitch = t.is_pitch, t.is_position, t.log2_duration, t.pitch
    bar = tokens.token_id("Bar_None")
    ids = np.concatenate([np.asarray(p, dtype=np.int64) for p in pieces])
    onset = is_pos[ids[:-1]] & is_pitch[ids[1:]]  # an empty Position (one followed by another) is no onset
    notes, onsets, bars = int(is_pitch[ids].sum()), int(onset.sum()), max(int((ids == bar).sum()), 1)
    d, p = log_dur[ids], pitch[ids]
    d, p = d[~np.isnan(d)], p[~np.isnan(p)]
    return {
        "notes_per_onset": notes / max(onsets, 1),
        "onsets_per_bar": onsets / bars,
        "log2_duration": float(np.log2(np.mean(2.0**d))) if d.size else 0.0,
        "pitch_mean": float(p.mean()) if p.size else 60.0,
        "log2_duration_var": float(d.var()) if d.size > 1 else 1.0,
        "pitch_var": float(p.var()) if p.size > 1 else 144.0,
    }


def step(offsets: dict[str, float], got: dict[str, float], target: dict[str, float], rate: float) -> dict[str, float]:
    """One stochastic-approximation step of the four knobs towards ``target``.

    Counts move on a log scale (an offset of x multiplies the odds of a Pitch or Position token by e^x); the two
    tilts move by the mean they should shift divided by the variance they act on (exponential tilting)."""
    delta = {
        "pitch": np.log(target["notes_per_onset"] / max(got["notes_per_onset"], 1e-3)),
        "position": np.log(target["onsets_per_bar"] / max(got["onsets_per_bar"], 1e-3)),
        "duration": (target["log2_duration"] - got["log2_duration"]) / max(got["log2_duration_var"], 0.25),
        "register": 12 * (target["pitch_mean"] - got["pitch_mean"]) / max(got["pitch_var"], 9.0),
    }
    moved = {k: offsets[k] + np.clip(rate * d, -rate * MAX_STEP[k], rate * MAX_STEP[k]) for k, d in delta.items()}
    return {k: float(np.clip(v, -MAX_OFFSET, MAX_OFFSET)) for k, v in moved.items()}


def calibrate(
    sample: Callable[[str, dict[str, dict[str, float]], int], list[int]],
    targets: dict[str, dict[str, float]],
    *,
    seeds: Sequence[int],
    iterations: int = 8,
    rate: float = 0.5,
    log: Callable[[str], None] | None = None,
) -> dict[str, dict[str, float]]:
    """Knobs per quadrant such that ``sample(quadrant, knobs, seed)`` matches ``targets[quadrant]``.

    All quadrants are calibrated together (each quadrant's pieces only depend on its own knobs)."""
    knobs = {q: dict.fromkeys(KNOBS, 0.0) for q in targets}
    for it in range(iterations):
        gain = rate / (1 + it) ** 0.6  # decreasing steps (Robbins-Monro): the sampled statistics are noisy
        for q, target in targets.items():
            got = token_stats(sample(q, knobs, s) for s in seeds)
            if log:
                shown = "  ".join(f"{k} {got[k]:.2f}/{target[k]:.2f}" for k in STATS)
                log(f"iteration {it + 1}/{iterations} {q}: {shown}")
            knobs[q] = step(knobs[q], got, target, gain)
    return knobs


class DensityBrake:
    """Closed-loop guard against runaway textures, bar by bar.

    The calibrated knobs set the average texture, but a piece that drifts into dense writing feeds its own
    context: measured in session 6, 10 of 50 Q3 pieces (seeds 1050-1099) went to 25-50 notes per bar for most of
    their length, against 10.4 in EMOPIA train's Q3. After each bar the brake compares the bar's notes with the
    quadrant's ``targets`` (notes per bar); above ``SLACK`` times the target it tightens (by the log of the
    excess), otherwise it lets go by half. While tight (``g > 0``) it tilts Position tokens towards later onsets
    (``+g`` per beat of distance from the current position) and lowers a further note at the same onset by
    ``g / 2``: fewer onsets and thinner chords, the bar line left alone. Ordinary bars rarely engage it.

    Where the emotion changes, the music carries its texture across the bar line (measured in session 6: Q3 runs
    after Q1 at 17.6 notes per bar); so each bar is measured against the target of the bar that follows it, with
    the tighter ``SLACK_AFTER_CHANGE`` for the ``CHANGE_BARS`` bars after a change. ``slack`` replaces ``SLACK``
    for the quadrants it names (the after-change slack still applies where it is tighter)."""

    SLACK = 2.0
    SLACK_AFTER_CHANGE = 1.25
    CHANGE_BARS = 4
    GAIN = 1.0
    MAX = 3.0

    def __init__(self, targets: dict[str, float], slack: Mapping[str, float] | None = None) -> None:
        if any(v <= 0 for v in (slack or {}).values()):
            raise ValueError("density slack must be > 0")
        self.targets = targets
        self.slack = dict(slack or {})
        self.g = 0.0
        self.seen = 0
        self.notes = 0  # notes in the current bar
        self.position = 0
        self.after_note = False  # the last token finished a note (the next Pitch would join its onset)
        self.quadrant: str | None = None  # of the current bar
        self.since_change = self.CHANGE_BARS  # bars since the emotion last changed (the start is no change)

    def _read(self, seq: Sequence[int], quadrant: str) -> None:
        v = tokens.vocab_table()
        for t in seq[self.seen :]:
            if v.is_bar[t]:
                if self.quadrant is not None:
                    changed = quadrant != self.quadrant
                    self.since_change = 0 if changed else self.since_change + 1
                    slack = self.slack.get(quadrant, self.SLACK)
                    if self.since_change < self.CHANGE_BARS:
                        slack = min(slack, self.SLACK_AFTER_CHANGE)
                    target = self.targets.get(quadrant, 0.0)  # what the next bar should have
                    excess = self.notes / (slack * target) if target > 0 else 0.0
                    self.g = min(self.g + self.GAIN * np.log(excess), self.MAX) if excess > 1 else self.g / 2
                self.notes, self.position, self.quadrant = 0, 0, quadrant
            elif v.is_position[t]:
                self.position = int(v.position[t])
            elif v.is_pitch[t]:
                self.notes += 1
            self.after_note = not np.isnan(v.log2_duration[t])
        self.seen = len(seq)

    def tilt(self, seq: Sequence[int], scores: np.ndarray, quadrant: str) -> np.ndarray:
        """``scores`` for the next token after ``seq`` with the brake applied (unchanged while it is off)."""
        self._read(seq, quadrant)
        if self.g <= 0.01:
            return scores
        v = tokens.vocab_table()
        out = scores.copy()
        later = v.position > self.position  # Position tokens only: the others have -1
        out[later] += self.g * (v.position[later] - self.position) / tokens.POSITIONS_PER_BEAT
        if self.after_note:
            out[v.is_pitch] -= self.g / 2
        return out
