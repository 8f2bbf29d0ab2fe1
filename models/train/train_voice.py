"""Train and evaluate the speech emotion networks on RAVDESS speech, speaker-independently.

    python -m moodscore.models.train.train_voice \
        --data ../shared/data/ravdess_speech_16k --out models/weights/voice.pt \
        [--model baseline|main] [--folds 5] [--epochs N]

Cross-validation splits BY ACTOR: fold k tests actors {2k+1, 2k+2, 2k+11, 2k+12} (two men, two women) and
trains on the other 16; no file of a test actor is ever seen in training. Each fold trains for a fixed
number of epochs (no early stopping on the test actors). Then the shipped network is trained on all 20
actors with the same recipe, and the cross-validation results are stored inside the checkpoint.

Audio, its augmented copies and features are cached in /tmp/moodscore_cache/ (never in the repo).
Augmentation (triples the data): the original, + white noise at 10-30 dB SNR, and a time stretch (0.85-1.15)
followed by a pitch shift (-2..+2 semitones), cut back to the clip's length.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

CACHE = Path("/tmp/moodscore_cache")
RAVDESS_RE = re.compile(r"^03-01-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)\.(flac|wav)$")
RECIPES: dict[str, dict[str, Any]] = {
    "baseline": {"epochs": 15, "lr": 1e-3, "wd": 1e-4, "batch": 32, "crop": 0, "mixup": 0.0, "specaug": False,
                 "dims": {"n_in": 27, "hidden": [256, 256, 128, 64], "kernel": 5, "dropout": 0.3}},
    "main": {"epochs": 40, "lr": 2e-3, "wd": 1e-2, "batch": 32, "crop": 100, "mixup": 0.4, "specaug": True,
             "dims": {"n_mels": 64, "channels": [16, 32, 64, 128], "dropout": 0.3}},
    "functionals": {"alpha": 1.0, "weight": 0.5, "dims": {"n_in": 406, "hidden": [256]}},
}  # fmt: skip


def list_ravdess(root: Path) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """Files with their class index (0..7, RAVDESS order = affect.CLASSES) and actor number."""
    paths, labels, actors = [], [], []
    for p in sorted(root.glob("Actor_*/*")):
        m = RAVDESS_RE.match(p.name)
        if m:
            paths.append(p)
            labels.append(int(m.group(1)) - 1)
            actors.append(int(m.group(5)))
    if not paths:
        raise SystemExit(f"no RAVDESS files under {root}")
    return paths, np.array(labels), np.array(actors)


def augmented_audio(paths: list[Path], seed: int = 0) -> np.ndarray:
    """(N, 3, L) float32: original, + noise, stretched and pitch-shifted; cached."""
    import librosa
    import soundfile as sf

    cache = CACHE / f"ravdess_audio_{len(paths)}_s{seed}.npy"
    if cache.exists():
        return np.load(cache)
    rng = np.random.default_rng(seed)
    clips = [sf.read(p, dtype="float32")[0] for p in paths]
    length = max(len(c) for c in clips)
    out = np.zeros((len(clips), 3, length), dtype=np.float32)
    for i, y in enumerate(clips):
        y = y if y.ndim == 1 else y.mean(axis=1)
        out[i, 0, : len(y)] = y
        snr = rng.uniform(10, 30)
        out[i, 1, : len(y)] = y + rng.standard_normal(len(y)) * np.sqrt(np.mean(y**2) / 10 ** (snr / 10))
        z = librosa.effects.time_stretch(y, rate=rng.uniform(0.85, 1.15))
        z = librosa.effects.pitch_shift(z, sr=16000, n_steps=rng.uniform(-2, 2))[:length]
        out[i, 2, : len(z)] = z
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(cache, out)
    return out


def feature_cube(arch: str, audio: np.ndarray) -> np.ndarray:
    """(N, 3, C, T) features of every clip and copy; cached."""
    from moodscore.models.voices.model import features

    cache = CACHE / f"ravdess_feat_{arch}_{audio.shape[0]}.npy"
    if cache.exists():
        return np.load(cache)
    out = np.stack([np.stack([features(arch, a) for a in copies]) for copies in audio])
    np.save(cache, out)
    return out


def actor_folds(k: int) -> list[list[int]]:
    """Actor folds made of (odd, even) = (man, woman) pairs: with k=5, fold i holds actors 2i+1, 2i+2, 2i+11, 2i+12."""
    return [[a for a in range(1, 21) if ((a - 1) // 2) % k == i] for i in range(k)]


def functional_cube(audio: np.ndarray) -> np.ndarray:
    """(N, 3, 4, D) utterance functionals of every clip and copy over four spans: the whole clip and 2 s crops
    at 0, 0.19 and 0.39 s (the run-time model sees 2 s); cached."""
    from moodscore.models.voices.model import frame_features, functionals

    cache = CACHE / f"ravdess_func_{audio.shape[0]}.npy"
    if cache.exists():
        return np.load(cache)
    out = []
    for copies in audio:
        for a in copies:
            f = frame_features(a)
            out.append([functionals(f)] + [functionals(f[:, o : o + 200]) for o in (0, 19, 39)])
    arr = np.array(out, dtype=np.float32).reshape(audio.shape[0], 3, 4, -1)
    np.save(cache, arr)
    return arr


def train_functionals(x: np.ndarray, y: np.ndarray, dims: dict[str, Any], alpha: float, seed: int) -> Any:
    """An MLP (scikit-learn, L2 ``alpha``) on every copy and span of x (N, 3, 4, D), as a FunctionalsMLP."""
    import torch
    from sklearn.neural_network import MLPClassifier

    from moodscore.models.voices.model import FunctionalsMLP

    xs = x.reshape(-1, x.shape[-1])
    mean, std = xs.mean(0), xs.std(0) + 1e-6
    clf = MLPClassifier(tuple(dims["hidden"]), alpha=alpha, max_iter=300, random_state=seed)
    clf.fit((xs - mean) / std, np.repeat(y, x.shape[1] * x.shape[2]))
    net = FunctionalsMLP(**dims)
    linears = [m for m in net.body if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for lin, w, b in zip(linears, clf.coefs_, clf.intercepts_, strict=True):
            lin.weight.copy_(torch.from_numpy(w.T))
            lin.bias.copy_(torch.from_numpy(b))
        net.mean.copy_(torch.from_numpy(mean))
        net.std.copy_(torch.from_numpy(std))
    return net.eval()


def cross_validate_functionals(args: argparse.Namespace, recipe: dict[str, Any]) -> None:
    """CV of the functionals MLP alone and averaged with the baseline CNN's fold models (cached by the baseline
    run), then the final MLP on all actors, added to the baseline checkpoint ``--base``."""
    import torch

    from moodscore.models.voices.model import SR, load_voice_model, save_checkpoint

    paths, labels, actors = list_ravdess(args.data)
    audio = augmented_audio(paths, args.seed)
    fx, bx = functional_cube(audio), feature_cube("baseline", audio)
    w, fps = recipe["weight"], SR / 256
    res: dict[str, Any] = {"func": [], "ensemble": [], "func_2s": [], "ensemble_2s": [], "y": [], "pred": []}
    for i, test_actors in enumerate(actor_folds(args.folds)):
        test = np.isin(actors, test_actors)
        fnet = train_functionals(fx[~test], labels[~test], recipe["dims"], recipe["alpha"], args.seed + i)
        cnn = load_voice_model(CACHE / f"voice_baseline_fold{i}.pt")  # from the baseline CV, same test actors
        for tag, span in (("", 0), ("_2s", 2)):  # whole clips; 2 s crops at 0.19 s
            sl = slice(round(0.19 * fps), round(0.19 * fps) + round(2 * fps)) if span else slice(None)
            pc = cnn._classify(bx[test, 0][:, :, sl])
            with torch.no_grad():
                pf = torch.softmax(fnet(torch.from_numpy(fx[test, 0, 2 if span else 0])), 1).numpy()
            pe = (1 - w) * pc + w * pf
            res["func" + tag].append(float(np.mean(pf.argmax(1) == labels[test])))
            res["ensemble" + tag].append(float(np.mean(pe.argmax(1) == labels[test])))
            if not span:
                res["y"] += labels[test].tolist()
                res["pred"] += pe.argmax(1).tolist()
        print(f"fold {i}: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in res.items() if k not in ("y", "pred")))
    conf = np.zeros((8, 8), dtype=int)
    np.add.at(conf, (np.array(res["y"]), np.array(res["pred"])), 1)
    cv = {k: float(np.mean(v)) for k, v in res.items() if k not in ("y", "pred")}
    print("means:", json.dumps(cv), "\nconfusion (ensemble, rows true):\n", conf)
    if args.no_final:
        return
    base = torch.load(args.base, map_location="cpu", weights_only=True)
    fnet = train_functionals(fx, labels, recipe["dims"], recipe["alpha"], args.seed + 100)
    meta = dict(base["meta"])
    folds = {k: v for k, v in res.items() if k not in ("y", "pred")}
    command = "python -m moodscore.models.train.train_voice " + " ".join(sys.argv[1:])
    meta["func"] = {"recipe": recipe, "cv_mean": cv, "cv_folds": folds, "confusion": conf.tolist(), "command": command}
    net = load_voice_model(args.base).net
    if net is None:
        raise SystemExit(f"{args.base} holds no base network to add the functionals model to (a Whisper head alone)")
    save_checkpoint(args.out, net, arch=base["arch"], dims=base["dims"], norm=base["norm"], meta=meta,
                    ctx_s=base["ctx_s"], func=(fnet, recipe["dims"], w))  # fmt: skip
    print(f"wrote {args.out}")


def train_network(arch: str, x: np.ndarray, y: np.ndarray, recipe: dict[str, Any], seed: int) -> tuple[Any, dict]:
    """Train on x (N, 3, C, T) with labels y; return the network and its normalisation."""
    import torch
    import torch.nn.functional as F

    from moodscore.models.voices.model import build_network

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    mean = x[:, 0].mean(axis=(0, 2))
    std = x[:, 0].std(axis=(0, 2)) + 1e-5
    xn = torch.from_numpy((x - mean[:, None]) / std[:, None]).float()
    yt = torch.from_numpy(y).long()
    net = build_network(arch, recipe["dims"])
    epochs, bs = recipe["epochs"], recipe["batch"]
    tripled = recipe["mixup"] == 0.0  # baseline: every copy every epoch; main: one random copy per clip
    n_items = len(y) * (3 if tripled else 1)
    opt = torch.optim.AdamW(net.parameters(), lr=recipe["lr"], weight_decay=recipe["wd"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, recipe["lr"], total_steps=epochs * ((n_items + bs - 1) // bs))
    t0 = time.time()
    for ep in range(epochs):
        if ep % 10 == 5:
            print(f"  epoch {ep}/{epochs}, {(time.time() - t0) / ep:.1f} s per epoch", flush=True)
        net.train()
        if tripled:
            items = rng.permutation(n_items)
            clip, copy = items // 3, items % 3
        else:
            clip, copy = rng.permutation(len(y)), rng.integers(0, 3, len(y))
        for s in range(0, n_items, bs):
            xb, yb = xn[clip[s : s + bs], copy[s : s + bs]], yt[clip[s : s + bs]]
            if recipe["crop"] and xb.shape[-1] > recipe["crop"]:
                c0 = int(rng.integers(0, xb.shape[-1] - recipe["crop"] + 1))
                xb = xb[..., c0 : c0 + recipe["crop"]]
            if recipe["specaug"]:
                xb = xb.clone()
                for row in xb:
                    for _m in range(2):
                        f, t = int(rng.integers(0, 9)), int(rng.integers(0, 11))
                        row[int(rng.integers(0, row.shape[0] - f + 1)) :][:f] = 0.0
                        row[:, int(rng.integers(0, row.shape[1] - t + 1)) :][:, :t] = 0.0
            target = F.one_hot(yb, 8).float()
            if recipe["mixup"] > 0:
                lam = float(rng.beta(recipe["mixup"], recipe["mixup"]))
                perm = torch.randperm(len(yb))
                xb, target = lam * xb + (1 - lam) * xb[perm], lam * target + (1 - lam) * target[perm]
            loss = torch.sum(-target * F.log_softmax(net(xb), dim=1), dim=1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    return net, {"mean": mean.tolist(), "std": std.tolist()}


def predict(net: Any, norm: dict, x: np.ndarray) -> np.ndarray:
    import torch

    mean, std = np.array(norm["mean"])[:, None], np.array(norm["std"])[:, None]
    with torch.no_grad():
        return net(torch.from_numpy((x - mean) / std).float()).argmax(1).numpy()


def evaluate_vad(ravdess: Path, pop909: Path, sf2: str, n_songs: int = 24, seed: int = 1) -> dict[str, float]:
    """Share of 1 s windows (hop 0.5 s) that get a vote (speech >= MIN_SPEECH) per kind of material."""
    import pretty_midi
    import soundfile as sf

    from moodscore.models.voices.model import MIN_SPEECH, SR, VAD_FRAME, detect_speech

    rng = np.random.default_rng(seed)

    def voted(y: np.ndarray) -> list[bool]:
        m, per = detect_speech(y.astype(np.float32), SR), SR // VAD_FRAME
        return [bool(m[i : i + per].mean() >= MIN_SPEECH) for i in range(0, max(len(m) - per, 0) + 1, per // 2)]

    out: dict[str, list[bool]] = {"music": [], "noise": [], "speech": [], "speech+music 10 dB": []}
    programs = [0, 4, 11, 19, 24, 33, 40, 48, 52, 56, 65, 73, 80, 81, 88]  # piano, organ, strings, voice pad, lead...
    songs, music = sorted(pop909.glob("*/*.mid"))[-n_songs:], []
    for i, song in enumerate(songs):
        pm = pretty_midi.PrettyMIDI(str(song))
        for inst in pm.instruments:
            inst.program = programs[(i + len(inst.name)) % len(programs)]
        y = pm.fluidsynth(fs=SR, synthesizer=sf2)[SR * 30 : SR * 50]
        music.append(y / (np.abs(y).max() + 1e-9) * 10 ** (rng.uniform(-30, -3) / 20))
        out["music"] += voted(music[-1])
    t = np.arange(SR * 10) / SR
    for k in range(12):
        w = rng.standard_normal(SR * 10)
        w = np.fft.irfft(np.fft.rfft(w) / (np.arange(len(w) // 2 + 1) + 1.0) ** (0.5 * (k % 3)))  # white/pink/brown
        out["noise"] += voted(w / np.abs(w).max() * 10 ** (rng.uniform(-40, -3) / 20))
    out["noise"] += voted(0.1 * np.sin(2 * np.pi * 50 * t) + 0.05 * np.sin(2 * np.pi * 150 * t))  # mains hum
    for j, p in enumerate(list_ravdess(ravdess)[0][::10]):
        y = sf.read(p, dtype="float32")[0]
        mid = y[int(0.8 * SR) : int(1.8 * SR)]  # RAVDESS speech mostly fills 0.8-1.8 s
        out["speech"] += voted(mid)
        mu = music[j % len(music)][: len(mid)]
        mix = mid + mu / (np.std(mu) + 1e-9) * np.std(mid) * 10 ** (-10 / 20)
        out["speech+music 10 dB"] += voted(mix)
    return {k: float(np.mean(v)) for k, v in out.items()} | {f"n {k}": float(len(v)) for k, v in out.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/ravdess_speech_16k"))
    ap.add_argument("--out", type=Path, default=Path("models/weights/voice.pt"))
    ap.add_argument("--model", choices=sorted(RECIPES), default="main")
    ap.add_argument("--folds", type=int, default=5, help="actor folds for cross-validation (0 = skip CV)")
    ap.add_argument("--epochs", type=int, default=None, help="override the recipe's epoch count")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--base", type=Path, default=Path("models/weights/voice.pt"),
                    help="functionals: the baseline checkpoint the MLP is added to")  # fmt: skip
    ap.add_argument("--no-final", action="store_true", help="only cross-validate; do not train on all actors")
    ap.add_argument("--eval-vad", type=Path, metavar="POP909", help="only evaluate speech detection (with POP909)")
    ap.add_argument("--sf2", default="/usr/share/sounds/sf2/FluidR3_GM.sf2", help="soundfont for --eval-vad")
    args = ap.parse_args(argv)

    import torch

    from moodscore.models import affect
    from moodscore.models.voices.model import FEATURES, save_checkpoint

    torch.set_num_threads(1)
    if args.eval_vad:
        print(json.dumps(evaluate_vad(args.data, args.eval_vad, args.sf2), indent=1))
        return
    recipe = dict(RECIPES[args.model])
    if args.model == "functionals":
        cross_validate_functionals(args, recipe)
        return
    if args.epochs:
        recipe["epochs"] = args.epochs
    paths, labels, actors = list_ravdess(args.data)
    t0 = time.time()
    x = feature_cube(args.model, augmented_audio(paths, args.seed))
    print(f"{len(paths)} clips, features {x.shape} in {time.time() - t0:.0f} s", flush=True)
    log = CACHE / f"voice_cv_{args.model}_e{recipe['epochs']}_s{args.seed}.json"
    cv: dict[str, Any] = json.loads(log.read_text()) if log.exists() else {"folds": []}
    for i, test_actors in enumerate(actor_folds(args.folds) if args.folds else []):
        if i < len(cv["folds"]):
            continue  # resumed: this fold is done
        test = np.isin(actors, test_actors)
        net, norm = train_network(args.model, x[~test], labels[~test], recipe, args.seed + i)
        pred = predict(net, norm, x[test, 0])
        acc = float(np.mean(pred == labels[test]))
        fold_ckpt = CACHE / f"voice_{args.model}_fold{i}.pt"
        meta_f = {"test_actors": test_actors, "acc": acc}
        save_checkpoint(fold_ckpt, net, arch=args.model, dims=recipe["dims"], norm=norm, meta=meta_f)
        cv["folds"].append({"test_actors": test_actors, "acc": acc, "y": labels[test].tolist(), "pred": pred.tolist()})
        log.write_text(json.dumps(cv))
        print(f"fold {i} actors {test_actors}: {acc:.3f} ({time.time() - t0:.0f} s)", flush=True)
    if cv["folds"]:
        accs = [f["acc"] for f in cv["folds"]]
        y_all = np.concatenate([f["y"] for f in cv["folds"]])
        p_all = np.concatenate([f["pred"] for f in cv["folds"]])
        conf = np.zeros((8, 8), dtype=int)
        np.add.at(conf, (y_all, p_all), 1)
        cv.update(mean_acc=float(np.mean(accs)), pooled_acc=float(np.mean(y_all == p_all)), confusion=conf.tolist())
        print(f"{args.model}: mean fold accuracy {np.mean(accs):.3f} (folds {', '.join(f'{a:.3f}' for a in accs)})")
        print("confusion (rows true, cols predicted):", *affect.CLASSES)
        print(conf)
    if args.no_final:
        return
    net, norm = train_network(args.model, x, labels, recipe, args.seed + 100)
    meta = {
        "trained_on": f"RAVDESS speech, all actors 01-20 ({len(paths)} files, each cut at 2.389 s)",
        "recipe": recipe, "features": FEATURES[args.model], "seed": args.seed, "date": "2026-11-22",
        "command": "python -m moodscore.models.train.train_voice " + " ".join(sys.argv[1:] if argv is None else argv),
        "cv": {k: v for k, v in cv.items() if k != "folds"} | {"fold_acc": [f["acc"] for f in cv["folds"]],
               "fold_actors": [f["test_actors"] for f in cv["folds"]]},
    }  # fmt: skip
    save_checkpoint(args.out, net, arch=args.model, dims=recipe["dims"], norm=norm, meta=meta)
    print(f"wrote {args.out} ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
