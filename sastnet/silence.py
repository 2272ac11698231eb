"""Silence removal: keep only the speech regions of a clip, concatenated (the ``rm_sil`` view).

The official release ran WebRTC VAD (aggressiveness 3, 30 ms frames) and concatenated the
speech frames. This project finds the regions with silero-vad (stage ``vad``); this module only
applies them, so it stays pure numpy and works with any VAD's ``[start, end)`` sample pairs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _as_pairs(segments: Sequence[Sequence[int]] | np.ndarray, num_samples: int) -> np.ndarray:
    pairs = np.asarray(segments, dtype=np.int64).reshape(-1, 2)
    if pairs.size and ((pairs[:, 0] > pairs[:, 1]).any() or (pairs < 0).any()):
        raise ValueError(f"segments must be [start, end) pairs with 0 <= start <= end, got {pairs.tolist()}")
    return np.clip(pairs, 0, num_samples)


def rm_sil(wave: np.ndarray, segments: Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
    """Concatenate the speech regions ``segments`` (``[start, end)`` in samples) of ``wave``.

    Segments are clipped to the clip and taken in order (overlaps are merged). No segments give
    an empty array: callers decide what a clip without speech becomes (the loader keeps the
    original audio and flags it; it never pads).
    """
    wave = np.asarray(wave)
    if wave.ndim != 1:
        raise ValueError(f"rm_sil expects a mono 1-D wave, got shape {wave.shape}")
    pairs = merge_segments(_as_pairs(segments, len(wave)))
    if len(pairs) == 0:
        return wave[:0].copy()
    return np.concatenate([wave[start:end] for start, end in pairs])


def merge_segments(pairs: np.ndarray) -> np.ndarray:
    """Sort ``[start, end)`` pairs and merge the ones that overlap or touch."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    pairs = pairs[pairs[:, 1] > pairs[:, 0]]
    if len(pairs) == 0:
        return pairs
    pairs = pairs[np.argsort(pairs[:, 0], kind="stable")]
    merged = [pairs[0].copy()]
    for start, end in pairs[1:]:
        if start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append(np.array([start, end]))
    return np.stack(merged)


def speech_fraction(segments: Sequence[Sequence[int]] | np.ndarray, num_samples: int) -> float:
    """Fraction of the clip's samples inside speech segments (0 for an empty clip)."""
    if num_samples <= 0:
        return 0.0
    pairs = merge_segments(_as_pairs(segments, num_samples))
    return float((pairs[:, 1] - pairs[:, 0]).sum() / num_samples) if len(pairs) else 0.0
