"""``codecs``: the codec zoo stage (which zoo codecs to train, how long, the semantic teacher)."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.params.core import check
from sastnet.codecs.zoo_spec import ZOO_CODECS


@dataclass(frozen=True)
class CodecsParams:
    codecs: tuple[str, ...] = ()  # zoo codec names to build; empty = all of ZOO_CODECS
    manifest: str = "data/corpus/manifest.parquet"  # bona fide train split = training audio
    out_dir: str = "data/codecs"
    steps: int = 160  # per codec: ~620 CPU-s for the zoo (benchmarks/codec_zoo_step.py), ~6 min on 2 cores
    batch_size: int = 8
    crop_s: float = 1.0  # random training crops
    lr: float = 3e-3
    max_train_clips: int = 2000  # cap on clips loaded for training (memory)
    teacher_path: str | None = "data/whisper/tiny.en"  # semantic teacher; null = random Whisper
    lm_steps: int = 300  # token LM (generation subset) steps
    lm_seq_frames: int = 100  # token LM training window (2 s at 50 Hz)
    dev_clips: int = 16  # bona fide dev clips for the quality report
    dev_clip_s: float = 3.0  # each cut to at most this long
    workers: int = 2  # codecs trained in parallel (one torch thread each)
    seed: int = 1234  # plus each codec's own offset

    def __post_init__(self) -> None:
        unknown = sorted(set(self.codecs) - set(ZOO_CODECS))
        check(not unknown, "codecs", f"unknown zoo codec(s) {', '.join(unknown)}; "
              f"known: {', '.join(ZOO_CODECS)}")
        check(self.steps >= 3, "steps", f"must be >= 3 (early/mid/late checkpoints), got {self.steps}")
        check(self.batch_size >= 1, "batch_size", "must be >= 1")
        check(0.1 <= self.crop_s <= 30, "crop_s", f"must be in [0.1, 30] s, got {self.crop_s}")
        check(self.lr > 0, "lr", "must be > 0")
        check(self.max_train_clips >= 1, "max_train_clips", "must be >= 1")
        check(self.lm_steps >= 1, "lm_steps", "must be >= 1")
        check(self.lm_seq_frames >= 2, "lm_seq_frames", "must be >= 2")
        check(self.dev_clips >= 1, "dev_clips", "must be >= 1")
        check(self.dev_clip_s > 0, "dev_clip_s", "must be > 0")
        check(self.workers >= 1, "workers", "must be >= 1")

    def selected(self) -> list[str]:
        return list(self.codecs) if self.codecs else list(ZOO_CODECS)
