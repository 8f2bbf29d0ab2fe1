"""Song-grouped cross-validation, the classifier two-sample test and the outside emotion classifier.

Two-sample test: real pieces (label 0) against generated pieces (label 1), the larger side subsampled to the
size of the smaller one (``repeats`` different subsamples), 5-fold ``StratifiedGroupKFold`` with groups = song
(real) or manifest group (generated), so no song is on both sides of a fold. Held-out accuracy 50% means the
classifier cannot tell them apart. Permutation importance on the held-out folds names what gives them away.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

QUADS = ("Q1", "Q2", "Q3", "Q4")
HIGH_AROUSAL = ("Q1", "Q2")
POSITIVE_VALENCE = ("Q1", "Q4")
T = TypeVar("T")


def single_thread(fn: Callable[..., T]) -> Callable[..., T]:
    """Run with one OpenMP/BLAS thread: on these small sets threads only add overhead (10x slower on a busy
    2-core machine)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        import sklearn.ensemble  # noqa: F401  (loads OpenMP first: threadpoolctl only limits loaded libraries)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            return fn(*args, **kwargs)

    return wrapper


def matrix(feats: Sequence[dict[str, float]], names: Sequence[str]) -> np.ndarray:
    """(n, len(names)) array of feature dicts; NaN where a feature is missing."""
    return np.array([[f.get(k, np.nan) for k in names] for f in feats], dtype=float).reshape(len(feats), len(names))


def grouped_folds(
    y: np.ndarray, groups: np.ndarray, n_splits: int = 5, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds that never split a group; groups are made per piece for a class with too few groups."""
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.asarray(y)
    groups = np.asarray(groups, dtype=object).copy()
    for c in np.unique(y):
        m = y == c
        if len(set(groups[m])) < n_splits:
            groups[m] = [f"{g}#{i}" for i, g in zip(np.flatnonzero(m), groups[m], strict=True)]
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in cv.split(np.zeros(len(y)), y, groups)]


def balanced_indices(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices with every class subsampled (without replacement) to the size of the smallest class."""
    classes, counts = np.unique(y, return_counts=True)
    n = counts.min()
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), n, replace=False) for c in classes]))


def _hgb(seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    # (no class_weight: the sets are balanced, and sample weights make sklearn's binning 20x slower)
    return HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, random_state=seed)


@single_thread
def two_sample_test(
    x_real: np.ndarray,
    groups_real: Sequence[str],
    x_gen: np.ndarray,
    groups_gen: Sequence[str],
    names: Sequence[str],
    *,
    repeats: int = 3,
    n_splits: int = 5,
    seed: int = 0,
    importance: bool = True,
    top: int = 10,
) -> dict[str, Any]:
    """Held-out accuracy of a classifier telling generated from real (0.5 = indistinguishable)."""
    x = np.vstack([x_real, x_gen])
    y = np.r_[np.zeros(len(x_real), int), np.ones(len(x_gen), int)]
    groups = np.array([f"real:{g}" for g in groups_real] + [f"gen:{g}" for g in groups_gen], dtype=object)
    if min(len(x_real), len(x_gen)) < n_splits:
        return {"error": f"too few pieces (real {len(x_real)}, generated {len(x_gen)})"}
    fold_acc, rep_acc = [], []
    imp = np.zeros(x.shape[1])
    flagged, seen = np.zeros(len(x)), np.zeros(len(x))  # per piece: held-out calls "generated", times held out
    for r in range(repeats):
        idx = balanced_indices(y, np.random.default_rng(seed + r))
        xb, yb, gb = x[idx], y[idx], groups[idx]
        correct = 0
        for tr, te in grouped_folds(yb, gb, n_splits, seed + r):
            clf = _hgb(seed).fit(xb[tr], yb[tr])
            pred = clf.predict(xb[te])
            hit = pred == yb[te]
            np.add.at(flagged, idx[te], pred == 1)
            np.add.at(seen, idx[te], 1)
            correct += int(hit.sum())
            fold_acc.append(float(hit.mean()))
            if importance:
                imp += permutation_drop(clf, xb[te], yb[te], np.random.default_rng(seed + r)) * len(te)
        rep_acc.append(correct / len(yb))
    out: dict[str, Any] = {
        "accuracy": float(np.mean(rep_acc)),
        "accuracy_fold_std": float(np.std(fold_acc)),
        "accuracy_per_repeat": [round(a, 4) for a in rep_acc],
        "n_real": len(x_real),
        "n_generated": len(x_gen),
        "n_per_side": int(min(len(x_real), len(x_gen))),
        "n_groups_real": len(set(groups_real)),
        "n_groups_generated": len(set(groups_gen)),
        "folds": n_splits,
        "repeats": repeats,
        # per generated piece: share of its held-out predictions that said "generated" (NaN: never drawn)
        "generated_flag_rate": [
            float(f / n) if n else float("nan")
            for f, n in zip(flagged[len(x_real) :], seen[len(x_real) :], strict=True)
        ],
    }
    if importance:
        imp /= repeats * min(len(x_real), len(x_gen)) * 2
        out["top_features"] = feature_directions(x_real, x_gen, names, imp, top)
    return out


