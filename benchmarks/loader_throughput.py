"""Loader throughput: streaming WebDataset shards vs reading the same clips one file at a time.

    python benchmarks/loader_throughput.py [--clips 600] [--seconds 3] [--num-samples 48000]

Both sides do the same per-clip work (FLAC decode with soundfile, checks, repeat/crop to
``num_samples``); they differ only in I/O: a few sequential tar reads vs one open + read per
file. Writes ``benchmarks/results/loader_throughput.json``.
"""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import typer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.common.io import write_json
from pipelines.common.audio_io import load_audio
from pipelines.dataset.loader import make_dataset, shard_paths_for
from pipelines.dataset.shards import build_shards
from pipelines.params.shard import ShardParams
from sastnet.audio import SAMPLE_RATE_HZ
from sastnet.crop import repeat_crop

SR = SAMPLE_RATE_HZ


def make_clips(root: Path, clips: int, seconds: float, seed: int = 0) -> pd.DataFrame:
    """Bona fide/spoof-free CoRS *test* clips (so every clip lands in one split, unpaired)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(clips):
        n = int(SR * seconds * rng.uniform(0.5, 1.5))
        t = np.arange(n) / SR
        wave = (0.3 * np.sin(2 * np.pi * rng.uniform(100, 400) * t) + 0.05 * rng.standard_normal(n))
        path = root / "audio" / f"p900_{i + 1:03d}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, wave.astype(np.float32), SR, format="FLAC", subtype="PCM_16")
        rows.append({"key": path.stem, "path": str(path), "speaker": "p900", "utt_id": i % 250 + 1, "text": None,
                         "codec": "bonafide", "subset": "CoRS", "split": "test", "seen": True, "pair_key": path.stem,
                         "codec_seen": True, "label_vq": 0, "label_aux": 0, "label_dec": 0, "label_bin": 0,
                         "duration_s": n / SR})
    return pd.DataFrame(rows)


def read_files(paths: list[str], num_samples: int) -> int:
    count = 0
    for path in paths:
        repeat_crop(load_audio(path, sample_rate_hz=SR), num_samples)
        count += 1
    return count


def read_shards(shards: list[str], num_samples: int) -> int:
    return sum(1 for _ in make_dataset(shards, num_samples=num_samples, split_by_node=False,
                                       split_by_worker=False))


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(clips: int = typer.Option(600, help="synthetic clips"),
         seconds: float = typer.Option(3.0, help="mean clip length"),
         num_samples: int = typer.Option(48000, help="fixed input length"),
         samples_per_shard: int = typer.Option(200, help="clips per shard"),
         repeats: int = typer.Option(3, help="best of this many passes")) -> None:
    """Loader throughput: streaming WebDataset shards vs reading the same clips one file at a time."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        manifest = make_clips(root, clips, seconds)
        vad = pd.DataFrame({"key": manifest["key"], "segments": [[] for _ in range(len(manifest))]})
        start = time.perf_counter()
        build_shards(manifest, vad, root / "shards", ShardParams(samples_per_shard=samples_per_shard,
                                                                 tasks=("bin",)), seed=0)
        write_s = time.perf_counter() - start
        shards = shard_paths_for(root / "shards", "test_seen")
        files = manifest["path"].tolist()
        assert read_shards(shards, num_samples) == read_files(files, num_samples) == clips
        files_s = best_of(lambda: read_files(files, num_samples), repeats)
        shards_s = best_of(lambda: read_shards(shards, num_samples), repeats)
    result = {
        "clips": clips, "mean_clip_s": seconds, "num_samples": num_samples,
        "shards": len(shards), "samples_per_shard": samples_per_shard,
        "one_file_at_a_time_clips_per_s": round(clips / files_s, 1),
        "streaming_shards_clips_per_s": round(clips / shards_s, 1),
        "ratio_shards_over_files": round(files_s / shards_s, 3),
        "shard_write_clips_per_s": round(clips / write_s, 1),
        "repeats_best_of": repeats, "machine": platform.platform(), "note":
        "local disk, page cache warm after the first pass; single process, no DataLoader workers",
    }
    print(f"{'one file at a time':>22}: {result['one_file_at_a_time_clips_per_s']:8.1f} clips/s")
    print(f"{'streaming shards':>22}: {result['streaming_shards_clips_per_s']:8.1f} clips/s")
    print(f"{'ratio':>22}: {result['ratio_shards_over_files']:.2f}x  (shards / files)")
    print(f"{'shard writing':>22}: {result['shard_write_clips_per_s']:8.1f} clips/s")
    out = ROOT / "benchmarks" / "results" / "loader_throughput.json"
    write_json(out, result)


if __name__ == "__main__":
    typer.run(main)
