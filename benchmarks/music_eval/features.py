"""Beat-free composition features of a window of notes (seconds only; no velocity, no micro-timing).

EMOPIA clips are transcriptions of performances without a beat grid, so every feature here is in seconds or
relative to the piece's own median inter-onset interval. Onsets closer than ``ONSET_TOL`` to a group's first
onset join that onset group (a chord: performed chords are spread by tens of ms, rolled ones more). Relative
timing is binned in octaves (ratios around 1/4, 1/2, 1, 2, 4...), so expressive timing versus a quantised grid
does not show.

Groups: ``pitch_`` register, ``pcrel_`` pitch-class histogram relative to the estimated tonic, ``key_`` key
clarity, ``mel_`` top-voice (skyline) intervals, ``vert_`` chords, ``ioi_`` / ``dur_`` / ``dens_`` / ``poly_``
rhythm and texture, ``harm_`` triad fit of 1-s frames, ``rep_`` repetition of 2-s windows.
"""

from __future__ import annotations

import numpy as np

from .midi import END, PITCH, START

FEATURE_VERSION = 4
ONSET_TOL = 0.07  # s: performed chords are spread (asynchrony, rolled chords); wider merges fast runs
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
# Krumhansl & Kessler (1982) key profiles, tonic first
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
TRIADS = [(r, m) for m in (False, True) for r in range(12)]
TRIAD_MASK = np.array([[pc in {r, (r + (3 if m else 4)) % 12, (r + 7) % 12} for pc in range(12)] for r, m in TRIADS])
MEL_BINS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 13)  # |interval| histogram edges (last bin: > 12)
FRAME = 0.125  # s, resolution of the repetition rolls
REP_WIN = 16  # frames = 2 s


def pc_histogram(notes: np.ndarray, cap: float = 2.0) -> np.ndarray:
    """Pitch-class histogram weighted by note duration (capped at ``cap`` s so pedalled notes do not dominate)."""
    if len(notes) == 0:
        return np.zeros(12)
    w = np.clip(notes[:, END] - notes[:, START], 0.05, cap)
    return np.bincount(notes[:, PITCH].astype(int) % 12, weights=w, minlength=12).astype(float)


def key_scores(hist: np.ndarray) -> np.ndarray:
    """(24,) correlations of the histogram with the 12 major then 12 minor Krumhansl-Kessler profiles."""
    h = np.asarray(hist, float)
    if h.sum() <= 0 or np.std(h) == 0:
        return np.zeros(24)
    out = np.empty(24)
    for minor, prof in ((0, KK_MAJOR), (1, KK_MINOR)):
        for tonic in range(12):
            out[minor * 12 + tonic] = np.corrcoef(h, np.roll(prof, tonic))[0, 1]
    return out


def estimate_key(notes: np.ndarray) -> tuple[int, bool, float]:
    """(tonic pitch class, minor, correlation) by Krumhansl-Schmuckler on the duration-weighted histogram."""
    s = key_scores(pc_histogram(notes))
    best = int(np.argmax(s))
    return best % 12, best >= 12, float(s[best])


def key_name(tonic: int, minor: bool) -> str:
    return f"{PITCH_NAMES[tonic]} {'minor' if minor else 'major'}"


def onset_groups(starts: np.ndarray, tol: float = ONSET_TOL) -> np.ndarray:
    """Group index of each onset (sorted): a new group starts more than ``tol`` after the group's first onset."""
    gid = np.empty(len(starts), dtype=int)
    g, anchor = -1, -np.inf
    for i, s in enumerate(starts):
        if s - anchor > tol:
            g += 1
            anchor = s
        gid[i] = g
    return gid


