"""Chord progressions: a functional chord model learned from POP909 (``models/weights/patterns.json``, written by
``models/train/train_patterns.py``), sampled phrase by phrase under the form's cadences and coloured by emotion.

The model holds, per mode, the chords POP909's songs use (functional symbols, see :mod:`moodscore.models.music.theory`),
how songs start, and bigram and trigram counts of chord changes. A phrase's chords are drawn left to right from
the trigram (backing off to the bigram) times an emotion weight; the composer fixes the cadence chords it wants
(see ``Composer._progression``: the tonic at an authentic cadence, the dominant before it or at a half cadence some
of the time, V -> I at the end, the next key's dominant before a new section), and the chord before a fixed one is
drawn in proportion to how often it leads there, so the approach to a cadence is the data's.

Emotion weight of a chord (log scale): borrowed chords from the other mode (bVI, bVII, iv in major; IV, V in
minor) rise with ``Controls.borrowed``; sevenths, suspensions and secondary dominants with ``Controls.tension``;
minor-quality chords with falling valence, more steeply on the happy side (EMOPIA's happy pieces spend a quarter of
their time on minor chords, its sad ones not half: pop's sad songs lean on major chords too).
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from moodscore.models.errors import ModelLoadError
from moodscore.models.music.controls import Controls
from moodscore.models.music.theory import MAJOR_SCALE, MINOR_SCALE, QUALITY_INTERVALS, parse_symbol

MIN_COUNT_SHARE = 0.002  # chords rarer than this in POP909 (per mode) are left out of the vocabulary


@dataclass(frozen=True)
class ModeModel:
    vocab: tuple[str, ...]
    start: np.ndarray  # (V,)
    bigram: np.ndarray  # (V, V) row-stochastic
    trigram: dict[tuple[int, int], np.ndarray]  # (i, j) -> (V,) counts
    kind: np.ndarray  # (V, 4): diatonic, borrowed, seventh-or-suspension, minor quality (0/1)

    def index(self, symbol: str) -> int | None:
        try:
            return self.vocab.index(symbol)
        except ValueError:
            return None


def _kinds(vocab: Sequence[str], minor: bool) -> np.ndarray:
    own = set(MINOR_SCALE if minor else MAJOR_SCALE) | ({11} if minor else set())  # minor: the leading tone too
    other = set(MAJOR_SCALE if minor else MINOR_SCALE)
    rows = []
    for s in vocab:
        root, quality = parse_symbol(s)
        tones = {(root + i) % 12 for i in QUALITY_INTERVALS[quality][:3]}
        diatonic = tones <= own
        rows.append(
            [
                float(diatonic),
                float(not diatonic and tones <= other),
                float(quality in ("7", "maj7", "min7", "hdim7", "dim7", "sus4", "sus2")),
                float(quality in ("min", "min7", "dim", "hdim7", "dim7")),
            ]
        )
    return np.array(rows)


def _mode_model(raw: dict[str, Any], minor: bool) -> ModeModel:
    vocab_all = [str(s) for s in raw["vocab"]]
    keep = []
    start = np.asarray(raw["start"], dtype=np.float64)
    big = np.asarray(raw["bigram"], dtype=np.float64)
    usage = big.sum(axis=0) + start  # how often a chord is arrived at (rows are smoothed probabilities)
    for i, s in enumerate(vocab_all):
        try:
            parse_symbol(s)
        except ValueError:
            continue
        if usage[i] / usage.sum() >= MIN_COUNT_SHARE:
            keep.append(i)
    vocab = tuple(vocab_all[i] for i in keep)
    where = {old: new for new, old in enumerate(keep)}
    bigram = big[np.ix_(keep, keep)] + 1e-6
    bigram /= bigram.sum(axis=1, keepdims=True)
    trigram: dict[tuple[int, int], np.ndarray] = {}
    for ctx, nexts in raw.get("trigram", {}).items():
        a, _, b = ctx.partition(",")
        if not (a.isdigit() and b.isdigit()) or int(a) not in where or int(b) not in where:
            continue
        row = np.zeros(len(vocab))
        for k, c in nexts.items():
            if int(k) in where:
                row[where[int(k)]] = float(c)
        if row.sum() > 0:
            trigram[(where[int(a)], where[int(b)])] = row
    first = start[keep] + 1e-6
    return ModeModel(vocab, first / first.sum(), bigram, trigram, _kinds(vocab, minor))


class ChordModel:
    """The learned chord statistics of both modes; :meth:`phrase` writes one phrase's chords."""

    def __init__(self, data: dict[str, Any]) -> None:
        try:
            self.modes = {m: _mode_model(data["chords"][m], m == "minor") for m in ("major", "minor")}
        except (KeyError, TypeError, ValueError) as e:
            raise ModelLoadError(f"the chord model in patterns.json is malformed: {e}") from e

    def weights(self, minor: bool, c: Controls) -> np.ndarray:
        """(V,) emotion weights of the chords of a mode (multiplied into the data's probabilities)."""
        m = self.modes["minor" if minor else "major"]
        diatonic, borrowed, colour, minor_q = m.kind.T
        chromatic = (1 - diatonic) * (1 - borrowed)
        logw = (
            borrowed * (3.0 * c.borrowed - 1.0)
            + chromatic * (1.5 * c.tension - 2.5)
            + colour * 1.5 * (c.tension - 0.45)
            - (minor_q - 0.5) * (2.4 if c.valence > 0 else 0.6) * c.valence
        )
        out: np.ndarray = np.exp(logw)
        return out

    def phrase(
        self,
        n_slots: int,
        *,
        minor: bool,
        controls: Controls,
        fixed: dict[int, str],
        previous: Sequence[str],
        rng: np.random.Generator,
        temperature: float = 1.0,
        avoid_first: str | None = None,
        avoid_last: str | None = None,
    ) -> list[str]:
        """Chord symbols for ``n_slots`` slots; ``fixed[i]`` pins slot i; ``previous`` is the chords before the
        phrase (its context); ``avoid_first`` is made unlikely as the first chord (a contrasting phrase) and
        ``avoid_last`` is never the last (a phrase that ends open)."""
        m = self.modes["minor" if minor else "major"]
        w = self.weights(minor, controls)
        context = [m.index(s) for s in previous[-2:]]
        out: list[str] = []
        for i in range(n_slots):
            if i in fixed:
                out.append(fixed[i])
                context.append(m.index(fixed[i]))
                continue
            p = self._next(m, context) * w
            last = context[-1] if context else None
            if last is not None:
                p[last] = 0.0  # a chord slot changes the chord
            if i == 0 and avoid_first is not None and (a := m.index(avoid_first)) is not None:
                p[a] *= 0.1
            if i == n_slots - 1 and avoid_last is not None and (a := m.index(avoid_last)) is not None:
                p[a] = 0.0
            target = fixed.get(i + 1)
            t_idx = m.index(target) if target is not None else None
            if t_idx is not None:
                p = p * (m.bigram[:, t_idx] + 1e-3)
                p[t_idx] = 0.0
            if p.sum() <= 0:
                p = m.start * w
            p = p ** (1.0 / max(temperature, 1e-3))
            j = int(rng.choice(len(p), p=p / p.sum()))
            out.append(m.vocab[j])
            context.append(j)
        return out

    @staticmethod
    def _next(m: ModeModel, context: Sequence[int | None]) -> np.ndarray:
        known = [c for c in context[-2:] if c is not None]
        if not context or context[-1] is None:
            return m.start.copy()
        if len(context) >= 2 and len(known) == 2:
            counts = m.trigram.get((known[0], known[1]))
            if counts is not None:
                alpha = 3.0
                mixed: np.ndarray = (counts + alpha * m.bigram[known[1]]) / (counts.sum() + alpha)
                return mixed
        row: np.ndarray = m.bigram[context[-1]].copy()
        return row


