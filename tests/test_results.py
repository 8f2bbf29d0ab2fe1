"""Typed job results: score.json and compose.json are written from them and read back into them unchanged, and a
file an older version wrote (fewer fields) still reads."""

from __future__ import annotations

import json
from pathlib import Path

from moodscore.models import ComposeRequest, Engine
from moodscore.models.jobs.results import ComposeSummary, ScoreOptions, ScoreSummary, summary_from_dict
from moodscore.models.jobs.work import compose_job

SCORE_JSON = {
    "clip": "a.mp4",
    "source": "/x/a.mp4",
    "options": {"tempo": None, "instruments": ["piano"], "key": "auto", "seed": 3, "temperature": 1.0,
                "tempo_range": [90.0, 110.0], "hits": [2.5], "force": [[0.0, 4.5, "Q3"]], "music_db": None,
                "duck_db": -4.0, "stems": True, "rescores": [[1, 3, 9]], "loop": False},
    "duration_s": 12.5,
    "tempo": 101.0,
    "key": "E minor",
    "seed": 3,
    "instruments": ["piano"],
    "bars": 6,
    "bar_quadrants": ["Q3", "Q3", "Q3", "Q1", "Q1", "Q1"],
    "sections": [{"bars": [1, 3], "quadrant": "Q3", "key": "E minor"},
                 {"bars": [4, 6], "quadrant": "Q1", "key": "E major"}],
    "judge": [{"bars": [1, 3], "asked": "Q3", "heard": "Q4", "p_asked": 0.31,
               "probs": {"Q1": 0.1, "Q2": 0.2, "Q3": 0.31, "Q4": 0.39}}],
    "segments": [{"start_s": 0.0, "end_s": 12.5, "quadrant": "Q3", "label": "sad", "confidence": 0.7}],
    "warnings": ["decoding stopped early"],
    "cuts": [4.2],
    "sync": {"tempo_map": [101.0, 99.5], "cuts": [{"t_s": 4.2, "offset_ms": 0.0}],
             "hits": [{"t_s": 2.5, "offset_ms": 1.2}], "missed": [{"t_s": 9.0, "kind": "segment"}]},
    "audio": {"sample_rate": 48000, "music_db_asked": -6.0, "speech_s": 3.1},
    "files": {"midi": "score.mid", "summary": "score.json"},
    "timings": {"total_s": 3.2},
}  # fmt: skip


def test_score_json_round_trips_through_the_typed_summary() -> None:
    s = ScoreSummary.from_dict(SCORE_JSON)
    assert s.to_dict() == SCORE_JSON
    assert json.dumps(s.to_dict()) == json.dumps(SCORE_JSON)  # same order of keys: the file reads the same
    assert s.options.force == ((0.0, 4.5, "Q3"),) and s.options.rescores == ((1, 3, 9),)
    assert s.sections[1].first == 4 and s.judge[0].heard == "Q4" and s.sync.hits[0].offset_ms == 1.2
    assert isinstance(summary_from_dict(SCORE_JSON), ScoreSummary)


def test_an_older_score_json_with_fewer_fields_still_reads() -> None:
    old = {k: v for k, v in SCORE_JSON.items() if k not in ("sync", "judge", "cuts", "warnings", "audio")}
    old["options"] = {"tempo": 100, "seed": 2}
    s = ScoreSummary.from_dict(old)
    assert s.options == ScoreOptions(tempo=100.0, seed=2) and s.sync.tempo_map == () and s.judge == ()


def test_compose_json_is_written_from_the_typed_summary(tmp_path: Path) -> None:
    request = ComposeRequest(emotion="Q2", bars=2, variations=2, seed=5)
    result = compose_job(Engine(debug=True), request, tmp_path, audio=False)
    written = json.loads((tmp_path / "compose.json").read_text(encoding="utf-8"))
    assert written == result.summary.to_dict() and ComposeSummary.from_dict(written) == result.summary
    assert [p.seed for p in result.summary.pieces] == [5, 6] and result.summary.request.tempo == request.tempo
    assert isinstance(summary_from_dict(written), ComposeSummary)
