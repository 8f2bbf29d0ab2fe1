"""FER+ crowd labels (Barsoum et al. 2016; MIT) in FER2013's seven classes, and the calibration measures.

FER+ gives ten votes per FER2013 image over neutral, happiness, surprise, sadness, anger, disgust, fear,
contempt, unknown and NF (not a face). In FER2013's classes (``models.affect.FER_CLASSES``):

- contempt is folded into disgust: FER2013 has no contempt class, disgust is the nearest of its basic emotions
  (negative valence, moderate arousal: the same quadrant), and dropping the votes would throw away annotators'
  judgements of negative faces;
- unknown and NF votes are not emotions and are left out of the distribution;
- a row whose image name is empty (FER+ judged it not a face) or that has no emotion vote is dropped.

The majority label is the class with the most votes; ties for the top have no majority label (-1), as do
dropped rows. :func:`check_alignment` refuses votes that are not in the same row order as the images.

Calibration: :func:`ece` is the expected calibration error of the top label (equal-width confidence bins);
:func:`fit_temperature` chooses T minimising the cross-entropy of ``softmax(log p / T)``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.affect import FER_CLASSES

# FER+ emotion column -> index in FER_CLASSES (angry, disgust, fear, happy, sad, surprise, neutral)
FERPLUS_TO_FER: dict[str, int] = {
    "anger": 0,
    "disgust": 1,
    "contempt": 1,
    "fear": 2,
    "happiness": 3,
    "sadness": 4,
    "surprise": 5,
    "neutral": 6,
}


@dataclass(frozen=True)
class FerPlusVotes:
    """FER+ votes folded into FER2013's classes, one row per image."""

    votes: np.ndarray  # (N, 7) float32 emotion votes
    not_face: np.ndarray  # (N,) bool: FER+ gave the image no name (not a face)
    usage: np.ndarray  # (N,) str

    @property
    def usable(self) -> np.ndarray:
        """Rows that are faces with at least one emotion vote."""
        out: np.ndarray = ~self.not_face & (self.votes.sum(axis=1) > 0)
        return out


def load_ferplus(path: str | Path) -> FerPlusVotes:
    """Read the FER+ csv (columns Usage, Image name, the ten vote columns)."""
    votes, not_face, usage = [], [], []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            v = np.zeros(len(FER_CLASSES), np.float32)
            for name, k in FERPLUS_TO_FER.items():
                v[k] += float(row[name] or 0)
            votes.append(v)
            not_face.append(not (row.get("Image name") or "").strip())
            usage.append(row["Usage"])
    return FerPlusVotes(np.stack(votes), np.array(not_face), np.array(usage))


def soft_targets(fp: FerPlusVotes) -> np.ndarray:
    """(N, 7) vote distributions; rows that are not :attr:`FerPlusVotes.usable` are NaN."""
    total = fp.votes.sum(axis=1, keepdims=True)
    out: np.ndarray = np.where(fp.usable[:, None], fp.votes / np.maximum(total, 1), np.nan).astype(np.float32)
    return out


def majority_labels(fp: FerPlusVotes) -> np.ndarray:
    """(N,) the class with the most votes; -1 where the top is tied or the row is not usable."""
    top = fp.votes.max(axis=1, keepdims=True)
    tied = (fp.votes == top).sum(axis=1) > 1
    out: np.ndarray = np.where(fp.usable & ~tied, fp.votes.argmax(axis=1), -1).astype(np.int64)
    return out


def check_alignment(fp: FerPlusVotes, labels: np.ndarray, usage: np.ndarray, *, min_agreement: float = 0.5) -> float:
    """Raise ``ValueError`` unless the votes belong to the images row by row: same length and usage, and the FER+
    majority agrees with the FER2013 label on at least ``min_agreement`` of the rows with one (two labellings of the
    same faces agree far more often than chance; rows in another order agree at chance, 0.18 for FER2013's class
    shares). Returns the agreement."""
    if len(fp.votes) != len(labels) or not np.array_equal(fp.usage, np.asarray(usage)):
        raise ValueError(f"FER+ has {len(fp.votes)} rows and other usages than the {len(labels)} images")
    maj = majority_labels(fp)
    has = maj >= 0
    agreement = float((maj[has] == np.asarray(labels)[has]).mean()) if has.any() else 0.0
    if agreement < min_agreement:
        raise ValueError(
            f"FER+ majority labels agree with the FER2013 labels on only {agreement:.1%} of the rows: the votes are "
            "not in the images' row order (FER+ follows the original fer2013.csv order)"
        )
    return agreement


def ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error of the top label: sum over equal-width confidence bins of
    (share of samples) x |accuracy - mean confidence|."""
    conf = probs.max(axis=1)
    hit = probs.argmax(axis=1) == labels
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            total += m.mean() * abs(hit[m].mean() - conf[m].mean())
    return float(total)


def softmax_t(log_p: np.ndarray, temperature: float) -> np.ndarray:
    z = log_p / temperature
    p = np.exp(z - z.max(axis=1, keepdims=True))
    out: np.ndarray = p / p.sum(axis=1, keepdims=True)
    return out


def fit_temperature(log_p: np.ndarray, target: np.ndarray) -> float:
    """T in [0.25, 8] minimising the mean cross-entropy of ``softmax(log_p / T)`` against ``target``: class indices
    (N,) or distributions (N, 7). A grid over log T, refined around the best point."""
    dist = target if target.ndim == 2 else np.eye(log_p.shape[1])[target]

    def loss(t: float) -> float:
        return float(-(dist * np.log(np.clip(softmax_t(log_p, t), 1e-12, 1))).sum(axis=1).mean())

    grid = np.exp(np.linspace(np.log(0.25), np.log(8), 61))
    best = float(grid[int(np.argmin([loss(t) for t in grid]))])
    fine = best * np.exp(np.linspace(-0.06, 0.06, 25))
    return round(float(fine[int(np.argmin([loss(t) for t in fine]))]), 4)
