"""Voice: speech detection, window layout, NaN for non-speech, checkpoints, and the shipped model."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from moodscore.models import affect, default_example_clip
from moodscore.models.errors import InputError
from moodscore.models.voices.model import load_voice_model, save_voice_head
from moodscore.models.voices.vad import SR, VAD_FRAME, detect_speech, to_mono_16k

SF2 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")


@pytest.fixture(scope="module")
def debug_model():
    return load_voice_model(debug=True)


@pytest.fixture(scope="module")
def espeak_speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, int]:
    """A spoken English sentence from espeak-ng at its own rate (22,050 Hz)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    import soundfile as sf

    wav = tmp_path_factory.mktemp("espeak") / "speech.wav"
    text = "I cannot believe you did that. This is the best day of my life, and I am so happy to see you here."
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
    y, sr = sf.read(wav, dtype="float32")
    return y, sr


def _chords(seconds: float = 6.0) -> np.ndarray:
    """Sustained piano-like chords (harmonics, decay), changing every half second."""
    t = np.arange(int(SR * 0.5)) / SR
    out = []
    roots = [261.63, 349.23, 392.0, 220.0]
    for k in range(int(seconds / 0.5)):
        f0 = roots[k % len(roots)]
        note = sum(
            np.exp(-3 * t) * np.sin(2 * np.pi * f * h * t) / h for f in (f0, f0 * 1.26, f0 * 1.5) for h in (1, 2, 3)
        )
        out.append(note)
    y = np.concatenate(out)
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def _rendered_midi(seconds: float = 6.0) -> np.ndarray:
    pretty_midi = pytest.importorskip("pretty_midi")
    pm = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    melody = [60, 64, 67, 72, 71, 67, 64, 62, 60, 65, 69, 72]
    for i in range(int(seconds / 0.25)):
        start = i * 0.25
        piano.notes.append(pretty_midi.Note(90, melody[i % len(melody)], start, start + 0.3))
        if i % 8 == 0:
            for p in (48, 52, 55):
                piano.notes.append(pretty_midi.Note(70, p, start, start + 2.0))
    pm.instruments.append(piano)
    y = pm.fluidsynth(fs=SR, synthesizer=str(SF2)) if SF2.exists() else pm.fluidsynth(fs=SR)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def test_debug_model_window_layout(debug_model, espeak_speech):
    y, sr = espeak_speech
    dur = len(y) / sr
    track = debug_model.analyze(y, sr, win_s=1.0, hop_s=0.5)
    n = len(track.starts)
    assert track.probs.shape == (n, affect.N_CLASSES) and track.speech.shape == (n,)
    np.testing.assert_allclose(track.starts, np.arange(n) * 0.5)
    assert track.starts[-1] + 1.0 >= dur - 1e-6 > track.starts[-1]  # the windows cover the audio, no extra one
    assert np.all((track.speech >= 0) & (track.speech <= 1))
    voted = ~np.isnan(track.probs).any(axis=1)
    assert voted.sum() >= n // 2
    np.testing.assert_allclose(track.probs[voted].sum(axis=1), 1.0, atol=1e-5)
    assert np.all(np.isnan(track.probs[~voted])) and np.all(track.speech[~voted] < 0.3)


def test_windows_on_the_fusion_grid_include_the_last_short_one(debug_model, espeak_speech):
    from moodscore.models.fusion.timeline import FusionOptions, window_starts

    y, sr = espeak_speech
    speech_to_the_end = y[: int(len(y) * 0.6)]  # cut mid-sentence, so the last half second is speech
    dur = len(speech_to_the_end) / sr
    starts = window_starts(dur, FusionOptions())
    track = debug_model.analyze(speech_to_the_end, sr, win_s=1.0, hop_s=0.5, starts=starts)
    assert len(track.starts) == len(starts) and track.probs.shape == (len(starts), affect.N_CLASSES)
    assert dur - starts[-1] < 1.0  # the last fusion window is shorter than a full one ...
    assert not np.isnan(track.probs[-1]).any()  # ... and still gets the voice's vote
    own = debug_model.analyze(speech_to_the_end, sr, win_s=1.0, hop_s=0.5)
    assert len(own.starts) < len(starts)  # the voice's own grid stops a hop earlier


