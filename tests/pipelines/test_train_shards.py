"""The real models on the real loader: baseline, then SASTNet initialised from it (slow).

Tiny WebDataset shards (the shard stage's own writer) plus mirrored Whisper feature shards;
local Ray with two workers; checks the paper's order (w2v2 copied from the baseline), the
``best/`` folder, the registered versions and ``pipelines.evaluate.predict``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import ray
import torch
import webdataset as wds
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the shard tests' dummies
from shard_dummies import fake_vad, make_manifest

from pipelines.dataset.loader import shard_paths_for
from pipelines.params.shard import ShardParams
from pipelines.evaluate.predict import predict
from pipelines.dataset.shards import build_shards
from pipelines.train import ClusterSettings, TrainJob, run_training
from pipelines.train.checkpoint import load_best
from pipelines.train.job import read_shard_index

pytestmark = pytest.mark.slow
WHISPER_DIM = 384  # tiny.en d_model = the tiny models' fusion.whisper_dim


def _write_features(shards_dir: Path, feature_dir: Path, split: str) -> None:
    rng = np.random.default_rng(0)
    for path in shard_paths_for(shards_dir, split):
        keys = [s["__key__"] for s in wds.WebDataset(path, shardshuffle=False)]
        out = feature_dir / split / Path(path).name
        out.parent.mkdir(parents=True, exist_ok=True)
        with wds.TarWriter(str(out)) as sink:
            for key in keys:
                buf = io.BytesIO()
                np.save(buf, rng.standard_normal((128, WHISPER_DIM)).astype(np.float16))
                sink.write({"__key__": key, "npy": buf.getvalue()})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_shards")
    manifest = make_manifest(root / "clips", train_utts=6, dev_utts=2)
    build_shards(manifest, fake_vad(manifest), root / "shards",
                 ShardParams(samples_per_shard=4, tasks=("aux",)), seed=1)
    for split in ("train-aux", "dev"):
        _write_features(root / "shards", root / "features", split)
    return root


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_baseline_then_sastnet_from_its_w2v2(data, local_ray, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    train, num_train = read_shard_index(data / "shards", "train-aux")
    dev, _ = read_shard_index(data / "shards", "dev")
    settings = ClusterSettings(num_workers=2, storage_path=str(tmp_path / "ray"),
                               models_dir=str(tmp_path / "models"), max_failures=0)
    base = TrainJob(task="aux", variant="w2v2_aasist", epochs=1, batch_size=4, lr=1e-3,
                    num_samples=12800, max_steps_per_epoch=2, rawboost_algo=5,
                    train_shards=tuple(train), dev_shards=tuple(dev), num_train_clips=num_train,
                    feature_dir=str(data / "features"))
    first = run_training(base, settings)
    assert first["version"] == "1" and len(first["workers"]) == 2

    sast = dataclasses.replace(base, variant="sastnet",
                               init_from=str(tmp_path / "models/aux/w2v2_aasist/seed1234/best"))
    second = run_training(sast, settings)
    assert second["version"] == "2"
    baseline_state, _ = load_best(tmp_path / "models/aux/w2v2_aasist/seed1234/best")
    run = json.loads((tmp_path / "models/aux/sastnet/seed1234/run.json").read_text())
    assert run["dev"]["dev_macro_f1"] >= 0
    tags = MlflowClient().get_run(run["mlflow_run_id"]).data.tags
    assert int(tags["init_keys"]) > 0, "SASTNet's wav2vec 2.0 was not initialised from the baseline"

    df = predict(tmp_path / "models/aux/sastnet/seed1234/best", dev, str(data / "features"), rm_sil=False)
    assert len(df) == sum(1 for _ in wds.WebDataset(dev, shardshuffle=False))
    assert {"key", "label_aux", "prob_0", "prob_3", "pred"} <= set(df.columns)
    np.testing.assert_allclose(df[[f"prob_{c}" for c in range(4)]].sum(axis=1), 1, atol=1e-5)
    assert any(k.startswith("frontend.") for k in baseline_state)
    assert torch.is_tensor(next(iter(baseline_state.values())))
