"""Waveform augmentation: RawBoost (``rawboost(wave, algo, rng, sr=16000)``)."""

from sastnet.augment.rawboost import RawBoostParams, rawboost

__all__ = ["RawBoostParams", "rawboost"]
