"""Pictures of results: the emotion timeline (valence and arousal over time, segments as coloured bands) with the
piano roll below it, and a piano roll alone. Matplotlib's Agg backend, written atomically as PNG.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from moodscore.models import affect
from moodscore.models.files.atomic import atomic_output

if TYPE_CHECKING:
    from moodscore.models.types import Timeline

# one colour per quadrant, used by every front end (web bands, Discord embeds)
TRACK_COLOURS = {"Piano": "#222222", "Bass": "#8a4fff", "Pad": "#2aa198"}


def _figure(rows: int, height: float, height_ratios: list[float] | None = None) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # no pyplot: no global state, safe from several threads

    fig = Figure(figsize=(10, height), dpi=100, layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False, height_ratios=height_ratios)[:, 0]
    return fig, axes


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    out = Path(path)
    with atomic_output(out, suffix=".part.png") as tmp:
        fig.savefig(tmp, format="png")
    return out


def _draw_roll(ax: Any, midi: Any, *, duration_s: float | None = None, bars: bool = False) -> None:
    from matplotlib.collections import PolyCollection

    lo, hi = 127, 0
    for inst in midi.instruments:
        name = inst.name or ("Drums" if inst.is_drum else "Track")
        colour = TRACK_COLOURS.get(name, "#555555")
        polys = [
            [(n.start, n.pitch - 0.4), (n.end, n.pitch - 0.4), (n.end, n.pitch + 0.4), (n.start, n.pitch + 0.4)]
            for n in inst.notes
        ]
        if polys:
            alpha = np.array([0.35 + 0.65 * n.velocity / 127 for n in inst.notes])
            coll = PolyCollection(polys, facecolors=colour, edgecolors="none", label=name)
            coll.set_alpha(None)
            rgba = np.tile(np.array(_rgba(colour)), (len(polys), 1))
            rgba[:, 3] = alpha
            coll.set_facecolor(rgba.tolist())
            ax.add_collection(coll)
            lo, hi = min(lo, min(n.pitch for n in inst.notes)), max(hi, max(n.pitch for n in inst.notes))
    end = duration_s if duration_s is not None else max(midi.get_end_time(), 1.0)
    if bars:  # the file's own bar lines (a tempo map moves them)
        for b in midi.get_downbeats():
            if b <= end + 1e-9:
                ax.axvline(b, color="#cccccc", lw=0.5, zorder=0)
    if hi < lo:
        lo, hi = 48, 72
    ax.set_ylim(lo - 2, hi + 2)
    ax.set_xlim(0, end)
    ax.set_ylabel("pitch (MIDI)")
    ax.set_xlabel("time (s)")
    if any(inst.notes for inst in midi.instruments):
        ax.legend(loc="upper right", fontsize=8, frameon=False)


def _rgba(colour: str) -> tuple[float, float, float, float]:
    from matplotlib.colors import to_rgba

    r, g, b, a = to_rgba(colour)
    return float(r), float(g), float(b), float(a)


def piano_roll_png(midi: Any, path: str | os.PathLike[str], *, title: str = "", bars: bool = True) -> Path:
    """The piano roll of a PrettyMIDI (every track, its own colour; its bar lines unless ``bars`` is False)."""
    fig, (ax,) = _figure(1, 3.2)
    _draw_roll(ax, midi, bars=bars)
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, path)


def timeline_png(
    timeline: Timeline,
    path: str | os.PathLike[str],
    *,
    midi: Any = None,
    bars: bool = True,
    title: str = "",
) -> Path:
    """Valence and arousal over time with the segments as coloured, labelled bands; the piano roll below. Above
    them, where the timeline holds pictures of the faces read (:attr:`Timeline.faces`), the face of each segment
    (the picture nearest its middle)."""
    thumbs = segment_faces(timeline)
    with_faces = any(t is not None for t in thumbs)
    height, ratios = (6.0, [3.2, 2.8]) if midi is not None else (3.2, [3.2])
    if with_faces:
        height, ratios = height + FACE_ROW_IN, [FACE_ROW_IN, *ratios]
    fig, axes = _figure(len(ratios), height, ratios)
    top = axes[0]
    if with_faces:
        _draw_faces(top, timeline, thumbs)
        axes = axes[1:]
    ax = axes[0]
    for seg in timeline.segments:
        q = seg.emotion.quadrant
        ax.axvspan(seg.start_s, seg.end_s, color=affect.QUADRANT_COLOURS[q], alpha=0.22, lw=0)
        ax.text(
            (seg.start_s + seg.end_s) / 2,
            1.02,
            f"{q} {seg.emotion.label}",
            ha="center",
            va="bottom",
            fontsize=8,
            transform=ax.get_xaxis_transform(),
        )
    curve = timeline.meta.get("curve") if isinstance(timeline.meta, dict) else None
    if curve and curve.get("t"):
        t = np.asarray(curve["t"], dtype=float)
        v = np.array([np.nan if x is None else x for x in curve["valence"]], dtype=float)
        a = np.array([np.nan if x is None else x for x in curve["arousal"]], dtype=float)
    else:  # a timeline without a curve (e.g. written by hand): step through the segments' values
        t = np.array([x for s in timeline.segments for x in (s.start_s, s.end_s)])
        v = np.array([s.emotion.valence for s in timeline.segments for _ in (0, 1)])
        a = np.array([s.emotion.arousal for s in timeline.segments for _ in (0, 1)])
    ax.plot(t, v, color="#1b7837", lw=1.8, label="valence")
    ax.plot(t, a, color="#762a83", lw=1.8, label="arousal")
    ax.axhline(0, color="#888888", lw=0.6)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlim(0, max(timeline.duration_s, 1e-3))
    ax.set_ylabel("valence / arousal")
    ax.legend(loc="lower right", fontsize=8, frameon=False, ncols=2)
    if title:
        top.set_title(title, fontsize=10, pad=8 if with_faces else 16)
    if midi is not None:
        _draw_roll(axes[1], midi, duration_s=max(timeline.duration_s, 1e-3), bars=bars)
    else:
        ax.set_xlabel("time (s)")
    return _save(fig, path)


FACE_ROW_IN = 0.9  # height of the row of face pictures (inches)
FACE_PX = 64  # their size on the picture (pixels at the figure's 100 dpi)


def segment_faces(timeline: Timeline) -> list[Any]:
    """Per segment, the picture of the face read nearest its middle (within the segment), or None."""
    faces = getattr(timeline, "faces", ())
    out: list[Any] = []
    for seg in timeline.segments:
        inside = [f for f in faces if seg.start_s <= f.t_s < seg.end_s]
        mid = (seg.start_s + seg.end_s) / 2
        out.append(min(inside, key=lambda f: abs(f.t_s - mid)).rgb if inside else None)
    return out


def _draw_faces(ax: Any, timeline: Timeline, thumbs: list[Any]) -> None:
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_ylabel("face", rotation=0, ha="right", va="center")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    for seg, thumb in zip(timeline.segments, thumbs, strict=True):
        ax.axvspan(seg.start_s, seg.end_s, color=affect.QUADRANT_COLOURS[seg.emotion.quadrant], alpha=0.22, lw=0)
        if thumb is None:
            continue
        image = OffsetImage(thumb, zoom=FACE_PX / max(thumb.shape[:2]), interpolation="bilinear", dpi_cor=False)
        ax.add_artist(AnnotationBbox(image, ((seg.start_s + seg.end_s) / 2, 0.5), frameon=False, pad=0))
