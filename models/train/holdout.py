"""The data kept out of every choice: which faces and voices may select models, and which may only grade them.

Faces: FER2013 PublicTest is split in two halves by position (the npz's order). The **select** half (even
positions) may choose epochs, weights, temperatures and any other setting; the **hold** half (odd positions) is
never used for a choice. It grades the networks image by image and provides the faces of the benchmark clips
(``benchmarks/bench_face_video.py``, ``benchmarks/bench_av.py``). Training uses the Training split only.

Voices: RAVDESS actors 01-20 are split into five folds, fold k holding out actors {2k+1, 2k+2, 2k+11, 2k+12}
(two men, two women). A number "on unseen actors" comes from the head of the fold that did not see them; the
shipped head is fitted on all 20 (actors 21-24 are kept by the data's owners as a blind test).
"""

from __future__ import annotations

import numpy as np

N_VOICE_FOLDS = 5


def publictest_halves(usage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into the npz) of PublicTest's select half and hold half."""
    idx = np.flatnonzero(np.asarray(usage) == "PublicTest")
    return idx[0::2], idx[1::2]


def voice_fold_actors(fold: int) -> tuple[int, ...]:
    """The four actors that fold ``fold`` (0-4) holds out."""
    if not 0 <= fold < N_VOICE_FOLDS:
        raise ValueError(f"fold must be 0..{N_VOICE_FOLDS - 1}, got {fold}")
    k = fold
    return (2 * k + 1, 2 * k + 2, 2 * k + 11, 2 * k + 12)


def voice_fold_of_actor(actor: int) -> int:
    """The fold whose head never heard ``actor`` (1-20)."""
    for fold in range(N_VOICE_FOLDS):
        if actor in voice_fold_actors(fold):
            return fold
    raise ValueError(f"actor must be 1..20, got {actor}")
