"""The accompaniment a pianist's left hand (and the right hand under the melody) would play, and the bass and
pad parts drawn from the same harmony.

Patterns are of three kinds. Bars played by EMOPIA's pianists (``emopia_patterns.json``), each from a clip of known
quadrant: what the hands played under the tune, stored over a chord on C. Accompaniment bars of POP909's piano
tracks (``patterns.json``), stored the same way. And written ones, named as a pianist would name them: block chords
(whole and half notes), a tonic pedal under changing chords, broken chords, a rolling eighth-note arpeggio, Alberti
bass, a pop left hand (root-fifth-octave eighths under off-beat chords), a sixteenth-note arpeggio, an ostinato over
a pedal tone and driving octaves. A phrase draws one pattern for its valence, arousal and density (each pattern has
the arousal it suits, the valence it leans to and a density in notes per bar); the played bars lean strongly to
their own quadrant, so they carry most phrases. Bars over C are moved onto each chord here.

Chords of the written patterns are voiced close and led smoothly from the one before
(:func:`moodscore.models.music.theory.voice_chord`), below the melody, above the bass; the bass takes the root.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from moodscore.models import affect
from moodscore.models.music.controls import Controls
from moodscore.models.music.melody import STEPS, Note
from moodscore.models.music.theory import Chord, nearest_pitch, voice_chord

B, B5, B8, V0, V1, V2, V3, ALL = "B", "B5", "B8", "V0", "V1", "V2", "V3", "ALL"


@dataclass(frozen=True)
class Pattern:
    name: str
    arousal: float  # 0..1: the arousal it suits
    valence: float  # -1..1: the valence it leans to (0: either)
    notes: tuple[tuple[int, int, str | int], ...]  # (onset, duration) in sixteenths, role or absolute pitch over C
    lean: float = 0.8  # how strongly the valence asked for steers the choice towards (or away from) this pattern

    @property
    def density(self) -> float:
        return float(sum(3 if r == ALL else 1 for _, _, r in self.notes))


def _p(name: str, arousal: float, valence: float, notes: Sequence[tuple[int, int, str]]) -> Pattern:
    return Pattern(name, arousal, valence, tuple(notes))


WRITTEN: tuple[Pattern, ...] = (
    _p("block chords, whole", 0.02, 0.0, [(0, 16, B), (0, 16, ALL)]),
    _p("tonic pedal", 0.1, 0.0, [(0, 16, "P"), (0, 8, ALL), (8, 8, ALL)]),
    _p("broken chords", 0.22, 0.0, [(0, 16, B), (4, 12, V0), (8, 8, V1), (12, 4, V2)]),
    _p("block chords, halves", 0.3, 0.0, [(0, 16, B), (0, 8, ALL), (8, 8, ALL)]),
    _p("rolling arpeggio", 0.4, 0.0, [(i * 2, 2, r) for i, r in enumerate([B, B5, V1, V2, V3, V2, V1, B5])]),
    _p("Alberti bass", 0.55, 0.4, [(0, 8, B), (8, 8, B)] + [(i * 2, 2, r) for i, r in enumerate([V0, V2, V1, V2] * 2)]),
    _p(
        "pop left hand",
        0.68,
        0.5,
        [(i * 2, 2, r) for i, r in enumerate([B, B5, B8, B5] * 2)] + [(4, 2, ALL), (10, 2, ALL), (12, 4, ALL)],
    ),
    _p("sixteenth arpeggio", 0.75, 0.3, [(i, 1, r) for i, r in enumerate([B, B5, B8, V1, V2, V3, V2, V1] * 2)]),
    _p("ostinato over a pedal", 0.8, -0.6, [(0, 16, "P")] + [(i, 1, r) for i, r in enumerate([V0, V1, V2, V1] * 4)]),
    _p(
        "driving octaves",
        0.9,
        -0.5,
        [(i * 2, 2, r) for i in range(8) for r in (B, B8)] + [(0, 3, ALL), (6, 2, ALL), (10, 2, ALL), (14, 2, ALL)],
    ),
)


HELD = _p("held cadence chord", 0.3, 0.0, [(0, 16, B), (0, 8, ALL), (4, 4, V2), (8, 8, ALL), (12, 4, V1)])


def learned_patterns(raw: dict[str, list[dict[str, object]]], *, per_quality: int = 200) -> list[Pattern]:
    """POP909 accompaniment bars as patterns (absolute pitches over a C chord, chords spread into open position);
    their arousal from their density (4 notes a bar ~ 0.1 .. 24 ~ 0.95, as for the written ones). A bar mined over
    a minor chord has its third written as E, like every pattern, so :func:`_move` bends it onto any chord."""
    out: list[Pattern] = []
    for quality, items in raw.items():
        for item in items[:per_quality]:
            notes = _open_position(
                [
                    (int(o), int(d), int(p) + (quality == "min" and int(p) % 12 == 3))
                    for o, d, p in item["notes"]  # type: ignore[attr-defined]
                ]
            )
            if not notes:
                continue
            density = len(notes)
            arousal = float(np.clip(0.05 + 0.9 * (density - 4) / 18, 0.02, 0.98))
            out.append(Pattern(f"POP909 {quality} bar {len(out)}", arousal, 0.0, notes))
    return out


# a bar played in a sad clip is 50x likelier than one from a calm clip at valence -0.5 (1.5x at -0.05)
EMOPIA_LEAN = 4.0


def emopia_patterns(raw: dict[str, list[dict[str, object]]]) -> list[Pattern]:
    """EMOPIA accompaniment bars (``emopia_patterns.json``: over a C chord with a major third, per quadrant of the
    clip they were played in) as patterns that lean to their quadrant's valence. Their arousal is their quadrant's
    half of the axis (0.5..1 or 0..0.5), placed in it by the bar's number of notes among its quadrant's bars, so music
    near the centre is played with the quadrant's lighter bars and music far out with its busiest."""
    out: list[Pattern] = []
    for quadrant, items in raw.items():
        v, a = affect.quadrant_va(quadrant)
        valence = 1.0 if v > 0 else -1.0
        bars = [tuple((int(o), int(d), int(p)) for o, d, p in item["notes"]) for item in items]  # type: ignore[attr-defined]
        bars = [b for b in bars if b]
        busy = np.argsort(np.argsort([len(b) for b in bars], kind="stable"))  # rank by number of notes
        lo = 0.5 if a > 0 else 0.0  # the quadrant's half of the arousal axis (0..1)
        for notes, rank in zip(bars, busy, strict=True):
            out.append(
                Pattern(
                    f"EMOPIA {quadrant} bar {len(out)}",
                    lo + 0.5 * (rank + 0.5) / len(bars),
                    valence,
                    notes,
                    EMOPIA_LEAN,
                )
            )
    return out


