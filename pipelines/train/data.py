"""Per-worker batches: this rank's part of the audio shards (+ Whisper feature shards).

Each DDP rank reads a disjoint part of the data: whole shards per rank when there are at
least as many shards as ranks (``make_dataset``'s ``split_by_node`` with this rank and world
size), otherwise every ``world``-th sample. Every rank takes exactly ``steps_per_epoch``
batches per epoch (cycling its part when it runs short), because DDP hangs when ranks take
different numbers of steps. RawBoost is applied on the fly to training clips only.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipelines.train.job import TrainJob
from pipelines.train.toy import synthetic_clips
from sastnet.audio import SAMPLE_RATE_HZ


def _clips(job: TrainJob, split: str, *, rank: int, world: int, epoch: int,
           needs_whisper: bool) -> Iterable[dict]:
    train = split == "train"
    if job.data_source == "synthetic":
        count = job.num_train_clips if train else max(8 * world, job.num_train_clips // 4)
        clips = synthetic_clips(job.task, count=count, num_samples=job.num_samples,
                                seed=job.seed + (epoch if train else 0), split=split)
        return itertools.islice(clips, rank, None, world)
    from pipelines.dataset.loader import make_dataset  # the loader (WebDataset); shards only

    shards = list(job.train_shards if train else job.dev_shards)
    if not shards:
        raise ValueError(f"no {split} shards for task {job.task!r}; run `dvc repro shard`")
    by_node = len(shards) >= world
    feature_dir = job.feature_dir if needs_whisper else None
    if needs_whisper and feature_dir is None:
        raise FileNotFoundError(f"{job.variant} needs Whisper features but no feature dir was "
                                "found; run `dvc repro features` first")
    views = ()
    if train and feature_dir is not None and job.feature_views:
        views = tuple(str(Path(job.views_dir) / f"v{k}") for k in range(job.feature_views))
    dataset = make_dataset(shards, num_samples=job.num_samples, rm_sil=job.rm_sil, view_dirs=views,
                           shuffle_buffer=job.shuffle_buffer if train else 0,
                           seed=job.seed + epoch, feature_dir=feature_dir,
                           split_by_node=by_node, split_by_worker=True,
                           on_error="skip" if train else "raise",
                           rank=rank if by_node else None, world_size=world if by_node else None)
    return dataset if by_node or world == 1 else itertools.islice(dataset, rank, None, world)


def collate(samples: list[dict], task: str) -> dict[str, Any]:
    """Stack a list of loader samples into tensors; ``label`` is the label of ``task``."""
    batch = {
        "key": [s["key"] for s in samples],
        "wave": torch.from_numpy(np.stack([s["wave"] for s in samples])),
        "label": torch.tensor([int(s["labels"][task]) for s in samples], dtype=torch.long),
        "labels": {t: torch.tensor([int(s["labels"][t]) for s in samples])
                   for t in samples[0]["labels"]},
        "whisper": None,
    }
    if "whisper" in samples[0]:
        batch["whisper"] = torch.from_numpy(np.stack([s["whisper"] for s in samples]))
    return batch


def _augment(clips: Iterable[dict], algo: int, rng: np.random.Generator, *, seed: int,
             epoch: int, views_seed: int = 0) -> Iterator[dict]:
    """RawBoost on every clip. A clip with precomputed Whisper views (``whisper_views``) gets
    the view ``pick_view`` draws for it this epoch (with the training ``seed``): the waveform
    augmented by that same view (``views_seed``, the seed the views were made with) and that
    view's features, so Whisper and the acoustic branch see one waveform."""
    from pipelines.dataset.shards import sample_key
    from sastnet.augment import pick_view, rawboost, rawboost_view

    for clip in clips:
        views = clip.get("whisper_views")
        if views:
            key = sample_key(clip["key"])  # the tar key the features stage augmented with
            k = pick_view(seed, key, epoch, len(views))
            out = {k_: v for k_, v in clip.items() if k_ != "whisper_views"}
            yield {**out, "wave": rawboost_view(clip["wave"], algo, views_seed, key, k,
                                                sr=SAMPLE_RATE_HZ),
                   "whisper": views[k], "view": k}
            continue
        wave = rawboost(clip["wave"], algo, rng, sr=SAMPLE_RATE_HZ).astype(np.float32)
        yield {**clip, "wave": wave}


def train_batches(job: TrainJob, *, rank: int, world: int, epoch: int,
                  needs_whisper: bool) -> Iterator[dict[str, Any]]:
    """Exactly ``job.steps_per_epoch`` batches of ``batch_size // world`` clips for this rank."""
    per_rank = max(1, job.batch_size // world)

    def endless() -> Iterator[dict]:
        for repeat in itertools.count():
            empty = True
            for clip in _clips(job, "train", rank=rank, world=world, epoch=epoch * 1000 + repeat,
                               needs_whisper=needs_whisper):
                empty = False
                yield clip
            if empty:
                raise RuntimeError(
                    f"rank {rank}: no training clips in its part of the shards "
                    f"({', '.join(job.train_shards[:3])}...): the loader skipped every sample "
                    "(see the worker log for each skip reason: missing or unreadable files?)")

    clips: Iterable[dict] = endless()
    if job.rawboost_algo:
        clips = _augment(clips, job.rawboost_algo, np.random.default_rng([job.seed, epoch, rank]),
                         seed=job.seed, epoch=epoch, views_seed=job.views_seed)
    clips = iter(clips)
    for _ in range(job.steps_per_epoch):
        yield collate([next(clips) for _ in range(per_rank)], job.task)


def dev_batches(job: TrainJob, *, rank: int, world: int, needs_whisper: bool,
                batch_size: int = 16) -> Iterator[dict[str, Any]]:
    """This rank's part of the dev split, in order, no augmentation."""
    clips = iter(_clips(job, "dev", rank=rank, world=world, epoch=0, needs_whisper=needs_whisper))
    while chunk := list(itertools.islice(clips, batch_size)):
        yield collate(chunk, job.task)