def test_short_audio_gives_one_window(debug_model):
    track = debug_model.analyze(np.zeros(SR // 4, dtype=np.float32))
    assert track.starts.tolist() == [0.0] and np.isnan(track.probs).all()


def test_silence_noise_and_music_carry_no_vote(debug_model):
    rng = np.random.default_rng(0)
    white = 0.1 * rng.standard_normal(SR * 5)
    pink = np.fft.irfft(np.fft.rfft(rng.standard_normal(SR * 5)) / np.sqrt(np.arange(SR * 5 // 2 + 1) + 1.0))
    pink = 0.3 * pink / np.abs(pink).max()
    hum = 0.2 * np.sin(2 * np.pi * 50 * np.arange(SR * 5) / SR)
    for name, y in [("silence", np.zeros(SR * 5)), ("white", white), ("pink", pink), ("hum", hum),
                    ("chords", _chords()), ("midi", _rendered_midi())]:  # fmt: skip
        track = debug_model.analyze(y.astype(np.float32), SR)
        assert np.isnan(track.probs).all(), f"{name}: {track.speech}"
        assert track.speech.max() < 0.3, name


def test_espeak_is_speech(espeak_speech):
    y, sr = espeak_speech
    mask = detect_speech(y, sr)
    n_frames = int(np.ceil(len(y) * SR / sr / VAD_FRAME))
    assert mask.dtype == bool and abs(len(mask) - n_frames) <= 1
    assert mask.mean() > 0.6
    padded = np.concatenate([np.zeros(sr * 2, dtype=np.float32), y])  # 2 s of silence first
    mask2 = detect_speech(padded, sr)
    lead = int(2 * SR / VAD_FRAME)
    assert mask2[: lead - 3].mean() < 0.05 and mask2[lead:].mean() > 0.6


def test_bad_input_is_a_typed_error(debug_model):
    with pytest.raises(InputError):
        debug_model.analyze(np.zeros(0, dtype=np.float32))
    with pytest.raises(InputError):
        debug_model.analyze(np.full(SR, np.nan, dtype=np.float32))
    with pytest.raises(InputError):
        debug_model.analyze(np.zeros(SR, dtype=np.float32), win_s=0.0)


def test_checkpoint_round_trip(tmp_path, debug_model, espeak_speech):
    """The debug model written with save_voice_head and read back judges the same; the file is the head alone."""
    import torch

    y, sr = espeak_speech
    path = tmp_path / "voice.pt"
    head = debug_model.head
    save_voice_head(path, layer=debug_model.layers, mean=head.mean.numpy(), std=head.std.numpy(),
                    weight=head.linear.weight.detach().numpy(), bias=head.linear.bias.detach().numpy(),
                    meta={"x": 1}, temperature=1.0, encoder="debug", ckpt_meta={"y": 2})  # fmt: skip
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "moodscore-voice/2" and not {"state_dict", "func", "arch"} & set(raw)
    loaded = load_voice_model(path)
    assert loaded.ckpt["meta"] == {"y": 2} and loaded.ckpt["whisper"]["meta"] == {"x": 1}
    assert loaded.layers == debug_model.layers == (2, 1)
    a, b = debug_model.analyze(y, sr), loaded.analyze(y, sr)
    np.testing.assert_allclose(a.probs, b.probs, atol=1e-6)


@pytest.mark.e2e
def test_shipped_model_gives_probabilities(espeak_speech):
    model = load_voice_model()
    assert model.ckpt["classes"] == list(affect.CLASSES) and model.ckpt["whisper"]["meta"]["cv"]["conditions"]
    y, sr = espeak_speech
    track = model.analyze(y, sr)
    voted = ~np.isnan(track.probs).any(axis=1)
    assert voted.sum() >= len(voted) // 2
    assert np.all(track.probs[voted] >= 0)
    np.testing.assert_allclose(track.probs[voted].sum(axis=1), 1.0, atol=1e-5)
    music = model.analyze(_rendered_midi(), SR)
    assert np.isnan(music.probs).all()


def test_batched_vad_equals_frame_loop(espeak_speech):
    from moodscore.models.voices.vad import SpeechDetector

    y = to_mono_16k(*espeak_speech)
    det = SpeechDetector()
    fast, loop = det.probs(y), det.probs(y, loop=True)
    assert fast.shape == loop.shape == (int(np.ceil(len(y) / VAD_FRAME)),)
    np.testing.assert_allclose(fast, loop, atol=1e-3)
    assert loop.max() > 0.9 and loop.min() < 0.1  # the comparison covers speech and pauses


def test_debug_head_pools_each_window_over_its_context(debug_model, espeak_speech):
    """Window 4 (2.0-3.0 s) is judged on the speech frames of 1.5-3.5 s of the clip's single encoding: block 2's
    pooled frames, then block 1's (the head's order), standardised, divided by the temperature."""
    from moodscore.models.voices.encoder import FRAMES_PER_S, encode_stages
    from moodscore.models.voices.features import frame_speech, pooled_stats

    m = debug_model
    assert len(m.encoder.blocks) == 2 and m.layers == (2, 1)
    y = to_mono_16k(*espeak_speech)
    track = m.analyze(y)
    i = 4
    assert not np.isnan(track.probs[i]).any()
    frames = encode_stages(m.encoder, y, (2, 1))
    sp = frame_speech(detect_speech(y, SR), frames.shape[1], FRAMES_PER_S)
    pooled = np.concatenate([pooled_stats(f[75:175], sp[75:175]) for f in frames])
    np.testing.assert_allclose(track.probs[i], m.classify(pooled[None])[0], atol=1e-5)
    assert np.abs(np.diff(track.probs[~np.isnan(track.probs).any(axis=1)], axis=0)).max() > 1e-3  # windows differ


def test_one_window_over_the_whole_clip_is_the_whole_clip(debug_model, espeak_speech):
    y = to_mono_16k(*espeak_speech)[: 2 * SR]
    p = debug_model.classify(debug_model.whisper_features(y))[0]  # the whole clip, judged as one
    assert p.shape == (affect.N_CLASSES,) and abs(p.sum() - 1) < 1e-6
    track = debug_model.analyze(y, win_s=2.0)
    np.testing.assert_allclose(track.probs[0], p, atol=1e-6)


@pytest.mark.e2e
def test_shipped_whisper_head_on_the_example_clip():
    """The shipped Whisper head on the example clip: espeak-ng read fast, high and loud (0-7 s), then slow, low and
    quiet (7.4-14 s). Every window with speech gets a distribution, the first part has the higher arousal (a head
    that hears the slow, low, quiet synthetic voice as the more aroused fails here; the shipped head's margin on
    this one clip is small, 0.825 against 0.811, see weights/voice.md, and benchmarks/bench_voice_synthetic.py
    measures the same ordering on 32 pairs); silence gets no vote."""
    from moodscore.models.media.decode import decode_audio
    from moodscore.models.voices.encoder import SHA256

    model = load_voice_model()
    entry = model.ckpt["whisper"]
    assert entry["encoder"]["sha256"] == SHA256 and model.encoder is not None
    assert len(model.encoder.blocks) == max(entry["encoder"]["layers"])  # run only as deep as the head reads
    assert entry["meta"]["cv"]["conditions"]["2s context"]["mean"] > 0.6  # nested actor CV, stored in the file
    assert entry["temperature"] > 1 and model.temperature == entry["temperature"]  # calibrated: softened
    y = decode_audio(default_example_clip())
    track = model.analyze(y, SR)
    voted = ~np.isnan(track.probs).any(axis=1)
    assert voted.sum() >= 10
    np.testing.assert_allclose(track.probs[voted].sum(axis=1), 1.0, atol=1e-5)
    high, low = (np.nanmean(track.probs[part], axis=0) for part in (track.starts < 6.5, track.starts > 7.5))
    assert affect.probs_to_va(high)[1] > affect.probs_to_va(low)[1], (high, low)
    assert np.isnan(model.analyze(np.zeros(3 * SR, dtype=np.float32), SR).probs).all()


def _multi_block_head(tmp_path: Path, layers: tuple[int, ...], seed: int = 0) -> Path:
    """A Whisper head on the debug encoder's blocks ``layers`` (32 wide each)."""
    rng = np.random.default_rng(seed)
    n = 64 * len(layers)
    path = tmp_path / ("head_" + "_".join(map(str, layers)) + ".pt")
    save_voice_head(path, layer=layers if len(layers) > 1 else layers[0], mean=rng.standard_normal(n) * 0.1,
                    std=np.full(n, 0.5), weight=rng.standard_normal((8, n)), bias=np.zeros(8), meta={},
                    temperature=1.5, encoder="debug")  # fmt: skip
    return path


def test_multi_block_head_reads_the_concatenated_blocks(tmp_path, espeak_speech):
    """A head over blocks (2, 1) loads, runs the encoder to block 2 only, and its input per window is block 2's
    pooled frames followed by block 1's: the single-block heads' inputs, concatenated in the head's order."""
    import torch

    from moodscore.models.train.voice_head import softmax

    y = to_mono_16k(*espeak_speech)
    multi = load_voice_model(_multi_block_head(tmp_path, (2, 1)))
    one, two = (load_voice_model(_multi_block_head(tmp_path, (b,))) for b in (1, 2))
    assert multi.layers == (2, 1) and multi.ckpt["whisper"]["encoder"]["layers"] == [2, 1]
    assert multi.encoder is not None and len(multi.encoder.blocks) == 2 and multi.encoder is two.encoder
    centres = np.array([1.0, 2.5, 4.0])
    got = multi.whisper_features(y, centres)
    assert got.shape == (3, 128)
    np.testing.assert_array_equal(got, np.concatenate([two.whisper_features(y, centres),
                                                       one.whisper_features(y, centres)], axis=1))  # fmt: skip
    assert np.abs(got[:, :64] - got[:, 64:]).max() > 1e-2  # the two blocks differ, so the order is tested
    track = multi.analyze(y, win_s=1.0, hop_s=1.0)
    voted = ~np.isnan(track.probs).any(axis=1)
    assert voted.sum() >= 3
    c = track.starts[voted] + 0.5
    assert multi.ckpt["whisper"]["temperature"] == 1.5
    with torch.no_grad():
        z = multi.head(torch.from_numpy(multi.whisper_features(y, c)).float()).numpy()
    np.testing.assert_allclose(track.probs[voted], softmax(z / 1.5), atol=1e-5)


def test_single_block_checkpoints_of_the_old_form_still_load(tmp_path, espeak_speech):
    """A checkpoint written before heads over several blocks (format /1, ``encoder.layer`` an int, the Whisper head
    at share 1 beside a base network that took no part) reads the same as its /2 form."""
    import torch

    y = to_mono_16k(*espeak_speech)
    new_path = _multi_block_head(tmp_path, (2,))
    ck = torch.load(new_path, weights_only=True)
    assert ck["whisper"]["encoder"].pop("layers") == [2]
    ck["whisper"]["encoder"]["layer"] = 2
    ck |= {"format": "moodscore-voice/1", "arch": "main", "state_dict": {"w": torch.zeros(3)}}
    torch.save(ck, tmp_path / "old.pt")
    old, new = load_voice_model(tmp_path / "old.pt"), load_voice_model(new_path)
    assert old.layers == new.layers == (2,)
    np.testing.assert_array_equal(old.analyze(y).probs, new.analyze(y).probs)


def test_a_head_that_shares_its_vote_or_reads_no_blocks_is_refused(tmp_path):
    """Checkpoints whose head had a share below 1 mixed in networks this version no longer runs: refused in one
    line, as are heads whose inputs do not split over their blocks."""
    import torch

    from moodscore.models.errors import ModelLoadError

    with pytest.raises(ValueError, match="cannot read blocks"):
        save_voice_head(tmp_path / "x.pt", layer=(1, 2), mean=np.zeros(63), std=np.ones(63),
                        weight=np.zeros((8, 63)), bias=np.zeros(8), meta={}, encoder="debug")  # fmt: skip
    with pytest.raises(ValueError, match="temperature"):
        save_voice_head(tmp_path / "x.pt", layer=1, mean=np.zeros(64), std=np.ones(64), weight=np.zeros((8, 64)),
                        bias=np.zeros(8), meta={}, temperature=0.0, encoder="debug")  # fmt: skip
    assert not (tmp_path / "x.pt").exists()
    ck = torch.load(_multi_block_head(tmp_path, (1, 2)), weights_only=True)
    ck["whisper"]["weight"] = 0.5
    torch.save(ck, tmp_path / "half.pt")
    with pytest.raises(ModelLoadError, match=r"share 0\.5"):
        load_voice_model(tmp_path / "half.pt")
    del ck["whisper"]
    torch.save(ck, tmp_path / "none.pt")
    with pytest.raises(ModelLoadError, match="no Whisper head"):
        load_voice_model(tmp_path / "none.pt")


def test_whisper_head_for_another_encoder_is_refused(tmp_path):
    import torch

    from moodscore.models.errors import ModelLoadError

    ck = torch.load(_multi_block_head(tmp_path, (2,)), weights_only=True)
    ck["whisper"]["encoder"] |= {"name": "whisper-base", "sha256": "0" * 64}
    torch.save(ck, tmp_path / "other.pt")
    with pytest.raises(ModelLoadError, match="another Whisper encoder"):
        load_voice_model(tmp_path / "other.pt")
    ck["whisper"]["encoder"] = {"name": "debug", "layer": 2, "frames_per_s": 100, "pool": "mean+std"}
    torch.save(ck, tmp_path / "other.pt")
    with pytest.raises(ModelLoadError, match="other Whisper features"):
        load_voice_model(tmp_path / "other.pt")
