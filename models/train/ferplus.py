"""FER+ crowd labels (Barsoum et al. 2016; MIT) in FER2013's seven classes.

FER+ gives ten votes per FER2013 image over neutral, happiness, surprise, sadness, anger, disgust, fear,
contempt, unknown and NF (not a face). In FER2013's classes (``moodscore.models.affect.FER_CLASSES``):

- contempt is folded into disgust: FER2013 has no contempt class, disgust is the nearest of its basic emotions
  (negative valence, moderate arousal: the same quadrant), and dropping the votes would throw away annotators'
  judgements of negative faces;
- unknown and NF votes are not emotions and are left out of the distribution;
- a row whose image name is empty (FER+ judged it not a face) or that has no emotion vote is dropped.

The majority label is the class with the most votes; ties for the top have no majority label (-1), as do
dropped rows. :func:`check_alignment` refuses votes that are not in the same row order as the images.

"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moodscore.models.affect import FER_CLASSES

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
