"""A sample of the hostile corpus (``tests/hostile_corpus.py``, ``hostile_fronts.py``) through every front end.

The command line as a process; the web page through its Gradio API on a real server on loopback (the upload and
all); the OSC bridge with real datagrams on loopback, the media named by a path under its ``--allow`` folder. Each
input gets a result or one clear line (no traceback, no internal error, no server path), nothing half-written stays,
and the server answers the next request. The tiny debug networks; the whole corpus with the shipped models is
``benchmarks/bench_hostile.py --front cli|web|bridge`` (results in ``benchmarks/results/hostile.md``).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("gradio")
pytest.importorskip("gradio_client")

import hostile_fronts as hf  # (tests/ is on sys.path under pytest)
from hostile_corpus import Case, build_corpus
from osc_helpers import one_torch_thread, running_bridge

ROOT = Path(__file__).resolve().parent.parent
CLI = ("analyze text named .mp4", "score tempo 3", "compose --va 2,0", "analyze --json link.json")
WEB = (
    "analyze text named .mp4", "analyze PNG named .mp4", "analyze 7.1 AAC under video", "analyze 128x4608 frames",
    "score webm_vp8_opus",
    "score key H#", "compose --quadrant Q5", "web: score without a clip", "web: score with a 100 KB key",
    "web: text upload named with a newline and HTML", "web: rescore without a score",
    "web: rescore bars 1-99 after a score", "web: score with seed 10^12", "web (raw HTTP): compose with bars NaN",
    "web (raw HTTP): rescore with a forged state",
)  # fmt: skip
BRIDGE = (
    "analyze a pipe", "analyze truncated, index lost", "analyze audio layout 5.1", "analyze 7.1 AAC under video",
    "analyze 128x4608 frames", "score seed -1",
    "osc: path climbing out with ..", "osc: path with .. that stays inside", "osc: symlink to a file outside",
    "osc: symlinked folder leading outside", "osc: 60,000-character path", "osc: path as an integer",
    "osc: bundles nested 2,000 deep",
)  # fmt: skip
JOB_FOLDER = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Case]]:
    folder = tmp_path_factory.mktemp("hostile")
    return folder, build_corpus(folder)


def _pick(cases: list[Any], names: tuple[str, ...]) -> list[Any]:
    by_name = {c.name: c for c in cases}
    assert set(names) <= set(by_name), set(names) - set(by_name)
    return [by_name[n] for n in names]


def _staging(folder: Path) -> list[Path]:
    return [*folder.rglob(".moodscore-partial-*"), *folder.rglob(".moodscore.lock")]


@pytest.mark.parametrize("name", CLI)
def test_the_command_line_answers_each_input_in_one_line(corpus: tuple[Path, list[Case]], name: str) -> None:
    folder, cases = corpus
    (case,) = _pick(cases, (name,))
    proc = subprocess.run(
        [sys.executable, "-m", "moodscore.models.cli", *case.argv],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )  # fmt: skip
    errors = [line for line in proc.stderr.splitlines() if ": error:" in line]
    assert proc.returncode == (0 if case.ok else 2) and "Traceback" not in proc.stderr, proc.stderr
    assert case.ok or len(errors) == 1, proc.stderr
    assert not _staging(folder)


@pytest.fixture(scope="module")
def web() -> Iterator[tuple[str, Path]]:
    from moodscore.models import Engine
    from moodscore.web.jobs import WebSettings
    from moodscore.web.ui import build_app, launch_options

    settings = WebSettings(max_jobs=1, max_queue=4, max_upload_mb=20, max_seconds=60)
    demo = build_app(Engine(debug=True), settings)
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True, **launch_options(settings)
    )
    try:
        yield url, demo.moodscore_jobs.root
    finally:
        demo.close()
        demo.moodscore_jobs.close()


def test_the_web_page_answers_each_input_clearly_and_serves_on(
    corpus: tuple[Path, list[Case]], web: tuple[str, Path]
) -> None:
    folder, cases = corpus
    url, root = web
    front, skipped = hf.web_cases(cases, folder)
    assert {"analyze a folder", "analyze a pipe", "judge MIDI without notes"} <= {name for name, _ in skipped}
    for case in _pick(front, WEB):
        before = {p.name for p in root.iterdir() if JOB_FOLDER.match(p.name)}
        outcome = hf.run_web(url, case, timeout=60)
        assert hf.verdict(case.ok, outcome, private=(str(root), "/tmp/gradio")) == "clear", (case.name, outcome)
        assert hf.web_answers(url), f"the page stopped serving after {case.name}"
        new = {p.name for p in root.iterdir() if JOB_FOLDER.match(p.name)} - before
        assert len(new) == outcome.steps_done, (case.name, new)  # a refused request leaves no job folder
        assert not _staging(root) and not _staging(folder)


def test_the_bridge_answers_each_input_clearly_and_serves_on(corpus: tuple[Path, list[Case]], tmp_path: Path) -> None:
    folder, cases = corpus
    out = tmp_path / "out"
    front = hf.bridge_cases(cases, folder, tmp_path / "outside")
    with one_torch_thread(), running_bridge(out, allowed_roots=[folder]) as bridge:
        for case in _pick(front, BRIDGE):
            before = hf.files_under(out)
            outcome = hf.run_bridge(bridge.address, case, timeout=60)
            assert hf.verdict(case.ok, outcome) == "clear", (case.name, outcome)
            assert hf.bridge_answers(bridge.address), f"the bridge stopped answering after {case.name}"
            assert outcome.answer == "ok" or hf.files_under(out) == before, case.name  # nothing from a refusal
            assert not _staging(out) and not _staging(folder)