def _open_position(notes: list[tuple[int, int, int]]) -> tuple[tuple[int, int, str | int], ...]:
    """A bar's chords of three or more notes struck together spread into open position (drop-2: the second note
    from the top an octave down, so the top stays under the melody), as a pianist's hands spread them; arpeggios
    and single notes stay as they are."""
    groups: dict[int, list[tuple[int, int, int]]] = {}
    for n in notes:
        groups.setdefault(n[0], []).append(n)
    out: list[tuple[int, int, str | int]] = []
    for onset in sorted(groups):
        g = sorted(groups[onset], key=lambda n: n[2])
        pitches = [n[2] for n in g]
        if len(g) >= 3 and pitches[-2] - 12 not in pitches and pitches[-1] - pitches[-2] <= 4:
            g[-2] = (g[-2][0], g[-2][1], g[-2][2] - 12)  # drop-2: the second voice from the top an octave down
        out += g
    return tuple(out)


@dataclass(frozen=True)
class PatternTable:
    """Patterns with their arousal, density and lean x valence as arrays, built once for :func:`choose_pattern`."""

    patterns: tuple[Pattern, ...]
    arousal: np.ndarray
    density: np.ndarray
    lean_valence: np.ndarray
    names: np.ndarray

    @classmethod
    def of(cls, patterns: Sequence[Pattern]) -> PatternTable:
        return cls(
            tuple(patterns),
            np.array([p.arousal for p in patterns]),
            np.array([p.density for p in patterns]),
            np.array([p.lean * p.valence for p in patterns]),
            np.array([p.name for p in patterns]),
        )


def choose_pattern(
    table: PatternTable, c: Controls, density: float, rng: np.random.Generator, avoid: str | None = None
) -> Pattern:
    """One pattern for a section: suited to its arousal and valence, near the density it asks for."""
    ta = (c.arousal + 1) / 2
    w = (
        np.exp(-(((ta - table.arousal) / 0.16) ** 2))
        * np.exp(-np.abs(table.density - density) / 3.0)
        * np.exp(table.lean_valence * c.valence)
    )
    if avoid is not None:
        w = w * np.where(table.names == avoid, 0.15, 1.0)
    if w.sum() <= 0:
        w = np.ones(len(table.patterns))
    return table.patterns[int(rng.choice(len(table.patterns), p=w / w.sum()))]


