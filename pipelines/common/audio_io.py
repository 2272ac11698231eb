"""Reading and writing clips with clear errors for bad input.

Every stage that opens audio goes through ``load_audio``: it returns float32 mono samples at the
expected rate or raises ``AudioError`` naming the file, what is wrong and how to fix it, so a
stage can log a per-file skip reason and carry on. ``write_audio`` writes 16-bit FLAC atomically
(a crash leaves no half-written file that a rerun would mistake for a finished one).
``match_level`` scales a resynthesized clip to its bona fide source's RMS level (the corpus'
and the kNN support clips' level matching).

    from pipelines.common.audio_io import AudioError, load_audio
    try:
        wave = load_audio("data/corpus/audio/s01/s01_001.flac")
    except AudioError as err:
        skipped.append({"path": err.path, "reason": err.reason})
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf

from pipelines.common.io import atomic_path
from sastnet.audio import SAMPLE_RATE_HZ

__all__ = ["AudioError", "audio_duration_s", "audio_problem", "load_audio", "write_audio"]


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


def load_audio(source: str | Path | bytes, *, sample_rate_hz: int = SAMPLE_RATE_HZ,
               channels: Literal["mono", "downmix"] = "mono", name: str | None = None) -> np.ndarray:
    """Read one clip (a file, or the encoded bytes of a shard member) as float32 mono samples.

    The one audio policy of the project:

    * rate: exactly ``sample_rate_hz``; another rate is an error, never resampled silently (a
      wrong rate usually means the wrong file list);
    * channels: ``"mono"`` (default) rejects multi-channel audio, because a stereo file in a
      16 kHz mono corpus is a sign of a wrong source; ``"downmix"`` averages the channels
      (training the codec zoo, where any speech will do);
    * samples: at least one, all finite (NaN or inf is an error);
    * format: anything libsndfile reads (FLAC, WAV, OGG, ...).

    Args:
        source: a path, or encoded audio bytes.
        name: how errors name ``source`` (default: the path; ``"<bytes>"`` for bytes), e.g.
            ``"shard-000003.tar:key"``.

    Raises:
        AudioError: missing, unreadable, empty, multi-channel (``"mono"``), wrong rate, or
            non-finite samples; it names the file and the fix.
    """
    is_bytes = isinstance(source, (bytes, bytearray))
    where = name if name is not None else "<bytes>" if is_bytes else str(source)
    if not is_bytes:
        path = Path(source)
        if not path.exists():
            raise AudioError(where, "file not found",
                             "check the manifest path and the data folder, or rerun the stage "
                             "that writes it")
        if path.stat().st_size == 0:
            raise AudioError(where, "empty file (0 bytes)", "re-create or remove this clip")
    try:
        wave, sr = sf.read(io.BytesIO(source) if is_bytes else str(source), dtype="float32",
                           always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        detail = str(err).split(": ", 1)[-1] if is_bytes else str(err)  # not the BytesIO repr
        raise AudioError(where, f"unreadable audio ({detail})",
                         f"re-encode it as {sample_rate_hz} Hz mono FLAC/WAV or remove it") from None
    if sr != sample_rate_hz:
        raise AudioError(where, f"sample rate {sr} Hz, expected {sample_rate_hz} Hz",
                         f"resample it, e.g. `sox in.wav -r {sample_rate_hz} out.flac`")
    if wave.shape[1] != 1 and channels == "mono":
        raise AudioError(where, f"{wave.shape[1]} channels, expected mono",
                         "down-mix to one channel, e.g. `sox in.wav -c 1 out.flac`")
    wave = wave.mean(axis=1) if wave.shape[1] != 1 else wave[:, 0]
    if wave.size == 0:
        raise AudioError(where, "no samples", "re-create or remove this clip")
    if not np.isfinite(wave).all():
        raise AudioError(where, "NaN or infinite samples", "re-create this clip from its source")
    return np.ascontiguousarray(wave, dtype=np.float32)


def audio_problem(path: str | Path, **policy) -> AudioError | None:
    """What keeps ``path`` from passing ``load_audio(path, **policy)``; None when it passes.

    For a rerun deciding whether a file a crashed run left behind is finished.
    """
    try:
        load_audio(path, **policy)
    except AudioError as err:
        return err
    return None


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


def match_level(wave: np.ndarray, reference: np.ndarray, max_peak: float = 0.999) -> np.ndarray:
    """``wave`` scaled to the RMS level of ``reference`` (its bona fide source).

    The small codecs change the level of what they resynthesize, so loudness alone told codecs
    apart (stage fingerprint): a shortcut a model could take instead of the codec traces.
    One gain over the whole clip keeps the codec's own dynamics. When that gain would push a
    peak past ``max_peak`` (the FLAC file would clip), the gain is lowered to just fit, and the
    clip ends up quieter than its source. A silent output (RMS 0) is returned unchanged.
    """
    wave = np.asarray(wave, dtype=np.float32)
    rms_out = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64))))
    rms_ref = float(np.sqrt(np.mean(np.square(np.asarray(reference), dtype=np.float64))))
    if rms_out == 0.0 or rms_ref == 0.0:
        return wave
    gain = rms_ref / rms_out
    peak = float(np.max(np.abs(wave)))
    if peak * gain > max_peak:
        gain = max_peak / peak
    return (wave * gain).astype(np.float32)


def audio_duration_s(path: str | Path) -> float:
    """Duration from the file header, without decoding the samples."""
    info = sf.info(str(path))
    return info.frames / info.samplerate
