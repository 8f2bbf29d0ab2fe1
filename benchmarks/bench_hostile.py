"""The hostile corpus (``tests/hostile_corpus.py``) through one front end: the command line, the web page or the bridge.

    python benchmarks/bench_hostile.py [--front cli|web|bridge] [--out benchmarks/results/hostile.md]

``--front cli`` (the default) runs every input as a ``moodscore`` command, one process each. A case is counted as
- a clear answer: exit 0 where success is expected, or exit 2 with exactly one ``moodscore...: error:`` line and
  no traceback where a refusal is expected;
- a crash: killed by a signal, another exit status, or a traceback;
- a hang: still running after 180 s;
- a wrong answer: success where a refusal is expected, or the other way round;
and after every case the corpus folder is searched for leftovers (staging folders, locks, output folders of
refused jobs).

``--front web`` starts ``moodscore web`` (the shipped models, worker processes, default limits) and sends each input
as a visitor would, through the Gradio API with the file uploaded, plus requests only the page takes (no clip, values
no widget offers, rescores); ``--front bridge`` starts ``moodscore bridge --allow CORPUS --no-secret`` and sends
``/moodscore/score`` with the path under the allowed folder, plus hostile OSC messages (wrong types, huge strings,
``..``, symlinks out of the folder, undecodable datagrams). There a clear answer is a result where one is expected,
else one line without a traceback, an "internal error" or a server path; a crash is also a server that no longer
answers (checked after every case), an unclear refusal one without a message (or of several lines, or showing a
server path); a leftover is a staging folder or lock, or a refused request that left a job
folder (web) or files (bridge). Prints the summary and writes the front end's section of ``--out``.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
TITLES = {"cli": "Command line", "web": "Web page (Gradio API)", "bridge": "OSC bridge"}
JOB_FOLDER = re.compile(r"^[0-9a-f]{32}$")
NOTES = {
    "web": "The unclear refusals, if any, are Gradio's own: its input checks run before moodscore's code and answer "
    "a string where a slider's number goes, or a file path the server never received, with an error event that "
    "carries no message (the page shows a bare 'Error'). Only a hand-made HTTP request can send either; the request "
    "is refused, nothing is written, and the server serves on.",
}


def leftovers(folder: Path) -> list[str]:
    found = [p for p in folder.rglob(".moodscore-partial-*")] + [p for p in folder.rglob(".moodscore.lock")]
    return sorted(str(p.relative_to(folder)) for p in found)


Row = tuple[str, str, str, str, float, str, list[str]]  # name, expected, answer, verdict, s, said, leftovers


def run_cli(folder: Path, counts: dict[str, int]) -> list[Row]:
    from hostile_corpus import build_corpus

    rows: list[Row] = []
    for case in build_corpus(folder):
        t = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "moodscore.models.cli", *case.argv],
                capture_output=True, text=True, timeout=180, cwd=ROOT, check=False,
            )  # fmt: skip
            code, err = proc.returncode, proc.stderr
        except subprocess.TimeoutExpired:
            code, err = None, ""
        seconds = time.perf_counter() - t
        errors = [line for line in err.splitlines() if ": error:" in line]
        if code is None:
            verdict = "hang"
        elif code < 0 or code not in (0, 2) or "Traceback" in err:
            verdict = "crash"
        elif (code == 0) != case.ok:
            verdict = "wrong"
        elif code == 2 and len(errors) != 1:
            verdict = "crash"  # not one clear line
        else:
            verdict = "clear"
        said = errors[0].split(": error: ", 1)[1] if errors else ("ok" if code == 0 else err.strip()[-120:])
        rows.append(_row(case.name, case.ok, f"exit {code}", verdict, seconds, said, leftovers(folder), counts))
    return rows


def _row(
    name: str, ok: bool, answer: str, verdict: str, s: float, said: str, left: list[str], counts: dict[str, int]
) -> Row:
    counts[verdict] += 1
    if left:
        counts["leftovers"] += 1
    print(f"{verdict:6} {answer:>9} {s:5.1f}s  {name[:60]}: {said[:100]}", flush=True)
    return (name, "succeed" if ok else "refuse", answer, verdict, s, said, left)


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def server(argv: list[str], env: dict[str, str], ready: Any, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``moodscore ARGV`` as a user starts it, until ``ready()`` is true; stopped with SIGTERM afterwards."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moodscore.models.cli", *argv], cwd=ROOT, env=env, stdout=out, stderr=out
        )
        try:
            deadline = time.monotonic() + 180
            while not ready():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"moodscore {argv[0]} did not start; see {log}:\n{log.read_text()[-2000:]}")
                time.sleep(0.5)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def run_web(folder: Path, counts: dict[str, int], skipped: list[tuple[str, str]]) -> list[Row]:
    import hostile_fronts as hf
    from hostile_corpus import build_corpus

    cases, cannot = hf.web_cases(build_corpus(folder / "corpus"), folder / "corpus")
    skipped += cannot
    tmp = folder / "web-tmp"
    tmp.mkdir()
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "TMPDIR": str(tmp), "GRADIO_TEMP_DIR": str(folder / "gradio")}
    rows: list[Row] = []
    with server(["web", "--port", str(port)], env, lambda: hf.web_answers(url, timeout=2), folder / "web.log") as proc:
        (root,) = tmp.glob("moodscore-web-*")  # the server's job folders
        private = (str(tmp), str(folder / "gradio"), str(ROOT))
        for case in cases:
            before = {p.name for p in root.iterdir() if JOB_FOLDER.match(p.name)}
            outcome = hf.run_web(url, case, timeout=180)
            verdict = hf.verdict(case.ok, outcome, private=private)
            if proc.poll() is not None or not hf.web_answers(url):
                verdict, outcome = "crash", hf.Outcome("dead", f"the server stopped answering: {outcome.text}", 0)
            new = {p.name for p in root.iterdir() if JOB_FOLDER.match(p.name)} - before
            left = leftovers(root) + leftovers(folder / "corpus")
            if len(new) > outcome.steps_done:
                left.append(f"{len(new) - outcome.steps_done} job folder(s) of refused requests")
            rows.append(_row(case.name, case.ok, outcome.answer, verdict, outcome.seconds, outcome.text, left, counts))
    return rows


def run_bridge(folder: Path, counts: dict[str, int], skipped: list[tuple[str, str]]) -> list[Row]:
    import hostile_fronts as hf
    from hostile_corpus import build_corpus

    corpus, out = folder / "corpus", folder / "bridge-out"
    everything = build_corpus(corpus)
    skipped += [
        (c.name, "the bridge takes no output path, analysis option or MIDI file") for c in everything if not c.job
    ]
    cases = hf.bridge_cases(everything, corpus, folder / "outside")
    port = _free_port(socket.SOCK_DGRAM)
    address = ("127.0.0.1", port)
    argv = ["bridge", "--port", str(port), "--allow", str(corpus), "--out", str(out), "--no-secret"]
    rows: list[Row] = []

    def ready() -> bool:
        return hf.bridge_answers(address, timeout=1)

    with server(argv, dict(os.environ), ready, folder / "bridge.log") as proc:
        for case in cases:
            before = hf.files_under(out)
            outcome = hf.run_bridge(address, case, timeout=180)
            verdict = hf.verdict(case.ok, outcome)
            if proc.poll() is not None or not hf.bridge_answers(address):
                verdict, outcome = "crash", hf.Outcome("dead", f"the bridge stopped answering: {outcome.text}", 0)
            left = leftovers(out) + leftovers(corpus)
            if outcome.answer != "ok" and hf.files_under(out) - before:
                left.append("files of a refused request")
            rows.append(_row(case.name, case.ok, outcome.answer, verdict, outcome.seconds, outcome.text, left, counts))
    return rows


def section(front: str, command: str, summary: str, rows: list[Row], skipped: list[tuple[str, str]]) -> str:
    answer = "exit" if front == "cli" else "answer"
    lines = [
        f"## {TITLES[front]}",
        "",
        f"`{command}` ({time.strftime('%Y-%m-%d')}).",
        "",
        f"**{summary}.**",
        "",
        f"| input | expected | {answer} | verdict | s | answer |",
        "|---|---|---|---|---|---|",
    ]
    for name, want, got, verdict, seconds, said, left in rows:
        note = " ".join(said.split()).replace("|", "\\|")[:160] + (f" (leftovers: {', '.join(left)})" if left else "")
        got = got.removeprefix("exit ")
        lines.append(f"| {name.replace('|', '/')} | {want} | {got} | {verdict} | {seconds:.1f} | {note} |")
    if front in NOTES:
        lines += ["", NOTES[front]]
    if skipped:
        lines += ["", f"Not sent ({len(skipped)}; this front end has no way to take them):", ""]
        lines += [f"- {name}: {why}" for name, why in skipped]
    return "\n".join(lines) + "\n"


def write_section(path: Path, front: str, text: str) -> None:
    """Put the front end's section into ``path``, keeping the other front ends' sections."""
    head = (
        "# Hostile and careless inputs\n\nThe corpus of `tests/hostile_corpus.py` and `tests/hostile_fronts.py` "
        "through each front end "
        "(`benchmarks/bench_hostile.py --front cli|web|bridge`).\n"
    )
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    sections = {f: s for f in TITLES if (s := _section_of(old, TITLES[f]))}
    sections[front] = text
    body = "\n".join(sections[f] for f in TITLES if f in sections)
    path.write_text(f"{head}\n{body}", encoding="utf-8")


def _section_of(text: str, title: str) -> str:
    start = text.find(f"## {title}\n")
    if start < 0:
        return ""
    end = text.find("\n## ", start + 1)
    return text[start : end + 1 if end >= 0 else len(text)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--front", choices=tuple(TITLES), default="cli", help="the front end to send the corpus to")
    ap.add_argument("--out", type=Path, help="write the front end's Markdown table here")
    args = ap.parse_args(argv)

    counts = {"clear": 0, "crash": 0, "unclear": 0, "hang": 0, "wrong": 0, "leftovers": 0}
    skipped: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="moodscore-hostile-") as tmp:
        folder = Path(tmp)
        if args.front == "cli":
            rows = run_cli(folder, counts)
        elif args.front == "web":
            rows = run_web(folder, counts, skipped)
        else:
            rows = run_bridge(folder, counts, skipped)
    results = sum(r[2] in ("ok", "exit 0") for r in rows)
    summary = (
        f"{len(rows)} inputs: {counts['clear']} clear answers ({results} results, {len(rows) - results} refusals), "
        f"{counts['crash']} crashes, {counts['unclear']} unclear refusals, {counts['hang']} hangs, "
        f"{counts['wrong']} wrong answers, {counts['leftovers']} with leftovers"
    )
    print(summary)
    if args.out:
        command = f"python benchmarks/bench_hostile.py --front {args.front} --out {args.out}"
        write_section(args.out, args.front, section(args.front, command, summary, rows, skipped))
    return 0 if counts["clear"] == len(rows) and not counts["leftovers"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
