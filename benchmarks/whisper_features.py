"""Whisper features: 1 vs 2 Ray actors, fast vs faithful, online per step vs precomputed shards.

    python benchmarks/whisper_features.py [--model data/whisper/tiny.en] [--clips 16]

Clips are espeak-ng sentences (several voices) tiled/cut to ``--num-samples`` like the loader.
Three comparisons, each printed side by side with its ratio:

1. feature-stage throughput (``pipelines.whisper.features.run_features``) with 1 and 2 actors
   (1 torch thread each) on the same audio shards;
2. one clip's features, fast (5.12 s encoder) vs faithful (30 s), time per clip, and how
   far apart the features are (relative L2, mean cosine over the 128 x d frames);
3. one training epoch's Whisper work: online in every step as the official code does
   (feature extractor + faithful encoder per batch) vs reading the precomputed feature
   shards through the real loader (``pipelines.dataset.loader.make_dataset(feature_dir=...)``).

Writes ``benchmarks/results/whisper_features.json``. Needs ``data/whisper/tiny.en``
(``python -m stages.whisper_convert``) and espeak-ng.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from pipelines.common.io import write_json
from pipelines.dataset.loader import make_dataset
from pipelines.params.features import FeaturesParams
from pipelines.whisper.check import SENTENCES, synthesize
from pipelines.whisper.features import run_features
from sastnet.audio import SAMPLE_RATE_HZ
from sastnet.crop import repeat_crop
from sastnet.whisper import load_whisper_encoder, whisper_features

VOICES = ("en-us", "en", "en-us+f3", "en+m3", "en-us+f1", "en+m7")


def make_shards(root: Path, waves: list[np.ndarray], per_shard: int) -> Path:
    import io

    import soundfile as sf
    import webdataset as wds

    for s in range(0, len(waves), per_shard):
        path = root / "shards" / "bench" / f"shard-{s // per_shard:06d}.tar"
        path.parent.mkdir(parents=True, exist_ok=True)
        with wds.TarWriter(str(path)) as writer:
            for i, wave in enumerate(waves[s:s + per_shard], start=s):
                buf = io.BytesIO()
                sf.write(buf, wave, SAMPLE_RATE_HZ, format="FLAC", subtype="PCM_16")
                key = f"clip_{i:04d}"
                writer.write({"__key__": key, "flac": buf.getvalue(),
                              "json": {"key": key, "label_vq": 0, "label_aux": 0, "label_dec": 0,
                                       "label_bin": 0, "vad": [], "has_speech": True}})
    return root / "shards"


def time_per_clip(encoder, fe, waves, faithful: bool) -> tuple[float, np.ndarray]:
    whisper_features(encoder, fe, waves[:1], faithful=faithful)  # warm-up
    start = time.perf_counter()
    feats = np.concatenate([whisper_features(encoder, fe, [w], faithful=faithful) for w in waves])
    return (time.perf_counter() - start) / len(waves), feats


def steady_clips_per_s(shards: Path, out: Path, cfg: FeaturesParams) -> float:
    """Clips/s of an actor pool once every actor has loaded its encoder (start-up excluded)."""
    import ray
    from ray.util import ActorPool

    from pipelines.whisper.features import FeatureWorker

    ray.init(num_cpus=cfg.actors * cfg.threads_per_actor, include_dashboard=False)
    try:
        actors = [ray.remote(num_cpus=cfg.threads_per_actor)(FeatureWorker).remote(cfg)
                  for _ in range(cfg.actors)]
        ray.get([a.ready.remote() for a in actors])
        jobs = [(p.name, str(p), str(out / p.name)) for p in sorted(shards.glob("*/shard-*.tar"))]
        start = time.perf_counter()
        records = list(ActorPool(actors).map_unordered(lambda a, j: a.extract.remote(*j, {}), jobs))
        return sum(r["clips"] for _, r in records) / (time.perf_counter() - start)
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="data/whisper/tiny.en")
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--num-samples", type=int, default=82200)  # official input length
    parser.add_argument("--variant", default="fast", choices=["fast", "faithful"],
                        help="variant for the 1-vs-2-actor comparison")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/whisper_features.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sentences = [SENTENCES[i % len(SENTENCES)] for i in range(args.clips)]
    waves = [repeat_crop(synthesize(s, VOICES[i % len(VOICES)]), args.num_samples)
             for i, s in enumerate(sentences)]

    from transformers import WhisperFeatureExtractor

    fe = WhisperFeatureExtractor.from_pretrained(args.model)
    full = load_whisper_encoder(args.model)
    fast = load_whisper_encoder(args.model, max_source_seconds=5.12)
    t_faithful, f_faithful = time_per_clip(full, fe, waves, faithful=True)
    t_fast, f_fast = time_per_clip(fast, fe, waves, faithful=False)
    diff = f_fast - f_faithful
    rel_l2 = float(np.linalg.norm(diff) / np.linalg.norm(f_faithful))
    cos = np.sum(f_fast * f_faithful, -1) / (np.linalg.norm(f_fast, axis=-1)
                                            * np.linalg.norm(f_faithful, axis=-1))
    variants = {"faithful_s_per_clip": round(t_faithful, 4), "fast_s_per_clip": round(t_fast, 4),
                "speedup_fast_over_faithful": round(t_faithful / t_fast, 2),
                "relative_l2": round(rel_l2, 4), "mean_cosine": round(float(cos.mean()), 4),
                "min_cosine": round(float(cos.min()), 4)}

    with tempfile.TemporaryDirectory() as tmp:
        shards = make_shards(Path(tmp), waves, per_shard=3)
        actors_cmp = {"variant": args.variant}
        for actors in (1, 2):
            cfg = FeaturesParams(model=args.model, variant=args.variant, actors=actors,
                                 threads_per_actor=1, batch_size=1, num_samples=args.num_samples)
            steady = steady_clips_per_s(shards, Path(tmp) / f"steady{actors}", cfg)
            run = run_features(shards, Path(tmp) / f"features{actors}", cfg, progress=False)
            actors_cmp[f"{actors}_actor_clips_per_s"] = round(steady, 3)
            # the stage end to end: Ray start, actor start-up and model loading included
            actors_cmp[f"{actors}_actor_stage_clips_per_s"] = run["clips_per_s"]
        actors_cmp["speedup_2_over_1"] = round(actors_cmp["2_actor_clips_per_s"]
                                               / actors_cmp["1_actor_clips_per_s"], 2)
        actors_cmp["stage_speedup_2_over_1"] = round(actors_cmp["2_actor_stage_clips_per_s"]
                                                     / actors_cmp["1_actor_stage_clips_per_s"], 2)

        start = time.perf_counter()  # one epoch of precomputed features through the loader
        ds = make_dataset(sorted(str(p) for p in shards.glob("*/shard-*.tar")),
                          num_samples=args.num_samples, feature_dir=str(Path(tmp) / "features1"),
                          split_by_node=False, split_by_worker=False)
        n = sum(1 for _ in ds)
        t_read = time.perf_counter() - start
        ds = make_dataset(sorted(str(p) for p in shards.glob("*/shard-*.tar")),
                          num_samples=args.num_samples, split_by_node=False, split_by_worker=False)
        start = time.perf_counter()  # same epoch, Whisper online per step (official, batch 12)
        batch = []
        for sample in ds:
            batch.append(sample["wave"])
            if len(batch) == 12:
                whisper_features(full, fe, batch, faithful=True)
                batch = []
        if batch:
            whisper_features(full, fe, batch, faithful=True)
        t_online = time.perf_counter() - start
    epoch = {"clips": n, "online_faithful_s": round(t_online, 3),
             "precomputed_read_s": round(t_read, 3),
             "speedup_precomputed_over_online": round(t_online / t_read, 1)}

    result = {"model": args.model, "clips": args.clips, "num_samples": args.num_samples,
              "torch_threads": 1, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared)",
              "load_average_1m_at_end": round(os.getloadavg()[0], 1),
              "actors": actors_cmp, "fast_vs_faithful": variants, "epoch_whisper_work": epoch}
    write_json(args.out, result)
    print(f"{'':34}{'A':>12}{'B':>12}{'B/A or A/B':>12}")
    print(f"{'actors: clips/s (1 | 2)':34}{actors_cmp['1_actor_clips_per_s']:>12}"
          f"{actors_cmp['2_actor_clips_per_s']:>12}{actors_cmp['speedup_2_over_1']:>12}x")
    print(f"{'  whole stage incl. start-up':34}{actors_cmp['1_actor_stage_clips_per_s']:>12}"
          f"{actors_cmp['2_actor_stage_clips_per_s']:>12}{actors_cmp['stage_speedup_2_over_1']:>12}x")
    print(f"{'s/clip (faithful | fast)':34}{t_faithful:>12.3f}{t_fast:>12.3f}"
          f"{variants['speedup_fast_over_faithful']:>12}x")
    print(f"{'epoch Whisper s (online | stored)':34}{t_online:>12.2f}{t_read:>12.2f}"
          f"{epoch['speedup_precomputed_over_online']:>12}x")
    print(f"fast vs faithful features: relative L2 {rel_l2:.3f}, mean cosine {cos.mean():.3f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