def skyline(notes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(onset times, pitches) of the top voice: the highest pitch of each onset group."""
    if len(notes) == 0:
        return np.zeros(0), np.zeros(0)
    gid = onset_groups(notes[:, START])
    n = gid[-1] + 1
    top = np.full(n, -1.0)
    np.maximum.at(top, gid, notes[:, PITCH])
    t = np.full(n, np.inf)
    np.minimum.at(t, gid, notes[:, START])
    return t, top


def melody_shares(notes: np.ndarray) -> dict[str, float]:
    """Top-voice interval shares: repeat (0), step (1-2 semitones), third (3-4), leap (>= 5), large leap (>= 8)."""
    _, top = skyline(notes)
    d = np.abs(np.diff(top))
    if len(d) == 0:
        return {k: float("nan") for k in ("repeat", "step", "third", "leap", "large_leap")}
    return {
        "repeat": float(np.mean(d == 0)),
        "step": float(np.mean((d >= 1) & (d <= 2))),
        "third": float(np.mean((d >= 3) & (d <= 4))),
        "leap": float(np.mean(d >= 5)),
        "large_leap": float(np.mean(d >= 8)),
    }


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    p = p / p.sum()
    return float(-(p * np.log2(p)).sum())


def _sounding_count(notes: np.ndarray, times: np.ndarray) -> np.ndarray:
    s = np.sort(notes[:, START])
    e = np.sort(notes[:, END])
    return np.searchsorted(s, times, side="right") - np.searchsorted(e, times, side="right")


def _pitch_key_features(notes: np.ndarray, f: dict[str, float]) -> tuple[int, bool]:
    p = notes[:, PITCH]
    f["pitch_mean"] = float(p.mean())
    f["pitch_std"] = float(p.std())
    for q in (5, 25, 50, 75, 95):
        f[f"pitch_p{q}"] = float(np.percentile(p, q))
    f["pitch_range90"] = f["pitch_p95"] - f["pitch_p5"]
    f["pitch_range"] = float(p.max() - p.min())
    hist = pc_histogram(notes)
    scores = key_scores(hist)
    best = int(np.argmax(scores))
    tonic, minor = best % 12, best >= 12
    rel = np.roll(hist / max(hist.sum(), 1e-9), -tonic)
    for i in range(12):
        f[f"pcrel_{i}"] = float(rel[i])
    f["pc_entropy"] = _entropy(hist)
    f["pc_used"] = float(np.sum(hist > 0.02 * hist.sum()))
    srt = np.sort(scores)
    f["key_clarity"] = float(srt[-1])
    f["key_margin"] = float(srt[-1] - srt[-2])
    f["key_mode_margin"] = float(scores[:12].max() - scores[12:].max())
    f["key_minor"] = float(minor)
    return tonic, minor


def _interval_features(notes: np.ndarray, gid: np.ndarray, f: dict[str, float]) -> None:
    _, top = skyline(notes)
    d = np.diff(top)
    a = np.abs(d)
    hist = np.histogram(np.minimum(a, 13), bins=[*MEL_BINS, 14])[0] / max(len(a), 1)
    for lo, v in zip(MEL_BINS, hist, strict=True):
        f[f"mel_int_{lo}"] = float(v)
    for k, v in melody_shares(notes).items():
        f[f"mel_{k}"] = v
    f["mel_abs_mean"] = float(a.mean()) if len(a) else 0.0
    nz = d[d != 0]
    f["mel_up_share"] = float(np.mean(nz > 0)) if len(nz) else 0.5
    sgn = np.sign(nz)
    f["mel_turn_share"] = float(np.mean(sgn[1:] != sgn[:-1])) if len(sgn) > 1 else 0.0
    f["mel_pitch_std"] = float(top.std())
    # chords (onset groups): sizes, spans, adjacent vertical intervals
    sizes, spans, vert = [], [], []
    for g in np.split(notes[:, PITCH], np.flatnonzero(np.diff(gid)) + 1):
        u = np.unique(g)
        sizes.append(len(u))
        spans.append(u[-1] - u[0])
        vert.extend(np.diff(u).tolist())
    sz = np.array(sizes)
    f["vert_size_mean"] = float(sz.mean())
    f["vert_single_share"] = float(np.mean(sz == 1))
    f["vert_size3plus_share"] = float(np.mean(sz >= 3))
    f["vert_span_mean"] = float(np.mean(spans))
    v = np.array(vert)
    for name, lo, hi in (("2nd", 1, 2), ("3rd", 3, 4), ("4th5th", 5, 7), ("6th8ve", 8, 12), ("wide", 13, 200)):
        f[f"vert_{name}"] = float(np.mean((v >= lo) & (v <= hi))) if len(v) else 0.0


def _rhythm_features(notes: np.ndarray, gid: np.ndarray, dur_s: float, f: dict[str, float]) -> float:
    g_on = notes[np.r_[0, np.flatnonzero(np.diff(gid)) + 1], START]
    ioi = np.diff(g_on)
    med = float(np.median(ioi)) if len(ioi) else 0.5
    med = max(med, 0.02)
    lio = np.log2(np.maximum(ioi, 0.01)) if len(ioi) else np.array([np.log2(med)])
    for q in (10, 25, 50, 75, 90):
        f[f"ioi_log2_p{q}"] = float(np.percentile(lio, q))
    f["ioi_gap1s_share"] = float(np.mean(ioi > 1.0)) if len(ioi) else 0.0
    rel = np.clip(np.round(np.log2(np.maximum(ioi, 0.01) / med)), -2, 3) if len(ioi) else np.zeros(1)
    hist = np.array([np.mean(rel == k) for k in range(-2, 4)])
    for k, v in zip(range(-2, 4), hist, strict=True):
        f[f"ioi_rel_oct{k:+d}"] = float(v)
    f["ioi_rel_entropy"] = _entropy(hist)
    d = np.maximum(notes[:, END] - notes[:, START], 0.01)
    ld = np.log2(d)
    for q in (10, 50, 90):
        f[f"dur_log2_p{q}"] = float(np.percentile(ld, q))
        f[f"dur_rel_log2_p{q}"] = float(np.percentile(ld - np.log2(med), q))
    f["dens_notes_per_s"] = len(notes) / dur_s
    f["dens_groups_per_s"] = len(g_on) / dur_s
    times = np.arange(float(notes[0, START]), dur_s, 0.05)  # from the first onset (POP909 starts at a downbeat)
    poly = _sounding_count(notes, times)
    f["poly_mean"] = float(poly.mean())
    f["poly_p90"] = float(np.percentile(poly, 90))
    f["poly_silent_share"] = float(np.mean(poly == 0))
    return med


def _frame_chroma(notes: np.ndarray, edges: np.ndarray, width: float) -> np.ndarray:
    """(len(edges), 12) pitch-class durations sounding in [edge, edge + width)."""
    s, e = notes[:, START][None, :], notes[:, END][None, :]
    lo = edges[:, None]
    ov = np.clip(np.minimum(e, lo + width) - np.maximum(s, lo), 0, None)
    pcs = notes[:, PITCH].astype(int) % 12
    out = np.zeros((len(edges), 12))
    for pc in range(12):
        out[:, pc] = ov[:, pcs == pc].sum(axis=1)
    return out


def _harmony_features(notes: np.ndarray, dur_s: float, tonic: int, minor: bool, f: dict[str, float]) -> None:
    edges = np.arange(0.0, max(dur_s - 0.5, 0.5), 0.5)
    ch = _frame_chroma(notes, edges, 1.0)
    tot = ch.sum(axis=1)
    ok = tot > 0
    fit_all = (ch[ok] @ TRIAD_MASK.T.astype(float)) / tot[ok, None]
    if not ok.any():
        for k in ("fit_mean", "fit_p25", "change_rate", "diatonic_share", "minor_share"):
            f[f"harm_{k}"] = 0.0
        return
    best = fit_all.argmax(axis=1)
    fit = fit_all.max(axis=1)
    f["harm_fit_mean"] = float(fit.mean())
    f["harm_fit_p25"] = float(np.percentile(fit, 25))
    f["harm_change_rate"] = float(np.sum(best[1:] != best[:-1]) / dur_s)
    scale = (0, 2, 3, 5, 7, 8, 10) if minor else (0, 2, 4, 5, 7, 9, 11)
    diatonic = {(tonic + s) % 12 for s in scale}
    in_key = [
        all((pc in diatonic) or (minor and pc == (tonic + 11) % 12) for pc in np.flatnonzero(TRIAD_MASK[b]))
        for b in best
    ]
    f["harm_diatonic_share"] = float(np.mean(in_key))
    f["harm_minor_share"] = float(np.mean(best >= 12))


def _repetition_features(notes: np.ndarray, dur_s: float, f: dict[str, float]) -> None:
    n_fr = round(dur_s / FRAME)
    pcs = notes[:, PITCH].astype(int) % 12
    onset = np.zeros((n_fr + 1, 12))
    fi = np.clip((notes[:, START] / FRAME).astype(int), 0, n_fr)
    np.add.at(onset, (fi, pcs), 1.0)
    onset = onset[:n_fr]
    onset = onset + 0.5 * np.roll(onset, 1, axis=0) + 0.5 * np.roll(onset, -1, axis=0)  # timing tolerance
    chroma = _frame_chroma(notes, np.arange(n_fr) * FRAME, FRAME)
    n_win = n_fr - REP_WIN + 1
    keys = ("onset_mean", "onset_hi_share", "chroma_mean", "chromaseq_mean", "onset_lag2_6", "onset_lag6_15")
    if n_win < 2 * REP_WIN:
        for k in keys:
            f[f"rep_{k}"] = 0.0
        return

    def sims(mat: np.ndarray) -> np.ndarray:
        mat = mat.astype(np.float32)
        norm = np.linalg.norm(mat, axis=1, keepdims=True)
        unit = mat / np.maximum(norm, 1e-9)
        s = (unit @ unit.T).astype(float)
        s[norm[:, 0] == 0] = np.nan
        return s

    idx = np.arange(n_win)[:, None] + np.arange(REP_WIN)[None, :]
    s_on = sims(onset[idx].reshape(n_win, -1))
    s_ch = sims(chroma[idx].sum(axis=1))
    s_cs = sims(chroma[idx].reshape(n_win, -1))
    lag = np.arange(n_win)[:, None] - np.arange(n_win)[None, :]  # i - j, in frames

    def best_earlier(s: np.ndarray, lo: float, hi: float) -> np.ndarray:
        m = (lag >= lo / FRAME) & (lag < hi / FRAME)
        v = np.where(m, np.nan_to_num(s, nan=-1.0), -np.inf).max(axis=1)
        rows = m.any(axis=1) & ~np.isnan(np.diag(s))
        return v[rows]

    on = best_earlier(s_on, 2.0, np.inf)
    f["rep_onset_mean"] = float(on.mean())
    f["rep_onset_hi_share"] = float(np.mean(on >= 0.8))
    f["rep_chroma_mean"] = float(best_earlier(s_ch, 2.0, np.inf).mean())
    f["rep_chromaseq_mean"] = float(best_earlier(s_cs, 2.0, np.inf).mean())
    f["rep_onset_lag2_6"] = float(best_earlier(s_on, 2.0, 6.0).mean())
    f["rep_onset_lag6_15"] = float(best_earlier(s_on, 6.0, 15.0).mean()) if n_win * FRAME > 6.0 else 0.0


def composition_features(notes: np.ndarray, dur_s: float) -> dict[str, float]:
    """All features of a window of ``dur_s`` seconds whose notes start at or after 0 (sorted by onset)."""
    f: dict[str, float] = {}
    if len(notes) < 8:
        return {}
    gid = onset_groups(notes[:, START])
    tonic, minor = _pitch_key_features(notes, f)
    _interval_features(notes, gid, f)
    _rhythm_features(notes, gid, dur_s, f)
    _harmony_features(notes, dur_s, tonic, minor, f)
    _repetition_features(notes, dur_s, f)
    return f


def summary(notes: np.ndarray, dur_s: float) -> dict[str, float]:
    """Register, density, dynamics and polyphony of a piece (the per-quadrant comparison with EMOPIA)."""
    if len(notes) == 0:
        return {"register": float("nan"), "density": 0.0, "velocity": float("nan"), "polyphony": 0.0}
    poly = _sounding_count(notes, np.arange(0.0, dur_s, 0.05))
    return {
        "register": float(notes[:, PITCH].mean()),
        "density": len(notes) / dur_s,
        "velocity": float(notes[:, 3].mean()),
        "polyphony": float(poly.mean()),
    }
