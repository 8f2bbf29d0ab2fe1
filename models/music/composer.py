"""The composer: a ComposeRequest -> Scores, written the way a songwriter and a pianist would write them.

1. Every bar gets its (valence, arousal) and from it its controls (:mod:`moodscore.models.music.controls`).
2. The form (:mod:`models.music.form`): a section per run of bars of one emotion, phrases of four bars with roles
   (A A' B A') and cadences; a key per section (the one asked for, or one drawn from the seed; the mode follows
   valence, changing to the parallel mode where the emotion changes sign).
3. Harmony (:mod:`models.music.progression`): each phrase's chords from the POP909 chord model under the cadences,
   coloured by the emotion; A' takes up A's chords, a returning emotion its themes.
4. Melody (:mod:`moodscore.models.music.melody`) over the chords, with motifs that repeat and develop.
5. Accompaniment (:mod:`moodscore.models.music.accompaniment`): a pattern per section and role, voiced under the melody;
   bass and pad parts from the same chords.
6. Performance (:mod:`moodscore.models.music.performance`): phrase-shaped dynamics, sustain pedal, tidy notes; the last
   chord rings to the end.

Nothing here rates or chooses among takes: the seed decides everything, so a seed is one piece.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pretty_midi

from moodscore.models.keys import Key, parse_key
from moodscore.models.music.accompaniment import (
    HELD,
    WRITTEN,
    Pattern,
    PatternTable,
    Voicer,
    bass_part,
    choose_pattern,
    emopia_patterns,
    learned_patterns,
    pad_part,
    realise,
)
from moodscore.models.music.controls import Controls, bar_points, bar_speech, controls
from moodscore.models.music.form import BEATS_PER_BAR, Phrase, Plan, plan_form
from moodscore.models.music.melody import STEPS, Material, MelodyWriter, Note
from moodscore.models.music.performance import graces as add_graces
from moodscore.models.music.performance import levels, pedal, play, tidy, to_instrument, velocities
from moodscore.models.music.progression import ChordModel, load_chord_model, load_patterns, load_texture
from moodscore.models.music.style import Style, draw_style
from moodscore.models.music.sync import lay_on_grid
from moodscore.models.music.theory import Chord, chord, scale
from moodscore.models.types import ComposeRequest, Progress, Score

PROGRAMS = {"piano": 0, "bass": 33, "pad": 89}  # GM: Acoustic Grand, Electric Bass (finger), Pad 2 (warm)
TRACK_NAMES = {"piano": "Piano", "bass": "Bass", "pad": "Pad"}
AUTO_MAJOR = (0, 7, 2, 5, 10, 3, 9, 4)  # C G D F Bb Eb A E: the keys pop piano is mostly written in
AUTO_MINOR = (9, 4, 2, 0, 7, 11, 5, 1)  # A E D C G B F C#
SEED_STEP = 7919  # variation v of a request is composed with seed + v; the generator streams are spread apart


@dataclass
class _Theme:
    chords: dict[str, list[str]]
    melody: dict[str, Material]
    pattern: dict[str, Pattern]
    arousal: float = 0.0  # the arousal the statement's texture was chosen for


class Composer:
    """Writes pieces; thread-safe (each call draws from its own random generator)."""

    def __init__(self, patterns_path: str | None = None, texture_path: str | None = None) -> None:
        data = load_patterns(patterns_path)
        self.chords: ChordModel = load_chord_model(patterns_path)
        self.rhythms: list[dict[str, Any]] = list(data.get("melody_rhythms", []))
        texture = load_texture(texture_path)
        self.patterns = PatternTable.of(
            [
                *WRITTEN,
                *learned_patterns(data.get("accompaniment", {})),
                *emopia_patterns(texture.get("accompaniment", {})),
            ]
        )

    def compose(self, request: ComposeRequest, *, progress: Progress | None = None) -> list[Score]:
        """``request.variations`` pieces (seeds ``request.seed``, ``+1``, ...)."""
        out = []
        for v in range(request.variations):
            if progress:
                progress(v / request.variations, f"composing variation {v + 1}/{request.variations}")
            out.append(self.write(request, seed=request.seed + v))
        if progress:
            progress(1.0, "composed")
        return out

    def write(self, request: ComposeRequest, *, seed: int) -> Score:
        """One piece for ``request`` with ``seed``."""
        rng = np.random.default_rng([seed, SEED_STEP])
        style = draw_style(seed)
        thin_draws = rng.random(64 * STEPS)  # per place in a phrase: which chords the lighter hand thins
        in_octaves: dict[tuple[int, str], bool] = {}  # per theme and role: is the tune played in octaves
        doubled: list[Note] = []  # the tune an octave below, where it is played in octaves
        quadrants = request.bar_quadrants()
        points = bar_points(request)
        ctl = [controls(v, a) for v, a in points]
        assert request.tempo is not None  # ComposeRequest sets it (the emotion's suggestion when left to it)
        tempo = float(request.tempo)
        keys, home = self._keys(request, quadrants, ctl, rng)
        plan = plan_form(quadrants, [c.beats_per_chord for c in ctl], keys, request.phrase_bars, loop=request.loop)
        temperature = float(request.temperature)
        melody = MelodyWriter(self.rhythms, rng, temperature, style)
        themes: dict[int, _Theme] = {}
        n16 = len(quadrants) * STEPS
        grid: list[Chord | None] = [None] * n16
        slots: list[tuple[int, int, Chord]] = []
        mel: list[Note] = []
        acc: list[Note] = []
        voicer = Voicer(rng, spread=style.spread)
        history: list[str] = []
        breaths: set[int] = set()
        graces: list[tuple[int, int]] = []
        last_pattern: str | None = None
        prev_pitch: int | None = None
        sixteenth_s = 60.0 / tempo / 4
        bar_s = BEATS_PER_BAR * 60.0 / tempo
        for k, ph in enumerate(plan.phrases):
            sec = plan.sections[ph.section]
            c = _mean_controls(ctl[ph.start : ph.end])
            theme = themes.setdefault(sec.theme, _Theme({}, {}, {}))
            symbols = self._progression(plan, k, ph, c, theme, history, rng, temperature)
            history += symbols
            chords_here = [chord(s, sec.tonic) for s in symbols]
            for (t0, length), ch in zip(ph.slots, chords_here, strict=True):
                a = ph.start * STEPS + round(t0 * 4)
                b = a + round(length * 4)
                grid[a:b] = [ch] * (b - a)
                slots.append((a, b - a, ch))
            under = [g for g in grid[ph.start * STEPS : ph.end * STEPS] if g is not None]
            total = [ctl[b].notes_per_second * bar_s for b in range(ph.start, ph.end)]
            mel_per_bar = [float(np.clip(0.3 * t, 2.0, 7.0)) for t in total]
            letter = "B" if ph.role == "B" else "A"
            material = theme.melody.get(letter)
            # the return after a contrast (A' after B) restates the theme more closely than the answer varies it
            returning = ph.role == "A'" and k > 0 and plan.phrases[k - 1].role == "B"

            notes, made = melody.phrase(
                start_bar=ph.start,
                chords=under,
                tonic=sec.tonic,
                minor=sec.minor,
                center=c.melody_center + style.register,
                notes_per_bar=mel_per_bar,
                cadence=ph.cadence,
                previous=prev_pitch,
                material=material,
                lift=4.0 if letter == "B" else 0.0,
                peak=0.68 - 0.35 * max(0.0, -c.valence),
                # the answer begins as the statement did and goes its own way to its cadence (a parallel period)
                keep=(0.85, 0.85) if returning else (0.9, 0.45),
            )
            theme.melody.setdefault(letter, made)
            mel += notes
            octaves_here = in_octaves.setdefault(
                (sec.theme, ph.role), bool(rng.random() < style.octaves * (1.5 if ph.role == "B" else 0.8))
            )
            if octaves_here:
                doubled += [Note(n.start, n.dur, n.pitch - 12) for n in notes]  # the tune in octaves
            graces += _graces(notes, scale(sec.tonic, sec.minor), rng, 0.15 * (1 - c.legato) + 0.04)
            if ph.cadence in ("half", "authentic") and rng.random() < 0.35:
                breaths.add(ph.end * STEPS)  # a breath before the next phrase
            if notes:
                prev_pitch = notes[-1].pitch
            density = float(np.mean(total)) - float(np.mean(mel_per_bar))
            # a returning theme starts with its statement's texture; every later phrase draws a new pattern for
            # its arousal (not the one just played), so the texture develops while the melody returns
            first_of_section = k == 0 or plan.phrases[k - 1].section != ph.section
            # (only while the arousal stays near the one the statement's texture was chosen for: a timeline's
            # curve that rises or falls inside a section changes the texture with it)
            steady = abs(c.arousal - theme.arousal) < 0.2
            pattern = theme.pattern.get("A") if first_of_section and ph.role == "A" and steady else None
            # the answer mostly keeps the statement's texture; the return after the contrast half the time (else the
            # arranger gives the restated tune a new texture)
            statement = theme.pattern.get("A")
            keeps = 0.5 if returning else 0.65 if statement and last_pattern == statement.name else 0.0
            if ph.role == "A'" and statement and steady and rng.random() < keeps:
                pattern = theme.pattern["A"]
            if pattern is None:
                pattern = choose_pattern(self.patterns, c, density, rng, avoid=last_pattern)
                if ph.role not in theme.pattern:
                    theme.pattern[ph.role] = pattern
                    theme.arousal = c.arousal if ph.role == "A" else theme.arousal
            last_pattern = pattern.name
            acc += _under_melody(notes, grid, c.doubling * style.fill, rng)
            voicer.colour = c.colour
            voicer.keys = set(scale(sec.tonic, sec.minor))
            held = rng.random() < 0.5  # an open cadence held as a chord (else the pattern plays through)
            octaves = rng.random() < c.doubling  # the bass in octaves on the downbeats
            for bar in range(ph.start, ph.end):
                in_bar = [n.pitch for n in notes if bar * STEPS <= n.start < (bar + 1) * STEPS]
                low = min(in_bar) if in_bar else int(c.melody_center + style.register) - 4
                bass_low = int(np.clip(round(ctl[bar].bass_low + style.bass), 28, 45))
                bar_chords = grid[bar * STEPS : (bar + 1) * STEPS]
                if ph.cadence == "final" and bar == ph.end - 1:
                    acc += _final_chord(bar, bar_chords[-1], bass_low, low, voicer)  # type: ignore[arg-type]
                    continue
                cadence_bar = bar == ph.end - 1 and ph.bars > 1 and held  # (the final bar was handled above)
                acc += realise(
                    HELD if cadence_bar else pattern,
                    bar=bar,
                    chords=bar_chords,  # type: ignore[arg-type]
                    tonic=sec.tonic,
                    bass_low=bass_low,
                    melody_low=low,
                    voicer=voicer,
                    octave_bass=octaves,
                    thin=style.thin,
                    draws=thin_draws[(bar - ph.start) * STEPS : (bar - ph.start + 1) * STEPS].tolist(),
                )
        acc += _keep_pulse(mel, acc, grid, plan, breaths, rng, rate=[float(np.clip(c.arousal, 0.0, 0.8)) for c in ctl])
        acc += _fills(mel, grid, plan, ctl, style.fills, np.random.default_rng([seed, SEED_STEP, 2]))
        talk = bar_speech(request)
        acc = _leave_room(_no_rubs(mel, acc), talk)
        # under dialogue the tune is not doubled (a single line leaves the voice more room)
        acc += [n for n in doubled if not talk or talk[min(n.start // STEPS, len(talk) - 1)] < TALKING]
        mel, acc = _breathe(mel, breaths), _breathe(acc, breaths, above=BREATH_ABOVE)
        midi = self._perform(request, plan, ctl, mel, acc, slots, rng, tempo, sixteenth_s, n16, breaths, style)
        add_graces(midi.instruments[0], graces, sixteenth_s=sixteenth_s)
        tune = {(n.start, n.pitch) for n in mel}
        for inst in midi.instruments:
            play(inst, tune, style, rng, sixteenth_s=sixteenth_s, end_s=n16 * sixteenth_s)
        if request.beat_grid is not None:
            lay_on_grid(midi, tempo, request.beat_grid)
        sections = tuple((s.start, s.end, s.quadrant, Key(s.tonic, s.minor).name) for s in plan.sections)
        return Score(
            midi=midi,
            tempo=tempo,
            bar_quadrants=quadrants,
            key=home.name,
            seed=seed,
            sections=sections,
            beat_grid=request.beat_grid,
        )

    # -- pieces of write() -------------------------------------------------------------------------------
    @staticmethod
    def _keys(
        request: ComposeRequest, quadrants: Sequence[str], ctl: Sequence[Controls], rng: np.random.Generator
    ) -> tuple[dict[str, tuple[int, bool]], Key]:
        """(tonic, minor) per quadrant and the home key. The piece draws one number u; a quadrant's sections are
        in minor where u is below their probability of minor. A timeline that has both valences puts its negative
        sections in minor and its positive ones in major, so the change of valence is heard as a change of mode.
        A key asked for is the key of the piece; where the piece has sections in both modes, those of the other
        mode go to its parallel key."""
        asked = parse_key(request.key)
        u = rng.random()
        p_minor: dict[str, list[float]] = {}
        for q, c in zip(quadrants, ctl, strict=True):
            p_minor.setdefault(q, []).append(c.minor_probability)
        minor_of = {q: u < float(np.mean(p)) for q, p in p_minor.items()}
        if any(q in ("Q1", "Q4") for q in p_minor) and any(q in ("Q2", "Q3") for q in p_minor):
            # a timeline that crosses the valence axis: the contrast between its sections is carried by the mode
            minor_of = {q: q in ("Q2", "Q3") for q in p_minor}
        first = minor_of[quadrants[0]]
        tonic = int(rng.choice(AUTO_MINOR if first else AUTO_MAJOR))
        if asked is None:
            asked = Key(tonic, first)
        both = len(set(minor_of.values())) > 1
        keys = {q: (asked.tonic, m if both else asked.minor) for q, m in minor_of.items()}
        return keys, asked

    def _progression(
        self,
        plan: Plan,
        k: int,
        ph: Phrase,
        c: Controls,
        theme: _Theme,
        history: list[str],
        rng: np.random.Generator,
        temperature: float,
    ) -> list[str]:
        sec = plan.sections[ph.section]
        n = len(ph.slots)
        tonic = "0:min" if sec.minor else "0:maj"
        dominant = "7:7" if c.tension > 0.55 else "7:maj"
        fixed: dict[int, str] = {}
        # inside a piece a phrase closes the way pop songs close theirs: on the dominant or through it only some of
        # the time (more often the more tension the music has), otherwise on whatever chord the data leads to (IV,
        # vi, bVII ...), open for a half cadence, home on the tonic for an authentic one; the piece's final cadence
        # is always V -> I
        through_dominant = ph.cadence == "final" or rng.random() < 0.3 + 0.5 * c.tension
        open_end = None
        if ph.cadence == "half":
            if through_dominant:
                fixed[n - 1] = dominant
            else:
                open_end = tonic
        elif ph.cadence in ("authentic", "final"):
            fixed[n - 1] = tonic
            if n >= 2 and through_dominant:
                fixed[n - 2] = dominant
        else:  # transition (or a loop's end): the dominant of the next (or the first) section's key, seen from here
            nxt = plan.sections[0 if ph.cadence == "loop" else ph.section + 1]
            fixed[n - 1] = f"{(nxt.tonic + 7 - sec.tonic) % 12}:{'7' if c.tension > 0.4 else 'maj'}"
        letter = ("B" if ph.role == "B" else "A") + ("m" if sec.minor else "")
        earlier = theme.chords.get(letter)
        if earlier is not None and len(earlier) == n:
            out = list(earlier)
            for i, s in fixed.items():
                out[i] = s
            if open_end is not None and out[-1] == open_end:
                out[-1] = dominant  # the earlier phrase closed at home; this one ends open
            for i in range(1, n):  # a pinned cadence chord must not repeat the chord before it
                if out[i] == out[i - 1] and i - 1 not in fixed:
                    out[i - 1] = "5:min" if sec.minor else "5:maj"
            return out
        first_of_section = k == 0 or plan.phrases[k - 1].section != ph.section
        if first_of_section and letter[0] == "A" and 0 not in fixed and rng.random() < 0.8:
            fixed[0] = tonic
        statement = theme.chords.get("A" + letter[1:])
        if letter[0] == "B" and statement is not None and len(statement) == n and rng.random() < 0.35:
            out = list(statement)  # the contrast over the statement's chord loop (new melody and texture)
        else:
            out = self.chords.phrase(
                n,
                minor=sec.minor,
                controls=c,
                fixed=fixed,
                previous=history if not first_of_section else [],
                rng=rng,
                temperature=temperature,
                avoid_first=tonic if letter[0] == "B" else None,
                avoid_last=open_end,
            )
            half = n // 2
            if n >= 4 and n % 2 == 0 and rng.random() < 0.5:
                out[half:] = out[:half]  # a two-bar chord loop, played twice, as pop songs do
        for i, sym in fixed.items():
            out[i] = sym
        for i in range(1, n):  # a pinned cadence chord must not repeat the chord before it
            if out[i] == out[i - 1] and i - 1 not in fixed:
                out[i - 1] = "5:min" if sec.minor else "5:maj"
        theme.chords.setdefault(letter, out)
        return out

    def _perform(
        self,
        request: ComposeRequest,
        plan: Plan,
        ctl: Sequence[Controls],
        mel: list[Note],
        acc: list[Note],
        slots: list[tuple[int, int, Chord]],
        rng: np.random.Generator,
        tempo: float,
        sixteenth_s: float,
        n16: int,
        breaths: set[int],
        style: Style,
    ) -> pretty_midi.PrettyMIDI:
        end_s = n16 * sixteenth_s
        level = levels(ctl)
        out = pretty_midi.PrettyMIDI(initial_tempo=tempo, resolution=960)  # 32nds and triplets exact
        out.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
        piano_notes = mel + acc
        vel = velocities(mel, part="melody", plan=plan, level=level, rng=rng) + velocities(
            acc, part="accompaniment", plan=plan, level=level, rng=rng
        )
        piano = to_instrument(
            tidy(piano_notes, vel), program=PROGRAMS["piano"], name=TRACK_NAMES["piano"], sixteenth_s=sixteenth_s,
            end_s=end_s,
        )  # fmt: skip
        pedal(piano, [(a, n) for a, n, _ in slots], ctl, sixteenth_s=sixteenth_s, end_s=end_s, breaths=breaths)
        out.instruments.append(piano)
        if "bass" in request.instruments:
            notes = bass_part(slots, ctl)
            played = tidy(notes, velocities(notes, part="bass", plan=plan, level=level, rng=rng))
            out.instruments.append(
                to_instrument(
                    played, program=PROGRAMS["bass"], name=TRACK_NAMES["bass"], sixteenth_s=sixteenth_s, end_s=end_s
                )
            )
        if "pad" in request.instruments:
            notes = pad_part(slots)
            played = tidy(notes, velocities(notes, part="pad", plan=plan, level=level, rng=rng))
            out.instruments.append(
                to_instrument(
                    played, program=PROGRAMS["pad"], name=TRACK_NAMES["pad"], sixteenth_s=sixteenth_s, end_s=end_s
                )
            )
        return out


BREATH = 2  # sixteenths of silence in the hands' upper notes before a phrase that takes a breath
BREATH_ABOVE = 52  # E3: the left hand's low notes are held through the breath, so the music breathes, not stops


def _breathe(notes: list[Note], breaths: set[int], *, above: int = 0) -> list[Note]:
    """Notes (at or above pitch ``above``) sounding into a breath end where it begins."""
    out = []
    for n in notes:
        for b in breaths:
            if n.pitch >= above and n.start < b - BREATH < n.start + n.dur:
                n = Note(n.start, max(1, b - BREATH - n.start), n.pitch)
        out.append(n)
    return out


def _under_melody(
    notes: Sequence[Note], grid: Sequence[Chord | None], doubling: float, rng: np.random.Generator
) -> list[Note]:
    """The right hand fills out some melody notes on the beat: a chord tone a sixth below (else the octave, else
    a third), as a pianist's right hand plays the tune over its own harmony."""
    out = []
    for n in notes:
        ch = grid[min(n.start, len(grid) - 1)]
        if ch is None or n.start % 4 or rng.random() >= 0.6 * doubling:
            continue
        for d in (8, 9, 12, 3, 4):
            if (n.pitch - d) % 12 in ch.pitch_classes:
                out.append(Note(n.start, n.dur, n.pitch - d))
                break
    return out


