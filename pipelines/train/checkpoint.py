"""What a training checkpoint holds, and the ``best/`` folder the rest of the pipeline reads.

A Ray checkpoint directory (one per epoch, written by rank 0):
    state.pt    model (unwrapped) / optimizer / scheduler state, epoch, per-epoch history,
                ``rng``: the RNG states and the seeds the next epoch starts from
    meta.json   MLflow run id, epoch, this epoch's metrics and dev confusion matrix

``models/<task>/<variant>/best/`` (written by the driver from the best Ray checkpoint):
    model.pt    the model's state dict
    config.json the resolved TrainJob and model config (enough to rebuild the model)
    metrics.json dev metrics of that epoch (no run id, timings, hosts or pids: the folder is a
                DVC output and must hash the same for the same training)
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipelines.common.determinism import derive_seed
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


def rng_state(*, seed: int, next_epoch: int) -> dict[str, Any]:
    """This process's Python / NumPy / torch RNG states, and the seeds ``next_epoch`` starts
    from (the loop re-seeds every epoch from ``(seed, "train", epoch, rank)``; the data order
    of an epoch is seeded by ``(seed, "train-data", epoch, ...)``, so no stream position needs
    saving between epochs)."""
    return {"python": random.getstate(), "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(), "seed": seed, "next_epoch": next_epoch,
            "next_epoch_seed": derive_seed(seed, "train", next_epoch, 0)}


def restore_rng_state(rng: dict[str, Any] | None, *, seed: int, epoch: int) -> None:
    """Put back the RNG states of a checkpoint; refuse one written for another seed or epoch."""
    if rng is None:  # a checkpoint from before RNG states were saved
        return
    if rng["seed"] != seed or rng["next_epoch"] != epoch:
        raise ValueError(f"checkpoint RNG state is for seed {rng['seed']} epoch {rng['next_epoch']}, "
                         f"the job resumes seed {seed} at epoch {epoch}: delete the Ray run folder "
                         "(train.storage_path) to start this training over")
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    torch.set_rng_state(rng["torch"])


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


# Ray Train's own record of the checkpoints a run keeps, in the run folder (ray.train.v2)
RAY_SNAPSHOT_FILE = "checkpoint_manager_snapshot.json"


def ray_checkpoint_budget(checkpoints_to_keep: int) -> int:
    """``CheckpointConfig(num_to_keep=...)`` that leaves at most ``checkpoints_to_keep`` folders:
    Ray keeps ``num_to_keep`` best by the score *and* the latest (its resume point), so one
    less; the best stays among them (``train.checkpoints_to_keep`` >= 2)."""
    if checkpoints_to_keep < 2:
        raise ValueError(f"checkpoints_to_keep={checkpoints_to_keep}: at least 2 (the best "
                         "checkpoint and the latest, which a resumed training starts from)")
    return checkpoints_to_keep - 1


def prune_unlisted_checkpoints(run_dir: str | Path) -> list[str]:
    """Remove the ``checkpoint_*`` folders of a Ray run folder that Ray Train's snapshot does
    not list, and return their names.

    Ray uploads a checkpoint, then records it in its snapshot, then deletes the ones it
    replaces: a run killed in between leaves a folder that no later run knows of, so a resumed
    training kept one more checkpoint than ``checkpoints_to_keep`` (issue 39). Without a
    snapshot Ray restores nothing (it starts over), so every checkpoint folder is stale.
    Call it before ``TorchTrainer.fit`` resumes the run, never while one runs in it.
    """
    run_dir = Path(run_dir)
    folders = sorted(p for p in run_dir.glob("checkpoint_*") if p.is_dir())
    if not folders:
        return []
    listed: set[str] = set()
    snapshot = run_dir / RAY_SNAPSHOT_FILE
    if snapshot.is_file():
        state = json.loads(snapshot.read_text())
        results = [*state.get("checkpoint_results", []), state.get("latest_checkpoint_result"),
                   *state.get("pending_training_results", [])]
        listed = {r["checkpoint_dir_name"] for r in results if r}
    stale = [p for p in folders if p.name not in listed]
    for path in stale:
        shutil.rmtree(path)
    return [p.name for p in stale]


VOLATILE_META = ("mlflow_run_id", "workers", "numerics")  # differ run to run, same training
VOLATILE_METRICS = ("samples_per_s",)


def tracked_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` without what changes between two runs of the same training (run id, hosts,
    pids, throughput): what ``best/metrics.json`` keeps."""
    out = {k: v for k, v in meta.items() if k not in VOLATILE_META}
    out["metrics"] = {k: v for k, v in meta.get("metrics", {}).items() if k not in VOLATILE_METRICS}
    return out


def write_best(checkpoint_dir: str | Path, out_dir: str | Path, config: dict[str, Any]) -> None:
    """Turn a Ray checkpoint into ``best/`` (model state dict + config + metrics), atomically."""
    state = load_training_state(checkpoint_dir)
    meta = read_meta(checkpoint_dir)
    with atomic_dir(out_dir) as tmp:
        torch.save(state["model"], tmp / MODEL_FILE)
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2, default=str))
        (tmp / METRICS_FILE).write_text(json.dumps(tracked_meta(meta), indent=2, default=str))


def load_best(best_dir: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict, config) of a ``best/`` folder, with a clear error when it is missing."""
    best_dir = Path(best_dir)
    if not (best_dir / MODEL_FILE).exists():
        raise FileNotFoundError(f"{best_dir}: no {MODEL_FILE}; train that model first "
                                "(dvc repro train_baseline / train)")
    state = torch.load(best_dir / MODEL_FILE, map_location="cpu", weights_only=True)
    return state, json.loads((best_dir / CONFIG_FILE).read_text())