COLOURS = {
    "maj": (2, 11),
    "min": (2, 10),
}  # added ninth, major seventh; ninth, minor seventh (no added sixth: C6 holds A minor)


class Voicer:
    """Voicings led from chord to chord, open (spread over a tenth) or close, some with an added colour tone;
    the register follows the melody above and the bass below."""

    def __init__(self, rng: np.random.Generator | None = None, *, colour: float = 0.0, spread: float = 0.0) -> None:
        self.previous: list[int] | None = None
        self.rng = rng or np.random.default_rng(0)
        self.colour = colour
        self.spread = spread
        self.keys: set[int] = set(range(12))  # the pitch classes colour tones may use (the composer sets the key's)
        self.tones: dict[int, int] = {}  # per chord (by id): the colour tone above its root its doubled root becomes

    def colour_tone(self, chord: Chord) -> int:
        """The colour (semitones above the root: added ninth, seventh) a chord's doubled root gives way to in an
        accompaniment figure, or 0; drawn once per chord, so a chord keeps its colour for as long as it lasts."""
        k = id(chord)
        if k not in self.tones:
            # (a minor chord's doubled root becomes its ninth only: a seventh there, in a figure, reads as the
            # relative major's sixth chord and brightens a sad piece)
            opts = [
                e
                for e in COLOURS.get(chord.quality, ())
                if (chord.root + e) % 12 in self.keys and not (chord.quality == "min" and e == 10)
            ]
            self.tones[k] = int(self.rng.choice(opts)) if opts and self.rng.random() < self.colour else 0
        return self.tones[k]

    def voicing(self, chord: Chord, high: int) -> list[int]:
        pcs = list(chord.pitch_classes)[:4]
        # colour tones only from the key's scale (an added sixth on A major is F sharp: not in D minor)
        extra = [(chord.root + e) % 12 for e in COLOURS.get(chord.quality, ()) if (chord.root + e) % 12 in self.keys]
        if extra and self.rng.random() < self.colour:
            pcs.append(int(self.rng.choice(extra)))
        spread = self.rng.random() < self.spread
        v = voice_chord(pcs, self.previous, high - (20 if spread else 15), high, spread=spread)
        self.previous = v
        return v


def realise(
    pattern: Pattern,
    *,
    bar: int,
    chords: Sequence[Chord],
    tonic: int,
    bass_low: int,
    melody_low: int,
    voicer: Voicer,
    octave_bass: bool = False,
    thin: float = 0.0,
    draws: Sequence[float] = (),
) -> list[Note]:
    """One bar of ``pattern`` over ``chords`` (the chord under each of the bar's sixteenths); ``octave_bass``
    doubles the bass an octave down on the downbeat; ``thin`` is how often a struck chord of three or more notes
    leaves out an inner one (a lighter hand), decided by ``draws`` (one number in 0..1 per sixteenth of the bar, the
    same where the bar's place in its phrase comes back, so a returning phrase is thinned alike)."""
    high = max(bass_low + 18, min(72, melody_low - 2))
    voicings: dict[int, list[int]] = {}
    out: list[Note] = []

    def voices(o: int) -> list[int]:
        ch = chords[o]
        key = id(ch)
        if key not in voicings:
            voicings[key] = voicer.voicing(ch, high)
        return voicings[key]

    def bass(ch: Chord) -> int:
        return bass_low + (ch.root - bass_low) % 12

    changes = [o for o in range(1, STEPS) if chords[o] is not chords[o - 1]]
    bass_onsets = {o for o, _, r in pattern.notes if r in (B, "P")}
    lowest = min((r for _, _, r in pattern.notes if isinstance(r, int)), default=0)
    for onset, dur, role in pattern.notes:
        ch = chords[onset]
        end = min(STEPS, onset + dur)
        nxt = [c for c in changes if onset < c < end]
        if nxt and role != "P":  # a note does not sound through a chord change
            end = nxt[0]
        length = max(1, end - onset)
        if isinstance(role, int):  # a bar played over C (POP909, EMOPIA): moved onto this chord
            p = _move(role, ch)
            if p % 12 not in ch.pitch_classes and p % 12 not in voicer.keys:
                p = _into_key(p, voicer.keys)  # a passing note of the original key: the nearest note of this one
            e = voicer.colour_tone(ch)
            if e and p % 12 == ch.root and role > lowest + 5:  # a doubled root above the bass takes the colour
                p += e if e < 6 else e - 12
            pitches = [p]
        elif role == ALL:
            # a chord struck with its bass note leaves the lowest voice to the bass (thinner, wider-spaced chords)
            v = voices(onset)
            pitches = v[1:] if len(v) >= 3 and onset in bass_onsets else v
            d = draws[onset] if onset < len(draws) else 1.0
            if len(pitches) >= 3 and d < thin:
                pitches = [p for i, p in enumerate(pitches) if i != 1 + int(d / thin * (len(pitches) - 2))]
        elif role == "P":
            pitches = [bass_low + (tonic - bass_low) % 12]
        elif role.startswith("B"):
            root = bass(ch)
            pitches = [root + {"B": 0, "B5": 7, "B8": 12}[role]]
        else:
            v = voices(onset)
            pitches = [v[min(int(role[1]), len(v) - 1)]]
        for p in pitches:
            while p >= melody_low - 1 and p - 12 >= bass_low:
                p -= 12
            while p < bass_low:
                p += 12
            out.append(Note(bar * STEPS + onset, length, p))
            if octave_bass and onset == 0 and role in (B, "P") and p - 12 >= 33:
                out.append(Note(bar * STEPS + onset, length, p - 12))
    for o in changes:  # a chord that changes where the pattern has no bass note still gets its root
        if not any(n.start == bar * STEPS + o and n.pitch < high - 12 for n in out):
            out.append(Note(bar * STEPS + o, STEPS - o, bass(chords[o])))
    return _open_low_thirds(out, melody_low)


