"""B6 - the kNN attribution path: the embeddings stage with 1 vs 2 Ray actors (as ``dvc repro
embeddings`` runs it, start-up included, and per busy actor), and attribution of query clips
against a support index, one query at a time (a ``sastnet trace`` of one clip) vs one batch.

    python -m benchmarks --only knn_throughput

Clips are espeak-ng sentences cut to the kNN clips' length (``knn.clips.max_seconds``, 2.5 s)
encoded by the converted Whisper tiny.en (the default ``knn.embeddings.model``), all layers
pooled. The attribution index is random unit vectors of the encoder's width with the
default profile's class count, at a support size a full CodecFake+ run reaches.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from benchmarks.fixtures import audio_shards, speech_waves, whisper_dir
from benchmarks.measure import Figure, Side, Timing, interleaved


def embeddings_stage(shards: Path, out: Path, actors: int, model: str, max_seconds: float) -> dict:
    from pipelines.knn.embeddings import run_embeddings
    from pipelines.params.knn import KnnEmbeddingsParams

    shutil.rmtree(out, ignore_errors=True)
    cfg = KnnEmbeddingsParams(model=model, actors=actors, threads_per_actor=1, batch_size=8)
    return run_embeddings(shards, out, cfg, max_seconds, progress=False)


def attribution(support: int, queries: int, dim: int, classes: int, k: int,
                repeats: int) -> Figure:
    from sastnet import knn

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((support, dim)).astype(np.float32)
    labels = rng.integers(0, classes, support)
    query = rng.standard_normal((queries, dim)).astype(np.float32)
    center = knn.support_center(vectors)
    t = interleaved({
        "one": lambda: [knn.knn_predict(vectors, labels, query[i:i + 1], k, center)
                        for i in range(queries)],
        "batch": lambda: knn.knn_predict(vectors, labels, query, k, center)}, repeats, warmup=True)
    return Figure("B6.attribution", f"kNN attribution, {support} support vectors x {dim}, "
                  f"k={k}: one query per call vs one batch", "queries/s", True,
                  Side.of_rate("one by one", t["one"], queries), Side.of_rate("batch", t["batch"], queries))


def run(work: Path, *, clips: int, per_shard: int, repeats: int, max_seconds: float = 2.5,
        support: int, queries: int) -> dict:
    model = str(whisper_dir())
    shards = audio_shards(work, speech_waves(clips, int(max_seconds * 16000)), per_shard,
                          split="class_a")
    runs: dict[int, list[dict]] = {1: [], 2: []}
    for _ in range(repeats):
        for actors in (1, 2):
            runs[actors].append(embeddings_stage(shards, work / f"emb{actors}", actors, model,
                                                 max_seconds))
    stage = {a: Timing(tuple(r["timing"]["stage_wall_s"] for r in rs)) for a, rs in runs.items()}
    busy = {a: Timing(tuple(r["timing"]["busy_s"] / a for r in rs)) for a, rs in runs.items()}
    figures = [
        Figure("B6.embeddings_busy", "kNN embeddings: 2 vs 1 actors, busy actor time",
               "clips/s", True, Side.of_rate("1 actor", busy[1], clips),
               Side.of_rate("2 actors", busy[2], clips)),
        Figure("B6.embeddings_stage", "kNN embeddings stage as dvc runs it, 2 vs 1 actors",
               "clips/s", True, Side.of_rate("1 actor", stage[1], clips),
               Side.of_rate("2 actors", stage[2], clips), note=f"{clips} clips of {max_seconds} s"),
        attribution(support, queries, 384, 12, 56, repeats)]
    return {"figures": [f.to_dict() for f in figures],
            "details": {"clips": clips, "per_shard": per_shard, "max_seconds": max_seconds,
                        "runs": {f"{a}_actor": [r["timing"] for r in rs] for a, rs in runs.items()}}}


QUICK = {"clips": 160, "per_shard": 8, "repeats": 2, "support": 20_000, "queries": 200}
FULL = {"clips": 480, "per_shard": 8, "repeats": 3, "support": 100_000, "queries": 500}
SMOKE = {"clips": 8, "per_shard": 4, "repeats": 1, "support": 500, "queries": 20}
