"""The original brief's two generators, kept as measured baselines for the shipped Transformer.

- :class:`QuadrantLSTM`: one token-level LSTM per quadrant (trained only on that quadrant's EMOPIA clips, on
  the same REMI tokens without emotion tokens), continued from a few random seed notes.
- :class:`RollGenerator` / :class:`RollCritic`: a label-conditioned piano-roll GAN in the MuseGAN style: one
  piano track, 4-bar phrases of 16 steps a bar over 64 pitches (C2..D#7), the quadrant given to both the
  generator (an embedding joined to the noise) and the critic (a projection term), trained as a WGAN-GP.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pretty_midi
import torch
from torch import nn

from moodscore.models.music.baselines import tokens

QUADS = ("Q1", "Q2", "Q3", "Q4")
STEPS_PER_BAR = 16
PHRASE_BARS = 4
LOWEST, N_PITCHES = 36, 64  # C2 .. D#7
NOISE = 64


class QuadrantLSTM(nn.Module):
    """A 2-layer LSTM language model over REMI token ids."""

    def __init__(self, vocab: int, d: int = 256, layers: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        self.dims = {"vocab": vocab, "d": d, "layers": layers, "dropout": dropout}
        self.emb = nn.Embedding(vocab, d)
        self.lstm = nn.LSTM(d, d, layers, batch_first=True, dropout=dropout)
        self.out = nn.Linear(d, vocab)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        h, state = self.lstm(self.emb(x), state)
        return self.out(h), state


def random_seed_notes(rng: np.random.Generator, n: int = 4) -> list[int]:
    """BOS, a bar line and ``n`` random notes on the first beats: the LSTM baseline's prompt."""
    ids = [tokens.token_id("BOS_None"), tokens.token_id("Bar_None")]
    for i in range(n):
        ids += [
            tokens.token_id(f"Position_{(i * tokens.POSITIONS_PER_BEAT) % 32}"),
            tokens.token_id(f"Pitch_{int(rng.integers(48, 80))}"),
            tokens.token_id(f"Velocity_{_velocity_bin(int(rng.integers(50, 100)))}"),
            tokens.token_id("Duration_1.0.8"),
        ]
    return ids


def _velocity_bin(v: int) -> int:
    bins = np.array([int(k[9:]) for k in tokens.tokenizer().vocab if k.startswith("Velocity_")])
    return int(bins[np.argmin(np.abs(bins - v))])


@torch.no_grad()
def sample_lstm(
    model: QuadrantLSTM, bars: int, *, seed: int, temperature: float = 1.0, max_per_bar: int = 160
) -> list[int]:
    """``bars`` bars of token ids continued from random seed notes (emotion tokens are never produced)."""
    model.eval()
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    seq = random_seed_notes(rng)
    bar = tokens.token_id("Bar_None")
    banned = [tokens.token_id(t) for t in ("PAD_None", "BOS_None", "EOS_None")]
    banned += [tokens.emotion_id(e) for e in tokens.EMOTIONS]
    logits, state = model(torch.tensor([seq]))
    n_bars, since = 1, 0
    while True:
        scores = logits[0, -1] / temperature
        scores[banned] = -torch.inf
        nxt = bar if since > max_per_bar else int(torch.multinomial(torch.softmax(scores, -1), 1, generator=gen))
        since += 1
        if nxt == bar:
            n_bars, since = n_bars + 1, 0
            if n_bars > bars:
                break
        seq.append(nxt)
        logits, state = model(torch.tensor([[nxt]]), state)
    return seq


class RollGenerator(nn.Module):
    """(noise, quadrant) -> a 4-bar piano roll of note-on probabilities, shape (B, 64 steps, 64 pitches)."""

    def __init__(self, ch: int = 64) -> None:
        super().__init__()
        self.label = nn.Embedding(len(QUADS), 32)
        self.fc = nn.Sequential(nn.Linear(NOISE + 32, ch * 4 * 8 * 8), nn.ReLU())
        self.ch = ch

        def up(cin: int, cout: int) -> list[nn.Module]:
            return [nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.ReLU()]

        self.net = nn.Sequential(*up(ch * 4, ch * 2), *up(ch * 2, ch), nn.ConvTranspose2d(ch, 1, 4, 2, 1))

    def forward(self, z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat([z, self.label(q)], dim=1)).view(-1, self.ch * 4, 8, 8)
        return torch.sigmoid(self.net(h)).squeeze(1)


class RollCritic(nn.Module):
    """A WGAN critic with a label projection term (Miyato & Koyama 2018)."""

    def __init__(self, ch: int = 64) -> None:
        super().__init__()

        def down(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2)]

        self.net = nn.Sequential(*down(1, ch), *down(ch, ch * 2), *down(ch * 2, ch * 4), nn.Flatten())
        self.out = nn.Linear(ch * 4 * 8 * 8, 1)
        self.proj = nn.Embedding(len(QUADS), ch * 4 * 8 * 8)

    def forward(self, x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        h = self.net(x.unsqueeze(1))
        return self.out(h).squeeze(1) + (self.proj(q) * h).sum(dim=1)


def midi_to_phrases(pm: pretty_midi.PrettyMIDI) -> np.ndarray:
    """Non-overlapping 4-bar onset-sustain rolls (N, 64, 64) of a piece read on a 16th-note grid."""
    beat = 60.0 / pm.get_tempo_changes()[1][0] if len(pm.get_tempo_changes()[1]) else 0.5
    step = beat / 4
    n_steps = int(pm.get_end_time() / step) + 1
    roll = np.zeros((n_steps, N_PITCHES), np.float32)
    for inst in pm.instruments:
        for n in inst.notes:
            p = n.pitch - LOWEST
            while p < 0:
                p += 12
            while p >= N_PITCHES:
                p -= 12
            a = round(n.start / step)
            b = max(round(n.end / step), a + 1)
            roll[a:b, p] = 1.0
    size = PHRASE_BARS * STEPS_PER_BAR
    return np.stack(
        [roll[i : i + size] for i in range(0, n_steps - size + 1, size)] or [np.zeros((size, N_PITCHES), np.float32)]
    )


def roll_to_midi(
    rolls: Sequence[np.ndarray], *, tempo: float = 120.0, threshold: float = 0.5
) -> pretty_midi.PrettyMIDI:
    """Phrases joined in time; each run of active steps on a pitch becomes one note (velocity 80)."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    piano = pretty_midi.Instrument(0, name="Piano")
    step = 60.0 / tempo / 4
    roll = np.concatenate([np.asarray(r) for r in rolls]) >= threshold
    padded = np.pad(roll, ((1, 1), (0, 0)))
    for p in range(N_PITCHES):
        on = np.flatnonzero(~padded[:-1, p] & padded[1:, p])
        off = np.flatnonzero(padded[:-1, p] & ~padded[1:, p])
        for a, b in zip(on, off, strict=True):
            piano.notes.append(pretty_midi.Note(80, LOWEST + p, a * step, b * step))
    piano.notes.sort(key=lambda n: (n.start, n.pitch))
    pm.instruments.append(piano)
    return pm


@torch.no_grad()
def sample_gan(
    gen: RollGenerator, quadrant: str, bars: int, *, seed: int, tempo: float = 120.0
) -> pretty_midi.PrettyMIDI:
    gen.eval()
    g = torch.Generator().manual_seed(seed)
    n = -(-bars // PHRASE_BARS)
    z = torch.randn(n, NOISE, generator=g)
    rolls = gen(z, torch.full((n,), QUADS.index(quadrant))).numpy()
    return roll_to_midi(list(rolls), tempo=tempo)
