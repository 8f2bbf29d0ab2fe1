"""MIDI <-> token ids: miditok's REMI plus one emotion control token after every bar line.

A piece is reduced to one piano stream (every non-drum note) and tokenised with REMI at 8 positions per beat,
16 velocity bins, no tempo or time-signature tokens (tempo and metre are set when decoding, so the network
learns music in beats). After each ``Bar_None`` token comes ``Emotion_Q1`` .. ``Emotion_Q4`` (or
``Emotion_NONE`` for unlabelled pre-training data), so the emotion can change on any bar line and the
generator sees every bar's emotion as it writes it::

    ids = encode(pm, emotions=["Q1", "Q1", "Q3", "Q3"])   # one emotion per bar (or one for all)
    pm2 = decode(ids, tempo=96)
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pretty_midi
import symusic
from miditok import REMI, TokenizerConfig, TokSequence

from moodscore.models.affect import QUADRANTS

EMOTIONS: tuple[str, ...] = (*QUADRANTS, "NONE")
EMOTION_TOKENS: tuple[str, ...] = tuple(f"Emotion_{e}" for e in EMOTIONS)
BEAT_RES: dict[tuple[int, int], int] = {(0, 4): 8, (4, 12): 4}
POSITIONS_PER_BEAT = max(BEAT_RES.values())
PITCH_RANGE = (21, 109)  # the piano's keys, A0..C8
NUM_VELOCITIES = 16
BEATS_PER_BAR = 4  # REMI without time-signature tokens writes 4/4 bars


@lru_cache(maxsize=1)
def tokenizer() -> REMI:
    """The project's REMI tokenizer (built once per process; encoding and decoding do not mutate it)."""
    cfg = TokenizerConfig(
        pitch_range=PITCH_RANGE,
        beat_res=BEAT_RES,
        num_velocities=NUM_VELOCITIES,
        use_tempos=False,
        use_time_signatures=False,
        special_tokens=["PAD", "BOS", "EOS"],
    )
    tok = REMI(cfg)
    for name in EMOTION_TOKENS:
        tok.add_to_vocab(name)
    return tok


def vocab_size() -> int:
    return len(tokenizer())


def token_id(name: str) -> int:
    """The id of a token by name, e.g. ``token_id("Emotion_Q2")`` or ``token_id("Bar_None")``."""
    vocab = tokenizer().vocab
    if name not in vocab:
        raise ValueError(f"unknown token {name!r}")
    return int(vocab[name])


@dataclass(frozen=True)
class VocabTable:
    """What each token id is, as arrays of the vocabulary's length (for sampling-time steering)."""

    is_pitch: np.ndarray
    is_position: np.ndarray
    is_bar: np.ndarray
    pitch: np.ndarray  # MIDI pitch of a Pitch token (NaN otherwise)
    pitch_class: np.ndarray  # its pitch class (-1 otherwise)
    position: np.ndarray  # a Position token's position in the bar (-1 otherwise)
    log2_duration: np.ndarray  # log2 of a Duration token's length in beats (NaN otherwise)


@lru_cache(maxsize=1)
def vocab_table() -> VocabTable:
    """The :class:`VocabTable` of the project's vocabulary (built once)."""
    v = vocab_size()
    pitch, log_dur = np.full(v, np.nan), np.full(v, np.nan)
    position, is_bar = np.full(v, -1), np.zeros(v, bool)
    for name, i in tokenizer().vocab.items():
        kind, _, value = name.partition("_")
        if kind == "Pitch":
            pitch[i] = int(value)
        elif kind == "Position":
            position[i] = int(value)
        elif kind == "Duration":
            beat, pos, res = (int(x) for x in value.split("."))
            log_dur[i] = np.log2(beat + pos / res)
        elif kind == "Bar":
            is_bar[i] = True
    is_pitch = ~np.isnan(pitch)
    pitch_class = np.where(is_pitch, np.nan_to_num(pitch, nan=0.0) % 12, -1).astype(int)
    return VocabTable(is_pitch, position >= 0, is_bar, pitch, pitch_class, position, log_dur)


