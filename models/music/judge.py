"""The MIDI emotion judge: which Russell quadrant (Q1..Q4) a piece of piano MIDI expresses.

It rates :func:`~moodscore.models.music.features.midi_features` (standardised) with a small network stored in a
self-describing torch checkpoint (``models/weights/judge.pt``, model card ``judge.md``). Two heads exist:

- ``factorised``: two logistic outputs, P(high arousal) and P(positive valence), treated as independent;
  P(Q1) = a*v, P(Q2) = a*(1-v), P(Q3) = (1-a)*(1-v), P(Q4) = (1-a)*v.
- ``softmax``: four logits, one per quadrant.

``hidden = 0`` makes the network linear (logistic regression); otherwise one hidden ReLU layer. The judge's
verdicts go into score.json and compose.json (it never chooses the music); its accuracy on EMOPIA's official
test split is in the model card.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from moodscore.models.affect import QUADRANTS
from moodscore.models.errors import InputError, ModelLoadError
from moodscore.models.files.checkpoints import load_checkpoint
from moodscore.models.music.data import load_midi
from moodscore.models.music.features import FEATURE_NAMES, midi_features

if TYPE_CHECKING:
    import pretty_midi

HEADS = ("factorised", "softmax")
JUDGE_TEMPO = 120.0  # judge_runs re-times generated music to this tempo (EMOPIA's MIDI tempo)
CHECKPOINT_FORMAT = "moodscore-judge/1"


@dataclass(frozen=True)
class JudgeResult:
    """The judge's verdict on one piece; ``*_prob`` is the probability of the stated label."""

    quadrant: str
    probs: dict[str, float]  # Q1..Q4, summing to 1
    valence: str  # "positive" (Q1, Q4) or "negative" (Q2, Q3)
    valence_prob: float
    arousal: str  # "high" (Q1, Q2) or "low" (Q3, Q4)
    arousal_prob: float


class JudgeNet(nn.Module):
    """Standardised features -> 2 (factorised) or 4 (softmax) logits; linear when ``hidden == 0``."""

    mean: torch.Tensor  # feature standardisation, stored as buffers
    scale: torch.Tensor

    def __init__(self, n_features: int, head: str = "factorised", hidden: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        if head not in HEADS:
            raise ModelLoadError(f"unknown judge head {head!r}; expected one of {', '.join(HEADS)}")
        n_out = 2 if head == "factorised" else 4
        self.head = head
        layers: list[nn.Module] = []
        if hidden > 0:
            layers = [nn.Linear(n_features, hidden), nn.ReLU(), nn.Dropout(dropout)]
        self.net = nn.Sequential(*layers, nn.Linear(hidden or n_features, n_out))
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, n_features) raw features -> logits
        return self.net((x - self.mean) / self.scale)

    @property
    def output(self) -> nn.Linear:
        """The last (output) layer."""
        last = self.net[-1]
        assert isinstance(last, nn.Linear)
        return last

    def quadrant_probs(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 4) probabilities of Q1..Q4."""
        logits = self.forward(x)
        if self.head == "softmax":
            return torch.softmax(logits, dim=-1)
        a, v = torch.sigmoid(logits).unbind(-1)  # P(high arousal), P(positive valence)
        return torch.stack([a * v, a * (1 - v), (1 - a) * (1 - v), (1 - a) * v], dim=-1)


class Judge:
    """A loaded judge: :meth:`predict` one piece, :meth:`predict_many` several, :meth:`probs` for features."""

    def __init__(self, net: JudgeNet, *, meta: dict[str, Any] | None = None) -> None:
        self.net = net.eval()
        self.meta = dict(meta or {})

    def probs(self, features: np.ndarray) -> np.ndarray:
        """(N, 4) quadrant probabilities for an (N, n_features) feature matrix."""
        x = torch.as_tensor(np.asarray(features, dtype=np.float32)).reshape(-1, len(FEATURE_NAMES))
        with torch.no_grad():
            return self.net.quadrant_probs(x).numpy().astype(np.float64)

    def predict(self, pm_or_path: pretty_midi.PrettyMIDI | str | Path) -> JudgeResult:
        return self.predict_many([pm_or_path])[0]

    def predict_many(self, items: Sequence[pretty_midi.PrettyMIDI | str | Path]) -> list[JudgeResult]:
        if isinstance(items, str | Path):
            raise InputError("predict_many takes a list of pieces; use predict for one")
        pieces = [load_midi(it) if isinstance(it, str | Path) else it for it in items]
        for it, pm in zip(items, pieces, strict=True):
            if not any(inst.notes for inst in pm.instruments if not inst.is_drum):
                name = Path(it).name if isinstance(it, str | Path) else "the piece"
                raise InputError(f"{name}: no pitched notes to judge (empty, or drums only)")
        feats = [midi_features(pm) for pm in pieces]
        if not feats:
            return []
        return [_result(p) for p in self.probs(np.stack(feats))]


def _result(p: np.ndarray) -> JudgeResult:
    q = int(np.argmax(p))
    pos, high = float(p[0] + p[3]), float(p[0] + p[1])
    return JudgeResult(
        quadrant=QUADRANTS[q],
        probs={name: float(x) for name, x in zip(QUADRANTS, p, strict=True)},
        valence="positive" if pos >= 0.5 else "negative",
        valence_prob=max(pos, 1.0 - pos),
        arousal="high" if high >= 0.5 else "low",
        arousal_prob=max(high, 1.0 - high),
    )


def judge_checkpoint(net: JudgeNet, *, dims: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The self-describing checkpoint dict of a judge network (what :func:`load_judge` reads)."""
    return {
        "format": CHECKPOINT_FORMAT,
        "dims": dict(dims),
        "feature_names": list(FEATURE_NAMES),
        "quadrants": list(QUADRANTS),
        "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
        "meta": dict(meta),
    }


