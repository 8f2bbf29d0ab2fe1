"""Composition: a ComposeRequest -> Scores, by sampling the generator bar by bar with the emotion of each bar.

The prompt is ``BOS Bar Emotion_<q of bar 1>``. Whenever the network writes a bar line, the emotion token of
the next bar is forced, so the emotion changes exactly on bar lines while the music continues from its own
context. Sampling stops at the bar line after the last bar. A bar that runs on too long without a bar line
gets one forced (a guard against degenerate sampling). Then the piece is transposed to the requested key (or
left where the network put it for "auto"), arranged and given its tempo.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pretty_midi

from models.music import tokens
from models.music.arrange import arrange
from models.music.features import polyphony
from models.music.generator import FastDecoder, MusicTransformer, sample
from models.music.harmony import HarmonyGuide
from models.music.judge import Judge, run_excerpts, run_verdict
from models.music.keys import Key, estimate_key, parse_key, transposition_to
from models.music.texture import DensityBrake, texture_row
from models.types import ComposeRequest, Score, quadrant_runs

Progress = Callable[[float, str], None]
MAX_TOKENS_PER_BAR = 160  # far above EMOPIA's ~52 on average
CANDIDATE_SEED_STEP = 100_003  # take j of a variation samples with seed + j * this (take 0 = the plain seed)
RUN_SEED_STEP = 1_000_003  # ... plus r * this for its r-th run of bars (composed run by run when K > 1)
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10, 11)  # natural minor plus the raised leading tone of harmonic minor
NEGATIVE_VALENCE = ("Q2", "Q3")  # quadrants written in minor when the mode follows the emotion
OTHER_VALENCE = (1, 0, 3, 2)  # index of the quadrant with the same arousal and the other valence (Q1<->Q2, Q3<->Q4)


def mode_bias(tonic: int, minor: bool, weight: float) -> np.ndarray:
    """(vocab,) logit bias: ``-weight`` on every Pitch token outside the major / minor scale on ``tonic``."""
    scale = {(tonic + step) % 12 for step in (MINOR_SCALE if minor else MAJOR_SCALE)}
    pc = tokens.vocab_table().pitch_class
    out = np.zeros(len(pc), dtype=np.float32)
    out[(pc >= 0) & ~np.isin(pc, sorted(scale))] = -weight
    return out


class Composer:
    """Wraps a generator network; :meth:`compose` is thread-safe (the network is only read)."""

    def __init__(self, net: MusicTransformer, *, guidance: float | None = None) -> None:
        self.net = net.eval()
        self.decoder = FastDecoder(self.net)  # NumPy decoding steps: about 3x faster than the network at batch 1
        # classifier-free guidance scale (0 = plain conditional sampling); default: the checkpoint's measured value
        self.guidance = float(net.sampling.get("guidance", 0.0)) if guidance is None else guidance
        # per-quadrant token log-ratios (4, vocab) from EMOPIA train, added to the logits with this weight
        bias = getattr(net, "emotion_bias", None)
        self.emotion_bias: np.ndarray | None = None if bias is None else bias.numpy()
        self.bias_weight = float(net.sampling.get("bias_weight", 0.0))
        # mode follows valence: out-of-scale pitches get -mode_weight (major for Q1/Q4, minor for Q2/Q3)
        self.mode_weight = float(net.sampling.get("mode_weight", 0.0))
        # valence contrast c: each quadrant's bias row also gets c * (its row - the other valence's row), which
        # pushes away from the quadrant the judge confuses it with (measured: more control, busier textures)
        self.valence_contrast = float(net.sampling.get("valence_contrast", 0.0))
        # harmonic steering (models.music.harmony): later notes of each half bar tilted towards one triad whose
        # quality follows the bar's valence (0 = off)
        self.harmony_weight = float(net.sampling.get("harmony_weight", 0.0))

        def table(key: str) -> dict[str, Any] | None:
            value = net.sampling.get(key)
            return dict(value) if isinstance(value, dict) else None

        # per-quadrant texture knobs (models.music.texture), calibrated with the bias to EMOPIA train's note counts,
        # durations and register; added to the logits beside the bias (None: off)
        self.texture: dict[str, dict[str, float]] | None = table("texture")
        # mean note velocity per quadrant in EMOPIA train: each run of bars is scaled to its quadrant's (None: off)
        self.velocity_targets: dict[str, float] | None = table("velocity_targets")
        # mean polyphony per quadrant in EMOPIA train: each run's note lengths are scaled to reach it (None: off)
        self.polyphony_targets: dict[str, float] | None = table("polyphony_targets")
        # notes per bar per quadrant in EMOPIA train: a bar far above it engages the DensityBrake (None: off)
        self.density_targets: dict[str, float] | None = table("density_targets")
        # the brake's slack per quadrant where it differs from DensityBrake.SLACK (None: the default everywhere)
        self.density_slack: dict[str, float] | None = table("density_slack")
        # function steering per quadrant (models.music.harmony): the harmony also drawn to the key's primary chords
        self.function_weights: dict[str, float] | None = table("function_weights")
        none = tokens.emotion_id("NONE")
        self._uncond = {tokens.emotion_id(e): none for e in tokens.EMOTIONS}
        self._bar = tokens.token_id("Bar_None")
        self._banned = [tokens.token_id(t) for t in ("PAD_None", "BOS_None", "EOS_None")] + [
            tokens.emotion_id(e) for e in tokens.EMOTIONS
        ]

    def generate_ids(
        self,
        quadrants: tuple[str, ...],
        *,
        seed: int,
        temperature: float,
        top_p: float,
        guidance: float | None = None,
        bias_weight: float | None = None,
        mode_weight: float | None = None,
        tonic: int | None = None,
        valence_contrast: float | None = None,
        texture: dict[str, dict[str, float]] | None = None,
        harmony_weight: float | None = None,
        density_targets: dict[str, float] | None = None,
        function_weights: dict[str, float] | None = None,
        density_slack: dict[str, float] | None = None,
        prefix: list[int] | None = None,
    ) -> list[int]:
        """Token ids for ``len(quadrants)`` bars, the emotion token of bar i being ``quadrants[i]``.

        With a mode weight > 0 the bars are steered into the scale on ``tonic`` (default: ``seed % 12``), major
        or minor by each bar's valence, so a change of emotion is also a change between parallel keys.
        ``texture`` replaces the checkpoint's texture knobs (``{}``: none); ``harmony_weight`` its harmonic
        steering; ``density_targets`` its density brake's targets (``{}``: no brake); ``function_weights`` its
        function steering (``{}``: none); ``density_slack`` the brake's slack per quadrant (``{}``: the default).

        ``prefix``: the tokens of the first bars, as an earlier call returned them; sampling goes on from there
        with the next bar line (the network, the harmony guide and the brake read the prefix as context), and
        the result holds the prefix followed by the new bars. Sampling the bars in one call or in pieces draws
        from the same distribution, not the same tokens."""
        n = len(quadrants)
        bar = self._bar
        prompt = [tokens.token_id("BOS_None"), bar, tokens.emotion_id(quadrants[0])]
        state = {"bars": 1, "since_bar": 0}
        if prefix:
            done = sum(1 for t in prefix if t == bar)  # each bar starts with its bar line
            if not 0 < done < n:
                raise ValueError(f"the prefix holds {done} bars; expected 1 to {n - 1}")
            prompt = [*prefix, bar, tokens.emotion_id(quadrants[done])]
            state["bars"] = done + 1

        def force(seq: list[int]) -> int | None:
            if seq[-1] == bar:
                state["since_bar"] = 0
                return tokens.emotion_id(quadrants[min(state["bars"] - 1, n - 1)])
            state["since_bar"] += 1
            return bar if state["since_bar"] > MAX_TOKENS_PER_BAR else None

        def stop(seq: list[int]) -> bool:
            if seq[-1] == bar:
                state["bars"] += 1
                return state["bars"] > n
            return False

        weight = self.bias_weight if bias_weight is None else bias_weight
        mode_w = self.mode_weight if mode_weight is None else mode_weight
        table = np.zeros((len(tokens.QUADRANTS), tokens.vocab_size()), dtype=np.float32)
        contrast = self.valence_contrast if valence_contrast is None else valence_contrast
        if self.emotion_bias is not None and weight != 0:
            bias = self.emotion_bias + contrast * (self.emotion_bias - self.emotion_bias[list(OTHER_VALENCE)])
            table += weight * bias
        if mode_w > 0:
            home = seed % 12 if tonic is None else tonic
            for i, q in enumerate(tokens.QUADRANTS):
                table[i] += mode_bias(home, q in NEGATIVE_VALENCE, mode_w)
        knobs = self.texture if texture is None else texture
        if knobs:
            for i, q in enumerate(tokens.QUADRANTS):
                table[i] += texture_row(knobs.get(q))
        steered = bool(table.any())

        def logit_bias(seq: list[int]) -> np.ndarray | None:
            if not steered:
                return None
            row: np.ndarray = table[tokens.QUADRANTS.index(quadrants[min(state["bars"] - 1, n - 1)])]
            return row

        harmony_w = self.harmony_weight if harmony_weight is None else harmony_weight
        functions = self.function_weights if function_weights is None else function_weights
        harmony = (  # negative weights are refused there
            HarmonyGuide(harmony_w, functions) if harmony_w != 0 or any((functions or {}).values()) else None
        )
        brake_targets = self.density_targets if density_targets is None else density_targets
        slack = self.density_slack if density_slack is None else density_slack
        brake = DensityBrake(brake_targets, slack) if brake_targets else None

        def adjust(seq: list[int], scores: np.ndarray) -> np.ndarray:
            quadrant = quadrants[min(state["bars"] - 1, n - 1)]
            if brake is not None:
                scores = brake.tilt(seq, scores, quadrant)
            return harmony.tilt(seq, scores, quadrant) if harmony is not None else scores

        seq = sample(
            self.net,
            prompt,
            max_new=(n - state["bars"] + 1) * (MAX_TOKENS_PER_BAR + 4),
            force=force,
            stop=stop,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            banned=self._banned,
            guidance=self.guidance if guidance is None else guidance,
            uncond=lambda i: self._uncond.get(i, i),
            logit_bias=logit_bias,
            adjust=adjust if harmony is not None or brake is not None else None,
            decoder=self.decoder,
        )
        if seq[-1] == bar:
            seq = seq[:-1]  # the bar line after the last bar
        return seq

    def decode(self, ids: list[int], quadrants: tuple[str, ...], tempo: float) -> pretty_midi.PrettyMIDI:
        """The piano part of ``generate_ids``'s tokens at ``tempo``, its dynamics and articulation matched to the
        quadrants."""
        pm = tokens.decode(ids, tempo=tempo)
        if self.velocity_targets:
            match_dynamics(pm, quadrants, tempo, self.velocity_targets)
        if self.polyphony_targets:
            match_articulation(pm, quadrants, tempo, self.polyphony_targets)
        return pm

    def compose(
        self, request: ComposeRequest, *, judge: Judge | None = None, progress: Progress | None = None
    ) -> list[Score]:
        """``request.variations`` pieces. With ``request.candidates`` K > 1 and a ``judge``, each variation is the
        best of K takes: the one whose runs of bars the judge hears most surely as the quadrants asked for."""
        quadrants = request.bar_quadrants()
        wanted = parse_key(request.key)
        k = request.candidates if judge is not None else 1
        scores = []
        for v in range(request.variations):
            seed = request.seed + v
            if progress:
                progress(v / request.variations, f"composing variation {v + 1}/{request.variations}")
            if k == 1:
                ids = self.generate_ids(
                    quadrants,
                    seed=seed,
                    temperature=request.temperature,
                    top_p=request.top_p,
                    tonic=None if wanted is None else wanted.tonic,
                )
                piano = self.decode(ids, quadrants, request.tempo)
            else:
                assert judge is not None

                def report(done: float, message: str, v: int = v) -> None:
                    if progress:
                        progress((v + done) / request.variations, f"variation {v + 1}/{request.variations}: {message}")

                piano = self.best_takes(request, quadrants, seed, k, judge, wanted, report)
            found = estimate_key(piano)
            key = found
            if wanted is not None:
                shift = transposition_to(found, wanted)
                _transpose(piano, shift)
                key = Key((found.tonic + shift) % 12, found.minor)
            midi = arrange(piano, tempo=request.tempo, n_bars=len(quadrants), instruments=request.instruments)
            scores.append(
                Score(midi=midi, tempo=float(request.tempo), bar_quadrants=quadrants, key=key.name, seed=seed)
            )
        if progress:
            progress(1.0, "composed")
        return scores

    def best_takes(
        self,
        request: ComposeRequest,
        quadrants: tuple[str, ...],
        seed: int,
        k: int,
        judge: Judge,
        wanted: Key | None = None,
        report: Callable[[float, str], None] | None = None,
    ) -> pretty_midi.PrettyMIDI:
        """The piano of one variation, composed run by run (a run: consecutive bars of one quadrant): ``k`` takes
        of each run, all continuing the bars chosen so far, and the one the judge hears most surely as the run's
        quadrant is kept. Take 0 of run 0 uses the plain seed, so its bars are those of a one-take piece."""
        runs = quadrant_runs(quadrants)
        tonic = wanted.tonic if wanted is not None else seed % 12  # one home key for every run and take
        ids: list[int] = []
        best: tuple[float, list[int], pretty_midi.PrettyMIDI] | None = None
        for r, (_, end, quadrant) in enumerate(runs):
            best = None
            for j in range(k):
                if report is not None:
                    report((r * k + j) / (len(runs) * k), f"bars of {quadrant} ({r + 1}/{len(runs)}), take {j + 1}/{k}")
                take = self.generate_ids(
                    quadrants[:end],
                    seed=seed + CANDIDATE_SEED_STEP * j + RUN_SEED_STEP * r,
                    temperature=request.temperature,
                    top_p=request.top_p,
                    tonic=tonic,
                    prefix=ids or None,
                )
                midi = self.decode(take, quadrants[:end], request.tempo)
                fit = run_fit(judge, midi, request.tempo, quadrants[:end])
                if best is None or fit > best[0]:
                    best = (fit, take, midi)
            assert best is not None
            ids = best[1]
        assert best is not None
        return best[2]  # the last run's best take holds every chosen bar


def run_fit(judge: Judge, piano: pretty_midi.PrettyMIDI, tempo: float, quadrants: tuple[str, ...]) -> float:
    """Log-probability the judge gives the last run of bars for the quadrant it asked for (that run alone is
    judged)."""
    last = run_excerpts(Score(midi=piano, tempo=float(tempo), bar_quadrants=quadrants, key="", seed=0))[-1]
    return float(np.log(max(run_verdict(judge, *last)["p_asked"], 1e-6)))


def match_dynamics(
    pm: pretty_midi.PrettyMIDI, quadrants: tuple[str, ...], tempo: float, targets: dict[str, float]
) -> None:
    """Scale the velocities of each run of bars of one quadrant so their mean is ``targets[quadrant]``.

    The network with its emotion bias plays high-arousal music louder and low-arousal music softer than
    EMOPIA does (its mean velocities were up to 20% off); this keeps the shape of the dynamics inside a run
    (a multiplication) and puts their level where the data has it. Velocities stay in 1..127."""
    notes = [n for inst in pm.instruments for n in inst.notes]
    for _, _, q, idx in _note_runs(notes, quadrants, tempo):
        members = [notes[i] for i in idx]
        target = targets.get(q)
        if not members or not target:
            continue
        factor = target / float(np.mean([n.velocity for n in members]))
        for n in members:
            n.velocity = int(np.clip(round(n.velocity * factor), 1, 127))


def match_articulation(
    pm: pretty_midi.PrettyMIDI, quadrants: tuple[str, ...], tempo: float, targets: dict[str, float]
) -> None:
    """Scale the note lengths of each run of bars of one quadrant so that its mean polyphony (time-weighted count
    of sounding notes over the run) is ``targets[quadrant]``.

    With the texture knobs the note counts follow EMOPIA's but the lengths drift over a long piece (Q3 runs held
    their notes twice as long as EMOPIA's, Q4 runs a little short). One factor per run, found by bisection,
    multiplies every note's length, so the phrasing inside a run keeps its shape; onsets do not move. A note never
    reaches past the next onset of its own pitch or the end of the piece, and never gets shorter than a 32nd note
    (a shorter one is lengthened to that)."""
    bar_s = tokens.BEATS_PER_BAR * 60.0 / tempo
    piece_end = len(quadrants) * bar_s
    shortest = 60.0 / tempo / 8
    notes = sorted((n for inst in pm.instruments for n in inst.notes), key=lambda n: n.start)
    later: dict[int, float] = {}
    limit = []
    for n in reversed(notes):  # the next onset of the same pitch, scanning backwards
        limit.append(later.get(n.pitch, piece_end))
        later[n.pitch] = n.start
    limit.reverse()
    for first, end, q, idx in _note_runs(notes, quadrants, tempo):
        target = targets.get(q)
        if not idx or not target:
            continue
        start = np.array([notes[i].start for i in idx])
        length = np.array([notes[i].end - notes[i].start for i in idx])
        cap = np.array([limit[i] for i in idx]) - start
        cap = np.maximum(cap, np.minimum(length, shortest))  # a doubled note (same pitch, same onset) keeps a length
        new_ends = _articulated_ends(start, length, cap, (first * bar_s, end * bar_s), target, shortest)
        for i, e in zip(idx, new_ends, strict=True):
            notes[i].end = float(e)


def _note_runs(
    notes: list[pretty_midi.Note], quadrants: tuple[str, ...], tempo: float
) -> list[tuple[int, int, str, list[int]]]:
    """Each run of bars of one quadrant (first bar, end bar, quadrant) with the indices of the notes that start in
    it (a note past the last bar counts in the last bar)."""
    bar_s = tokens.BEATS_PER_BAR * 60.0 / tempo
    bars = [min(int(n.start / bar_s + 1e-6), len(quadrants) - 1) for n in notes]
    return [
        (first, end, q, [i for i, b in enumerate(bars) if first <= b < end])
        for first, end, q in quadrant_runs(quadrants)
    ]


def _articulated_ends(
    start: np.ndarray, length: np.ndarray, cap: np.ndarray, span: tuple[float, float], target: float, shortest: float
) -> np.ndarray:
    """Note ends ``start + length * f`` (within ``[min(shortest, cap), cap]``) for the factor f whose mean
    polyphony over ``span`` is ``target``, by geometric bisection (the polyphony grows with f)."""
    t0, t1 = span
    floor = np.minimum(shortest, cap)

    def ends(factor: float) -> np.ndarray:
        out: np.ndarray = start + np.maximum(np.minimum(length * factor, cap), floor)
        return out

    def poly(factor: float) -> float:
        return polyphony(np.stack([start - t0, np.minimum(ends(factor), t1) - t0], axis=1), t1 - t0)[0]

    lo, hi = 0.1, 10.0
    if poly(lo) >= target:
        hi = lo
    elif poly(hi) <= target:
        lo = hi
    for _ in range(30):
        mid = float(np.sqrt(lo * hi))
        lo, hi = (mid, hi) if poly(mid) < target else (lo, mid)
    return ends(float(np.sqrt(lo * hi)))


def _transpose(pm: pretty_midi.PrettyMIDI, semitones: int) -> None:
    for inst in pm.instruments:
        for n in inst.notes:
            n.pitch = int(np.clip(n.pitch + semitones, 0, 127))
