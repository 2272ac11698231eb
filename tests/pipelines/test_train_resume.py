"""A training killed after an epoch and resumed ends with the weights of one that ran through.

Slow: two trainings of the toy model (with dropout, so every step draws from torch's RNG) on
synthetic clips, 2 Ray Train workers on a local Ray started by the driver. In the first, rank 1
SIGKILLs itself after epoch 1's checkpoint; Ray restarts the worker group, which resumes at
epoch 2. Every epoch re-seeds from (seed, epoch, rank) and the checkpoint carries the RNG
states, so epochs 2-3 replay exactly: the same losses and bit-identical weights.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]  # two trainings, each its own Ray


def _train(out: Path, *extra: str) -> None:
    out.mkdir()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{out}/mlflow.db",
           "RAY_AUTH_MODE": "disabled", "SASTNET_GIT_COMMIT": "test", "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    cmd = [sys.executable, "-m", "pipelines.train", "--task", "aux", "--variant", "toy",
           "--synthetic", "--synthetic-clips", "64", "--workers", "2", "--epochs", "3",
           "--storage-path", str(out / "ray"), "--models-dir", str(out / "models"), *extra]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _losses(out: Path) -> list[float]:
    client = MlflowClient(tracking_uri=f"sqlite:///{out}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("sastnet").experiment_id])
    assert len(runs) == 1
    history = client.get_metric_history(runs[0].info.run_id, "train_loss")
    return [m.value for m in sorted(history, key=lambda m: m.step)]


def test_killed_and_resumed_training_ends_with_the_uninterrupted_weights(tmp_path):
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    marker = tmp_path / "killed.pid"
    fault = {"kill_rank": 1, "after_epoch": 1, "marker": str(marker), "delay_s": 3}
    _train(killed, "--fault-injection", json.dumps(fault))
    assert marker.exists(), "the fault was not injected"
    _train(straight)
    assert len(_losses(straight)) == 3
    assert _losses(killed) == _losses(straight)
    a, b = (torch.load(o / "models/aux/toy/seed0/best/model.pt", weights_only=True) for o in (killed, straight))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from uninterrupted"
