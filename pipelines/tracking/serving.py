"""The registered model's weights-only copy: what ``sastnet trace`` loads, without unpickling.

MLflow's PyTorch flavour stores the serving module as a pickle (``mlflow.pytorch.load_model``
runs code from the artifact store). Beside it, every registered version carries
``extra_files/serving_weights.pt`` (the ``ScoringModule`` state dict, plain tensors) and
``extra_files/serving_config.json`` (model config, input length, Whisper width): trace rebuilds
the module with ``build_model`` and loads the weights with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

WEIGHTS_FILE, CONFIG_FILE = "serving_weights.pt", "serving_config.json"


def save_serving_weights(scoring: Any, directory: str | Path) -> list[str]:
    """Write the weights-only copy of a ``ScoringModule`` into ``directory``; returns the two
    paths, or ``[]`` for a model without a ``sastnet.models`` config (e.g. the toy model)."""
    from sastnet.models.config import ModelConfig

    cfg = getattr(scoring.model, "cfg", None)
    if not isinstance(cfg, ModelConfig):
        return []
    directory = Path(directory)
    torch.save(scoring.state_dict(), directory / WEIGHTS_FILE)
    (directory / CONFIG_FILE).write_text(json.dumps({
        "format": 1, "model_config": cfg.to_dict(), "num_samples": scoring.num_samples,
        "whisper_dim": scoring.whisper_dim}, indent=2))
    return [str(directory / WEIGHTS_FILE), str(directory / CONFIG_FILE)]


def load_serving_weights(directory: str | Path):
    """Rebuild the ``ScoringModule`` of a weights-only copy (nothing unpickled), in eval mode."""
    from pipelines.train.export import ScoringModule
    from sastnet.models import build_model
    from sastnet.models.config import ModelConfig

    directory = Path(directory)
    config = json.loads((directory / CONFIG_FILE).read_text())
    model = build_model(ModelConfig.from_dict(config["model_config"]))
    scoring = ScoringModule(model, int(config["num_samples"]), config["whisper_dim"])
    state = torch.load(directory / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    scoring.load_state_dict(state)
    return scoring.eval()


def has_serving_weights(directory: str | Path) -> bool:
    return (Path(directory) / CONFIG_FILE).is_file() and (Path(directory) / WEIGHTS_FILE).is_file()
