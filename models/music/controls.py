"""From an emotion on the valence-arousal plane to the decisions a composer makes, as continuous numbers.

Valence moves the mode and the harmonic colour (major or minor, borrowed chords, how bright the minor is);
arousal moves the tempo suggestion, harmonic rhythm, density, accompaniment pattern, register and dynamics.
Every control is a smooth function of (valence, arousal) in [-1, 1]^2 except the mode, which flips where valence
changes sign (as the quadrants do), so ``--va 0.1,0.1`` and ``--va 0.9,0.9`` differ in every other control.

Anchors (EMOPIA 1.0 train, 876 clips, per quadrant, medians): notes per second Q1 8.1, Q2 10.3, Q3 4.5, Q4 4.3;
mean velocity 76, 81, 54, 51; mean pitch 61-63 in every quadrant, the middle pitch of Q3 highest, the lowest note
higher in Q3/Q4 (39, 38) than in Q1/Q2 (31, 27); sad music changes chords least often. The representative
quadrant point is (+-0.49, +-0.49), so the slopes below put a quadrant's point at its EMOPIA median.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from moodscore.models import affect
from moodscore.models.tempo import emotion_tempo
from moodscore.models.types import ComposeRequest, Timeline

MIN_AXIS = 0.15  # a timeline bar's point is kept at least this far inside its quadrant on both axes


@dataclass(frozen=True)
class Controls:
    """The composer's settings for one bar, derived from its (valence, arousal) by :func:`controls`."""

    valence: float
    arousal: float
    minor_probability: float  # how likely the piece is in minor (a piece draws its mode once, see composer)
    tempo: float  # the suggested tempo in BPM (used when the request leaves the tempo to the emotion)
    notes_per_second: float  # the target texture density, melody and accompaniment together
    beats_per_chord: float  # harmonic rhythm: 8 (a chord per two bars) .. 2 (two chords a bar)
    melody_center: float  # MIDI pitch the melody moves around
    bass_low: int  # the lowest note the accompaniment reaches for
    velocity: float  # the mean loudness of the bar before phrase shaping (1..127)
    borrowed: float  # 0..1: weight of chords borrowed from the other mode (colour; darker in major, brighter in minor)
    tension: float  # 0..1: dominant sevenths, secondary dominants, suspensions
    legato: float  # 0..1: how long notes are held and how long the pedal stays down
    doubling: float  # 0..1: how often the bass is played in octaves and the melody gets a chord tone under it
    colour: float  # 0..1: how often chords are voiced with an added ninth or seventh


def _clip(x: float, lo: float = -1.0, hi: float = 1.0) -> float:
    return max(lo, min(hi, x))


def controls(valence: float, arousal: float) -> Controls:
    """The composer's controls for a point of the valence-arousal plane (both clipped to [-1, 1])."""
    v, a = _clip(valence), _clip(arousal)
    ta = (a + 1) / 2  # arousal in 0..1
    # sad, quiet music sits higher: EMOPIA's Q3 pieces have their middle pitch 4 semitones above Q4's and their
    # lowest notes higher than the excited quadrants' (the left hand does not reach down; the pedal blends it)
    lift = 5.0 * max(0.0, -v) * (1 - ta)
    return Controls(
        valence=v,
        arousal=a,
        minor_probability=minor_probability(v, a),
        tempo=emotion_tempo(v, a),
        notes_per_second=max(2.5, 6.8 + 5.0 * a - 1.22 * v - 2.08 * v * a),
        # (EMOPIA's excited pieces change chord barely faster than its calm ones: two chords a bar only at the top)
        beats_per_chord=8.0 if a < -0.7 or (a < -0.3 and v < -0.3) else 4.0 if a < 0.85 else 2.0,
        melody_center=74 + 1.5 * a + 5 * v * a + lift,
        bass_low=round(37 - 8 * ta + lift),
        velocity=_clip(65 + 26 * a - 4 * v, 30, 110),
        borrowed=_clip(0.45 - 0.8 * abs(v), 0.0, 1.0),
        tension=_clip(0.15 + 0.5 * ta + 0.25 * max(0.0, -v) * ta, 0.0, 1.0),
        legato=_clip(1.0 - 0.25 * max(0.0, a), 0.85, 1.0),  # calm music is pedalled through (EMOPIA: no gaps)
        doubling=_clip(0.25 + 0.45 * ta - 0.1 * v, 0.1, 0.8),
        colour=_clip(0.35 + 0.25 * v - 0.2 * a, 0.1, 0.7),
    )


