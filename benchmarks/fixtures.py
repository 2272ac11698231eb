"""Inputs the benchmarks build for themselves, in a scratch folder: never the pipeline's data/.

- ``tone_clips``: FLAC files of tones + noise with a manifest (the loader's per-clip work is
  decode + checks + crop, whatever the content);
- ``speech_waves``: espeak-ng sentences in several voices, tiled/cut to a fixed length (what
  Whisper needs to give meaningful features);
- ``audio_shards``: the real shard writer (``pipelines.dataset.shards.build_shards``) or a
  plain ``<split>/shard-N.tar`` layout for the actor stages;
- ``whisper_dir``: a transformers Whisper tiny.en directory: the pipeline's converted one if
  it exists, else converted once from the bundled CTranslate2 package into ``.cache/``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from sastnet.audio import SAMPLE_RATE_HZ
from sastnet.crop import repeat_crop

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "benchmarks"
VOICES = ("en-us", "en", "en-us+f3", "en+m3", "en-us+f1", "en+m7")


def tone_clips(root: Path, clips: int, mean_seconds: float, seed: int = 0) -> pd.DataFrame:
    """``clips`` FLAC files under ``root/audio`` and a shard-stage manifest of them (bona fide
    CoRS *test* clips, so every clip lands in one split, unpaired)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(clips):
        n = int(SAMPLE_RATE_HZ * mean_seconds * rng.uniform(0.5, 1.5))
        t = np.arange(n) / SAMPLE_RATE_HZ
        wave = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 400) * t) + 0.05 * rng.standard_normal(n)
        path = root / "audio" / f"p900_{i + 1:03d}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, wave.astype(np.float32), SAMPLE_RATE_HZ, format="FLAC", subtype="PCM_16")
        rows.append({"key": path.stem, "path": str(path), "speaker": "p900", "utt_id": i % 250 + 1,
                     "text": None, "codec": "bonafide", "subset": "CoRS", "split": "test",
                     "seen": True, "pair_key": path.stem, "codec_seen": True, "label_vq": 0,
                     "label_aux": 0, "label_dec": 0, "label_bin": 0, "duration_s": n / SAMPLE_RATE_HZ})
    return pd.DataFrame(rows)


def real_shards(root: Path, manifest: pd.DataFrame, samples_per_shard: int) -> list[str]:
    """The manifest's clips through the pipeline's shard writer; the test split's shard paths."""
    from pipelines.dataset.loader import shard_paths_for
    from pipelines.dataset.shards import build_shards
    from pipelines.params.shard import ShardParams

    vad = pd.DataFrame({"key": manifest["key"], "segments": [[] for _ in range(len(manifest))]})
    build_shards(manifest, vad, root / "shards",
                 ShardParams(samples_per_shard=samples_per_shard, tasks=("bin",)), seed=0)
    return shard_paths_for(root / "shards", "test_seen")


def speech_waves(count: int, num_samples: int) -> list[np.ndarray]:
    """``count`` espeak-ng sentences (6 sentences x 6 voices), each tiled/cut to ``num_samples``."""
    from pipelines.whisper.check import SENTENCES, synthesize

    cache: dict[tuple[int, int], np.ndarray] = {}
    waves = []
    for i in range(count):
        spec = (i % len(SENTENCES), (i // len(SENTENCES) + i) % len(VOICES))
        if spec not in cache:
            cache[spec] = synthesize(SENTENCES[spec[0]], VOICES[spec[1]])
        waves.append(repeat_crop(cache[spec], num_samples))
    return waves


def audio_shards(root: Path, waves: list[np.ndarray], per_shard: int, split: str = "bench") -> Path:
    """``root/shards/<split>/shard-N.tar`` with ``per_shard`` clips each (FLAC + label json), the
    layout the features and embeddings stages read; returns ``root/shards``."""
    import webdataset as wds

    for s in range(0, len(waves), per_shard):
        path = root / "shards" / split / f"shard-{s // per_shard:06d}.tar"
        path.parent.mkdir(parents=True, exist_ok=True)
        with wds.TarWriter(str(path)) as writer:
            for i, wave in enumerate(waves[s:s + per_shard], start=s):
                buf = io.BytesIO()
                sf.write(buf, wave, SAMPLE_RATE_HZ, format="FLAC", subtype="PCM_16")
                key = f"clip_{i:04d}"
                writer.write({"__key__": key, "flac": buf.getvalue(),
                              "json": json.dumps({"key": key, "label_vq": 0, "label_aux": 0,
                                                  "label_dec": 0, "label_bin": 0, "vad": [],
                                                  "has_speech": True}).encode()})
    return root / "shards"


def whisper_dir() -> Path:
    """A transformers Whisper tiny.en directory (converted weights, no download)."""
    for path in (ROOT / "data" / "whisper" / "tiny.en", CACHE / "tiny.en"):
        if (path / "model.safetensors").is_file():
            return path
    from pipelines.common.io import atomic_dir
    from pipelines.whisper.convert import bundled_model_dir, convert_whisper

    with atomic_dir(CACHE / "tiny.en") as tmp:
        convert_whisper(bundled_model_dir(), tmp)
    return CACHE / "tiny.en"
