"""The voice head's fitting, selection inside the training actors, temperature, and its scores.

- :func:`fit_lr`: standardised multinomial logistic regression with scikit-learn's objective
  (``C * sum of cross-entropies + ||W||^2 / 2``), solved in float32 torch with L-BFGS (faster here than
  scikit-learn's float64 solver; the problem is convex, so both reach the same head).
- :func:`select_and_fit`: the block and C chosen by an actor CV over the training actors only; the temperature
  fitted on the same inner CV's out-of-fold logits of the chosen setting (so it never sees a test actor); then
  the head fitted on all training actors.
- :func:`ece`, :func:`calibration`: expected calibration error (15 equal-width bins of the top probability) and
  the mean top probability against accuracy.

A head reads one encoder block (``layer`` an int) or the concatenation of several blocks' pooled features
(``layer`` a tuple, e.g. ``(3, 4)``: 2 x 1,024 numbers); :func:`blocks` takes them from a feature array. Over
several blocks it is one regression over all of them, or (``ensemble``) one per block with their logits averaged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from moodscore.models.train.calibration import ece, fit_temperature

Layer = int | tuple[int, ...]


def blocks(x: np.ndarray, layer: Layer, axis: int) -> np.ndarray:
    """The pooled features of block ``layer`` (stage axis ``axis`` of x, features last), or of several blocks
    concatenated along the features."""
    if isinstance(layer, int):
        return np.take(x, layer, axis=axis)
    return np.concatenate([np.take(x, b, axis=axis) for b in layer], axis=-1)


def layer_name(layer: Layer) -> str:
    return str(layer) if isinstance(layer, int) else "+".join(map(str, layer))


@dataclass
class Head:
    """A fitted head: block(s) ``layer``, standardisation, weights (8, D), bias, temperature, selection scores."""

    layer: Layer
    C: float
    mean: np.ndarray
    std: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    temperature: float = 1.0
    scores: dict[str, float] = field(default_factory=dict)

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Raw logits (before the temperature) for pooled features x (n, D) of this head's block."""
        return ((x - self.mean) / self.std) @ self.weight.T + self.bias

    def probs(self, x: np.ndarray, *, calibrated: bool = True) -> np.ndarray:
        return softmax(self.logits(x) / (self.temperature if calibrated else 1.0))


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(-1, keepdims=True))


Fitted = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # mean, std, weight (8, D), bias (8,)


def fit_lr(x: np.ndarray, y: np.ndarray, c: float, *, init: tuple[np.ndarray, np.ndarray] | None = None,
           max_iter: int = 400) -> Fitted:  # fmt: skip
    """(mean, std, weight (8, D), bias (8,)) of L2 multinomial logistic regression on standardised x (n, D)."""
    import torch

    mean = x.mean(0, dtype=np.float64)
    std = x.std(0, dtype=np.float64)
    std[std == 0] = 1.0
    z = torch.from_numpy(((x - mean) / std).astype(np.float32))
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    n, d = z.shape
    w = torch.zeros(8, d) if init is None else torch.from_numpy(init[0].astype(np.float32))
    b = torch.zeros(8) if init is None else torch.from_numpy(init[1].astype(np.float32))
    w.requires_grad_(True)
    b.requires_grad_(True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, history_size=20, tolerance_grad=1e-6,
                            tolerance_change=1e-10, line_search_fn="strong_wolfe")  # fmt: skip

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z @ w.T + b, yt) + (w * w).sum() / (2 * c * n)
        loss.backward()
        return loss

    opt.step(closure)
    return mean, std, w.detach().numpy().astype(np.float64), b.detach().numpy().astype(np.float64)


