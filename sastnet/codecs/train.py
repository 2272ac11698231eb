"""Training loop of one zoo codec: random crops, reconstruction + VQ (+ semantic) losses.

Losses (EnCodec / DAC recipe without the GAN): multi-scale log-mel L1 + multi-resolution STFT
loss + waveform L1 + commitment losses, plus ``1 - cos`` between the first quantizer's
projected output and the frozen teacher's features for semantic codecs. Checkpoints are handed
to a callback at the early / mid / late points of training (paper 002 keeps early, mid and
late checkpoints of each architecture).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from sastnet.codecs.codec import NeuralCodec
from sastnet.codecs.losses import mel_loss, multi_resolution_stft_loss
from sastnet.codecs.semantic import SemanticTeacher

CHECKPOINT_NAMES = ("early", "mid", "late")


@dataclass(frozen=True)
class CodecTrainConfig:
    steps: int = 300  # fixed budget per codec (the whole zoo must train in minutes on 2 cores)
    batch_size: int = 8
    crop_s: float = 1.0  # random crops of this length
    lr: float = 3e-3  # Adam; small models on a short budget tolerate a high rate
    seed: int = 0
    wave_weight: float = 1.0  # waveform L1
    stft_weight: float = 1.0
    mel_weight: float = 1.0
    semantic_weight: float = 1.0  # SpeechTokenizer weighs its distillation term ~1
    checkpoint_fractions: tuple[float, float, float] = (0.1, 0.5, 1.0)  # early, mid, late

    def __post_init__(self) -> None:
        if self.steps < 3:
            raise ValueError(f"steps must be >= 3 (early/mid/late checkpoints), got {self.steps}")
        if not 0 < self.checkpoint_fractions[0] < self.checkpoint_fractions[1] <= \
                self.checkpoint_fractions[2] == 1.0:
            raise ValueError("checkpoint_fractions must rise and end at 1.0")

    def checkpoint_steps(self) -> dict[int, str]:
        steps = [max(1, round(f * self.steps)) for f in self.checkpoint_fractions]
        for i in (1, 2):  # keep them distinct even on tiny budgets
            steps[i] = max(steps[i], steps[i - 1] + 1)
        return dict(zip(steps, CHECKPOINT_NAMES))


def random_crops(waves: list[np.ndarray], batch_size: int, crop: int,
                 rng: np.random.Generator) -> Tensor:
    """A (batch_size, crop) batch of random crops; shorter clips are zero-padded."""
    out = np.zeros((batch_size, crop), dtype=np.float32)
    for row, i in enumerate(rng.integers(len(waves), size=batch_size)):
        w = waves[i]
        start = int(rng.integers(max(1, len(w) - crop + 1)))
        piece = w[start:start + crop]
        out[row, : len(piece)] = piece
    return torch.from_numpy(out)


def codec_loss(codec: NeuralCodec, wave: Tensor, cfg: CodecTrainConfig,
               teacher: SemanticTeacher | None = None) -> tuple[Tensor, dict[str, float]]:
    """Total loss of one batch and its terms (floats, for logging)."""
    if codec.semantic_head is not None and teacher is None:
        raise ValueError("a semantic codec needs a teacher (see sastnet.codecs.semantic)")
    out = codec(wave)
    terms = {"wave": F.l1_loss(out.wave, wave) * cfg.wave_weight,
             "stft": multi_resolution_stft_loss(out.wave, wave) * cfg.stft_weight,
             "mel": mel_loss(out.wave, wave) * cfg.mel_weight,
             "vq": out.vq_loss}
    if codec.semantic_head is not None:
        target = teacher(wave, frames=out.first.shape[-1])
        pred = codec.semantic_head(out.first)
        terms["semantic"] = (1 - F.cosine_similarity(pred, target, dim=1).mean()) \
            * cfg.semantic_weight
    total = sum(terms.values())
    return total, {k: float(v.detach()) for k, v in terms.items()}


def train_codec(codec: NeuralCodec, waves: list[np.ndarray], cfg: CodecTrainConfig, *,
                teacher: SemanticTeacher | None = None,
                on_checkpoint: Callable[[str, int, NeuralCodec], None] | None = None,
                desc: str = "codec", progress: bool = True) -> dict:
    """Train ``codec`` in place on random crops of ``waves`` (16 kHz float32 arrays).

    Returns:
        ``{"train_seconds", "steps", "final_terms"}``; ``on_checkpoint(name, step, codec)`` is
        called at the early / mid / late steps.
    """
    if not waves:
        raise ValueError("train_codec got no training audio")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    crop = int(round(cfg.crop_s * codec.sample_rate_hz))
    opt = torch.optim.Adam(codec.parameters(), lr=cfg.lr, betas=(0.8, 0.99))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps,
                                                pct_start=max(0.05, 2.5 / cfg.steps))
    ckpts = cfg.checkpoint_steps()
    codec.train()
    start, terms = time.perf_counter(), {}
    bar = tqdm(range(1, cfg.steps + 1), desc=desc, disable=not progress, mininterval=2.0)
    for step in bar:
        batch = random_crops(waves, cfg.batch_size, crop, rng)
        loss, terms = codec_loss(codec, batch, cfg, teacher)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{desc}: loss is {float(loss)} at step {step} ({terms})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(codec.parameters(), 10.0)
        opt.step()
        sched.step()
        if step % 10 == 0:
            bar.set_postfix(mel=f"{terms['mel']:.3f}", loss=f"{float(loss.detach()):.3f}")
        if step in ckpts and on_checkpoint is not None:
            codec.eval()
            on_checkpoint(ckpts[step], step, codec)
            codec.train()
    codec.eval()
    return {"train_seconds": time.perf_counter() - start, "steps": cfg.steps,
            "final_terms": terms}
