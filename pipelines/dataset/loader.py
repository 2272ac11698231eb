"""Stream the WebDataset shards as training/evaluation samples (DDP- and worker-safe).

    from pipelines.dataset.loader import make_dataset, shard_paths_for, collate
    ds = make_dataset(shard_paths_for("data/shards", "train-aux"), num_samples=82_200,
                      shuffle_buffer=1000, seed=epoch, feature_dir="data/features")
    loader = torch.utils.data.DataLoader(ds, batch_size=12, num_workers=2, collate_fn=collate)

Splitting: the shard list (shuffled with ``seed`` when ``shuffle_buffer`` > 0, identically on
every rank) is dealt round-robin to ranks (``split_by_node``), then to the DataLoader workers of
each rank (``split_by_worker``). Every shard, so every sample, is read by exactly one worker of
one rank per epoch. With a shard count not divisible by ranks x workers some workers get one
shard more: ranks then see unequal sample counts (no sample repeats or drops); a DDP loop must
stop all ranks together (e.g. Ray Train / ``torch.distributed.join`` or a fixed step count).
"""

from __future__ import annotations

import io
import json
import logging
import random
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import webdataset as wds
from webdataset.tariterators import tarfile_samples

from pipelines.common.audio_io import load_audio
from sastnet.audio import SAMPLE_RATE_HZ
from sastnet.crop import repeat_crop
from sastnet.silence import rm_sil as remove_silence
from sastnet.taxonomy import TASKS

log = logging.getLogger(__name__)
FEATURE_ROWS = 128  # docs/contracts.md: 128 x d_model per clip


def _skip_and_log(exn: Exception) -> bool:
    log.warning("skipped: %s", exn)
    return True


def _handler(on_error: str):
    if on_error == "raise":
        return wds.reraise_exception
    if on_error == "skip":
        return _skip_and_log
    raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")


def _split_by_rank(src: Iterable, rank: int, world_size: int) -> Iterator:
    for i, item in enumerate(src):
        if i % world_size == rank:
            yield item


def _feature_path(url: str, feature_dir: str) -> str:
    """Feature shard mirroring an audio shard: same ``<split>/<file>`` under ``feature_dir``."""
    url_path = Path(url)
    return str(Path(feature_dir) / url_path.parent.name / url_path.name)


def _join_features(audio: Iterator[dict], url: str, feature_dir: str, member: str,
                   handler) -> Iterator[dict]:
    """``audio`` samples with the ``npy`` of the feature shard mirroring ``url`` as ``member``."""
    feature_url = _feature_path(url, feature_dir)
    if not Path(feature_url).exists():
        raise FileNotFoundError(f"{feature_url}: feature shard for {url} not found "
                                "(run `dvc repro features`)")
    features = tarfile_samples([{"url": feature_url}], handler=handler)
    for sample, feats in _zip_strict(audio, features, url, feature_url):
        yield {**sample, member: feats["npy"]}


def _read_shards(src: Iterable[dict], feature_dir: str | None, handler,
                 view_dirs: tuple[str, ...] = ()) -> Iterator[dict]:
    """Samples of each shard; with ``feature_dir``, joined with its feature shard key by key;
    with ``view_dirs``, also with the feature shard of each augmented view (``npy_v<k>``)."""
    for shard in src:
        url = shard["url"]
        audio = tarfile_samples([{"url": url}], handler=handler)
        if feature_dir is None:
            yield from audio
            continue
        try:
            joined = _join_features(audio, url, feature_dir, "npy", handler)
            for k, view_dir in enumerate(view_dirs):
                joined = _join_features(joined, url, view_dir, f"npy_v{k}", handler)
            yield from joined
        except Exception as exn:  # noqa: BLE001 - the handler decides: raise or log and skip
            if not handler(exn):
                break


