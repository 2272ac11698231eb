"""A small plain-torch model and learnable synthetic clips for smoke-testing the machinery.

The Ray Train / MLflow code is tested with these, independent of the science: ``ToyModel``
follows the ``sastnet.models`` contract (``forward(wave, whisper, labels) -> ModelOutput``,
``needs_whisper``, ``param_groups`` with an AWL-style parameter kept out of weight decay),
and ``synthetic_clips`` yields dicts shaped like ``pipelines.dataset.loader.make_dataset``'s, whose
class is a tone frequency, so a few steps already give a clearly better than chance F1.
Select it with ``TrainJob(model_builder="pipelines.train.toy", data_source="synthetic")``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sastnet.audio import SAMPLE_RATE_HZ

NUM_CLASSES = {"vq": 4, "aux": 4, "dec": 3, "bin": 2}


class ModelOutput(NamedTuple):
    logits: torch.Tensor
    loss: torch.Tensor | None
    terms: dict[str, torch.Tensor]


@dataclass(frozen=True)
class ToyConfig:
    variant: str
    task: str
    size: str = "tiny"
    channels: int = 16  # conv width; tiny on purpose
    num_samples: int = 16000  # accepted like sastnet.models' (the toy model takes any length)
    # draws from torch's RNG at every step, as the real models' dropout and MAE masking do:
    # what a resumed training must replay exactly (tests/pipelines/test_train_cluster.py)
    dropout: float = 0.1


def model_config(variant: str, task: str, size: str = "tiny", **overrides: Any) -> ToyConfig:
    return ToyConfig(variant=variant, task=task, size=size, **overrides)


class ToyModel(nn.Module):
    """Strided conv front end ("w2v2") + linear head, CE weighted by a learnable AWL term."""

    needs_whisper = False

    def __init__(self, cfg: ToyConfig) -> None:
        super().__init__()
        c = cfg.channels
        self.w2v2 = nn.Sequential(nn.Conv1d(1, c, 64, stride=16), nn.ReLU(),
                                  nn.Conv1d(c, c, 8, stride=4), nn.ReLU())
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(c, NUM_CLASSES[cfg.task])
        self.awl = nn.Parameter(torch.ones(1))  # automatic weighted loss p_i (no weight decay)

    def forward(self, wave: torch.Tensor, whisper: torch.Tensor | None = None,
                labels: torch.Tensor | None = None) -> ModelOutput:
        x = self.w2v2(wave.unsqueeze(1)).mean(dim=-1)
        logits = self.head(self.dropout(x))
        if labels is None:
            return ModelOutput(logits, None, {})
        ce = F.cross_entropy(logits, labels)
        loss = 0.5 / self.awl[0] ** 2 * ce + torch.log1p(self.awl[0] ** 2)
        return ModelOutput(logits, loss, {"ce": ce.detach(), "awl_p0": self.awl[0].detach()})


def build_model(cfg: ToyConfig) -> ToyModel:
    return ToyModel(cfg)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    awl = [p for n, p in model.named_parameters() if n.startswith("awl")]
    rest = [p for n, p in model.named_parameters() if not n.startswith("awl")]
    return [{"params": rest, "weight_decay": weight_decay}, {"params": awl, "weight_decay": 0.0}]


def load_w2v2_from_baseline(model: nn.Module, baseline_state_dict: dict) -> list[str]:
    keys = [k for k in baseline_state_dict if k.startswith("w2v2.")]
    model.load_state_dict({k: baseline_state_dict[k] for k in keys}, strict=False)
    return keys


def synthetic_clips(task: str, *, count: int, num_samples: int, seed: int,
                    split: str = "train") -> Iterator[dict]:
    """``count`` clips whose class (for ``task``) is a tone at 300 * (class + 1) Hz plus noise."""
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    n_classes = NUM_CLASSES[task]
    t = np.arange(num_samples, dtype=np.float32) / SAMPLE_RATE_HZ
    for i in range(count):
        label = i % n_classes
        freq = 300.0 * (label + 1) * rng.uniform(0.95, 1.05)
        wave = 0.3 * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
        wave = (wave + 0.05 * rng.standard_normal(num_samples)).astype(np.float32)
        labels = {k: 0 for k in NUM_CLASSES}
        labels[task] = label
        labels["bin"] = int(label > 0) if task != "bin" else label
        yield {"key": f"{split}_{i:05d}", "wave": wave, "labels": labels, "meta": {}}
