"""Self-supervised AudioMAE pretraining of the tiny MAE on the corpus' training audio.

    python -m stages.pretrain_mae     # -> data/pretrain_mae/mae.pt, reports/pretrain_mae.json/.png

The paper's MAE starts from AudioMAE weights pretrained on AudioSet; the embedded default has
no such weights for its tiny MAE, so this stage makes their analogue: the encoder and one
decoder learn to reconstruct masked patches of log-mel images (AudioMAE's input and objective)
of every training clip of the ``train-<task>`` shard lists, bona fide and resynthesized alike.
Labels are never read. The result is saved in the official AudioMAE key layout, so the training
stages load it through ``sastnet.models.audiomae`` exactly as they would load the real
checkpoint, which copies the one decoder into each class decoder.

Why log-mel and not the W2V2 projections SASTNet's MAE sees: AudioMAE itself is pretrained on
log-mel, which the paper then transfers to the W2V2 image; the W2V2 image does not exist before
the baseline is trained and keeps changing while SASTNet fine-tunes; and log-mel is exactly the
image of the M-MAE / S-MAE ablations. (The tiny sizes make both images 64 bins wide at a 20 ms
frame rate, so the weights fit either.)

Dev clips (never used for training) give a held-out loss with fixed masks after every epoch:
the curve says whether the MAE learns something that transfers beyond the clips it saw.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sastnet.models.acoustic import LogMelFrontend
from sastnet.models.audiomae import audiomae_state_dict
from sastnet.models.config import MAEConfig, MelConfig
from sastnet.models.mae import MultiDecoderMAE, pretrain_loss


@dataclass(frozen=True)
class PretrainSettings:
    """How to pretrain (see ``pipelines.params.pretrain_mae`` for the defaults' reasons)."""

    epochs: int
    batch_size: int
    lr: float
    warmup_epochs: int
    weight_decay: float
    mask_ratio: float
    seed: int
    threads: int = 2


def load_clips(shard_paths: Iterable[str], num_samples: int, max_clips: int | None = None
               ) -> tuple[list[str], np.ndarray]:
    """Every distinct clip of ``shard_paths`` (first occurrence wins), cut/tiled to ``num_samples``.

    The ``train-<task>`` lists share their bona fide clips, so a clip can appear in several.
    Returns (keys, waves (N, num_samples) float32), in shard order; ``max_clips`` keeps the first.
    """
    from pipelines.dataset.loader import make_dataset

    keys, waves, seen = [], [], set()
    paths = list(shard_paths)
    if not paths:
        raise ValueError("no shards to pretrain on; run `dvc repro shard` (shard.tasks lists them)")
    for sample in make_dataset(paths, num_samples=num_samples, split_by_node=False,
                               split_by_worker=False):
        if sample["key"] in seen:
            continue
        seen.add(sample["key"])
        keys.append(sample["key"])
        waves.append(sample["wave"])
        if max_clips is not None and len(keys) >= max_clips:
            break
    return keys, np.stack(waves).astype(np.float32)


@torch.no_grad()
def logmel_images(waves: np.ndarray, mel: MelConfig, patch: int, sample_rate_hz: int = 16000,
                  batch: int = 64) -> Tensor:
    """(N, num_samples) waves -> (N, T, n_mels) log-mel images, T cut to whole patches.

    The same front end (``LogMelFrontend``, per-clip standardisation) the MAE variants use.
    """
    frontend = LogMelFrontend(mel, sample_rate_hz)
    frames = frontend.frames_for(waves.shape[1]) // patch * patch
    if frames < patch:
        raise ValueError(f"{waves.shape[1]} samples give fewer than one {patch}-frame patch")
    frontend.num_frames = frames
    parts = [frontend(torch.from_numpy(waves[i:i + batch])) for i in range(0, len(waves), batch)]
    return torch.cat(parts)


def _lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up then half-cosine to 0 (AudioMAE's schedule), per optimizer step."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


@torch.no_grad()
def heldout_loss(mae: MultiDecoderMAE, images: Tensor, seed: int, batch: int = 64) -> float:
    """Masked reconstruction loss on ``images`` with masks drawn from ``seed`` (same every call)."""
    was_training = mae.training
    mae.train()  # masking on; the MAE has no dropout or batch norm, so nothing else changes
    gen = torch.Generator().manual_seed(seed)
    total, count = 0.0, 0
    for i in range(0, len(images), batch):
        chunk = images[i:i + batch]
        total += float(pretrain_loss(mae, chunk, gen)) * len(chunk)
        count += len(chunk)
    mae.train(was_training)
    return total / max(1, count)


def pretrain_mae(train_images: Tensor, dev_images: Tensor | None, mae_cfg: MAEConfig,
                 settings: PretrainSettings,
                 on_epoch: Callable[[int, dict[str, float]], None] | None = None
                 ) -> tuple[MultiDecoderMAE, list[dict[str, float]]]:
    """Pretrain a one-decoder MAE of ``mae_cfg`` sizes on ``train_images`` (N, T, F).

    Masks, batch order and initialisation come from ``settings.seed`` only, so the same inputs
    give the same weights. Returns the model and one history row per epoch (``epoch``,
    ``train_loss``: mean over the epoch's batches, ``dev_loss``: fixed-mask held-out loss,
    ``lr``); epoch 0 is the untrained model.
    """
    torch.set_num_threads(settings.threads)
    cfg = MAEConfig(**{**asdict(mae_cfg), "mask_ratio": settings.mask_ratio,
                       "single_decoder": True})
    torch.manual_seed(settings.seed)
    n, frames, bins = train_images.shape
    mae = MultiDecoderMAE(cfg, frames, bins, num_decoders=1)
    opt = torch.optim.AdamW(mae.parameters(), lr=settings.lr, weight_decay=settings.weight_decay,
                            betas=(0.9, 0.95))  # AudioMAE / MAE pretraining betas
    steps_per_epoch = n // settings.batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"{n} training clips are fewer than one batch of {settings.batch_size}")
    total = steps_per_epoch * settings.epochs
    warmup = steps_per_epoch * settings.warmup_epochs
    mask_gen = torch.Generator().manual_seed(settings.seed)
    order_rng = np.random.default_rng(settings.seed)
    dev_seed = settings.seed + 1

    def row(epoch: int, train_loss: float) -> dict[str, float]:
        out = {"epoch": epoch, "train_loss": train_loss, "lr": opt.param_groups[0]["lr"]}
        if dev_images is not None and len(dev_images):
            out["dev_loss"] = heldout_loss(mae, dev_images, dev_seed)
        return out

    history = [row(0, heldout_loss(mae, train_images[:256], dev_seed))]
    if on_epoch:
        on_epoch(0, history[-1])
    step = 0
    for epoch in range(1, settings.epochs + 1):
        mae.train()
        order = torch.from_numpy(order_rng.permutation(n))
        losses = []
        start = time.perf_counter()
        for i in range(steps_per_epoch):
            for group in opt.param_groups:
                group["lr"] = settings.lr * _lr_factor(step, total, warmup)
            batch = train_images[order[i * settings.batch_size:(i + 1) * settings.batch_size]]
            loss = pretrain_loss(mae, batch, mask_gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            step += 1
        history.append(row(epoch, float(np.mean(losses))))
        if on_epoch:  # wall time goes to the callback (MLflow), not into the history (a DVC output)
            on_epoch(epoch, {**history[-1], "epoch_s": time.perf_counter() - start})
    return mae, history


def checkpoint(mae: MultiDecoderMAE, meta: dict[str, Any]) -> dict[str, Any]:
    """What ``mae.pt`` holds: ``{"model": official-layout state dict, "meta": ...}``."""
    return {"model": audiomae_state_dict(mae), "meta": meta}
