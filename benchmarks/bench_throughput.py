"""Jobs per hour on this machine through Celery workers (1 and 2 pool processes, the shipped models), against
the local pool of worker processes, and what a front end spends per job.

    python benchmarks/bench_throughput.py --clip /tmp/bench30.mp4 --jobs 8 --record benchmarks/throughput.md

A job is ``score`` of ``--clip`` (the 30 s 1280x720 benchmark clip: ``python tests/data/make_example.py
--benchmark /tmp/bench30.mp4``), all submitted at once; the analysis cache is off, so every job analyses. The
front end's cost per job is the CPU time of the submitting process (polling Redis, reading results) divided by
the jobs; the workers' time is theirs. Every run starts its workers and waits until they are ready (models
loaded) before the clock starts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def submit_all(runner: Any, storage: Path, clip: Path, jobs: int) -> dict[str, float]:
    from moodscore.models.jobs.tasks import score_params

    folders = []
    for i in range(jobs):
        folder = storage / f"job{i:03d}"
        folder.mkdir()
        shutil.copy(clip, folder / clip.name)
        folders.append(folder)
    cpu0, t0 = time.process_time(), time.monotonic()
    handles = [runner.submit("score", score_params(clip.name, seed=i), f) for i, f in enumerate(folders)]
    for h in handles:
        h.result(3600)
    wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
    for f in folders:
        shutil.rmtree(f, ignore_errors=True)
    return {"wall_s": wall, "jobs_per_hour": 3600 * jobs / wall, "front_end_cpu_ms_per_job": 1000 * cpu / jobs}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, required=True)
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--processes", default="1,2", help="pool sizes to measure (comma list)")
    ap.add_argument("--record", type=Path)
    args = ap.parse_args(argv)
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="moodscore-bench-cache-")  # (the cache is off anyway)

    from celery_helpers import Worker, redis_server

    from moodscore.models.jobs.celery import CeleryRunner
    from moodscore.models.jobs.runner import ProcessRunner

    rows: list[tuple[str, int, dict[str, float]]] = []
    tmp = Path(tempfile.mkdtemp(prefix="moodscore-throughput-"))
    with redis_server(tmp) as broker:
        for n in (int(x) for x in args.processes.split(",")):
            storage = tmp / f"storage{n}"
            storage.mkdir()
            worker = Worker(broker, storage, concurrency=n, job_seconds=3600, name=f"w{n}", debug=False)
            worker.wait_ready(600)
            runner = CeleryRunner(broker, storage=storage, max_queue=1000)
            try:
                rows.append(("Celery + Redis", n, submit_all(runner, storage, args.clip, args.jobs)))
            finally:
                runner.shutdown()
                worker.stop()
            local = ProcessRunner(workers=n, max_queue=1000).start()
            try:
                rows.append(("local pool", n, submit_all(local, storage, args.clip, args.jobs)))
            finally:
                local.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)
    lines = [
        "# Throughput (`benchmarks/bench_throughput.py`)",
        "",
        f"Command: `python benchmarks/bench_throughput.py {' '.join(argv if argv is not None else sys.argv[1:])}`; "
        f"{args.jobs} `score` jobs of {args.clip.name} at once, shipped models, this 2-core machine.",
        "",
        "| runner | worker processes | wall (s) | jobs per hour | front end CPU per job (ms) |",
        "|---|---|---|---|---|",
        *[
            f"| {name} | {n} | {r['wall_s']:.1f} | {r['jobs_per_hour']:.0f} | {r['front_end_cpu_ms_per_job']:.1f} |"
            for name, n, r in rows
        ],
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.record:
        args.record.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