def _zip_strict(audio: Iterator[dict], features: Iterator[dict], url: str, feature_url: str):
    for sample in audio:
        feats = next(features, None)
        if feats is None or feats["__key__"] != sample["__key__"]:
            got = None if feats is None else feats["__key__"]
            raise ValueError(f"{feature_url} is out of step with {url}: audio key {sample['__key__']!r}, "
                             f"feature key {got!r} (rebuild the features for this split)")
        if "npy" not in feats:
            raise ValueError(f"{feature_url}: sample {feats['__key__']!r} has no .npy member")
        yield sample, feats
    extra = next(features, None)
    if extra is not None:
        raise ValueError(f"{feature_url} has more samples than {url} (first extra {extra['__key__']!r})")


def decode_sample(sample: dict, *, num_samples: int, rm_sil: bool, sample_rate_hz: int = SAMPLE_RATE_HZ) -> dict:
    """Raw tar members -> ``{"key", "wave", "labels", "meta"[, "whisper"]}``."""
    where = f"{sample.get('__url__', '?')}:{sample['__key__']}"
    if "flac" not in sample or "json" not in sample:
        raise ValueError(f"{where}: sample lacks a .flac or .json member (has {sorted(sample)})")
    meta = json.loads(sample["json"])
    wave = load_audio(sample["flac"], sample_rate_hz=sample_rate_hz, name=where)
    meta["rm_sil_fallback"] = False
    if rm_sil:
        speech = remove_silence(wave, meta.get("vad", []))
        if len(speech):
            wave = speech
        else:  # no speech detected: keep the clip as it is (flagged), never pad with zeros
            meta["rm_sil_fallback"] = True
    out = {"key": meta["key"], "wave": repeat_crop(wave, num_samples).astype(np.float32, copy=False),
           "labels": {t: int(meta[f"label_{t}"]) for t in TASKS}, "meta": meta}
    if "npy" in sample:
        out["whisper"] = _load_features(sample["npy"], where)
    views = sorted((m for m in sample if m.startswith("npy_v")), key=lambda m: int(m[5:]))
    if views:  # Whisper features of the seeded RawBoost views (sastnet.augment.rawboost_view)
        out["whisper_views"] = [_load_features(sample[m], f"{where} ({m})") for m in views]
    return out


def _load_features(blob: bytes, where: str) -> np.ndarray:
    feats = np.load(io.BytesIO(blob), allow_pickle=False)
    if feats.ndim != 2 or feats.shape[0] != FEATURE_ROWS:
        raise ValueError(f"{where}: Whisper features of shape {feats.shape}, expected ({FEATURE_ROWS}, d)")
    return feats.astype(np.float32)


def make_dataset(shard_paths: list[str], *, num_samples: int, rm_sil: bool = False,
                 shuffle_buffer: int = 0, seed: int = 0, feature_dir: str | None = None,
                 split_by_node: bool = True, split_by_worker: bool = True,
                 on_error: Literal["raise", "skip"] = "raise",
                 rank: int | None = None, world_size: int | None = None,
                 view_dirs: tuple[str, ...] = ()) -> wds.DataPipeline:
    """A WebDataset pipeline (an ``IterableDataset``) over ``shard_paths``.

    Args:
        shard_paths: audio shards (``shard_paths_for``).
        num_samples: every wave is repeat-tiled or cut from the start to this length.
        rm_sil: use the speech-only view (VAD segments of the ``.json``).
        shuffle_buffer: 0 keeps shard and sample order; > 0 shuffles the shard list with ``seed``
            (same on every rank) and samples in a buffer of this size. Pass ``seed + epoch``.
        feature_dir: root of feature shards mirroring the audio shards; adds ``whisper``.
        view_dirs: roots of the feature shards of K augmented views (``features.augmented_views``,
            ``pipelines.whisper.views``); adds ``whisper_views`` (K arrays). Needs ``feature_dir``.
        split_by_node: deal shards to ranks (``RANK``/``WORLD_SIZE`` env, torch.distributed, or
            the explicit ``rank``/``world_size``).
        split_by_worker: deal each rank's shards to its DataLoader workers.
        on_error: ``raise`` stops at a corrupt member, truncated tar, wrong-rate clip or key
            mismatch with a message naming the shard and key; ``skip`` logs the reason and goes on
            (a truncated tar keeps the samples before the damage).
    """
    if num_samples <= 0:
        raise ValueError(f"num_samples must be > 0, got {num_samples}")
    if not shard_paths:
        raise ValueError("no shard paths given (check the split name and that `dvc repro shard` ran)")
    handler = _handler(on_error)
    urls = [str(p) for p in shard_paths]
    if shuffle_buffer > 0:
        random.Random(seed).shuffle(urls)
    stages: list = [wds.SimpleShardList(urls)]
    if split_by_node:
        if rank is not None or world_size is not None:
            if rank is None or world_size is None or not 0 <= rank < world_size:
                raise ValueError(f"give both rank and world_size with 0 <= rank < world_size, got {rank}, {world_size}")
            stages.append(partial(_split_by_rank, rank=rank, world_size=world_size))
        else:
            stages.append(wds.split_by_node)
    if split_by_worker:
        stages.append(wds.split_by_worker)
    if view_dirs and feature_dir is None:
        raise ValueError("view_dirs need feature_dir (the clean features)")
    stages.append(partial(_read_shards, feature_dir=feature_dir, handler=handler,
                          view_dirs=tuple(view_dirs)))
    if shuffle_buffer > 0:
        stages.append(wds.shuffle(shuffle_buffer, initial=min(shuffle_buffer, 100), seed=seed))
    stages.append(wds.map(partial(decode_sample, num_samples=num_samples, rm_sil=rm_sil), handler=handler))
    return wds.DataPipeline(*stages)


