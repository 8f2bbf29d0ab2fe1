"""Jobs: a function of files and options to an output folder plus JSON; the same whichever front end asks.

Every file of a job is written into a hidden temporary folder inside the output folder and moved into place
only when the whole job has succeeded, so a failed job leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import OutputError

if TYPE_CHECKING:
    from .engine import Engine
    from .types import ComposeRequest

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class ComposeJobResult:
    files: tuple[Path, ...]
    summary: dict[str, Any]


@contextmanager
def staged_output(out_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary folder inside ``out_dir`` whose files move into ``out_dir`` when the block succeeds."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=".moodscore-partial-", dir=out))
    except OSError as exc:
        raise OutputError(f"cannot write to {out}: {exc.strerror or exc}") from None
    try:
        yield stage
        for item in sorted(stage.iterdir()):
            os.replace(item, out / item.name)
    except OSError as exc:
        raise OutputError(f"cannot write to {out}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def compose_job(
    engine: Engine, request: ComposeRequest, out_dir: str | os.PathLike[str], *, progress: Progress | None = None
) -> ComposeJobResult:
    """Compose ``request.variations`` pieces; write ``<name>.mid`` and ``<name>.wav`` for each, and compose.json."""
    from .music.render import normalize_loudness, render_midi, write_wav

    report = progress or (lambda f, m: None)
    scores = engine.compose(request, progress=lambda f, m: report(0.6 * f, m))
    names = []
    with staged_output(out_dir) as stage:
        for i, score in enumerate(scores):
            name = (
                f"{score.bar_quadrants[0]}_seed{score.seed}"
                if len(set(score.bar_quadrants)) == 1
                else f"score_seed{score.seed}"
            )
            names.append(name)
            score.midi.write(str(stage / f"{name}.mid"))
            report(0.6 + 0.4 * i / len(scores), f"rendering {i + 1}/{len(scores)}")
            audio = render_midi(score.midi, sr=44100)
            need = round(score.duration_s * 44100)  # the last bar lasts to its end even where it is quiet
            if len(audio) < need:
                audio = np.concatenate([audio, np.zeros((need - len(audio), audio.shape[1]), audio.dtype)])
            audio = normalize_loudness(audio, 44100)
            write_wav(stage / f"{name}.wav", audio, 44100)
        summary = {
            "request": {
                "tempo": request.tempo,
                "bars": request.n_bars,
                "key": request.key,
                "instruments": list(request.instruments),
                "seed": request.seed,
            },
            "pieces": [
                {
                    "midi": f"{n}.mid",
                    "audio": f"{n}.wav",
                    "seed": s.seed,
                    "key": s.key,
                    "bar_quadrants": list(s.bar_quadrants),
                    "duration_s": s.duration_s,
                }
                for n, s in zip(names, scores, strict=True)
            ],
        }
        (stage / "compose.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    report(1.0, "done")
    out = Path(out_dir)
    files = (*(out / f for n in names for f in (f"{n}.mid", f"{n}.wav")), out / "compose.json")
    return ComposeJobResult(files=files, summary=summary)
