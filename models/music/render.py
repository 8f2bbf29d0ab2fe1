"""Render a score to audio: FluidSynth through pyfluidsynth, loudness normalisation, atomic WAV writing.

A soundfont is read from disk once per process (FluidR3_GM, 148 MB, takes about a second) and each render
gets a fresh synthesiser that borrows it, under a per-soundfont lock, so renders are thread-safe and
deterministic. FluidSynth's own log output is routed to :mod:`logging` instead of the terminal. Events
are placed by absolute sample position (no drift over long pieces) and take effect at FluidSynth's
64-sample block boundary nearest to them (within 0.73 ms at 44.1 kHz); the render runs on past the last
note until the release and reverb tails have died away.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import os
import threading
from collections import OrderedDict
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from moodscore.models.errors import InputError, InvalidOptionError, ModelLoadError
from moodscore.models.files.atomic import atomic_output

if TYPE_CHECKING:
    import pretty_midi

log = logging.getLogger(__name__)

ENV_SOUNDFONT = "MOODSCORE_SOUNDFONT"
FLUIDR3_PATHS = (  # Debian/Ubuntu fluid-soundfont-gm, then Fedora/Arch and local installs
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM2-2.sf2"),
    Path("/usr/local/share/soundfonts/FluidR3_GM.sf2"),
)
BLOCK = 64  # FluidSynth's internal block (FLUID_BUFSIZE): events take effect on these boundaries
SYNTH_GAIN = 0.2  # FluidSynth's default master gain: dense piano stays well inside [-1, 1]
MAX_TAIL_S = 10.0  # the longest release/reverb tail rendered after the last event
TAIL_FLOOR = 10 ** (-90 / 20)  # the tail has ended when a chunk's peak stays below -90 dBFS
MAX_CACHED_SOUNDFONTS = 2
_CHANNELS = 64  # MIDI channels per synth; channel % 16 == 9 is a drum channel
_LOGF = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)

_lock = threading.Lock()
_lib: dict[str, Any] = {}  # the pyfluidsynth module, the C functions it lacks, and our log callback
_fonts: OrderedDict[tuple[str, int, int], _SoundFont] = OrderedDict()
_errors = threading.local()  # FluidSynth error messages of the current thread's last call


def _fluid_log(level: int, message: bytes | None, _data: Any) -> None:
    text = (message or b"").decode("utf-8", "replace").strip()
    if level <= 1:  # FLUID_PANIC, FLUID_ERR
        getattr(_errors, "messages", []).append(text)
    log.debug("fluidsynth[%d]: %s", level, text)


def _fluidsynth() -> dict[str, Any]:
    """Import pyfluidsynth once (its import may print; that goes nowhere) and route FluidSynth's log."""
    with _lock:
        if not _lib:
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    import fluidsynth
            except (ImportError, OSError) as exc:
                raise ModelLoadError(f"FluidSynth is not available ({exc}); install libfluidsynth3") from exc
            cdll = ctypes.CDLL(fluidsynth.lib)
            callback = _LOGF(_fluid_log)
            cdll.fluid_set_log_function.argtypes = [ctypes.c_int, _LOGF, ctypes.c_void_p]
            for level in range(5):  # PANIC, ERR, WARN, INFO, DBG
                cdll.fluid_set_log_function(level, callback, None)
            write = cdll.fluid_synth_write_float
            buf = (ctypes.c_void_p, ctypes.c_int, ctypes.c_int)  # pointer, offset, stride of one channel
            write.argtypes = (ctypes.c_void_p, ctypes.c_int, *buf, *buf)
            write.restype = ctypes.c_int
            get_sfont = cdll.fluid_synth_get_sfont_by_id
            get_sfont.argtypes, get_sfont.restype = [ctypes.c_void_p, ctypes.c_int], ctypes.c_void_p
            add_sfont, remove_sfont = cdll.fluid_synth_add_sfont, cdll.fluid_synth_remove_sfont
            add_sfont.argtypes = remove_sfont.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
            add_sfont.restype = remove_sfont.restype = ctypes.c_int
            _lib.update(
                fs=fluidsynth,
                write=write,
                log=callback,
                get_sfont=get_sfont,
                add_sfont=add_sfont,
                remove_sfont=remove_sfont,
            )
        return _lib


