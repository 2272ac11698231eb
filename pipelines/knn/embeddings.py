"""Ray job: pooled hidden states of a frozen speech encoder for every kNN clip, computed once.

    python -m stages.embeddings        # data/knn/shards -> data/embeddings (+ index.json)

The features stage's machinery (``pipelines.whisper.features.run_shard_actors``): a pool of Ray
actors, each holding the encoder once, mirrors every audio shard ``<class>/shard-*.tar`` into an
embedding shard with the same keys in the same order, one ``<key>.npy`` per clip: float16
``(layers, d)``, every swept layer's time-mean hidden state (``pipelines.knn.encoder``). A
finished shard is recorded in ``index.json`` with both files' SHA-256 and kept on a rerun.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from pipelines.knn.encoder import PooledEncoder
from pipelines.params.knn import KnnEmbeddingsParams
from pipelines.whisper.feature_shards import INDEX_NAME, extract_shard, read_feature_shard
from pipelines.whisper.features import model_fingerprint, run_shard_actors

SAMPLE_RATE_HZ = 16000


class EmbeddingWorker:
    """One frozen encoder; turns whole audio shards into embedding shards."""

    def __init__(self, cfg: KnnEmbeddingsParams, num_samples: int) -> None:
        import torch

        torch.set_num_threads(cfg.threads_per_actor)
        self.cfg, self.num_samples = cfg, num_samples
        self.encode = PooledEncoder(cfg.model, num_samples, cfg.layers, cfg.local_files_only)

    def ready(self) -> bool:
        return True

    def extract(self, rel: str, src: str, dst: str, borrowed: dict[str, str]) -> tuple[str, dict]:
        start = time.perf_counter()
        record = extract_shard(self.encode, src, dst, num_samples=self.num_samples,
                               batch_size=self.cfg.batch_size, borrowed=borrowed)
        record["layers"] = list(self.encode.layers)
        record["seconds"] = round(time.perf_counter() - start, 3)
        return rel, record


def num_samples_of(max_seconds: float) -> int:
    """The fixed encoder input: the clip length the clips stage cut to (shorter clips are
    repeat-tiled to it, as the training loader does)."""
    return int(round(max_seconds * SAMPLE_RATE_HZ))


def run_embeddings(shards_dir: str | Path, out_dir: str | Path, cfg: KnnEmbeddingsParams,
                   max_seconds: float, *, progress: bool = True) -> dict:
    """Write an embedding shard for every kNN audio shard not already done; returns the report."""
    num_samples = num_samples_of(max_seconds)
    settings = {"model": cfg.model, "model_sha256": model_fingerprint(cfg.model),
                "layers": list(cfg.layers), "num_samples": num_samples}
    worker_cfg = cfg  # actors may run in another working directory: give them absolute paths
    if Path(cfg.model).is_dir():
        worker_cfg = dataclasses.replace(cfg, model=str(Path(cfg.model).resolve()))
    report = run_shard_actors(shards_dir, out_dir, settings, EmbeddingWorker,
                              (worker_cfg, num_samples), actors=cfg.actors,
                              cpus_per_actor=cfg.threads_per_actor, progress=progress,
                              desc="embeddings")
    return {"model": cfg.model, "num_samples": num_samples, **report}


def load_embeddings(emb_dir: str | Path, keys: list[str]) -> tuple[np.ndarray, list[int]]:
    """float32 ``(N, layers, d)`` for ``keys`` (in that order) and the layer indices.

    Raises a ValueError naming the stage to rerun when a key has no embedding.
    """
    import json

    emb_dir = Path(emb_dir)
    index_path = emb_dir / INDEX_NAME
    if not index_path.is_file():
        raise FileNotFoundError(f"{index_path} not found: run `dvc repro embeddings` first")
    index = json.loads(index_path.read_text())
    if not index.get("complete"):
        raise ValueError(f"{index_path}: the embeddings stage did not finish; rerun it")
    found: dict[str, np.ndarray] = {}
    layers: list[int] | None = None
    for rel, record in index["shards"].items():
        found.update(read_feature_shard(emb_dir / rel))
        layers = layers or record.get("layers")
    missing = [k for k in keys if k not in found]
    if missing:
        raise ValueError(f"{emb_dir}: no embeddings for {len(missing)} clips, e.g. {missing[:3]}; "
                         "rerun `dvc repro embeddings`")
    return np.stack([found[k] for k in keys]).astype(np.float32), list(layers or [])
