"""Seeded RawBoost views of a clip, identified by (seed, clip key, view index).

The release runs Whisper online on the RawBoost-augmented batch, so the semantic branch sees
the same augmented waveform as the acoustic branch. Whisper here is computed once, ahead of
training; to keep that, the features stage precomputes K augmented *views* of every training
clip, and the training loader draws one view per clip and epoch and augments the waveform with
exactly that view. Both sides call ``rawboost_view``: its random generator is seeded by the
view's identity only (never by worker order), so they produce the same waveform anywhere.
"""

from __future__ import annotations

import zlib

import numpy as np

from sastnet.augment.rawboost import rawboost


def _key_seed(key: str) -> int:
    return zlib.crc32(key.encode("utf-8"))


def rawboost_view(wave: np.ndarray, algo: int, seed: int, key: str, view: int,
                  sr: int = 16000) -> np.ndarray:
    """RawBoost view ``view`` of clip ``key`` (float32, same length), the same on every call."""
    rng = np.random.default_rng([seed, _key_seed(key), view])
    return rawboost(wave, algo, rng, sr=sr).astype(np.float32)


def pick_view(seed: int, key: str, epoch: int, num_views: int) -> int:
    """Which of ``num_views`` views clip ``key`` uses in ``epoch`` (uniform, seeded by identity)."""
    return int(np.random.default_rng([seed, _key_seed(key), epoch, 1]).integers(num_views))
