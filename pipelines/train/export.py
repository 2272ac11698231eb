"""The registered model's serving form: one float tensor in, class probabilities out.

MLflow's PyTorch flavour feeds a single tensor to the model and expects a single tensor
back, so ``ScoringModule`` takes the waveform (B, T), followed, for models that use Whisper,
by the flattened Whisper features (B, 128 * d): input width ``T`` or ``T + 128 * d``.

The flavour stores the module as a pickle (``mlflow.pytorch.load_model`` runs code from the
artifact store), which names this module: it keeps its path so stored models still load. Beside
the pickle, every logged model carries a weights-only copy, ``extra_files/serving_weights.pt``
(the ``ScoringModule`` state dict, plain tensors) and ``extra_files/serving_config.json`` (model
config, input length, Whisper width): ``sastnet trace`` rebuilds the module with
``build_model`` and loads the weights with ``torch.load(weights_only=True)``
(``load_serving_weights``). ``pipelines.tracking.runs.log_model`` writes that copy through
``ScoringModule.save_weights_only``, so tracking needs no import of the training code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from sastnet.models import build_model
from sastnet.models.config import ModelConfig

WEIGHTS_FILE, CONFIG_FILE = "serving_weights.pt", "serving_config.json"


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

    def save_weights_only(self, directory: str | Path) -> list[str]:
        """The weights-only copy, written into ``directory`` (``save_serving_weights``)."""
        return save_serving_weights(self, directory)


def pack_inputs(wave: np.ndarray, whisper: np.ndarray | None) -> np.ndarray:
    """(B, T) waves [+ (B, 128, d) Whisper features] -> the (B, width) input of ScoringModule."""
    if whisper is None:
        return wave.astype(np.float32)
    return np.concatenate([wave, whisper.reshape(whisper.shape[0], -1)], axis=1).astype(np.float32)


def save_serving_weights(scoring: Any, directory: str | Path) -> list[str]:
    """Write the weights-only copy of a ``ScoringModule`` into ``directory``; returns the two
    paths, or ``[]`` for a model without a ``sastnet.models`` config (e.g. the toy model)."""
    cfg = getattr(scoring.model, "cfg", None)
    if not isinstance(cfg, ModelConfig):
        return []
    directory = Path(directory)
    torch.save(scoring.state_dict(), directory / WEIGHTS_FILE)
    (directory / CONFIG_FILE).write_text(json.dumps({
        "format": 1, "model_config": cfg.to_dict(), "num_samples": scoring.num_samples,
        "whisper_dim": scoring.whisper_dim}, indent=2))
    return [str(directory / WEIGHTS_FILE), str(directory / CONFIG_FILE)]


def load_serving_weights(directory: str | Path) -> ScoringModule:
    """Rebuild the ``ScoringModule`` of a weights-only copy (nothing unpickled), in eval mode."""
    directory = Path(directory)
    config = json.loads((directory / CONFIG_FILE).read_text())
    model = build_model(ModelConfig.from_dict(config["model_config"]))
    scoring = ScoringModule(model, int(config["num_samples"]), config["whisper_dim"])
    state = torch.load(directory / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    scoring.load_state_dict(state)
    return scoring.eval()


def has_serving_weights(directory: str | Path) -> bool:
    return (Path(directory) / CONFIG_FILE).is_file() and (Path(directory) / WEIGHTS_FILE).is_file()
