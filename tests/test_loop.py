"""--loop: music that plays round and round: it ends on the way back to its first chord, and its audio is exactly
its bars long with the ring-out folded onto the start (no fade, no gap at the seam)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pretty_midi
import soundfile as sf

from moodscore.models import ComposeRequest, Engine, compose_job
from moodscore.models.keys import parse_key


def test_a_loop_ends_on_the_dominant_and_its_audio_joins_seamlessly(tmp_path: Path) -> None:
    request = ComposeRequest(emotion="Q1", bars=8, tempo=120, key="C major", seed=3, loop=True)
    result = compose_job(Engine(debug=True), request, tmp_path)
    piece = result.summary.pieces[0]
    midi = pretty_midi.PrettyMIDI(str(tmp_path / piece.midi))
    piano = [n for i in midi.instruments for n in i.notes]
    end = piece.duration_s
    last = [n.pitch % 12 for n in piano if n.start < end - 1e-3 and n.end >= end - 0.25]
    key = parse_key("C major")
    assert key is not None
    assert last and set(last) <= {7, 11, 2, 5}, sorted(set(last))  # G, B, D, F: the dominant (seventh)
    audio, sr = sf.read(tmp_path / str(piece.audio))
    assert len(audio) == round(end * sr)  # exactly the bars: a loop player plays it back to back
    # no click: the step from the last sample to the first is like any step between neighbouring samples
    step = np.abs(np.diff(audio, axis=0))
    assert np.abs(audio[0] - audio[-1]).max() < np.percentile(step, 99)
    # and the 0.1 s either side of the join is no harsher than the same around the piece's other bar lines
    bar = round(end / 8 * sr)
    seam = np.concatenate([audio[-sr // 10 :], audio[: sr // 10]])
    others = [np.abs(np.diff(audio[b * bar - sr // 10 : b * bar + sr // 10], axis=0)).max() for b in range(1, 8)]
    assert np.abs(np.diff(seam, axis=0)).max() <= 1.2 * max(others)
    assert np.abs(audio[: sr // 20]).max() > 0.001  # the end's ring-out sounds under the start
    plain = compose_job(Engine(debug=True), ComposeRequest(emotion="Q1", bars=8, tempo=120, key="C major", seed=3),
                        tmp_path / "plain")  # fmt: skip
    p0 = plain.summary.pieces[0]
    assert sf.info(tmp_path / "plain" / str(p0.audio)).duration > end  # (without --loop the ring-out follows)
    assert json.loads((tmp_path / "compose.json").read_text())["pieces"][0]["bars"] == 8
