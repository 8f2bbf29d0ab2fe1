"""What a job returns and what its JSON file says, as typed records: :class:`ScoreResult` (``score.json``) and
:class:`ComposeResult` (``compose.json``). Front ends read fields, not string keys; the JSON files are written from
these records (``to_dict``) and read back into them (``from_dict``, which also reads the files older versions wrote:
a field they lack takes its default), so a renamed field is a type error, not a silent ``None`` in a front end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from moodscore.models.defaults import DEFAULTS
from moodscore.models.types import Timeline


@dataclass(frozen=True)
class Section:
    """A stretch of the music in one quadrant and key: bars ``first``-``last`` (1-based, inclusive)."""

    first: int
    last: int
    quadrant: str
    key: str

    def to_dict(self) -> dict[str, Any]:
        return {"bars": [self.first, self.last], "quadrant": self.quadrant, "key": self.key}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Section:
        a, b = d["bars"]
        return cls(int(a), int(b), str(d["quadrant"]), str(d.get("key", "")))


def sections_of(score: Any) -> tuple[Section, ...]:
    """A :class:`~moodscore.models.types.Score`'s sections (its own are 0-based, end-exclusive)."""
    return tuple(Section(a + 1, b, q, k) for a, b, q, k in score.sections)


@dataclass(frozen=True)
class JudgeRun:
    """The MIDI emotion judge's verdict on bars ``first``-``last``, which asked for ``asked``."""

    first: int
    last: int
    asked: str
    heard: str
    p_asked: float
    probs: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "bars": [self.first, self.last],
            "asked": self.asked,
            "heard": self.heard,
            "p_asked": self.p_asked,
            "probs": dict(self.probs),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> JudgeRun:
        a, b = d["bars"]
        return cls(int(a), int(b), str(d["asked"]), str(d["heard"]), float(d["p_asked"]), dict(d.get("probs") or {}))


@dataclass(frozen=True)
class SegmentSummary:
    start_s: float
    end_s: float
    quadrant: str
    label: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SegmentSummary:
        return cls(float(d["start_s"]), float(d["end_s"]), str(d["quadrant"]), str(d["label"]), float(d["confidence"]))


