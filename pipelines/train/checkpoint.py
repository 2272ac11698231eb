"""What a training checkpoint holds, and the ``best/`` folder the rest of the pipeline reads.

A Ray checkpoint directory (one per epoch, written by rank 0):
    state.pt    model (unwrapped) / optimizer / scheduler state, epoch, per-epoch history
    meta.json   MLflow run id, epoch, this epoch's metrics and dev confusion matrix

``models/<task>/<variant>/best/`` (written by the driver from the best Ray checkpoint):
    model.pt    the model's state dict
    config.json the resolved TrainJob and model config (enough to rebuild the model)
    metrics.json dev metrics of that epoch
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipelines.common.io import atomic_dir

STATE_FILE, META_FILE = "state.pt", "meta.json"
MODEL_FILE, CONFIG_FILE, METRICS_FILE = "model.pt", "config.json", "metrics.json"


def plain(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and numpy arrays as tensors (recursively),
    so ``torch.load(weights_only=True)`` can read it back (sklearn metrics are numpy floats)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    return value


def save_training_state(directory: str | Path, state: dict[str, Any], meta: dict[str, Any]) -> None:
    directory = Path(directory)
    torch.save(plain(state), directory / STATE_FILE)
    (directory / META_FILE).write_text(json.dumps(meta, indent=2, default=str))


def load_training_state(directory: str | Path) -> dict[str, Any]:
    """A checkpoint's state, read with ``weights_only=True``: checkpoints come from shared
    storage, and a pickle from there could run any code on load."""
    return torch.load(Path(directory) / STATE_FILE, map_location="cpu", weights_only=True)


def read_meta(directory: str | Path) -> dict[str, Any]:
    return json.loads((Path(directory) / META_FILE).read_text())


def latest_run_id(run_dir: str | Path) -> str | None:
    """MLflow run id stored in the newest checkpoint under a Ray run folder, if any."""
    metas = sorted(Path(run_dir).glob(f"checkpoint_*/{META_FILE}"),
                   key=lambda p: json.loads(p.read_text()).get("epoch", 0))
    return json.loads(metas[-1].read_text()).get("mlflow_run_id") if metas else None


def write_best(checkpoint_dir: str | Path, out_dir: str | Path, config: dict[str, Any]) -> None:
    """Turn a Ray checkpoint into ``best/`` (model state dict + config + metrics), atomically."""
    state = load_training_state(checkpoint_dir)
    meta = read_meta(checkpoint_dir)
    with atomic_dir(out_dir) as tmp:
        torch.save(state["model"], tmp / MODEL_FILE)
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2, default=str))
        (tmp / METRICS_FILE).write_text(json.dumps(meta, indent=2, default=str))


def load_best(best_dir: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict, config) of a ``best/`` folder, with a clear error when it is missing."""
    best_dir = Path(best_dir)
    if not (best_dir / MODEL_FILE).exists():
        raise FileNotFoundError(f"{best_dir}: no {MODEL_FILE}; train that model first "
                                "(dvc repro train_baseline / train)")
    state = torch.load(best_dir / MODEL_FILE, map_location="cpu", weights_only=True)
    return state, json.loads((best_dir / CONFIG_FILE).read_text())
