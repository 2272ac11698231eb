"""Reading and writing clips with clear errors for bad input.

Every stage that opens audio goes through ``load_audio``: it returns float32 mono samples at the
expected rate or raises ``AudioError`` naming the file, what is wrong and how to fix it, so a
stage can log a per-file skip reason and carry on. ``write_audio`` writes 16-bit FLAC atomically
(a crash leaves no half-written file that a rerun would mistake for a finished one).

    from pipelines.common.audio_io import AudioError, load_audio
    try:
        wave = load_audio("data/corpus/audio/s01/s01_001.flac")
    except AudioError as err:
        skipped.append({"path": err.path, "reason": err.reason})
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from pipelines.common.io import atomic_path
from sastnet.audio import SAMPLE_RATE_HZ

__all__ = ["AudioError", "audio_duration_s", "load_audio", "write_audio"]


class AudioError(ValueError):
    """A clip that cannot be used: ``path``, ``reason`` (short, for reports) and ``fix`` (advice)."""

    def __init__(self, path: str | Path, reason: str, fix: str):
        self.path = str(path)
        self.reason = reason
        self.fix = fix
        super().__init__(f"{self.path}: {reason} ({fix})")

    def as_record(self) -> dict[str, str]:
        """The error as a JSON-able record for a stage report."""
        return {"path": self.path, "reason": self.reason, "fix": self.fix}


def load_audio(path: str | Path, expected_sr: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Read one clip as float32 mono samples in [-1, 1].

    Args:
        path: any format libsndfile reads (FLAC, WAV, OGG, ...).
        expected_sr: the sample rate the caller needs; other rates are an error, not resampled
            silently, because a wrong rate usually means the wrong file list.

    Returns:
        1-D float32 array.

    Raises:
        AudioError: missing, unreadable, empty, multi-channel, wrong rate, or non-finite samples.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(path, "file not found", "check the manifest path and the data folder")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)", "re-create or remove this clip")
    try:
        wave, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise AudioError(path, f"unreadable audio ({err})",
                         "re-encode it as 16 kHz mono FLAC/WAV or remove it") from None
    if wave.shape[1] != 1:
        raise AudioError(path, f"{wave.shape[1]} channels, expected mono",
                         "down-mix to one channel, e.g. `sox in.wav -c 1 out.flac`")
    if sr != expected_sr:
        raise AudioError(path, f"sample rate {sr} Hz, expected {expected_sr} Hz",
                         f"resample it, e.g. `sox in.wav -r {expected_sr} out.flac`")
    wave = wave[:, 0]
    if wave.size == 0:
        raise AudioError(path, "no samples", "re-create or remove this clip")
    if not np.isfinite(wave).all():
        raise AudioError(path, "NaN or infinite samples", "re-create this clip from its source")
    return np.ascontiguousarray(wave)


def write_audio(path: str | Path, wave: np.ndarray, sample_rate_hz: int = SAMPLE_RATE_HZ) -> None:
    """Write mono float samples as 16-bit FLAC (clipped to [-1, 1]), atomically."""
    path = Path(path)
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1 or wave.size == 0:
        raise ValueError(f"{path}: expected a non-empty 1-D wave, got shape {wave.shape}")
    if not np.isfinite(wave).all():
        raise ValueError(f"{path}: refusing to write NaN or infinite samples")
    with atomic_path(path) as tmp:
        sf.write(tmp, np.clip(wave, -1.0, 1.0), sample_rate_hz, format="FLAC", subtype="PCM_16")


def audio_duration_s(path: str | Path) -> float:
    """Duration from the file header, without decoding the samples."""
    info = sf.info(str(path))
    return info.frames / info.samplerate