def fit_head(x: np.ndarray, y: np.ndarray, layer: Layer, c: float, *, ensemble: bool = False,
             init: tuple[np.ndarray, np.ndarray] | None = None) -> Fitted:  # fmt: skip
    """(mean, std, weight, bias) of the head over block(s) ``layer`` on the clips x (n, copies, contexts, stages,
    spans, D): one logistic regression over the blocks' features concatenated, or with ``ensemble`` one per block,
    their logits averaged. An average of linear heads is itself a linear head over the concatenated features (each
    block's weights divided by the number of blocks, the biases averaged), so both are stored and run alike.
    ``init`` (weights and bias of an earlier fit: a warm start) is used by the single regression; the per-block
    regressions of an ensemble start from zero (its averaged weights do not split back into theirs)."""
    if not ensemble or isinstance(layer, int):
        return fit_lr(*train_rows(x, y, layer), c, init=init)
    parts = [fit_lr(*train_rows(x, y, b), c) for b in layer]
    mean, std = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    weight = np.concatenate([p[2] for p in parts], axis=1) / len(parts)
    return mean, std, weight, np.mean([p[3] for p in parts], axis=0)


def calibration(probs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Accuracy, mean top probability, ECE and mean negative log-likelihood."""
    return {"acc": float(np.mean(probs.argmax(1) == y)), "mean_top": float(probs.max(1).mean()),
            "ece": ece(probs, y), "nll": float(-np.mean(np.log(probs[np.arange(len(y)), y] + 1e-12)))}  # fmt: skip


def confusion(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    conf = np.zeros((8, 8), dtype=int)
    np.add.at(conf, (y, pred), 1)
    return conf


def recall(conf: np.ndarray) -> list[float]:
    return [float(r) for r in np.diag(conf) / np.maximum(conf.sum(1), 1)]


def train_rows(x: np.ndarray, y: np.ndarray, layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    """Training rows of x (n, copies, contexts, stages, spans, D) at ``layer``: every copy, context and span."""
    v = blocks(x, layer, 3)
    return v.reshape(-1, v.shape[-1]), np.repeat(y, v.shape[1] * v.shape[2] * v.shape[3])


def select_and_fit(x: np.ndarray, y: np.ndarray, actors: np.ndarray, groups: list[list[int]],
                   grid: dict[str, list[Any]], *, ensemble: bool = False, log: Any = None) -> Head:  # fmt: skip
    """Choose (layer, C) from ``grid`` by actor CV over ``groups`` (lists of actors, each held out once; only the
    given clips' actors) on whole clips in context (copy 0), fit the temperature on that CV's out-of-fold logits
    of the chosen setting (whole clips and 2 s crops, in context), then fit the head on every given clip
    (``ensemble``: a tuple ``layer`` gets one regression per block, averaged; see :func:`fit_head`)."""
    groups = [g for g in ([a for a in grp if a in set(actors.tolist())] for grp in groups) if g]
    oof: dict[tuple[Layer, float], np.ndarray] = {}
    for layer in grid["layer"]:
        init: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for c in sorted(grid["C"]):
            out = np.zeros((len(y), 2, 8))
            for k, held in enumerate(groups):
                te = np.isin(actors, held)
                mean, std, w, b = fit_head(x[~te], y[~te], layer, c, ensemble=ensemble, init=init.get(k))
                init[k] = (w, b)
                for s in range(2):
                    out[te, s] = ((blocks(x[te, 0, -1], layer, 1)[:, s] - mean) / std) @ w.T + b
            oof[(layer, c)] = out
            if log:
                log(f"  L{layer_name(layer)} C{c}: inner acc whole {np.mean(out[:, 0].argmax(1) == y):.3f}")
    scores = {f"L{layer_name(k[0])} C{k[1]}": float(np.mean(v[:, 0].argmax(1) == y)) for k, v in oof.items()}
    layer, c = max(oof, key=lambda k: float(np.mean(oof[k][:, 0].argmax(1) == y)))
    t = fit_temperature(oof[(layer, c)].reshape(-1, 8), np.repeat(y, 2))
    mean, std, w, b = fit_head(x, y, layer, c, ensemble=ensemble)
    return Head(layer, c, mean, std, w, b, t, scores)
