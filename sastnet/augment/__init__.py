"""Waveform augmentation: RawBoost (``rawboost(wave, algo, rng, sr=16000)``) and its seeded
views (``rawboost_view``) shared by the Whisper features stage and the training loader."""

from sastnet.augment.rawboost import RawBoostParams, rawboost
from sastnet.augment.views import pick_view, rawboost_view

__all__ = ["RawBoostParams", "pick_view", "rawboost", "rawboost_view"]