def emotion_id(emotion: str) -> int:
    if emotion not in EMOTIONS:
        raise ValueError(f"unknown emotion {emotion!r}; expected one of {', '.join(EMOTIONS)}")
    return token_id(f"Emotion_{emotion}")


def _piano_score(pm: pretty_midi.PrettyMIDI) -> Any:  # a symusic ScoreTick (its factory types confuse mypy)
    """Every non-drum note of ``pm`` in one piano track, as a symusic Score (through MIDI bytes, so the
    tempo map is kept and onsets land on beats as they do in the source)."""
    buf = io.BytesIO()
    pm.write(buf)
    score: Any = symusic.Score.from_midi(buf.getvalue())
    piano: Any = symusic.Track(name="Piano", program=0, is_drum=False, ttype="tick")
    for track in score.tracks:
        if not track.is_drum:
            piano.notes.extend(track.notes)
    piano.notes.sort()
    score.tracks = [piano]
    return score


def encode(
    pm: pretty_midi.PrettyMIDI,
    emotions: str | Sequence[str] | None = None,
    *,
    bos: bool = True,
    eos: bool = False,
) -> list[int]:
    """Token ids of ``pm`` with an emotion token after every bar line.

    ``emotions``: one emotion for the whole piece, one per bar (the last repeats if the piece is longer), or
    None for ``NONE``.
    """
    tok = tokenizer()
    seqs = tok.encode(_piano_score(pm))
    seq = seqs[0] if isinstance(seqs, list) else seqs
    per_bar = [emotions] if isinstance(emotions, str) else list(emotions or ["NONE"])
    if not per_bar:
        raise ValueError("emotions must not be empty")
    bar = token_id("Bar_None")
    out: list[int] = [token_id("BOS_None")] if bos else []
    n_bar = 0
    for i in seq.ids:
        out.append(int(i))
        if i == bar:
            out.append(emotion_id(per_bar[min(n_bar, len(per_bar) - 1)]))
            n_bar += 1
    if eos:
        out.append(token_id("EOS_None"))
    return out


def bar_emotions(ids: Sequence[int]) -> list[str]:
    """The emotion written after each bar line, in order."""
    names = {emotion_id(e): e for e in EMOTIONS}
    return [names[i] for i in ids if i in names]


def decode(
    ids: Sequence[int], *, tempo: float = 120.0, program: int = 0, name: str = "Piano"
) -> pretty_midi.PrettyMIDI:
    """A PrettyMIDI with one instrument from token ids, at ``tempo`` BPM in 4/4.

    Special and emotion tokens are dropped; token grammar errors (a Pitch without Duration at the end of a
    truncated sequence, ...) are skipped by miditok's decoder rather than failing.
    """
    if not (0 < tempo <= 1000):
        raise ValueError(f"tempo must be in (0, 1000] BPM, got {tempo}")
    tok = tokenizer()
    skip = {emotion_id(e) for e in EMOTIONS} | {token_id(t) for t in ("PAD_None", "BOS_None", "EOS_None")}
    kept = [int(i) for i in ids if int(i) not in skip]
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(BEATS_PER_BAR, 4, 0.0))
    inst = pretty_midi.Instrument(program=program, name=name)
    pm.instruments.append(inst)
    if not kept:
        return pm
    score = tok.decode([TokSequence(ids=kept)])
    tpq = score.ticks_per_quarter
    sec_per_tick = 60.0 / tempo / tpq
    for track in score.tracks:
        for n in track.notes:
            start = n.time * sec_per_tick
            inst.notes.append(
                pretty_midi.Note(
                    velocity=int(n.velocity),
                    pitch=int(n.pitch),
                    start=start,
                    end=start + max(n.duration, 1) * sec_per_tick,
                )
            )
    inst.notes.sort(key=lambda n: (n.start, n.pitch))
    return pm