LOW_THIRD = 55  # G3: below it a third struck over the bass sounds muddy; a pianist opens it to a tenth


def _open_low_thirds(notes: list[Note], melody_low: int) -> list[Note]:
    """A third struck just above a low bass note opened to a tenth (the upper note an octave up), as a pianist's
    left hand spreads root and third: close intervals belong higher up, wide ones at the bottom."""
    by_start: dict[int, list[Note]] = {}
    for n in notes:
        by_start.setdefault(n.start, []).append(n)
    out: list[Note] = []
    for group in by_start.values():
        group = sorted(group, key=lambda n: n.pitch)
        if len(group) >= 2:
            low, second = group[0], group[1]
            up = second.pitch + 12
            if (
                second.pitch - low.pitch <= 4
                and low.pitch < LOW_THIRD
                and up < melody_low - 1
                and all(n.pitch != up for n in group)
            ):
                group[1] = Note(second.start, second.dur, up)
        out += group
    return out


def _into_key(pitch: int, keys: set[int]) -> int:
    """The nearest pitch whose pitch class is in ``keys`` (a semitone down before a semitone up)."""
    for step in (-1, 1, -2, 2):
        if (pitch + step) % 12 in keys:
            return pitch + step
    return pitch


def _move(pitch: int, chord: Chord) -> int:
    """A note of a bar written over a C chord, moved onto ``chord``: by the root (-6..+5 semitones, keeping the
    register), its third and fifth bent to the chord's quality."""
    rel = pitch % 12
    iv = chord.intervals
    if rel == 4 and iv[1] != 4:
        pitch += iv[1] - 4  # third: minor, suspended
    elif rel == 7 and iv[2] != 7:
        pitch += iv[2] - 7  # fifth: diminished, augmented
    elif rel in (10, 11) and len(iv) > 3:
        pitch += iv[3] - rel  # seventh of the chord's kind
    return pitch + ((chord.root + 6) % 12 - 6)


def bass_part(slots: Sequence[tuple[int, int, Chord]], c_of: Sequence[Controls]) -> list[Note]:
    """The bass: the root of each chord in the second octave, held (calm) or on beats 1 and 3 (more arousal),
    with a fifth on beat 3 where the chord lasts a whole bar and the music moves."""
    out = []
    for start, length, ch in slots:
        bar = start // STEPS
        ta = (c_of[min(bar, len(c_of) - 1)].arousal + 1) / 2
        root = nearest_pitch(ch.root, 38)
        if ta < 0.45 or length < 8:
            out.append(Note(start, length, root))
            continue
        for t in range(start, start + length, 8):
            fifth = (t - start) % 16 == 8 and ta > 0.6
            out.append(Note(t, min(8, start + length - t), root + 7 if fifth else root))
    return out


def pad_part(slots: Sequence[tuple[int, int, Chord]]) -> list[Note]:
    """The pad: each chord held as a close voicing around middle C, led smoothly."""
    voicer = Voicer()
    return [Note(start, length, p) for start, length, ch in slots for p in voicer.voicing(ch, 72)]
