"""Calibration measures shared by the face, voice and fusion work: expected calibration error and temperature.

:func:`ece` is the expected calibration error of the top label over equal-width confidence bins (15 by default):
the sum over bins of (share of samples) x |accuracy - mean confidence|. :func:`fit_temperature` chooses the T that
minimises the mean cross-entropy of ``softmax(logits / T)`` against class indices or target distributions.
"""

from __future__ import annotations

import numpy as np

N_BINS = 15


def ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = N_BINS) -> float:
    """Expected calibration error of the top label of ``probs`` (N, K) against ``labels`` (N,)."""
    probs = np.asarray(probs, dtype=np.float64)
    conf = probs.max(axis=1)
    hit = probs.argmax(axis=1) == np.asarray(labels)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            total += m.mean() * abs(hit[m].mean() - conf[m].mean())
    return float(total)


def softmax_t(logits: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(logits / temperature)`` over the last axis."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    out: np.ndarray = p / p.sum(axis=-1, keepdims=True)
    return out


def fit_temperature(logits: np.ndarray, target: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The T within ``bounds`` minimising the mean cross-entropy of ``softmax(logits / T)`` against ``target``:
    class indices (N,) or distributions (N, K). Logits may be log-probabilities."""
    from scipy.optimize import minimize_scalar

    logits = np.asarray(logits, dtype=np.float64)
    target = np.asarray(target)
    dist = target if target.ndim == 2 else np.eye(logits.shape[1])[target]

    def loss(log_t: float) -> float:
        z = logits / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        log_q = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-(dist * log_q).sum(axis=1).mean())

    res = minimize_scalar(loss, bounds=(np.log(bounds[0]), np.log(bounds[1])), method="bounded")
    return round(float(np.exp(res.x)), 4)
