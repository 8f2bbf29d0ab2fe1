"""moodscore rescore: some bars written again from another seed, every other bar as it was, no analysis."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pretty_midi
import pytest
from media_fixtures import make_example

from moodscore.models.cli import main

DATA = Path(__file__).parent / "data"


def notes_outside(path: Path, lo: float, hi: float) -> list[tuple[float, float, int, int]]:
    pm = pretty_midi.PrettyMIDI(str(path))
    return sorted(
        (round(n.start, 4), round(min(n.end, lo) if n.start < lo else n.end, 4), n.pitch, n.velocity)
        for i in pm.instruments
        for n in i.notes
        if not lo - 1e-4 <= n.start < hi - 1e-4
    )


def notes_inside(path: Path, lo: float, hi: float) -> list[tuple[float, int]]:
    pm = pretty_midi.PrettyMIDI(str(path))
    return sorted(
        (round(n.start, 4), n.pitch) for i in pm.instruments for n in i.notes if lo - 1e-4 <= n.start < hi - 1e-4
    )


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    maker = make_example()
    path = tmp_path_factory.mktemp("rescore") / "cuts.mp4"
    maker.make_cuts_clip(path)
    return path


def test_rescore_rewrites_only_the_bars_asked_for(clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "scored"
    assert main(["score", str(clip), "--out", str(out), "--seed", "4", "--quiet", "--debug-models"]) == 0
    before = tmp_path / "before.mid"
    before.write_bytes((out / "score.mid").read_bytes())
    bars = [*pretty_midi.PrettyMIDI(str(before)).get_downbeats().tolist(), 12.0]

    from moodscore.models.engine import Engine

    def no_analysis(*args: object, **kwargs: object) -> None:
        raise AssertionError("rescore must not analyse the clip again")

    monkeypatch.setattr(Engine, "analyze", no_analysis)
    assert main(["rescore", str(out), "--bars", "2-3", "--seed", "9", "--quiet", "--debug-models"]) == 0
    lo, hi = bars[1], bars[3]
    assert notes_outside(out / "score.mid", lo, hi) == notes_outside(before, lo, hi)
    assert notes_inside(out / "score.mid", lo, hi) != notes_inside(before, lo, hi)
    summary = json.loads((out / "score.json").read_text())
    assert summary["options"]["rescores"] == [[1, 3, 9]] and summary["options"]["seed"] == 4
    # a second rescore keeps the first one's bars
    once = tmp_path / "once.mid"
    once.write_bytes((out / "score.mid").read_bytes())
    assert main(["rescore", str(out), "--bars", "5-5", "--seed", "2", "--quiet", "--debug-models"]) == 0
    assert notes_outside(out / "score.mid", bars[4], bars[5]) == notes_outside(once, bars[4], bars[5])
    assert json.loads((out / "score.json").read_text())["options"]["rescores"] == [[1, 3, 9], [4, 5, 2]]


def test_rescore_refuses_what_it_cannot_do(clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rescore", str(tmp_path), "--bars", "1-2", "--seed", "1", "--quiet", "--debug-models"]) == 2
    assert "no score.json" in capsys.readouterr().err
    out = tmp_path / "scored"
    assert main(["score", str(clip), "--out", str(out), "--quiet", "--debug-models"]) == 0
    assert main(["rescore", str(out), "--bars", "4-40", "--seed", "1", "--quiet", "--debug-models"]) == 2
    err = capsys.readouterr().err
    found = re.search(r"--bars must lie within bars 1-(\d+) of this score, got 4-40", err)
    assert found and 4 <= int(found.group(1)) < 40, err
