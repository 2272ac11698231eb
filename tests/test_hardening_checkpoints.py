"""A killed and resumed training keeps at most ``train.checkpoints_to_keep`` checkpoint folders
(issue 39: three with ``checkpoints_to_keep: 2``).

Two causes: Ray keeps ``num_to_keep`` best checkpoints *and* the latest (so up to one more than
asked), and a run killed between a checkpoint's upload and Ray recording it (or between the
record and the deletion of the one it replaces) leaves a folder no later run knows of.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from pipelines.params import ParamsError, parse_params
from pipelines.train.checkpoint import (
    RAY_SNAPSHOT_FILE,
    prune_unlisted_checkpoints,
    ray_checkpoint_budget,
)

ROOT = Path(__file__).resolve().parents[1]


def _snapshot(run_dir: Path, kept: list[str], latest: str | None) -> None:
    def result(name: str) -> dict:
        return {"checkpoint_dir_name": name, "metrics": {}}

    (run_dir / RAY_SNAPSHOT_FILE).write_text(json.dumps({
        "checkpoint_results": [result(n) for n in kept],
        "latest_checkpoint_result": result(latest) if latest else None,
        "pending_training_results": []}))


def _folders(run_dir: Path) -> list[str]:
    return sorted(p.name for p in run_dir.glob("checkpoint_*") if p.is_dir())


def test_folders_ray_does_not_list_are_removed(tmp_path):
    for name in ("checkpoint_1", "checkpoint_2", "checkpoint_3", "checkpoint_4"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "state.pt").write_bytes(b"x")
    _snapshot(tmp_path, ["checkpoint_1", "checkpoint_3"], "checkpoint_3")
    assert prune_unlisted_checkpoints(tmp_path) == ["checkpoint_2", "checkpoint_4"]
    assert _folders(tmp_path) == ["checkpoint_1", "checkpoint_3"]
    assert prune_unlisted_checkpoints(tmp_path) == []


def test_without_a_snapshot_ray_starts_over_so_every_folder_is_stale(tmp_path):
    (tmp_path / "checkpoint_1").mkdir()
    assert prune_unlisted_checkpoints(tmp_path) == ["checkpoint_1"]
    assert prune_unlisted_checkpoints(tmp_path / "no_run_yet") == []


def test_ray_is_asked_for_one_less_than_the_folders_kept():
    assert ray_checkpoint_budget(2) == 1 and ray_checkpoint_budget(5) == 4
    with pytest.raises(ValueError, match="at least 2"):
        ray_checkpoint_budget(1)
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data["train"]["checkpoints_to_keep"] = 1
    with pytest.raises(ParamsError, match="train.checkpoints_to_keep: must be >= 2"):
        parse_params(data)


def _train(tmp_path: Path, epochs: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled",
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db", "SASTNET_GIT_COMMIT": "test"}
    for key in ("RAY_ADDRESS", "SASTNET_SHARED_RAY"):
        env.pop(key, None)
    cmd = [sys.executable, "-m", "pipelines.train", "--task", "aux", "--variant", "toy",
           "--synthetic", "--synthetic-clips", "64", "--workers", "1", "--epochs", str(epochs),
           "--storage-path", str(tmp_path / "ray"), "--models-dir", str(tmp_path / "models")]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _listed(run_dir: Path) -> set[str]:
    state = json.loads((run_dir / RAY_SNAPSHOT_FILE).read_text())
    results = [*state["checkpoint_results"], state["latest_checkpoint_result"]]
    return {r["checkpoint_dir_name"] for r in results if r}


@pytest.mark.slow
def test_a_killed_and_resumed_training_keeps_at_most_checkpoints_to_keep(tmp_path):
    keep = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]["checkpoints_to_keep"]
    epochs = 6
    first = _train(tmp_path, epochs)
    tree: dict[int, psutil.Process] = {}
    try:  # kill the whole training (driver, its Ray, the workers) once two epochs are recorded
        deadline = time.time() + 300
        snapshots: list[Path] = []
        while first.poll() is None and time.time() < deadline:
            try:
                tree.update((p.pid, p) for p in psutil.Process(first.pid).children(recursive=True))
            except psutil.NoSuchProcess:
                break
            snapshots = list((tmp_path / "ray").glob(f"*/{RAY_SNAPSHOT_FILE}"))
            try:  # Ray rewrites its snapshot in place: a read can catch it empty or half written
                recorded = snapshots and len(
                    json.loads(snapshots[0].read_text())["checkpoint_results"])
            except (OSError, ValueError, KeyError):
                recorded = 0
            if recorded and recorded >= 2:
                break
            time.sleep(0.2)
        assert snapshots, first.communicate(timeout=60)[0][-3000:]
        killed = first.poll() is None
        os.killpg(first.pid, signal.SIGKILL)
        for proc in tree.values():
            try:
                proc.kill()
            except psutil.Error:
                pass
        first.wait(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    assert killed, "the training ended before it could be killed: give it more epochs"
    run_dir = snapshots[0].parent
    # what a kill between a checkpoint's upload and Ray recording it leaves behind
    newest = max(_listed(run_dir))
    shutil.copytree(run_dir / newest, run_dir / "checkpoint_9999-12-31_23-59-59.999999")

    second = _train(tmp_path, epochs)
    out = second.communicate(timeout=600)[0]
    assert second.returncode == 0, out[-4000:]
    folders = _folders(run_dir)
    assert len(folders) <= keep, folders
    assert set(folders) == _listed(run_dir), (folders, _listed(run_dir))
    run = json.loads((tmp_path / "models/aux/toy/seed0/run.json").read_text())
    assert run["epochs"] == epochs  # resumed to the end
    assert (tmp_path / "models/aux/toy/seed0/best/model.pt").is_file()