def check_soundfont(path: str | os.PathLike[str], *, what: str = "soundfont") -> Path:
    """Return ``path`` if it looks like a complete SoundFont 2 file (RIFF 'sfbk', size as declared)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(f"{what} {p}: no such file")
    with p.open("rb") as f:
        head = f.read(12)
    size = p.stat().st_size
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise InputError(f"{what} {p.name}: not a SoundFont 2 file (no RIFF 'sfbk' header)")
    if int.from_bytes(head[4:8], "little") + 8 > size:
        raise InputError(f"{what} {p.name}: the file is truncated ({size} bytes, header says more)")
    return p


def find_soundfont() -> Path:
    """The soundfont to use: $MOODSCORE_SOUNDFONT, else FluidR3_GM if installed, else pretty_midi's TimGM6mb.

    A soundfont named by the variable is loaded here (once per process, then cached), so a file that
    FluidSynth rejects is reported as the variable's fault.
    """
    env = os.environ.get(ENV_SOUNDFONT)
    if env:
        path = check_soundfont(env, what=f"{ENV_SOUNDFONT}:")
        try:
            _soundfont(path)
        except InputError as exc:
            raise InputError(f"{ENV_SOUNDFONT}: {exc}") from exc
        return path
    for candidate in FLUIDR3_PATHS:
        if candidate.is_file():
            return candidate
    bundled = Path(str(resources.files("pretty_midi").joinpath("TimGM6mb.sf2")))
    if not bundled.is_file():
        raise ModelLoadError(f"no soundfont found: install fluid-soundfont-gm or set {ENV_SOUNDFONT}")
    return bundled


class _SoundFont:
    """A soundfont loaded once into a holder synth; every render gets a fresh synth that borrows it.

    A fresh synthesiser per render (about 2 ms to make) starts from a clean state, so the same score
    renders to the same samples whatever was rendered before (a reused synth keeps reverb and voice state).
    ``lock`` serialises renders: FluidSynth's sample reference counts are not atomic.
    """

    def __init__(self, path: Path) -> None:
        self.lib = _fluidsynth()
        self.lock = threading.Lock()
        self.closed = False
        self.holder = self.lib["fs"].Synth(gain=SYNTH_GAIN, channels=16)
        _errors.messages = []
        sfid = self.holder.sfload(str(path))
        if sfid < 0:
            reason = _errors.messages[0] if _errors.messages else "FluidSynth could not load it"
            self.holder.delete()
            raise InputError(f"soundfont {path.name}: not usable ({reason})")
        self.sfont = self.lib["get_sfont"](self.holder.synth, sfid)

    def render(self, events: list[tuple[int, int, int, int, int]], min_blocks: int, sr: int) -> np.ndarray:
        """Play ``events`` (block, kind, channel, a, b) and return (N, 2) float32 audio with its tail."""
        s = self.lib["fs"].Synth(gain=SYNTH_GAIN, samplerate=sr, channels=_CHANNELS)
        sfid = self.lib["add_sfont"](s.synth, self.sfont)
        try:
            return self._play(s, sfid, events, min_blocks, sr)
        finally:
            self.lib["remove_sfont"](s.synth, self.sfont)  # borrowed: the holder frees it
            s.delete()

    def _play(
        self, s: Any, sfid: int, events: list[tuple[int, int, int, int, int]], min_blocks: int, sr: int
    ) -> np.ndarray:
        last = max([e[0] for e in events] + [min_blocks])
        out = np.zeros(((last + 1) * BLOCK, 2), dtype=np.float32)
        pos = 0
        active: dict[tuple[int, int], int] = {}
        for block, kind, chan, a, b in events:
            if block * BLOCK > pos:
                self._write(s, out, pos, block * BLOCK - pos)
                pos = block * BLOCK
            if kind == 0:  # program (a) in bank (b)
                if s.program_select(chan, sfid, b, a) != 0 and s.program_select(chan, sfid, b, 0) != 0:
                    log.warning("soundfont has no preset %d in bank %d; channel %d stays silent", a, b, chan)
            elif kind == 1:
                s.cc(chan, a, b)
            elif kind == 2:
                s.pitch_bend(chan, a)
            elif kind == 3:  # note off, sent when the last overlapping note of this key ends
                active[chan, a] = active.get((chan, a), 1) - 1
                if active[chan, a] <= 0:
                    s.noteoff(chan, a)
            else:
                active[chan, a] = active.get((chan, a), 0) + 1
                s.noteon(chan, a, b)
        self._write(s, out, pos, len(out) - pos)
        tail: list[np.ndarray] = []
        chunk = 64 * BLOCK
        for _ in range(int(MAX_TAIL_S * sr) // chunk + 1):
            if s.get_active_voice_count() == 0 and (not tail or np.abs(tail[-1]).max() < TAIL_FLOOR):
                break
            tail.append(np.zeros((chunk, 2), dtype=np.float32))
            self._write(s, tail[-1], 0, chunk)
        audio = np.concatenate([out, *tail]) if tail else out
        loud = np.flatnonzero(np.abs(audio).max(axis=1) >= TAIL_FLOOR)
        end = max(min_blocks * BLOCK, loud[-1] + 1 if len(loud) else 0)
        return audio[:end]

    def _write(self, s: Any, buf: np.ndarray, pos: int, n: int) -> None:
        if n > 0:  # always whole blocks, so FluidSynth never holds rendered samples back
            ptr = buf.ctypes.data
            self.lib["write"](s.synth, n, ptr, 2 * pos, 2, ptr, 2 * pos + 1, 2)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.holder.delete()


def _soundfont(path: Path) -> _SoundFont:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _lock:
        font = _fonts.get(key)
        if font is not None:
            _fonts.move_to_end(key)
            return font
    font = _SoundFont(path)  # slow (reads the file): outside the module lock
    with _lock:
        font = _fonts.setdefault(key, font)
        while len(_fonts) > MAX_CACHED_SOUNDFONTS:
            _fonts.popitem(last=False)[1].close()
    return font


def _events(pm: pretty_midi.PrettyMIDI, sr: int) -> list[tuple[int, int, int, int, int]]:
    """Every instrument on its own channel (drums on drum channels), as block-quantised events."""
    melodic = [c for c in range(_CHANNELS) if c % 16 != 9]
    drums = [c for c in range(_CHANNELS) if c % 16 == 9]
    events: list[tuple[int, int, int, int, int]] = []

    def blk(t: float) -> int:
        return max(0, round(float(t) * sr / BLOCK))

    for inst in pm.instruments:
        pool = drums if inst.is_drum else melodic
        if not pool:
            raise InvalidOptionError(f"the score has too many instruments (at most {len(melodic)} + {len(drums)})")
        chan = pool.pop(0)
        events.append((0, 0, chan, int(inst.program) & 127, 128 if inst.is_drum else 0))
        events += [
            (blk(c.time), 1, chan, int(c.number) & 127, min(max(int(c.value), 0), 127)) for c in inst.control_changes
        ]
        events += [(blk(p.time), 2, chan, min(max(int(p.pitch), -8192), 8191), 0) for p in inst.pitch_bends]
        for n in inst.notes:
            if not 0 <= n.pitch <= 127 or n.velocity <= 0:
                continue
            start = blk(n.start)
            events.append((start, 4, chan, int(n.pitch), min(int(n.velocity), 127)))
            events.append((max(blk(n.end), start + 1), 3, chan, int(n.pitch), 0))
    events.sort(key=lambda e: (e[0], e[1]))  # stable: setup, controllers, bends, offs, then ons
    return events


def render_midi(
    pm: pretty_midi.PrettyMIDI, *, sr: int = 44100, soundfont: str | os.PathLike[str] | None = None
) -> np.ndarray:
    """Render ``pm`` with FluidSynth to float32 stereo audio of shape (N, 2), tails included.

    N covers the score's end time plus the release/reverb tail (at most ``MAX_TAIL_S``). The level is
    FluidSynth's own (gain 0.2), not normalised: pass the result to :func:`normalize_loudness`.
    Raises InputError for a missing or unusable soundfont, InvalidOptionError for a bad ``sr``.
    """
    if not 8000 <= int(sr) <= 96000:
        raise InvalidOptionError(f"render sample rate must be between 8000 and 96000 Hz, got {sr!r}")
    path = check_soundfont(soundfont) if soundfont is not None else find_soundfont()
    events = _events(pm, int(sr))
    min_blocks = round(float(pm.get_end_time()) * sr / BLOCK)
    while True:
        font = _soundfont(path)
        with font.lock:
            if not font.closed:  # evicted from the cache meanwhile: load it again
                return font.render(events, min_blocks, int(sr))


def _interpolators(taps: int = 12, factor: int = 4) -> list[np.ndarray]:
    """Kaiser-windowed sinc filters that estimate x at m + p/factor from x[m-5 .. m+6], p = 1 .. factor-1."""
    offsets = np.arange(taps) - (taps // 2 - 1)
    filters = []
    for p in range(1, factor):
        d = p / factor - offsets
        w = np.sinc(d) * np.i0(5.0 * np.sqrt(np.clip(1 - (d / (taps / 2)) ** 2, 0, 1))) / np.i0(5.0)
        filters.append(w / w.sum())
    return filters


def _true_peak(x: np.ndarray, *, floor: float = 0.0) -> np.ndarray:
    """Per-sample peak over channels, including 4x-oversampled inter-sample peaks (ITU-R BS.1770 style).

    Inter-sample peaks of real audio stay within a few dB of the sample peaks, so the oversampling is done only
    between samples of which one reaches ``floor`` / 2 (all of them with ``floor`` 0).
    """
    xt = np.ascontiguousarray(x.T, dtype=np.float32)  # channel-major: reductions over channels are fast
    peak = np.abs(xt).max(axis=0)
    n = len(peak)
    if n < 16 or peak.max() * 2 <= floor:
        return peak.astype(np.float64)
    loud = peak > floor / 2
    loud[:-1] |= loud[1:]  # m is interpolated towards m + 1: either end may be loud
    where = np.flatnonzero(loud)
    if len(where) > n // 8:  # loud throughout: filter the whole signal
        from scipy.ndimage import correlate1d

        for w in _interpolators():  # origin -1: taps cover x[m-5 .. m+6]
            over = correlate1d(xt, w.astype(np.float32), axis=1, mode="nearest", origin=-1)
            np.maximum(peak, np.abs(over).max(axis=0), out=peak)
        return peak.astype(np.float64)
    taps = np.stack(_interpolators(), axis=1).astype(np.float32)  # (12, 3): x[m-5 .. m+6] -> x[m + p/4]
    offsets = np.arange(len(taps)) - (len(taps) // 2 - 1)
    for i in range(0, len(where), 1 << 15):
        m = where[i : i + (1 << 15)]
        idx = np.clip(m[:, None] + offsets, 0, n - 1)  # the ends repeat the edge sample ("nearest")
        over = np.abs(xt[:, idx] @ taps).max(axis=(0, 2))  # (channels, k, 12) @ (12, 3)
        np.maximum.at(peak, m, over)
    return peak.astype(np.float64)


def limit_peaks(x: np.ndarray, sr: int, *, ceiling_db: float = -1.0) -> np.ndarray:
    """Keep (N, C) audio's true peak under ``ceiling_db`` with a smooth gain (5 ms look-ahead, 50 ms hold)."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    ceiling = 10 ** (ceiling_db / 20) * 0.9999  # a hair under, so float32 rounding stays under too
    peak = _true_peak(x, floor=ceiling)
    if len(x) == 0 or peak.max() <= ceiling:
        return x
    need = np.minimum(1.0, ceiling / np.maximum(peak, 1e-12))
    ahead, hold = max(1, round(0.005 * sr)), max(2, round(0.05 * sr))
    size = ahead + hold + 1  # window [n - hold, n + ahead]
    gain = minimum_filter1d(need, size=size, origin=hold - size // 2, mode="nearest")
    gain = uniform_filter1d(gain, size=2 * ahead + 1, mode="nearest")  # ramps stay under ``need``
    y = x * np.minimum(gain, need)[:, None]
    top = np.abs(y).max()
    return y * (ceiling / top) if top > ceiling else y


def lufs(x: np.ndarray, sr: int) -> float:
    """Integrated loudness (LUFS) with pyloudnorm; audio shorter than one 400 ms block is repeated."""
    import pyloudnorm

    block = int(np.ceil(0.4 * sr)) + 1
    if len(x) < block:
        x = np.resize(x, (block, x.shape[1]))
    # A tone at Nyquist 300 dB down keeps the K-weighting filters' state out of subnormal numbers, which
    # silence (a quiet clip's pauses, a ring-out) otherwise decays into and which run about 10x slower; it
    # adds nothing measurable (-300 LUFS, far under the -70 LUFS gate).
    x = np.array(x, dtype=np.float64)
    x[0::2] += 1e-15
    x[1::2] -= 1e-15
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(pyloudnorm.Meter(sr).integrated_loudness(x))


def as_frames(audio: np.ndarray, *, what: str = "audio") -> np.ndarray:
    """``audio`` as a finite float64 (N, C) array; InputError for NaN/inf or a bad shape."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] > 8 or (x.size and not np.all(np.isfinite(x))):
        raise InputError(f"{what} must be a finite (N,) or (N, channels) array, got shape {np.shape(audio)}")
    return x


def normalize_loudness(
    audio: np.ndarray, sr: int, *, target_lufs: float = -16.0, ceiling_db: float = -1.0
) -> np.ndarray:
    """Scale ``audio`` to ``target_lufs`` (EBU R128 integrated) with its true peak kept under ``ceiling_db``.

    Returns float32 of the input's shape. Silence (and anything under the -70 LUFS gate) is returned as it is.
    Where the limiter works hard, up to three passes make up the lost loudness (to within 0.1 LU); for very
    loud targets the ceiling wins (piano and drums asked for -9 LUFS measured -9.7).
    """
    if not -70.0 <= target_lufs <= 0.0:
        raise InvalidOptionError(f"target loudness must be between -70 and 0 LUFS, got {target_lufs!r}")
    x = as_frames(audio)
    shape = np.shape(audio)
    loud = lufs(x, sr) if len(x) else -np.inf
    if not np.isfinite(loud):
        return x.reshape(shape).astype(np.float32)
    y = limit_peaks(x * 10 ** ((target_lufs - loud) / 20), sr, ceiling_db=ceiling_db)
    for _ in range(3):
        err = target_lufs - lufs(y, sr)
        if abs(err) < 0.1:
            break
        y = limit_peaks(y * 10 ** (err / 20), sr, ceiling_db=ceiling_db)
    return y.reshape(shape).astype(np.float32)


def loudness_gain(audio: np.ndarray, sr: int, *, target_lufs: float = -16.0, ceiling_db: float = -1.0) -> float:
    """The one gain that brings ``audio`` to ``target_lufs``, or less where its true peak would pass
    ``ceiling_db`` (no limiter: what it scales stays a sum of what it scaled). 1.0 for silence."""
    x = as_frames(audio)
    loud = lufs(x, sr) if len(x) else -np.inf
    if not np.isfinite(loud):
        return 1.0
    gain = 10 ** ((target_lufs - loud) / 20)
    peak = float(_true_peak(x).max()) if len(x) else 0.0
    ceiling = 10 ** (ceiling_db / 20) * 0.9999
    return min(gain, ceiling / peak) if peak > 0 else gain


def write_wav(path: str | os.PathLike[str], audio: np.ndarray, sr: int, *, subtype: str = "PCM_16") -> Path:
    """Write ``audio`` ((N,) or (N, C), float in [-1, 1]) as a WAV file, atomically; ``subtype`` PCM_16 or FLOAT."""
    import soundfile as sf

    if subtype not in ("PCM_16", "PCM_24", "FLOAT"):
        raise InvalidOptionError(f"WAV subtype must be PCM_16, PCM_24 or FLOAT, got {subtype!r}")
    data = np.asarray(audio, dtype=np.float32)
    if data.ndim not in (1, 2) or not np.all(np.isfinite(data)):
        raise InputError("audio to write must be a finite (N,) or (N, channels) array")
    out = Path(path)
    with atomic_output(out, errors=(OSError, RuntimeError, ValueError)) as tmp:
        sf.write(tmp, np.clip(data, -1.0, 1.0) if subtype != "FLOAT" else data, int(sr), subtype=subtype, format="WAV")
    return out
