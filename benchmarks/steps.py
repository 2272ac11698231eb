"""One training step of the project's models at tiny and paper shapes (random weights).

Shared by B1 (epoch cost), B2 (is the loader faster than the step consumes?) and B4: the
step is the training loop's (forward with labels, backward, AdamW step) on cached batches, one
torch thread per process unless told otherwise. Paper shapes are SASTNet with an XLS-R 300M
sized wav2vec 2.0 (random init: ``w2v2.pretrained=None``) and Whisper-small's d_model (768).
"""

from __future__ import annotations

import time

import torch

from benchmarks.measure import Timing

# (size, whisper d_model): the Whisper model the features come from at that size
WHISPER_DIM = {"tiny": 384, "paper": 768}


def build(variant: str, size: str, num_samples: int, task: str = "aux"):
    """A model with random weights (no download) and its config."""
    from sastnet.models import build_model, model_config

    overrides: dict = {"num_samples": num_samples}
    if size == "paper":
        overrides["w2v2"] = {"pretrained": None}  # XLS-R 300M sizes, random init
    cfg = model_config(variant, task, size, **overrides)
    torch.manual_seed(0)
    return build_model(cfg), cfg


def whisper_small_shaped():
    """A Whisper-small-sized encoder and its feature extractor, random weights (no download)."""
    from transformers import WhisperConfig, WhisperFeatureExtractor
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    torch.manual_seed(0)
    config = WhisperConfig(d_model=768, encoder_layers=12, encoder_attention_heads=12,
                           encoder_ffn_dim=3072, num_mel_bins=80)  # openai/whisper-small
    return WhisperEncoder(config).eval().requires_grad_(False), WhisperFeatureExtractor(
        feature_size=80)


def batches(cfg, batch: int, n: int, whisper: bool) -> list[tuple]:
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        wave = torch.randn(batch, cfg.num_samples, generator=g)
        feats = torch.randn(batch, 128, cfg.fusion.whisper_dim, generator=g) if whisper else None
        out.append((wave, feats, torch.randint(0, cfg.num_classes, (batch,), generator=g)))
    return out


def step_times(model, data: list[tuple], before_step=None) -> list[float]:
    """Seconds of each training step over ``data``; ``before_step(wave)`` runs inside the timed
    step (B1: the online Whisper encoder)."""
    from sastnet.models import param_groups

    inner = model.module if hasattr(model, "module") else model
    opt = torch.optim.AdamW(param_groups(inner, 1e-4), lr=1e-4)
    model.train()
    times = []
    for wave, feats, labels in data:
        start = time.perf_counter()
        if before_step is not None:
            feats = before_step(wave)
        out = model(wave, feats, labels)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return times


# (variant, size, batch, num_samples) -> Timing of the steady step: one measurement per shape
# in one runner process (B1 records its precomputed-features side here; B2 reuses it)
MEASURED: dict[tuple, Timing] = {}


def train_step(variant: str, size: str, batch: int, num_samples: int, steps: int,
               threads: int = 1) -> Timing:
    """Steady step seconds (first step left out: allocator and autograd warm-up); measured once
    per shape per process (``MEASURED``)."""
    key = (variant, size, batch, num_samples)
    if key not in MEASURED:
        torch.set_num_threads(threads)
        model, cfg = build(variant, size, num_samples)
        data = batches(cfg, batch, steps + 1, whisper=cfg.uses_whisper)
        MEASURED[key] = Timing(tuple(step_times(model, data)[1:]))
    return MEASURED[key]
