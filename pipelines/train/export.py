"""The registered model's serving form: one float tensor in, class probabilities out.

MLflow's PyTorch flavour feeds a single tensor to the model and expects a single tensor
back, so ``ScoringModule`` takes the waveform (B, T), followed, for models that use Whisper,
by the flattened Whisper features (B, 128 * d): input width ``T`` or ``T + 128 * d``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize


def fold_parametrizations(model: nn.Module) -> nn.Module:
    """Fold parametrizations (wav2vec 2.0's weight norm) into plain weights, in place: same
    outputs, and picklable (torch refuses to pickle parametrized modules)."""
    for module in model.modules():
        if parametrize.is_parametrized(module):
            for name in list(module.parametrizations.keys()):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
            # weight_norm also leaves a load_state_dict compatibility hook (a local function,
            # unpicklable) that only matters for loading old checkpoints: drop it.
            for key, hook in list(module._load_state_dict_pre_hooks.items()):
                if "weight_norm" in getattr(getattr(hook, "hook", hook), "__qualname__", ""):
                    del module._load_state_dict_pre_hooks[key]
    return model


class ScoringModule(nn.Module):
    """Serving wrapper; takes ownership of ``model`` (folds its parametrizations in place)."""

    def __init__(self, model: nn.Module, num_samples: int, whisper_dim: int | None) -> None:
        super().__init__()
        self.model = fold_parametrizations(model).eval()
        self.num_samples = num_samples
        self.whisper_dim = whisper_dim if model.needs_whisper else None

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        wave = packed[:, : self.num_samples]
        whisper = None
        if self.whisper_dim:
            whisper = packed[:, self.num_samples:].reshape(packed.shape[0], 128, self.whisper_dim)
        return torch.softmax(self.model(wave, whisper).logits.float(), dim=-1)

    def input_example(self, batch: int = 2) -> np.ndarray:
        width = self.num_samples + (128 * self.whisper_dim if self.whisper_dim else 0)
        return np.zeros((batch, width), dtype=np.float32)


def pack_inputs(wave: np.ndarray, whisper: np.ndarray | None) -> np.ndarray:
    """(B, T) waves [+ (B, 128, d) Whisper features] -> the (B, width) input of ScoringModule."""
    if whisper is None:
        return wave.astype(np.float32)
    return np.concatenate([wave, whisper.reshape(whisper.shape[0], -1)], axis=1).astype(np.float32)
