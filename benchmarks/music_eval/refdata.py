"""The real-music references, read once and cached under ``benchmarks/results/cache/``.

- EMOPIA (all splits): pedal-extended piano notes per clip, with song id, quadrant and split.
- POP909 (every ``POP909_STRIDE``-th song): MELODY + BRIDGE + PIANO merged as one piano arrangement (each track
  pedal-extended), with the beat times and 4/4 downbeats of ``beat_midi.txt``.

Features of these references are cached per feature version (whole EMOPIA clips) and per window length
(EMOPIA clips cut to the generated pieces' median duration, POP909 excerpts of that duration).
``make_real_folder`` writes EMOPIA test clips as a folder of "generated" pieces, to check the benchmark itself.
"""

from __future__ import annotations

import json
import pickle
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import features as F
from . import midi

NOTES_VERSION = 2
POP909_STRIDE = 2  # every 2nd song: 455 songs
POP909_PER_SONG = 2  # excerpts per song
WORKERS = 2


def parallel_map(fn: Callable[[Any], Any], items: Sequence[Any], workers: int = WORKERS) -> list[Any]:
    if workers <= 1 or len(items) < 16:
        return [fn(i) for i in items]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as ex:
        return list(ex.map(fn, items, chunksize=max(1, len(items) // (8 * workers))))


def _load_emopia_clip(args: tuple[str, str, str, str, str]) -> dict[str, Any]:
    path, clip_id, song, quadrant, split = args
    notes = midi.pm_notes(midi.load_pm(path))
    end = float(notes[:, midi.END].max()) if len(notes) else 0.0
    return {"clip_id": clip_id, "song": song, "quadrant": quadrant, "split": split, "notes": notes, "end": end}


def _load_pop909_song(args: tuple[str, str, str]) -> dict[str, Any] | None:
    path, song, beat_path = args
    try:
        notes = midi.pm_notes(midi.load_pm(path), piano_only=False)
        beat = np.loadtxt(beat_path, ndmin=2)
    except Exception as e:  # a broken file is skipped, not fatal
        print(f"skipping POP909 {song}: {e}", file=sys.stderr)
        return None
    if len(notes) < 50 or len(beat) < 40:
        return None
    order = np.argsort(beat[:, 0])
    beat = beat[order]
    return {"song": song, "notes": notes, "beats": beat[:, 0], "downbeats": np.flatnonzero(beat[:, 2] > 0.5)}


def load_reference_notes(data: Path, cache_dir: Path) -> dict[str, Any]:
    """EMOPIA clips and POP909 songs as note arrays (from the cache when it matches ``data``)."""
    from moodscore.models.music.data import emopia_split, pop909_songs

    path = cache_dir / f"music_eval_notes_v{NOTES_VERSION}.pkl"
    if path.is_file():
        with path.open("rb") as f:
            ref = pickle.load(f)
        if ref.get("data") == str(data.resolve()):
            return ref
    jobs = [
        (str(c.path), c.clip_id, c.song_id, c.quadrant, split)
        for split in ("train", "val", "test")
        for c in emopia_split(data / "emopia", split)  # type: ignore[arg-type]
    ]
    emopia = parallel_map(_load_emopia_clip, jobs)
    songs = pop909_songs(data / "pop909")[::POP909_STRIDE]
    pop = [p for p in parallel_map(_load_pop909_song, [(str(s.path), s.song_id, str(s.beat_path)) for s in songs]) if p]
    ref = {"data": str(data.resolve()), "emopia": emopia, "pop909": pop}
    cache_dir.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump(ref, f, protocol=pickle.HIGHEST_PROTOCOL)
    return ref


def _candidate_downbeats(song: dict[str, Any], fits: Callable[[int], bool]) -> list[int]:
    """Indices into ``downbeats``: every 4th bar from the first downbeat at or after the first onset."""
    beats, db = song["beats"], song["downbeats"]
    first_on = float(song["notes"][:, midi.START].min())
    k0 = next((k for k in range(len(db)) if beats[db[k]] >= first_on - 0.05), None)
    if k0 is None:
        return []
    return [k for k in range(k0, len(db), 4) if fits(k)]


def _pick(cands: list[int], n: int) -> list[int]:
    if not cands:
        return []
    pos = sorted({int((i + 0.5) / n * len(cands)) for i in range(n)})
    return [cands[p] for p in pos]


def pop909_second_excerpts(ref: dict[str, Any], dur: float, per_song: int = POP909_PER_SONG) -> list[dict[str, Any]]:
    """Excerpts of ``dur`` seconds starting at a downbeat (4-bar aligned), ``per_song`` per song."""
    out = []
    for s in ref["pop909"]:
        beats, db, last = s["beats"], s["downbeats"], float(s["notes"][:, midi.END].max())
        for k in _pick(_candidate_downbeats(s, lambda k, b=beats, d=db, e=last: b[d[k]] + dur <= e), per_song):
            notes = midi.cut(s["notes"], float(beats[db[k]]), dur)
            if len(notes) >= 8:
                out.append({"song": s["song"], "notes": notes, "start": float(beats[db[k]])})
    return out


def pop909_bar_excerpts(ref: dict[str, Any], bars: int, per_song: int = POP909_PER_SONG) -> list[dict[str, Any]]:
    """Excerpts of ``bars`` bars (downbeat to downbeat) with their own beat grid shifted to start at 0."""
    out = []
    for s in ref["pop909"]:
        beats, db = s["beats"], s["downbeats"]
        n_db = len(db)
        for k in _pick(_candidate_downbeats(s, lambda k, n=n_db: k + bars < n), per_song):
            b0, b1 = int(db[k]), int(db[k + bars])
            t0 = float(beats[b0])
            grid = beats[b0 : b1 + 1] - t0
            notes = midi.cut(s["notes"], t0, float(grid[-1]))
            if len(notes) >= 8:
                out.append({"song": s["song"], "notes": notes, "beats": grid, "downbeats": db[k : k + bars] - b0})
    return out


def _feats_whole(notes: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
    end = float(notes[:, midi.END].max()) if len(notes) else 1.0
    if len(notes):
        notes = midi.cut_from_first_onset(notes, end)
        end = float(notes[:, midi.END].max())
    return F.composition_features(notes, end), F.summary(notes, end)


def _feats_window(args: tuple[np.ndarray, float]) -> dict[str, float]:
    notes, dur = args
    return F.composition_features(notes, dur)


def emopia_whole_features(ref: dict[str, Any], cache_dir: Path) -> list[dict[str, Any]]:
    """Per EMOPIA clip (whole clip from its first onset): composition features, summary, key."""
    path = cache_dir / f"music_eval_emopia_whole_v{NOTES_VERSION}_{F.FEATURE_VERSION}.pkl"
    if path.is_file():
        with path.open("rb") as f:
            return pickle.load(f)
    res = parallel_map(_feats_whole, [c["notes"] for c in ref["emopia"]])
    out = []
    for c, (feat, summ) in zip(ref["emopia"], res, strict=True):
        tonic, minor, _ = F.estimate_key(c["notes"])
        meta = {k: c[k] for k in ("clip_id", "song", "quadrant", "split")}
        out.append({**meta, "features": feat, "summary": summ, "tonic": tonic, "minor": minor})
    with path.open("wb") as f:
        pickle.dump(out, f, protocol=pickle.HIGHEST_PROTOCOL)
    return out


def _feats_two_windows(args: tuple[np.ndarray, float]) -> list[dict[str, float]]:
    notes, length = args
    notes = midi.cut_from_first_onset(notes, np.inf)
    end = float(notes[:, midi.END].max()) if len(notes) else 0.0
    starts = (0.0, max(0.0, end - length)) if end > length else (0.0,)
    return [F.composition_features(midi.cut(notes, s, length), length) for s in starts]


def emopia_train_windows(ref: dict[str, Any], cache_dir: Path, length: float = 30.0) -> list[dict[str, Any]]:
    """The first and the last ``length`` seconds of every EMOPIA train clip (extra training rows for the emotion
    classifier, so that it also knows excerpts as short as the generated pieces)."""
    path = cache_dir / f"music_eval_emopia_trainwin_v{NOTES_VERSION}_{F.FEATURE_VERSION}_{length:.0f}s.pkl"
    if path.is_file():
        with path.open("rb") as f:
            return pickle.load(f)
    clips = [c for c in ref["emopia"] if c["split"] == "train" and len(c["notes"])]
    res = parallel_map(_feats_two_windows, [(c["notes"], length) for c in clips])
    out = [
        {"clip_id": c["clip_id"], "song": c["song"], "quadrant": c["quadrant"], "features": f}
        for c, fs in zip(clips, res, strict=True)
        for f in fs
        if f
    ]
    with path.open("wb") as f:
        pickle.dump(out, f, protocol=pickle.HIGHEST_PROTOCOL)
    return out


def window_features(ref: dict[str, Any], dur: float, cache_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """EMOPIA clips at least ``dur`` long cut to ``dur`` from their first onset, and POP909 excerpts of ``dur``."""
    dur = round(dur, 1)
    path = cache_dir / f"music_eval_windows_v{NOTES_VERSION}_{F.FEATURE_VERSION}_{dur:.1f}s.pkl"
    if path.is_file():
        with path.open("rb") as f:
            return pickle.load(f)
    emo = []
    for c in ref["emopia"]:
        if len(c["notes"]) and c["end"] - float(c["notes"][:, midi.START].min()) >= dur:
            emo.append({k: c[k] for k in ("clip_id", "song", "quadrant", "split")})
            emo[-1]["notes"] = midi.cut_from_first_onset(c["notes"], dur)
    pop = pop909_second_excerpts(ref, dur)
    feats = parallel_map(_feats_window, [(e["notes"], dur) for e in emo + pop])
    for e, f in zip(emo + pop, feats, strict=True):
        e["features"] = f
    out = {"emopia": [e for e in emo if e["features"]], "pop909": [e for e in pop if e["features"]]}
    with path.open("wb") as f:
        pickle.dump(out, f, protocol=pickle.HIGHEST_PROTOCOL)
    return out


def make_real_folder(out: Path, data: Path, bars: int = 16, tempo: float = 100.0) -> None:
    """EMOPIA test clips cut to ``bars`` bars at ``tempo`` (38.4 s for 16 at 100), with a manifest; shorter clips
    are left out."""
    from moodscore.models.music.data import emopia_split

    dur = bars * 4 * 60.0 / tempo
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for c in emopia_split(data / "emopia", "test"):
        pm = midi.load_pm(c.path)
        insts = [i for i in pm.instruments if midi.is_piano_track(i)]
        raw = midi.sort_notes(np.concatenate([midi.instrument_notes(i) for i in insts]))
        pedal = sorted(ev for i in insts for ev in midi.pedal_events(i))
        t0 = float(raw[:, midi.START].min())
        if float(raw[:, midi.END].max()) - t0 < dur:
            continue
        notes = midi.cut(raw, t0, dur)
        before = [v for t, v in pedal if t <= t0]
        ped = ([(0.0, before[-1])] if before else []) + [(t - t0, v) for t, v in pedal if t0 < t < t0 + dur]
        midi.write_piano_midi(out / f"{c.clip_id}.mid", notes, ped, tempo)
        entries.append(
            {
                "file": f"{c.clip_id}.mid",
                "quadrant": c.quadrant,
                "valence": None,
                "arousal": None,
                "tempo": tempo,
                "bars": bars,
                "group": c.song_id,
                "source": f"emopia:{c.clip_id}",
            }
        )
    (out / "manifest.json").write_text(json.dumps({"pieces": entries}, indent=1))
    print(f"wrote {len(entries)} EMOPIA test clips of {dur:.1f} s to {out}")