def _from_checkpoint(ckpt: dict[str, Any]) -> Judge:
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ModelLoadError(f"not a judge checkpoint (format {ckpt.get('format')!r}, expected {CHECKPOINT_FORMAT})")
    if list(ckpt["feature_names"]) != list(FEATURE_NAMES) or list(ckpt["quadrants"]) != list(QUADRANTS):
        raise ModelLoadError("judge checkpoint was trained on other features or classes than this code computes")
    net = JudgeNet(**ckpt["dims"])
    net.load_state_dict(ckpt["state_dict"])
    return Judge(net, meta=ckpt.get("meta", {}))


def load_judge(path: str | Path | None = None, *, debug: bool = False) -> Judge:
    """Load the judge: ``None`` = the shipped weights; ``debug=True`` = a tiny random network (no file)."""
    if debug:
        gen = torch.Generator().manual_seed(0)
        net = JudgeNet(len(FEATURE_NAMES), head="factorised", hidden=8)
        with torch.no_grad():
            for w in net.net.parameters():
                w.copy_(torch.randn(w.shape, generator=gen) * 0.1)
            net.scale.fill_(100.0)
        return Judge(net, meta={"debug": True})
    where = str(path) if path is not None else "models/weights/judge.pt"
    ckpt = load_checkpoint(path, default="judge.pt", what="MIDI emotion judge")
    try:
        return _from_checkpoint(ckpt)
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ModelLoadError(f"judge checkpoint {where} does not match the network: {e}") from e


def run_excerpts(score: Any) -> list[tuple[int, int, str, pretty_midi.PrettyMIDI]]:
    """Each run of bars of a :class:`moodscore.models.types.Score` that asked for one quadrant, as the judge hears it:
    (first bar, bar after the last (0-based), quadrant, the run's piano notes moved to time 0 and re-timed to
    ``JUDGE_TEMPO``). Only the first track (the generated piano) is taken."""
    import pretty_midi

    piano = score.midi.instruments[0] if score.midi.instruments else None
    stretch = float(score.tempo) / JUDGE_TEMPO  # seconds at the score's tempo -> seconds at 120 BPM
    out = []
    for a, b, q in score.runs:
        t0, t1 = a * score.bar_s, b * score.bar_s
        pm = pretty_midi.PrettyMIDI(initial_tempo=JUDGE_TEMPO)
        part = pretty_midi.Instrument(0, name="Piano")
        for n in piano.notes if piano is not None else []:
            if t0 <= n.start < t1:
                part.notes.append(
                    pretty_midi.Note(n.velocity, n.pitch, (n.start - t0) * stretch, (min(n.end, t1) - t0) * stretch)
                )
        pm.instruments.append(part)
        out.append((a, b, q, pm))
    return out


def judge_runs(judge: Judge, score: Any) -> list[dict[str, Any]]:
    """Rate each run of bars of a :class:`moodscore.models.types.Score` that asked for one quadrant.

    Each run is cut out by :func:`run_excerpts`, moved to time 0 and re-timed to 120 BPM, the tempo of EMOPIA's
    transcriptions: the judge learnt the music in beats, and the MIDI tempo of its training clips was a
    near-constant 120, so a user's tempo would otherwise reach it as an out-of-range feature (at 160 BPM the
    shipped judge heard less arousal, not more). Returns one dict per run: first and last bar (1-based), the
    quadrant asked for, the one heard, and the judge's probability of the asked one.
    """
    return [run_verdict(judge, *excerpt) for excerpt in run_excerpts(score)]


def run_verdict(judge: Judge, a: int, b: int, q: str, pm: pretty_midi.PrettyMIDI) -> dict[str, Any]:
    """The judge's verdict on one of :func:`run_excerpts`' runs (the dict :func:`judge_runs` lists)."""
    verdict = judge.predict(pm)
    return {
        "bars": [a + 1, b],
        "asked": q,
        "heard": verdict.quadrant,
        "p_asked": round(verdict.probs[q], 4),
        "probs": {k: round(v, 4) for k, v in verdict.probs.items()},
    }
