"""Best of K takes: how often the music is heard as the quadrant asked for with 1, 2, ... K takes per run of bars.

Two kinds of pieces, at 120 BPM: single-quadrant pieces of ``--bars`` bars (``--n`` per quadrant, seeds from
``--seed-offset``; take j uses the seed + j * CANDIDATE_SEED_STEP, the choice among the first k takes is the one
``Composer.compose`` makes with ``candidates=k``), and bar plans of four runs of ``--run-bars`` bars (a rotation
of Q1 Q3 Q2 Q4), composed with one take and run by run with K takes. The shipped judge makes the choice; the
verdicts come from two judges fitted on EMOPIA train only: the same configuration (``--judge``, the issue's
evaluation judge) and, as a check from another model family, a random forest on the same 101 features.

    python benchmarks/eval_takes.py --n 50 --seed-offset 1000 --out benchmarks/control_takes_seeds1000.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pretty_midi
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.music.compose import CANDIDATE_SEED_STEP, Composer, run_fit
from models.music.data import emopia_split
from models.music.features import midi_features
from models.music.generator import load_generator
from models.music.judge import load_judge, run_excerpts
from models.types import ComposeRequest, Score

QUADS = ("Q1", "Q2", "Q3", "Q4")
TEMPO = 120.0


def forest(emopia: Path):  # type: ignore[no-untyped-def]
    from sklearn.ensemble import RandomForestClassifier

    from models.train.train_judge import clip_features

    clips = {s: emopia_split(emopia, s) for s in ("train", "test")}
    feats = {s: clip_features(c, augment=False)[0] for s, c in clips.items()}
    labels = {s: np.array([c.quadrant for c in clips[s]]) for s in clips}
    rf = RandomForestClassifier(500, min_samples_leaf=2, random_state=0, n_jobs=1).fit(feats["train"], labels["train"])
    return rf, float((rf.predict(feats["test"]) == labels["test"]).mean())


def runs_of(pm: pretty_midi.PrettyMIDI, quads: tuple[str, ...]) -> list[tuple[str, pretty_midi.PrettyMIDI]]:
    """Each run of bars cut out as the judge hears it (``run_excerpts``)."""
    score = Score(midi=pm, tempo=TEMPO, bar_quadrants=quads, key="", seed=0)
    return [(q, excerpt) for _, _, q, excerpt in run_excerpts(score)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50, help="pieces per quadrant, and bar plans")
    ap.add_argument("--k", type=int, default=3, help="most takes")
    ap.add_argument("--bars", type=int, default=16)
    ap.add_argument("--run-bars", type=int, default=4)
    ap.add_argument("--seed-offset", type=int, default=1000)
    ap.add_argument("--judge", type=Path, default=Path("benchmarks/judge_train_only.pt"))
    ap.add_argument("--emopia", type=Path, default=Path("../shared/data/emopia"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/control_takes.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    composer, chooser, judge = Composer(load_generator()), load_judge(), load_judge(args.judge)
    rf, rf_test = forest(args.emopia)

    def verdicts(pm: pretty_midi.PrettyMIDI) -> dict[str, str]:
        return {"judge": judge.predict(pm).quadrant, "forest": str(rf.predict(midi_features(pm)[None])[0])}

    seeds = range(args.seed_offset, args.seed_offset + args.n)
    single: dict[int, Counter[str]] = {k: Counter() for k in range(1, args.k + 1)}
    for seed in tqdm(seeds, desc="single-quadrant pieces", file=sys.stderr):
        for q in QUADS:
            quads = (q,) * args.bars
            takes = []
            for j in range(args.k):
                ids = composer.generate_ids(
                    quads, seed=seed + CANDIDATE_SEED_STEP * j, temperature=1.0, top_p=0.95, tonic=seed % 12
                )
                pm = composer.decode(ids, quads, TEMPO)
                takes.append((run_fit(chooser, pm, TEMPO, quads), verdicts(pm)))
            for k in single:
                best = max(takes[:k], key=lambda t: t[0])[1]  # the first best wins ties, as in compose
                single[k].update(name for name, heard in best.items() if heard == q)
    plans: dict[int, Counter[str]] = {1: Counter(), args.k: Counter()}
    order = ["Q1", "Q3", "Q2", "Q4"]
    for seed in tqdm(seeds, desc="bar plans", file=sys.stderr):
        quads = tuple(q for q in order[seed % 4 :] + order[: seed % 4] for _ in range(args.run_bars))
        for k in plans:
            request = ComposeRequest(emotion="Q1", bars=len(quads), tempo=TEMPO, seed=seed, candidates=k)
            if k == 1:
                pm = composer.decode(composer.generate_ids(quads, seed=seed, temperature=1.0, top_p=0.95), quads, TEMPO)
            else:
                pm = composer.best_takes(request, quads, seed, k, chooser)
            for q, run in runs_of(pm, quads):
                plans[k].update(name for name, heard in verdicts(run).items() if heard == q)
    n_single, n_runs = 4 * args.n, 4 * args.n
    result = {
        "command": "python " + " ".join(sys.argv),
        "seeds": [args.seed_offset, args.seed_offset + args.n - 1],
        "forest_test_accuracy": round(rf_test, 4),
        "single_quadrant": {
            k: {name: round(c[name] / n_single, 4) for name in ("judge", "forest")} for k, c in single.items()
        },
        "bar_plan_runs": {
            k: {name: round(c[name] / n_runs, 4) for name in ("judge", "forest")} for k, c in plans.items()
        },
        "pieces": n_single,
        "runs": n_runs,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
