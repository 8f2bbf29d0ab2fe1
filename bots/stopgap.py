"""Stopgaps for what the core does not offer yet; each belongs in ``models`` and goes once it is there.

- ``compose_for_upload``: MP3 and a piano-roll image for a compose job (``compose_job`` writes only .mid and
  .wav). The MP3 goes through ``models.music.mix.export_mp3``, which is not in the public API yet.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from models import ComposeRequest, Engine, compose_job, piano_roll_png
from models.jobs import Progress


def compose_for_upload(
    engine: Engine, request: ComposeRequest, out_dir: str | os.PathLike[str], *, progress: Progress | None = None
) -> dict[str, Any]:
    """Compose one piece and write its MIDI, WAV, MP3 and piano roll; return their paths and the piece's summary."""
    import pretty_midi
    import soundfile

    from models.music.mix import export_mp3

    report = progress or (lambda f, m: None)
    result = compose_job(engine, request, out_dir, progress=lambda f, m: report(0.85 * f, m))
    piece = result.summary["pieces"][0]
    out = Path(out_dir)
    midi, wav = out / piece["midi"], out / piece["audio"]
    report(0.88, "encoding the MP3")
    audio, sr = soundfile.read(str(wav), dtype="float32", always_2d=True)
    mp3 = export_mp3(wav.with_suffix(".mp3"), audio, int(sr))
    report(0.95, "drawing the piano roll")
    roll = piano_roll_png(pretty_midi.PrettyMIDI(str(midi)), out / "piano_roll.png", bar_s=request.bar_s)
    report(1.0, "done")
    return {"midi": midi, "wav": wav, "mp3": mp3, "roll": roll, "piece": piece}
