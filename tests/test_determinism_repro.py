"""Same code + params + machine -> same DVC output hashes, however the work is spread.

Slow: the ``ci`` profile from nothing up to and including training, three times in copies
of the repository (one Ray Train variant, to keep it short):
- once with 2 pool workers / 2 Ray actors and tasks (corpus threads, codec zoo processes,
  VAD Ray tasks, Whisper feature actors), once with 1 of each: every ``data/`` output hash in
  ``dvc.lock`` and the trained weights (``best/model.pt``) must be identical;
- once more from the 1-worker run with another ``common.seed``: they must change.
The first two run side by side, so each also runs on a machine the other one keeps busy.

What stays fixed on purpose: ``train.num_workers`` (the DDP world size is part of the
training's arithmetic: per-rank batches and BatchNorm statistics) and thread counts
(``resynthesize.threads``, ``features.threads_per_actor``): docs/determinism.md.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from test_pipeline_repro import _copy_repo

# three pipeline runs in the fixture: well past the suite's default 900 s per test
pytestmark = [pytest.mark.slow, pytest.mark.timeout(5400)]
TARGETS = ["train_baseline", "train"]


def _params(repo: Path, workers: int, seed: int | None = None) -> None:
    params = yaml.safe_load((repo / "profiles" / "ci.yaml").read_text())
    params["corpus"]["synthetic"]["workers"] = workers
    params["codecs"]["workers"] = workers
    params["vad"]["num_cpus"] = workers
    params["features"]["actors"] = workers
    params["train"]["variants"] = ["sastnet"]  # Whisper features + init from the baseline
    if seed is not None:
        params["common"]["seed"] = seed
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _run(cmd: list[str], cwd: Path, env: dict) -> None:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=3600,
                         check=False)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout[-4000:]}\n{out.stderr[-6000:]}"


def _env(repo: Path) -> dict:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(repo)}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("RAY_ADDRESS", None)
    return env


def _data_hashes(repo: Path) -> dict[str, str]:
    """``data/...`` output -> md5 from dvc.lock (models/ hold run ids: weights compared below)."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values()
            for out in stage.get("outs", []) if out["path"].startswith("data/")}


def _weights(repo: Path, variant: str) -> str:
    return hashlib.sha256((repo / "models" / "aux" / variant / "best" / "model.pt")
                          .read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    def run(name: str, workers: int) -> Path:
        repo = tmp_path_factory.mktemp(name) / "repo"
        _copy_repo(repo)
        _params(repo, workers)
        _run(["dvc", "repro", *TARGETS], repo, _env(repo))
        return repo

    # side by side: each run loads the machine while the other one works (and it is faster)
    with ThreadPoolExecutor(2) as pool:
        two, one = pool.submit(run, "two", 2), pool.submit(run, "one", 1)
        out = {"two": two.result(), "one": one.result()}
    seeded = tmp_path_factory.mktemp("seed") / "repo"
    shutil.copytree(out["one"], seeded, symlinks=True)
    for folder in ("ray_results", "mlruns"):
        shutil.rmtree(seeded / folder, ignore_errors=True)
    (seeded / "mlflow.db").unlink(missing_ok=True)
    _params(seeded, 1, seed=4321)
    _run(["dvc", "repro", "train_baseline"], seeded, _env(seeded))
    out["seed"] = seeded
    return out


def test_one_and_two_workers_give_identical_outputs(runs):
    one, two = _data_hashes(runs["one"]), _data_hashes(runs["two"])
    assert {"data/corpus", "data/codecs", "data/resynth", "data/shards",
            "data/features"} <= set(one)
    differ = {path: (one[path], two.get(path)) for path in one if one[path] != two.get(path)}
    assert not differ, f"outputs differ between 1 and 2 workers: {differ}"
    for variant in ("w2v2_aasist", "sastnet"):
        assert _weights(runs["one"], variant) == _weights(runs["two"], variant), variant


def test_another_seed_changes_the_outputs(runs):
    one, seeded = _data_hashes(runs["one"]), _data_hashes(runs["seed"])
    assert seeded["data/codecs"] == one["data/codecs"]  # codecs.seed is its own key
    assert seeded["data/resynth"] != one["data/resynth"]  # seeded clip subsets, CoSG draws
    assert seeded["data/shards"] != one["data/shards"]
    assert _weights(runs["seed"], "w2v2_aasist") != _weights(runs["one"], "w2v2_aasist")
