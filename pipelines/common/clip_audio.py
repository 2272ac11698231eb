"""Clips as the shards promise them (16 kHz mono, finite), from files or from shard bytes.

Files go through the project's reader (``pipelines.common.audio_io.load_audio``) so a bad file is
reported with the same reason in every stage; the loader decodes a shard member's bytes with the
same function, naming the shard and key.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf

from pipelines.common.audio_io import load_audio


def load_clip(path: str | Path, sample_rate_hz: int) -> tuple[np.ndarray, bytes]:
    """Read a file with ``pipelines.common.audio_io.load_audio``: (float32 mono wave, its FLAC bytes).

    FLAC files keep their original bytes (bit-exact copy into the shard); anything else readable
    is encoded to 16-bit FLAC.

    Raises:
        AudioError: the file breaks the audio policy of ``load_audio``.
    """
    wave = load_audio(path, sample_rate_hz=sample_rate_hz)
    if str(path).lower().endswith(".flac"):
        return wave, Path(path).read_bytes()
    buf = io.BytesIO()
    sf.write(buf, wave, sample_rate_hz, format="FLAC", subtype="PCM_16")
    return wave, buf.getvalue()