# share of pieces in minor at each quadrant's point: EMOPIA's own shares (test + val, Krumhansl-Schmuckler: Q1 24%,
# Q2 82%, Q3 46%, Q4 32%) pulled towards the valence (EMOPIA's sad clips in major and happy ones in minor are real
# music, but a listener asking for sad music expects minor more often than not); further from the centre the mode
# follows valence more surely (3 logits per unit of valence)
MINOR_SHARE = {"Q1": 0.12, "Q2": 0.9, "Q3": 0.8, "Q4": 0.15}


def minor_probability(valence: float, arousal: float) -> float:
    """The probability that music of this emotion is in a minor key."""
    q = affect.quadrant_of_va(valence, arousal)
    p = MINOR_SHARE[q]
    logit = math.log(p / (1 - p)) - 3.0 * (valence - math.copysign(0.49, valence))
    return 1 / (1 + math.exp(-logit))


def _inside(point: tuple[float, float], quadrant: str) -> tuple[float, float]:
    """``point`` moved at least MIN_AXIS inside ``quadrant`` (a timeline's mean point may sit across an axis
    from the quadrant that won the vote; the quadrant decides the side, the point the distance)."""
    sv, sa = affect.quadrant_va(quadrant)
    v, a = point
    v = sv / abs(sv) * max(MIN_AXIS, abs(v) if (v >= 0) == (sv > 0) else MIN_AXIS)
    a = sa / abs(sa) * max(MIN_AXIS, abs(a) if (a >= 0) == (sa > 0) else MIN_AXIS)
    return (_clip(v), _clip(a))


def bar_points(request: ComposeRequest) -> list[tuple[float, float]]:
    """The (valence, arousal) of every bar of a request: the quadrant's representative point, the point asked
    for, or a Timeline's curve over each bar (its segments' points where it has no curve), kept inside the
    quadrant the bar asks for."""
    e = request.emotion
    n = request.n_bars
    if isinstance(e, str):
        return [affect.quadrant_va(e)] * n
    if isinstance(e, tuple):
        return [(float(e[0]), float(e[1]))] * n
    quadrants = request.bar_quadrants()
    return [_inside(_timeline_point(e, *request.bar_span(b)), quadrants[b]) for b in range(n)]


def _timeline_point(timeline: Timeline, t0: float, t1: float) -> tuple[float, float]:
    seg = timeline.at(min((t0 + t1) / 2, timeline.duration_s - 1e-9)).emotion
    curve = timeline.meta.get("curve")
    if curve and curve.get("t"):
        picked = [
            (float(v), float(a))
            for t, v, a in zip(curve["t"], curve["valence"], curve["arousal"], strict=False)
            if t0 <= float(t) < t1 and v is not None and a is not None  # None: no face and no voice there
        ]
        if picked:
            # the curve's mean over the bar, pulled a quarter of the way to its segment's point (the smoothed
            # decision), so the music follows the curve inside a segment without its frame-to-frame jitter
            mv = sum(p[0] for p in picked) / len(picked)
            ma = sum(p[1] for p in picked) / len(picked)
            return (0.75 * mv + 0.25 * seg.valence, 0.75 * ma + 0.25 * seg.arousal)
    return (seg.valence, seg.arousal)


def bar_speech(request: ComposeRequest) -> list[float]:
    """For every bar, the share of it during which people speak (a Timeline's ``meta.speech``; 0 elsewhere)."""
    e = request.emotion
    n = request.n_bars
    speech = e.meta.get("speech") if isinstance(e, Timeline) else None
    if not speech or not speech.get("t"):
        return [0.0] * n
    starts = [float(t) for t in speech["t"]]
    win = float(speech.get("win_s") or 1.0)
    share = [float(x) for x in speech["share"]]
    out = []
    for b in range(n):
        t0, t1 = request.bar_span(b)
        weights = [max(0.0, min(t1, s + win) - max(t0, s)) for s in starts]
        total = sum(weights)
        out.append(sum(w * x for w, x in zip(weights, share, strict=False)) / total if total > 0 else 0.0)
    return out
