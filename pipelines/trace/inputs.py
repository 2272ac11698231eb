"""What ``sastnet trace`` reads: path arguments -> audio files -> fixed-length 16 kHz windows.

Paths may be files, folders (searched recursively for audio), glob patterns, or manifest files
(``.txt``/``.lst``: one path per line; ``.csv``/``.parquet``: a ``path`` column), whose relative
paths are taken from the manifest's folder.

Audio of any sample rate and channel count is down-mixed to mono and resampled to 16 kHz with
``scipy.signal.resample_poly``, one window at a time: a long file is never held in memory
whole (``iter_windows`` reads each window's frames with ``soundfile`` seeks).
"""

from __future__ import annotations

import glob
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

MODEL_RATE_HZ = 16000
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".au", ".opus"})
MANIFEST_SUFFIXES = frozenset({".txt", ".lst", ".csv", ".parquet"})
SILENT_PEAK = 1e-4  # below this peak amplitude a window is digital silence


class TraceInputError(ValueError):
    """A file that cannot be traced: ``reason`` says why, in words for an error row."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def expand_paths(args: list[str | Path]) -> list[str]:
    """Audio files named by ``args``, in argument order, each once.

    A path that does not exist (and is no glob) is kept: it becomes an error row, not an abort.
    Inside a folder, every entry named like audio is kept whatever it is (a file, a broken
    symlink, a folder called ``x.wav``), so each one gets a row saying what it is.
    """
    out: list[str] = []
    for arg in map(str, args):
        path = Path(arg)
        if path.is_dir():
            if path.suffix.lower() in AUDIO_SUFFIXES:
                out.append(arg)  # a folder named like audio: its row says so
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
            out.extend(map(str, found))
        elif path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
            out.extend(read_manifest(path))
        elif not path.exists() and glob.has_magic(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            out.extend(expand_paths(matches) if matches else [arg])
        else:
            out.append(arg)
    return list(dict.fromkeys(out))


def read_manifest(path: Path) -> list[str]:
    """Audio paths listed in a manifest; relative ones are relative to the manifest's folder."""
    if path.suffix.lower() in (".csv", ".parquet"):
        import pandas as pd

        frame = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
        if "path" not in frame.columns:
            raise ValueError(f"{path}: a manifest table needs a 'path' column; it has "
                             f"{', '.join(map(str, frame.columns))}")
        entries = [str(p) for p in frame["path"]]
    else:
        entries = [line.strip() for line in path.read_text().splitlines()]
        entries = [e for e in entries if e and not e.startswith("#")]
    return [e if Path(e).is_absolute() else str(path.parent / e) for e in entries]


@dataclass
class AudioInfo:
    """What the file was, so the output can say what was done to it."""

    sample_rate_hz: int
    channels: int
    frames: int
    notes: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate_hz

    @property
    def model_samples(self) -> int:
        """Length after resampling to 16 kHz."""
        return int(round(self.frames * MODEL_RATE_HZ / self.sample_rate_hz))

    def to_dict(self) -> dict:
        return {"sample_rate_hz": self.sample_rate_hz, "channels": self.channels,
                "duration_s": round(self.duration_s, 4),
                "resampled": self.sample_rate_hz != MODEL_RATE_HZ,
                "downmixed": self.channels > 1}


def open_audio(source: str | Path | bytes) -> sf.SoundFile:
    """A ``soundfile`` handle on a path or on the bytes of a file; ``TraceInputError`` if bad."""
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise TraceInputError("empty file (0 bytes)")
        handle = io.BytesIO(source)
    else:
        path = Path(source)
        if path.is_symlink() and not path.exists():
            raise TraceInputError(f"broken symlink (points to {path.readlink()}, which does not "
                                  "exist)")
        if not path.exists():
            raise TraceInputError("file not found")
        if path.is_dir():
            raise TraceInputError("is a folder, not an audio file (its audio files, if any, "
                                  "have their own rows)")
        if path.stat().st_size == 0:
            raise TraceInputError("empty file (0 bytes)")
        handle = str(path)
    try:
        return sf.SoundFile(handle)
    except sf.LibsndfileError as err:
        # libsndfile's own words only: str(err) names the handle, which for bytes is
        # "<_io.BytesIO object at 0x...>" (the row already names the file)
        reason = (err.error_string or str(err)).strip().rstrip(".")
        raise TraceInputError(f"unreadable audio ({reason}); re-encode it as WAV or FLAC") from None
    except (RuntimeError, TypeError, ValueError) as err:
        raise TraceInputError(f"unreadable audio ({err}); re-encode it as WAV or FLAC") from None