@dataclass(frozen=True)
class Landed:
    """Where a cut or a hit (``t_s``) landed against the nearest downbeat (``offset_ms``)."""

    t_s: float
    offset_ms: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Missed:
    """A moment the music could not land a downbeat on, and what it was (cut, hit, segment)."""

    t_s: float
    kind: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SyncReport:
    """The picture lock: the tempo of every bar, where each cut and hit landed, and what was missed."""

    tempo_map: tuple[float, ...] = ()
    cuts: tuple[Landed, ...] = ()
    hits: tuple[Landed, ...] = ()
    missed: tuple[Missed, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "tempo_map": list(self.tempo_map),
            "cuts": [c.to_dict() for c in self.cuts],
            "hits": [h.to_dict() for h in self.hits],
            "missed": [m.to_dict() for m in self.missed],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SyncReport:
        return cls(
            tuple(float(t) for t in d.get("tempo_map") or ()),
            tuple(Landed(float(x["t_s"]), float(x["offset_ms"])) for x in d.get("cuts") or ()),
            tuple(Landed(float(x["t_s"]), float(x["offset_ms"])) for x in d.get("hits") or ()),
            tuple(Missed(float(x["t_s"]), str(x["kind"])) for x in d.get("missed") or ()),
        )


@dataclass(frozen=True)
class ScoreOptions:
    """The options a score was made with (what a rescore needs to make the other bars again)."""

    tempo: float | None = DEFAULTS.tempo
    instruments: tuple[str, ...] = DEFAULTS.instruments
    key: str = DEFAULTS.key
    seed: int = DEFAULTS.seed
    temperature: float = DEFAULTS.temperature
    tempo_range: tuple[float, float] | None = None
    hits: tuple[float, ...] = ()
    force: tuple[tuple[float, float, str], ...] = ()
    music_db: float | None = None
    duck_db: float | None = None
    stems: bool = False
    rescores: tuple[tuple[int, int, int], ...] = ()
    loop: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "tempo": self.tempo,
            "instruments": list(self.instruments),
            "key": self.key,
            "seed": self.seed,
            "temperature": self.temperature,
            "tempo_range": list(self.tempo_range) if self.tempo_range is not None else None,
            "hits": list(self.hits),
            "force": [list(f) for f in self.force],
            "music_db": self.music_db,
            "duck_db": self.duck_db,
            "stems": self.stems,
            "rescores": [list(r) for r in self.rescores],
            "loop": self.loop,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScoreOptions:
        tr = d.get("tempo_range")
        return cls(
            tempo=None if d.get("tempo") is None else float(d["tempo"]),
            instruments=tuple(str(i) for i in d.get("instruments") or DEFAULTS.instruments),
            key=str(d.get("key", DEFAULTS.key)),
            seed=int(d.get("seed", DEFAULTS.seed)),
            temperature=float(d.get("temperature", DEFAULTS.temperature)),
            tempo_range=(float(tr[0]), float(tr[1])) if tr else None,
            hits=tuple(float(t) for t in d.get("hits") or ()),
            force=tuple((float(a), float(b), str(q)) for a, b, q in d.get("force") or ()),
            music_db=None if d.get("music_db") is None else float(d["music_db"]),
            duck_db=None if d.get("duck_db") is None else float(d["duck_db"]),
            stems=bool(d.get("stems")),
            rescores=tuple((int(a), int(b), int(c)) for a, b, c in d.get("rescores") or ()),
            loop=bool(d.get("loop")),
        )


@dataclass(frozen=True)
class ScoreSummary:
    """``score.json``: the clip, the options, the music made, the emotion read, the picture lock and the levels."""

    clip: str
    source: str
    options: ScoreOptions
    duration_s: float
    tempo: float
    key: str
    seed: int
    instruments: tuple[str, ...]
    bars: int
    bar_quadrants: tuple[str, ...]
    sections: tuple[Section, ...]
    judge: tuple[JudgeRun, ...]
    segments: tuple[SegmentSummary, ...]
    warnings: tuple[str, ...] = ()
    cuts: tuple[float, ...] = ()
    sync: SyncReport = field(default_factory=SyncReport)
    sample_rate: int = 0
    levels: Mapping[str, Any] = field(default_factory=dict)  # the mix's measured loudness (moodscore.models.music.mix)
    files: Mapping[str, str] = field(default_factory=dict)  # name -> file in the folder
    timings: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "clip": self.clip,
            "source": self.source,
            "options": self.options.to_dict(),
            "duration_s": self.duration_s,
            "tempo": self.tempo,
            "key": self.key,
            "seed": self.seed,
            "instruments": list(self.instruments),
            "bars": self.bars,
            "bar_quadrants": list(self.bar_quadrants),
            "sections": [s.to_dict() for s in self.sections],
            "judge": [j.to_dict() for j in self.judge],
            "segments": [s.to_dict() for s in self.segments],
            "warnings": list(self.warnings),
            "cuts": list(self.cuts),
            "sync": self.sync.to_dict(),
            "audio": {"sample_rate": self.sample_rate, **self.levels},
            "files": dict(self.files),
            "timings": dict(self.timings),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScoreSummary:
        audio = dict(d.get("audio") or {})
        return cls(
            clip=str(d.get("clip", "")),
            source=str(d.get("source", "")),
            options=ScoreOptions.from_dict(d.get("options") or {}),
            duration_s=float(d.get("duration_s", 0.0)),
            tempo=float(d.get("tempo", 0.0)),
            key=str(d.get("key", "")),
            seed=int(d.get("seed", 0)),
            instruments=tuple(str(i) for i in d.get("instruments") or ()),
            bars=int(d.get("bars") or 0),
            bar_quadrants=tuple(str(q) for q in d.get("bar_quadrants") or ()),
            sections=tuple(Section.from_dict(s) for s in d.get("sections") or ()),
            judge=tuple(JudgeRun.from_dict(j) for j in d.get("judge") or ()),
            segments=tuple(SegmentSummary.from_dict(s) for s in d.get("segments") or ()),
            warnings=tuple(str(w) for w in d.get("warnings") or ()),
            cuts=tuple(float(t) for t in d.get("cuts") or ()),
            sync=SyncReport.from_dict(d.get("sync") or {}),
            sample_rate=int(audio.pop("sample_rate", 0)),
            levels=audio,
            files={str(k): str(v) for k, v in dict(d.get("files") or {}).items()},
            timings={str(k): float(v) for k, v in dict(d.get("timings") or {}).items()},
        )


@dataclass(frozen=True)
class ScoreResult:
    """A score job's outcome: the timeline read, the files written (absolute paths by name: timeline, midi, audio,
    mp3, plot, summary, video, stems) and ``score.json``'s content."""

    timeline: Timeline
    files: Mapping[str, Path]
    summary: ScoreSummary


@dataclass(frozen=True)
class RequestSummary:
    """What a compose job was asked for (the tempo as played: the request's, or the emotion's suggestion)."""

    tempo: float
    bars: int
    key: str
    instruments: tuple[str, ...]
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "tempo": self.tempo,
            "bars": self.bars,
            "key": self.key,
            "instruments": list(self.instruments),
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RequestSummary:
        return cls(
            float(d["tempo"]),
            int(d["bars"]),
            str(d["key"]),
            tuple(str(i) for i in d.get("instruments") or ()),
            int(d["seed"]),
        )


@dataclass(frozen=True)
class Piece:
    """One composed piece: its files (names in the job's folder; ``audio`` None when no audio was rendered) and
    what it is."""

    midi: str
    audio: str | None
    seed: int
    tempo: float
    bars: int
    key: str
    bar_quadrants: tuple[str, ...]
    sections: tuple[Section, ...]
    duration_s: float
    judge: tuple[JudgeRun, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "midi": self.midi,
            "audio": self.audio,
            "seed": self.seed,
            "tempo": self.tempo,
            "bars": self.bars,
            "key": self.key,
            "bar_quadrants": list(self.bar_quadrants),
            "sections": [s.to_dict() for s in self.sections],
            "duration_s": self.duration_s,
            "judge": [j.to_dict() for j in self.judge],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Piece:
        return cls(
            midi=str(d["midi"]),
            audio=None if d.get("audio") is None else str(d["audio"]),
            seed=int(d["seed"]),
            tempo=float(d["tempo"]),
            bars=int(d["bars"]),
            key=str(d["key"]),
            bar_quadrants=tuple(str(q) for q in d.get("bar_quadrants") or ()),
            sections=tuple(Section.from_dict(s) for s in d.get("sections") or ()),
            duration_s=float(d["duration_s"]),
            judge=tuple(JudgeRun.from_dict(j) for j in d.get("judge") or ()),
        )


@dataclass(frozen=True)
class ComposeSummary:
    """``compose.json``: the request and the pieces."""

    request: RequestSummary
    pieces: tuple[Piece, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"request": self.request.to_dict(), "pieces": [p.to_dict() for p in self.pieces]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ComposeSummary:
        return cls(RequestSummary.from_dict(d["request"]), tuple(Piece.from_dict(p) for p in d.get("pieces") or ()))


@dataclass(frozen=True)
class ComposeResult:
    """A compose job's outcome: the files written (absolute paths, in order) and ``compose.json``'s content."""

    files: Sequence[Path]
    summary: ComposeSummary


def summary_from_dict(d: Mapping[str, Any]) -> ScoreSummary | ComposeSummary:
    """A job summary read back from JSON (a runner's result): a compose summary has pieces, a score one has not."""
    return ComposeSummary.from_dict(d) if "pieces" in d else ScoreSummary.from_dict(d)