SPEECH_LOW = 60  # middle C: accompaniment above it shares the voice's range (its fundamentals and first formants)
TALKING = 0.5  # a bar with people speaking for at least half of it is arranged for the dialogue


def _no_rubs(mel: Sequence[Note], acc: Sequence[Note]) -> list[Note]:
    """The accompaniment without the notes struck together with a held tune note (a quarter or longer) a semitone
    away from it in any octave (a minor ninth or major seventh rubbing against the tune): a pianist leaves them out."""
    held: dict[int, set[int]] = {}
    for m in mel:
        if m.dur >= 4:
            held.setdefault(m.start, set()).add(m.pitch % 12)
    return [n for n in acc if not any((n.pitch - pc) % 12 in (1, 11) for pc in held.get(n.start, ()))]


def _leave_room(acc: Sequence[Note], talk: Sequence[float]) -> list[Note]:
    """Under dialogue the accompaniment thins out of the voice's way: in a bar where people speak for at least
    half of it, its notes off the beat and above middle C are left out (the bass and the chords on the beats
    stay), so the words are not masked by figuration in their own range. The mix cuts the music's speech band
    as well; this is the arranger's part of the same job."""
    out = []
    for n in acc:
        bar = min(n.start // STEPS, len(talk) - 1) if talk else 0
        if talk and talk[bar] >= TALKING and n.start % 4 != 0 and n.pitch >= SPEECH_LOW:
            continue
        out.append(n)
    return out


def _keep_pulse(
    mel: Sequence[Note],
    acc: Sequence[Note],
    grid: Sequence[Chord | None],
    plan: Plan,
    breaths: set[int],
    rng: np.random.Generator,
    rate: Sequence[float],
) -> list[Note]:
    """Holes in the running pulse filled, as a pianist keeps the music moving: where melody and accompaniment
    together leave one beat of the piece's pulse empty inside a chord, the right hand fills in a chord tone under a
    held melody note, or the left hand's broken chord goes on (not in the last bar, nor where a phrase takes a
    breath). ``rate`` per bar: excited music keeps a running pulse, calm music breathes."""
    onsets = sorted({n.start for n in mel} | {n.start for n in acc})
    if len(onsets) < 3:
        return []
    pulse = int(np.median(np.diff(onsets)))
    if not 1 <= pulse <= 4:
        return []
    n16 = len(grid)
    top = np.full(n16, 200)  # the lowest melody note sounding at each sixteenth
    for n in mel:
        top[n.start : n.start + n.dur] = np.minimum(top[n.start : n.start + n.dur], n.pitch)
    by_start: dict[int, list[int]] = {}
    for n in acc:
        by_start.setdefault(n.start, []).append(n.pitch)
    end = (plan.phrases[-1].end - 1) * STEPS
    # one draw per place in a phrase, so a phrase that comes back gets the same fills (its material repeats)
    draws = rng.random(max(ph.bars for ph in plan.phrases) * STEPS)
    phrase_start = np.zeros(n16, dtype=int)
    for ph in plan.phrases:
        phrase_start[ph.start * STEPS : ph.end * STEPS] = ph.start * STEPS
    out = []
    last: list[int] = []
    for a, b in itertools.pairwise(onsets):
        last = by_start.get(a, last)
        t = a + pulse
        if b - a != 2 * pulse or t >= end or not last or draws[t - phrase_start[t]] >= rate[t // STEPS]:
            continue
        ch = grid[t]
        if ch is None or grid[a] is not ch or any(x - BREATH <= t < x for x in breaths):
            continue
        held = int(top[t])
        if held < 200:  # under a held melody note the right hand fills in a chord tone a third to a sixth below
            cands = [p for p in range(held - 9, held - 2) if p % 12 in ch.triad_pcs]
            mid = held - 5.0
        else:  # else the left hand's broken chord goes on
            lo, hi = min(last), max(last)
            ceiling = int(top[min(b, n16 - 1)]) - 2
            cands = [p for p in range(lo + 3, hi + 6) if p % 12 in ch.triad_pcs and p not in last and p < ceiling]
            mid = (lo + hi) / 2 + (5 if len(last) == 1 else 0)
        if cands:
            out.append(Note(t, pulse, min(cands, key=lambda p: abs(p - mid))))
    return out


def _fills(
    mel: Sequence[Note],
    grid: Sequence[Chord | None],
    plan: Plan,
    ctl: Sequence[Controls],
    amount: float,
    rng: np.random.Generator,
) -> list[Note]:
    """A pianist's fills between phrases: where the tune rests or holds through the last beats of a phrase, the right
    hand runs up (sometimes down) the chord there and leads into the next phrase, in sixteenths when the music is
    lively (over up to two octaves), in eighths when it is calm (a rising broken chord over about an octave).
    ``amount`` (the piece's style) scales how often; arousal raises it. Not after the last phrase."""
    out: list[Note] = []
    onsets = sorted(n.start for n in mel)
    for ph in plan.phrases[:-1]:
        end = ph.end * STEPS
        c = ctl[ph.end - 1]
        if rng.random() >= amount * (0.35 + 0.45 * c.arousal):
            continue
        lively = c.arousal > 0.15
        span = 8 if lively and rng.random() < 0.5 else 4 if lively else 8
        step = 1 if lively else 2
        start = end - span
        if any(start <= o < end for o in onsets) or start < ph.start * STEPS:
            continue
        ch = grid[start]
        held = [n for n in mel if n.start < start]
        if ch is None or not held:
            continue
        top = held[-1].pitch
        tones = [p for p in range(top - 12, 92) if p % 12 in ch.triad_pcs]
        count = span // step
        up = rng.random() < 0.75
        if up:  # from a little below the held note, as high as the run needs (at most G6)
            first = min(next((i for i, p in enumerate(tones) if p >= top - 9), 0), max(0, len(tones) - count))
            run = tones[first : first + count]
        else:  # from an octave above it, down
            last = max(next((i for i, p in enumerate(tones) if p > top + 12), len(tones)), min(count, len(tones)))
            run = tones[max(0, last - count) : last][::-1]
        first_onset = end - len(run) * step  # the run ends on the next phrase's downbeat
        out += [Note(first_onset + i * step, step, p) for i, p in enumerate(run)]
    return out


def _graces(notes: Sequence[Note], keys: Sequence[int], rng: np.random.Generator, rate: float) -> list[tuple[int, int]]:
    """Grace notes before some melody notes on the beat: (onset in sixteenths, pitch) of the note a scale step
    above or below."""
    out = []
    for n in notes:
        if n.start % 4 == 0 and rng.random() < rate:
            step = [p for p in (n.pitch + 1, n.pitch + 2, n.pitch - 1, n.pitch - 2) if p % 12 in keys]
            if step:
                out.append((n.start, int(rng.choice(step[:2]))))
    return out


def _mean_controls(cs: Sequence[Controls]) -> Controls:
    v = float(np.mean([c.valence for c in cs]))
    a = float(np.mean([c.arousal for c in cs]))
    return controls(v, a)


def _final_chord(bar: int, ch: Chord, bass_low: int, melody_low: int, voicer: Voicer) -> list[Note]:
    """The last bar: the tonic chord with its root below, held to the end of the piece (it rings with the pedal)."""
    start = bar * STEPS
    voicer.colour = 0.0  # the last chord is the plain tonic triad
    voicing = voicer.voicing(ch, max(bass_low + 18, min(70, melody_low - 2)))
    root = bass_low + (ch.root - bass_low) % 12
    return [Note(start, STEPS, root), Note(start, STEPS, root + 12)] + [Note(start, STEPS, p) for p in voicing]
