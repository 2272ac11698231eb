"""``pretrain_mae``: self-supervised AudioMAE pretraining of the MAE (stage ``pretrain_mae``).

The analogue of the AudioSet AudioMAE weights the paper starts from: the tiny MAE's encoder
and decoder learn to reconstruct masked log-mel patches of the corpus' training audio (bona
fide and resynthesized clips, no labels). The training stages load the result through
``model.audiomae_checkpoint`` (``sastnet.models.audiomae``), the same loader that reads the
official AudioMAE checkpoint. When ``model.audiomae_checkpoint`` names another file (the paper
profile's AudioSet weights), the stage does not train and says so in its report.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.params.core import check


@dataclass(frozen=True)
class PretrainMAEParams:
    # passes over the training clips; on the default corpus' 280 bona fide train clips the dev
    # loss stopped falling after ~10 epochs (docs/training.md)
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3  # AdamW, cosine to 0 over the run after `warmup_epochs` of linear warm-up
    warmup_epochs: int = 2
    weight_decay: float = 0.05  # AudioMAE pretraining
    # AudioMAE pretrains with 80 % of the patches hidden; here split equally between time rows
    # and frequency columns, as the fine-tuning masking (0.8 -> keep 60 % of rows x 60 % of columns)
    mask_ratio: float = 0.8
    max_clips: int | None = None  # cap on training clips (None = every clip of the train-* lists)
    # torch threads; 1 because the tiny MAE gains nothing from 2, and 2 spinning threads on a
    # loaded shared machine ran >10x slower (docs/training.md)
    threads: int = 1
    out_dir: str = "data/pretrain_mae"  # -> <out_dir>/mae.pt (official AudioMAE key layout)

    def __post_init__(self) -> None:
        check(self.epochs >= 1, "epochs", f"must be >= 1, got {self.epochs}")
        check(self.batch_size >= 2, "batch_size", f"must be >= 2, got {self.batch_size}")
        check(0 < self.lr < 1, "lr", f"must be in (0, 1), got {self.lr}")
        check(0 <= self.warmup_epochs < self.epochs, "warmup_epochs", "must be in [0, epochs)")
        check(self.weight_decay >= 0, "weight_decay", "must be >= 0")
        check(0 < self.mask_ratio < 1, "mask_ratio", f"must be in (0, 1), got {self.mask_ratio}")
        check(self.max_clips is None or self.max_clips >= self.batch_size, "max_clips",
              "must be >= batch_size or null")
        check(self.threads >= 1, "threads", "must be >= 1")