def probe(handle: sf.SoundFile) -> AudioInfo:
    info = AudioInfo(sample_rate_hz=int(handle.samplerate), channels=int(handle.channels),
                     frames=int(handle.frames))
    if info.frames == 0:
        raise TraceInputError("no audio samples (header only)")
    if info.channels > 1:
        info.notes.append(f"down-mixed {info.channels} channels to mono")
    if info.sample_rate_hz != MODEL_RATE_HZ:
        info.notes.append(f"resampled {info.sample_rate_hz} Hz -> {MODEL_RATE_HZ} Hz")
    return info


@dataclass(frozen=True)
class WindowPlan:
    """Where the model's fixed-length windows fall in a file (16 kHz sample units).

    Whole windows back to back; a last partial window is scored (tiled) when at least half a
    window long, or when it is the whole file.
    """

    starts: tuple[int, ...]
    lengths: tuple[int, ...]

    @classmethod
    def for_length(cls, total: int, window: int) -> WindowPlan:
        full, tail = divmod(total, window)
        starts = [i * window for i in range(full)]
        lengths = [window] * full
        if tail and (tail * 2 >= window or full == 0):
            starts.append(full * window)
            lengths.append(tail)
        return cls(tuple(starts), tuple(lengths))


def _to_model_rate(block: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    mono = block.mean(axis=1) if block.ndim == 2 else block
    if sample_rate_hz == MODEL_RATE_HZ:
        return mono.astype(np.float32, copy=False)
    g = gcd(MODEL_RATE_HZ, sample_rate_hz)
    return resample_poly(mono, MODEL_RATE_HZ // g, sample_rate_hz // g).astype(np.float32)


def iter_windows(handle: sf.SoundFile, info: AudioInfo, plan: WindowPlan
                 ) -> Iterator[tuple[int, np.ndarray]]:
    """``(start sample at 16 kHz, mono 16 kHz window)`` per planned window, read lazily.

    Raises ``TraceInputError`` when decoding fails at any point (a file truncated mid-stream
    reads its header, then fails here) and on non-finite samples, described for the whole file.
    """
    ratio = info.sample_rate_hz / MODEL_RATE_HZ
    for start, length in zip(plan.starts, plan.lengths):
        native_start = int(round(start * ratio))
        native_len = max(1, int(round(length * ratio)))
        try:
            handle.seek(native_start)
            block = handle.read(native_len, dtype="float32", always_2d=True)
        except (sf.SoundFileError, RuntimeError, ValueError) as err:
            span = f"{start / MODEL_RATE_HZ:.2f}-{(start + length) / MODEL_RATE_HZ:.2f} s"
            raise TraceInputError(
                f"decoding failed in {span} of {info.duration_s:.2f} s ({err}): the file is "
                "truncated or corrupt; re-encode it as WAV or FLAC") from None
        if not np.isfinite(block).all():
            raise TraceInputError(describe_nonfinite(handle, info))
        wave = _to_model_rate(block, info.sample_rate_hz)
        # resample_poly's length can differ from the plan by a sample: make it exact.
        wave = wave[:length] if len(wave) >= length else np.pad(wave, (0, length - len(wave)),
                                                                  mode="edge")
        yield start, wave


def describe_nonfinite(handle: sf.SoundFile, info: AudioInfo, block_frames: int = 1 << 16) -> str:
    """How much of the whole file is NaN or infinite, and where (read block by block)."""
    bad, first, last, at = 0, -1, 0, 0
    handle.seek(0)
    try:
        for block in handle.blocks(blocksize=block_frames, dtype="float32", always_2d=True):
            rows = np.flatnonzero(~np.isfinite(block).all(axis=1))
            if len(rows):
                bad += len(rows)
                first = at + int(rows[0]) if first < 0 else first
                last = at + int(rows[-1])
            at += len(block)
    except (sf.SoundFileError, RuntimeError, ValueError):
        pass  # a decode error after the bad samples: describe what was read
    rate = info.sample_rate_hz
    share = bad / max(info.frames, 1)
    where = ("every sample" if bad >= info.frames else
             f"{bad} of {info.frames} samples ({100 * share:.2g} %) between "
             f"{first / rate:.2f} and {(last + 1) / rate:.2f} s")
    return (f"NaN or infinite samples: {where} of the {info.duration_s:.2f} s file; "
            "re-create the file")
