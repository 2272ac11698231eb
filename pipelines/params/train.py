"""``train``: what to train (tasks x variants), how long, on how many Ray workers.

The paper trains the W2V2-AASIST baseline of a task first, then SASTNet (and W2V2 + M-MAE)
with wav2vec 2.0 initialised from that baseline ("tuned weight"); ``baseline`` and ``main``
hold the two schedules.

Seeds are a dimension of the run: every (task, variant) is trained once per entry of
``seeds`` (``models/<task>/<variant>/seed<k>/``), the variant of seed k starting from the
baseline of seed k, and every reported number is a mean ± std over them (docs/training.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pipelines.params.core import check
from sastnet.taxonomy import TASKS

# Variant names are checked against sastnet.models.config.VARIANTS by
# pipelines.params.model_check (stage check_params), so that loading params does not import
# the models.


def model_dir(models_dir: str | Path, task: str, variant: str, seed: int) -> Path:
    """``<models_dir>/<task>/<variant>/seed<k>``: one trained model (``best/`` + ``run.json``)."""
    return Path(models_dir) / task / variant / f"seed{seed}"


@dataclass(frozen=True)
class ScheduleParams:
    """One optimisation schedule (AdamW + cosine annealing over epochs)."""

    epochs: int = 40  # official README
    batch_size: int = 12  # per optimizer step, summed over workers (official: 12)
    lr: float = 5e-6  # official README (script default 1e-5)
    max_steps_per_epoch: int | None = None  # cap for smoke runs; None = one pass over train
    grad_clip: float | None = None  # clip the gradient's global L2 norm to this; None = off (release)

    def __post_init__(self) -> None:
        check(self.epochs >= 1, "epochs", f"must be >= 1, got {self.epochs}")
        check(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        check(0 < self.lr < 1, "lr", f"must be in (0, 1), got {self.lr}")
        check(self.max_steps_per_epoch is None or self.max_steps_per_epoch >= 1,
              "max_steps_per_epoch", "must be >= 1 or null")
        check(self.grad_clip is None or self.grad_clip > 0, "grad_clip",
              f"must be > 0 or null (off), got {self.grad_clip}")


@dataclass(frozen=True)
class TrainParams:
    tasks: tuple[str, ...] = ("aux",)  # paper: vq, aux, dec, bin
    baseline_variant: str = "w2v2_aasist"  # trained first; others start from its wav2vec 2.0
    variants: tuple[str, ...] = ("m_mae", "sastnet")  # trained after the baseline, in order
    # Every model is trained once per seed; k is the training seed itself (torch, numpy,
    # shuffles). The paper reports one run; a finding must hold beyond the seed spread.
    seeds: tuple[int, ...] = (0, 1, 2)
    baseline: ScheduleParams = field(  # official W2V2-AASIST: batch 8, 20 epochs, lr 1e-6
        default_factory=lambda: ScheduleParams(epochs=20, batch_size=8, lr=1e-6))
    main: ScheduleParams = field(default_factory=ScheduleParams)  # SASTNet: 12 / 40 / 5e-6
    weight_decay: float = 1e-4  # official AdamW weight decay (AWL parameters get none)
    num_samples: int = 82200  # official fixed input length (5.1375 s at 16 kHz)
    rawboost_algo: int = 5  # official: LnL convolutive then ISD impulsive; 0 = off
    rm_sil: bool = False  # train on the silence-removed view
    shuffle_buffer: int = 1000  # WebDataset sample shuffle buffer per worker
    num_workers: int = 2  # Ray Train workers (DDP ranks)
    cpus_per_worker: float = 1.0
    use_gpu: bool = False  # NCCL + one GPU per worker when true, gloo on CPU otherwise
    mixed_precision: bool = True  # bf16 autocast, GPU only (ignored on CPU)
    max_failures: int = 2  # FailureConfig: worker-group restarts from the latest checkpoint
    checkpoints_to_keep: int = 2  # folders kept at most: the best (select_metric) + the latest
    storage_path: str = "ray_results"  # Ray Train run storage (a shared path / s3:// on clusters)
    models_dir: str = "models"  # models/<task>/<variant>/seed<k>/{best/,run.json}
    mlflow_experiment: str = "sastnet"  # MLflow experiment name
    # The paper's training protocols (applied by utterance id to either corpus, in the shard
    # stage): full = every train clip (Tables I, IV); seen250 = train/dev clips with utterance
    # id <= shard.seen_max_utt_id only (Tables II, III). Part of run names, prediction paths
    # and table captions.
    experiment: Literal["full", "seen250"] = "full"
    registered_model_prefix: str = "sastnet"  # registered model: <prefix>-<task>
    # the epoch a seed keeps: dev_f1_then_loss = dev macro F1, ties broken by the lower dev
    # cross-entropy (a dev set where every epoch scores 100 still chooses; docs/training.md)
    select_metric: Literal["dev_macro_f1", "dev_weighted_f1", "dev_f1_then_loss"] = \
        "dev_f1_then_loss"

    def __post_init__(self) -> None:
        for task in self.tasks:
            check(task in TASKS, "tasks", f"{task!r} is not a task; allowed: {', '.join(TASKS)}")
        check(len(self.tasks) > 0, "tasks", "must list at least one task")
        for variant in self.variants:
            check(variant != self.baseline_variant, "variants",
                  f"{variant!r} is the baseline_variant; list it only there")
        check(len(self.seeds) > 0, "seeds", "must list at least one seed, e.g. [0, 1, 2]")
        for seed in self.seeds:
            check(isinstance(seed, int) and 0 <= seed < 2**31, "seeds",
                  f"{seed!r} is not a seed; use integers in [0, 2**31)")
        check(len(set(self.seeds)) == len(self.seeds), "seeds",
              f"{list(self.seeds)} lists a seed twice; each seed trains every model once")
        check(self.weight_decay >= 0, "weight_decay", "must be >= 0")
        check(self.num_samples >= 1600, "num_samples", f"must be >= 1600 (0.1 s), got {self.num_samples}")
        check(self.rawboost_algo in range(9), "rawboost_algo", "must be 0 (off) .. 8")
        check(self.num_workers >= 1, "num_workers", "must be >= 1")
        check(self.cpus_per_worker > 0, "cpus_per_worker", "must be > 0")
        check(self.max_failures >= -1, "max_failures", "must be >= 0, or -1 for unlimited")
        check(self.checkpoints_to_keep >= 2, "checkpoints_to_keep",
              "must be >= 2: the best checkpoint and the latest (a resumed training's start)")
