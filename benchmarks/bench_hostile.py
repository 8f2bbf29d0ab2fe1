"""Every input of the hostile corpus (``tests/hostile_corpus.py``) through the command line, one process each.

    python benchmarks/bench_hostile.py [--out benchmarks/results/hostile.md]

A case is counted as
- a clear answer: exit 0 where success is expected, or exit 2 with exactly one ``moodscore...: error:`` line and
  no traceback where a refusal is expected;
- a crash: killed by a signal, another exit status, or a traceback;
- a hang: still running after 180 s;
- a wrong answer: success where a refusal is expected, or the other way round;
and after every case the corpus folder is searched for leftovers (staging folders, locks, output folders of
refused jobs). Prints the summary and writes the table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def leftovers(folder: Path) -> list[str]:
    found = [p for p in folder.rglob(".moodscore-partial-*")] + [p for p in folder.rglob(".moodscore.lock")]
    return sorted(str(p.relative_to(folder)) for p in found)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="write the Markdown table here")
    args = ap.parse_args(argv)
    from hostile_corpus import build_corpus

    rows, counts = [], {"clear": 0, "crash": 0, "hang": 0, "wrong": 0, "leftovers": 0}
    with tempfile.TemporaryDirectory(prefix="moodscore-hostile-") as tmp:
        folder = Path(tmp)
        cases = build_corpus(folder)
        for case in cases:
            t = time.perf_counter()
            try:
                proc = subprocess.run(
                    [sys.executable, "-m", "models.cli", *case.argv],
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
            counts[verdict] += 1
            left = leftovers(folder)
            if left:
                counts["leftovers"] += 1
            said = errors[0].split(": error: ", 1)[1] if errors else ("ok" if code == 0 else err.strip()[-120:])
            rows.append((case.name, "succeed" if case.ok else "refuse", code, verdict, seconds, said, left))
            print(f"{verdict:6} {code!s:>4} {seconds:5.1f}s  {case.name}: {said[:100]}", flush=True)
    summary = (
        f"{len(rows)} inputs: {counts['clear']} clear answers, {counts['crash']} crashes, {counts['hang']} hangs, "
        f"{counts['wrong']} wrong answers, {counts['leftovers']} with leftovers"
    )
    print(summary)
    if args.out:
        lines = [
            "# Hostile and careless inputs through the command line",
            "",
            f"`python benchmarks/bench_hostile.py --out {args.out}` ({time.strftime('%Y-%m-%d')}); "
            "the inputs are made by `tests/hostile_corpus.py`.",
            "",
            f"**{summary}.**",
            "",
            "| input | expected | exit | verdict | s | answer |",
            "|---|---|---|---|---|---|",
        ]
        for name, want, code, verdict, seconds, said, left in rows:
            note = said.replace("|", "\\|")[:160] + (f" (leftovers: {', '.join(left)})" if left else "")
            lines.append(f"| {name} | {want} | {code} | {verdict} | {seconds:.1f} | {note} |")
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0 if counts["clear"] == len(rows) and not counts["leftovers"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