@lru_cache(maxsize=4)
def load_chord_model(path: str | None = None) -> ChordModel:
    """The shipped chord model (``models/weights/patterns.json``) or one at ``path``."""
    return ChordModel(load_patterns(path))


@lru_cache(maxsize=4)
def load_patterns(path: str | None = None) -> dict[str, Any]:
    """The POP909 statistics file as a dict; one-line :class:`ModelLoadError` if missing or unreadable."""
    data = _read_json("patterns.json", path, "POP909 statistics")
    if not isinstance(data, dict) or "chords" not in data:
        raise ModelLoadError(f"{path or 'models/weights/patterns.json'} is not a moodscore patterns file")
    return data


def load_texture(path: str | None = None) -> dict[str, Any]:
    """The EMOPIA accompaniment bars (``models/weights/emopia_patterns.json``, non-commercial) or the file at
    ``path``; one-line :class:`ModelLoadError` if missing or unreadable."""
    data = _read_json("emopia_patterns.json", path, "EMOPIA accompaniment")
    if not isinstance(data, dict) or not isinstance(data.get("accompaniment"), dict):
        raise ModelLoadError(f"{path or 'models/weights/emopia_patterns.json'} is not a moodscore accompaniment file")
    return data


def _read_json(name: str, path: str | None, what: str) -> Any:
    """The bundled ``models/weights/<name>`` (or the file at ``path``) parsed; one-line :class:`ModelLoadError`."""
    where = path or f"models/weights/{name}"
    try:
        if path is None:
            text = (importlib.resources.files("moodscore.models.weights") / name).read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        return json.loads(text)
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"cannot read the composer's {what} {where}: {e}") from e
