"""Fixed-length inputs as in the official release: short clips repeat-tiled, long ones cut from the start."""

from __future__ import annotations

import numpy as np


def repeat_crop(wave: np.ndarray, num_samples: int) -> np.ndarray:
    """Return exactly ``num_samples`` samples: the first ones of ``wave`` tiled as often as needed.

    The release pads by repetition (never zeros) and always cuts from sample 0, so the same clip
    gives the same input every epoch. An empty wave cannot be tiled and raises ``ValueError``.
    """
    wave = np.asarray(wave)
    if num_samples <= 0:
        raise ValueError(f"num_samples must be > 0, got {num_samples}")
    if wave.ndim != 1 or len(wave) == 0:
        raise ValueError(f"repeat_crop needs a non-empty 1-D wave, got shape {wave.shape}")
    if len(wave) >= num_samples:
        return wave[:num_samples]
    reps = -(-num_samples // len(wave))
    return np.tile(wave, reps)[:num_samples]
