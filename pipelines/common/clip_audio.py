"""Clips as the shards promise them (16 kHz mono, finite), from files or from shard bytes.

Files go through the project's reader (``pipelines.common.audio_io.load_audio``) so a bad file is
reported with the same reason in every stage; ``decode_clip`` applies the same checks to the
encoded bytes of a shard member (the loader), naming the shard and key.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf

from pipelines.common.audio_io import AudioError, load_audio


class ClipError(ValueError):
    """A clip that cannot go into the dataset; ``reason`` is a short machine-friendly tag."""

    def __init__(self, path: str, reason: str, detail: str):
        super().__init__(f"{path}: {detail}")
        self.path = str(path)
        self.reason = reason
        self.detail = detail


def decode_clip(data: bytes | str | Path, sample_rate_hz: int, name: str | None = None) -> np.ndarray:
    """Decode audio (file path or encoded bytes) to float32 mono at ``sample_rate_hz``.

    Raises:
        ClipError: missing/unreadable file, wrong sample rate, more than one channel, no samples,
            or NaN/inf samples; the message names the file and the fix.
    """
    name = str(name if name is not None else data if not isinstance(data, bytes) else "<bytes>")
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    if not isinstance(data, bytes) and not Path(data).exists():
        raise ClipError(name, "missing", "file not found (rerun the stage that writes it)")
    try:
        wave, rate = sf.read(source, dtype="float32", always_2d=True)
    except Exception as err:  # noqa: BLE001 - soundfile raises several types for broken files
        raise ClipError(name, "unreadable", f"cannot decode audio ({err}); re-encode it as FLAC/WAV") from None
    if rate != sample_rate_hz:
        raise ClipError(name, "wrong_rate",
                        f"sample rate {rate} Hz, expected {sample_rate_hz} Hz; resample it (e.g. sox in.wav -r {sample_rate_hz} out.flac)")
    if wave.shape[1] != 1:
        raise ClipError(name, "not_mono", f"{wave.shape[1]} channels, expected mono; downmix it first")
    if wave.shape[0] == 0:
        raise ClipError(name, "empty", "no samples")
    if not np.isfinite(wave).all():
        raise ClipError(name, "non_finite", "NaN or inf samples")
    return wave[:, 0]


def load_clip(path: str | Path, sample_rate_hz: int) -> tuple[np.ndarray, bytes]:
    """Read a file with ``pipelines.common.audio_io.load_audio``: (float32 mono wave, its FLAC bytes).

    FLAC files keep their original bytes (bit-exact copy into the shard); anything else readable
    is encoded to 16-bit FLAC. ``AudioError`` becomes ``ClipError`` with the same reason and fix.
    """
    try:
        wave = load_audio(path, sample_rate_hz)
    except AudioError as err:
        raise ClipError(err.path, err.reason, f"{err.reason} ({err.fix})") from None
    if str(path).lower().endswith(".flac"):
        return wave, Path(path).read_bytes()
    buf = io.BytesIO()
    sf.write(buf, wave, sample_rate_hz, format="FLAC", subtype="PCM_16")
    return wave, buf.getvalue()