def permutation_drop(
    clf: Any, x: np.ndarray, y: np.ndarray, rng: np.random.Generator, n_repeats: int = 3
) -> np.ndarray:
    """Per feature, the mean drop in accuracy when that column is shuffled (all variants in one predict call)."""
    n, nf = x.shape
    base = float(np.mean(clf.predict(x) == y))
    stacked = np.repeat(x[None], nf * n_repeats, axis=0)  # (nf * n_repeats, n, nf)
    for j in range(nf):
        for k in range(n_repeats):
            stacked[j * n_repeats + k, :, j] = x[rng.permutation(n), j]
    pred = clf.predict(stacked.reshape(-1, nf)).reshape(nf, n_repeats, n)
    return base - (pred == y[None, None, :]).mean(axis=(1, 2))


def feature_directions(
    x_real: np.ndarray, x_gen: np.ndarray, names: Sequence[str], importance: np.ndarray, top: int
) -> list[dict[str, Any]]:
    rows = []
    for i in np.argsort(-importance)[:top]:
        g, r = x_gen[:, i], x_real[:, i]
        sd = np.sqrt((np.nanvar(g) + np.nanvar(r)) / 2)
        gm, rm = float(np.nanmean(g)), float(np.nanmean(r))
        rows.append(
            {
                "feature": names[i],
                "importance": round(float(importance[i]), 4),
                "generated_mean": round(gm, 4),
                "real_mean": round(rm, 4),
                "effect_size_d": round(float((gm - rm) / sd), 3) if sd > 0 else 0.0,
                "direction": "higher" if gm > rm else "lower" if gm < rm else "same",
            }
        )
    return rows


def _emotion_candidates(seed: int) -> dict[str, Any]:
    """Standardised logistic regressions. (Gradient boosting did as well in CV on whole clips but worse on clips
    cut to 38 s: 56% against 65%; the generated pieces are such cuts.)"""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def logreg(c: float) -> Any:
        return make_pipeline(
            SimpleImputer(strategy="median"),
            StandardScaler(),
            LogisticRegression(C=c, max_iter=3000, random_state=seed),
        )

    return {f"logreg_C{c}": logreg(c) for c in (0.01, 0.03, 0.1)}


@single_thread
def fit_emotion_classifier(
    x: np.ndarray, y: Sequence[str], groups: Sequence[str], seed: int = 0
) -> tuple[Any, dict[str, Any]]:
    """Choose among a few classifiers by song-grouped 5-fold CV on the training clips; refit the best on all."""
    y = np.asarray(y)
    folds = grouped_folds(y, np.asarray(groups), 5, seed)
    cv = {}
    for name, model in _emotion_candidates(seed).items():
        accs = [np.mean(model.fit(x[tr], y[tr]).predict(x[te]) == y[te]) for tr, te in folds]
        cv[name] = float(np.mean(accs))
    best = max(cv, key=lambda k: cv[k])
    model = _emotion_candidates(seed)[best].fit(x, y)
    return model, {"chosen": best, "cv_accuracy_train": {k: round(v, 4) for k, v in cv.items()}}


def agreement(true: Sequence[str], pred: Sequence[str]) -> dict[str, Any]:
    """4-quadrant agreement, arousal-only and valence-only agreement, confusion (rows true, columns predicted)."""
    t, p = list(true), list(pred)
    if not t:
        return {"n": 0}
    conf = np.zeros((4, 4), int)
    for a, b in zip(t, p, strict=True):
        conf[QUADS.index(a), QUADS.index(b)] += 1
    per_q = {q: float(conf[i, i] / conf[i].sum()) for i, q in enumerate(QUADS) if conf[i].sum()}
    return {
        "n": len(t),
        "quadrant": float(np.mean([a == b for a, b in zip(t, p, strict=True)])),
        "arousal": float(np.mean([(a in HIGH_AROUSAL) == (b in HIGH_AROUSAL) for a, b in zip(t, p, strict=True)])),
        "valence": float(
            np.mean([(a in POSITIVE_VALENCE) == (b in POSITIVE_VALENCE) for a, b in zip(t, p, strict=True)])
        ),
        "per_quadrant": per_q,
        "confusion": conf.tolist(),
        "confusion_axes": "rows = manifest/true quadrant Q1..Q4, columns = predicted Q1..Q4",
    }
