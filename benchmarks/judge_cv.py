"""How accurate is the judge on songs it has not heard? Song-grouped cross-validation over all of EMOPIA.

The official test split is 88 clips from 32 songs: one clip is 1.1 points and its 95% interval is about +-10
points. This re-fits the shipped judge configuration (the one ``moodscore.models.train.train_judge`` chose and
``models/weights/judge.pt`` holds) ``--folds`` times per repeat on all 1,078 clips but one fold of songs, scores the
held-out fold, and repeats with the songs dealt to folds afresh. With 10 folds each fit sees about 970 clips, as
many as the shipped train + val fit (990). The random-forest baseline (all features, 300 trees) can run beside it.

    python benchmarks/judge_cv.py --data ../shared/data/emopia --folds 10 --repeats 5 --rf --out benchmarks/judge_cv.md
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moodscore.models.music.data import emopia_split
from moodscore.models.music.judge import load_judge
from moodscore.models.train.train_judge import CANDIDATES, Config, clip_features, fit, predict, scores


def shipped_config() -> Config:
    """The configuration ``models/weights/judge.pt`` was trained with, read from the file's ``meta``."""
    meta = load_judge().meta
    for cfg in CANDIDATES:
        if str(cfg) == meta.get("config"):
            return replace(cfg, exclude=tuple(meta.get("excluded_features", ())))
    raise SystemExit(f"judge.pt names a configuration train_judge does not offer: {meta.get('config')!r}")


def song_folds(songs: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold index of each clip: the songs, shuffled by ``seed``, dealt round-robin to ``folds`` folds."""
    uniq = np.unique(songs)
    order = np.random.default_rng(seed).permutation(uniq)
    fold_of = {s: i % folds for i, s in enumerate(order)}
    return np.array([fold_of[s] for s in songs])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/emopia"), help="EMOPIA root folder")
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rf", action="store_true", help="also the random-forest baseline (all features)")
    ap.add_argument("--out", type=Path, help="write the results as Markdown here")
    args = ap.parse_args(argv)
    if args.folds < 2 or args.repeats < 1:
        ap.error("--folds must be at least 2 and --repeats at least 1")

    t0 = time.time()
    by_split = {split: emopia_split(args.data, split) for split in ("train", "val", "test")}
    clips = [c for split in by_split.values() for c in split]
    split_of = np.array([name for name, cl in by_split.items() for _ in cl])
    y = np.array([int(c.quadrant[1]) - 1 for c in clips])
    songs = np.array([c.song_id for c in clips])
    Xa, src = clip_features(clips, augment=True)  # each clip, then its augmented copies
    X = Xa[np.r_[True, src[1:] != src[:-1]]]  # the clips as they are
    shipped = shipped_config()
    models = ["shipped configuration", *(["random forest, 300 trees, all features"] if args.rf else [])]
    acc: dict[str, list[float]] = {m: [] for m in models}
    axes: dict[str, list[tuple[float, float]]] = {m: [] for m in models}  # (arousal, valence) per repeat
    acc_split: dict[tuple[str, str], list[float]] = {(m, sp): [] for m in models for sp in by_split}
    conf = {m: np.zeros((4, 4), int) for m in models}
    for r in range(args.repeats):
        fold = song_folds(songs, args.folds, seed=r)
        pred = {m: np.zeros(len(y), int) for m in models}
        for k in range(args.folds):
            held = fold == k
            rows = ~held[src]  # augmented copies of the clips of the other folds' songs
            pred[models[0]][held] = predict(fit(Xa[rows], y[src[rows]], shipped), X[held]).argmax(1)
            if args.rf:
                from sklearn.ensemble import RandomForestClassifier

                rf = RandomForestClassifier(300, random_state=0, n_jobs=1).fit(X[~held], y[~held])
                pred[models[1]][held] = rf.predict(X[held])
        for m in models:
            s = scores(y, pred[m])
            acc[m].append(s["acc4"])
            axes[m].append((s["arousal"], s["valence"]))
            for sp in by_split:
                acc_split[m, sp].append(float((pred[m] == y)[split_of == sp].mean()))
            conf[m] += s["confusion"]
        print(f"repeat {r + 1}/{args.repeats}: " + ", ".join(f"{m} {acc[m][-1]:.1%}" for m in models), flush=True)

    n_songs = len(np.unique(songs))
    lines = [
        "# The judge in song-grouped cross-validation over all of EMOPIA",
        "",
        f"Shipped configuration (from judge.pt): {shipped}.",
        "",
        f"`python benchmarks/judge_cv.py --data {args.data} --folds {args.folds} --repeats {args.repeats}"
        + (" --rf" if args.rf else "")
        + "`",
        "",
        f"{len(y)} clips from {n_songs} songs; {args.folds} folds of songs, {args.repeats} repeats with the songs "
        f"dealt afresh; {time.time() - t0:.0f} s.",
        "",
        "| model | 4-quadrant, mean | repeats, range | arousal | valence |",
        "|---|---|---|---|---|",
    ]
    for m in models:
        arousal, valence = np.mean(axes[m], axis=0)
        a = np.array(acc[m])
        lines.append(f"| {m} | {a.mean():.1%} | {a.min():.1%}-{a.max():.1%} | {arousal:.1%} | {valence:.1%} |")
    lines += [
        "",
        "The same predictions, by the official split the held-out clip belongs to (each clip is always judged by a fit",
        "that did not see its song):",
        "",
        "| model | " + " | ".join(f"{sp} clips ({int((split_of == sp).sum())})" for sp in by_split) + " |",
        "|---|" + "---|" * len(by_split),
    ]
    lines += [f"| {m} | " + " | ".join(f"{np.mean(acc_split[m, sp]):.1%}" for sp in by_split) + " |" for m in models]
    for m in models:
        lines += ["", f"{m}, confusion summed over the repeats (rows true Q1-Q4, columns predicted):", ""]
        lines += ["| | Q1 | Q2 | Q3 | Q4 |", "|---|---|---|---|---|"]
        lines += [f"| Q{i + 1} | " + " | ".join(str(v) for v in conf[m][i]) + " |" for i in range(4)]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        tmp = args.out.with_suffix(args.out.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(args.out)


if __name__ == "__main__":
    main()