def shard_paths_for(shards_dir: str | Path, split: str) -> list[str]:
    """Paths of a split's shards, in order, from ``index.json`` (or the folder if there is none)."""
    shards_dir = Path(shards_dir)
    index_path = shards_dir / "index.json"
    if index_path.exists():
        index = json.loads(index_path.read_text())
        splits = index.get("splits", {})
        if split not in splits:
            raise KeyError(f"split {split!r} not in {index_path}; splits: {', '.join(splits)}")
        if not index.get("complete", False):
            log.warning("%s is incomplete (the shard stage did not finish)", index_path)
        return [str(shards_dir / s["path"]) for s in splits[split]["shards"] if s["samples"] > 0]
    paths = sorted((shards_dir / split).glob("shard-*.tar"))
    if not paths:
        raise FileNotFoundError(f"no shards for split {split!r} under {shards_dir} (run `dvc repro shard`)")
    return [str(p) for p in paths]


def collate(batch: list[dict]) -> dict:
    """Stack samples: ``wave`` (B, T) float32, ``labels`` {task: (B,) int64}, ``whisper``
    (B, 128, d) float32 when present, ``key`` list of str, ``meta`` list of dict."""
    out = {"key": [b["key"] for b in batch],
           "wave": torch.from_numpy(np.stack([b["wave"] for b in batch])),
           "labels": {t: torch.tensor([b["labels"][t] for b in batch], dtype=torch.long) for t in TASKS},
           "meta": [b["meta"] for b in batch]}
    if all("whisper" in b for b in batch):
        out["whisper"] = torch.from_numpy(np.stack([b["whisper"] for b in batch]))
    return out


def ray_dataset(shard_paths: list[str], *, num_samples: int, rm_sil: bool = False):
    """The same shards through Ray Data's WebDataset reader, decoded like ``make_dataset``.

    Returns a ``ray.data.Dataset`` of rows ``{"key", "wave", "label_<task>"}`` (Ray Data wants flat
    columns). Raw members are kept as bytes (``decoder=None``) and decoded here.
    """
    import ray.data

    def decode_row(row: dict) -> dict:
        sample = {"__key__": row["__key__"], "flac": row["flac"], "json": row["json"],
                  "__url__": "ray"}
        decoded = decode_sample(sample, num_samples=num_samples, rm_sil=rm_sil)
        return {"key": decoded["key"], "wave": decoded["wave"],
                **{f"label_{t}": v for t, v in decoded["labels"].items()}}

    raw = ray.data.read_webdataset(list(map(str, shard_paths)), decoder=None)
    return raw.map(decode_row)
