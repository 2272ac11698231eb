"""``features``: frozen Whisper encoder features computed once by Ray actors (stage ``features``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipelines.params.core import check


@dataclass(frozen=True)
class FeaturesParams:
    # local transformers dir (stage whisper_convert) or hub id in the local cache;
    # paper: openai/whisper-small (d_model 768)
    model: str = "data/whisper/tiny.en"
    # faithful: 30 s padded input as the paper; fast: only `fast_seconds` of source positions
    variant: Literal["faithful", "fast"] = "faithful"
    fast_seconds: float = 5.12  # 256 encoder frames: the fewest that still give 128 x d features
    actors: int = 2  # Ray actors, each holding one frozen encoder
    threads_per_actor: int = 1  # torch threads (and Ray CPUs) per actor
    batch_size: int = 4  # clips per encoder call (no batching gain on 2 CPU cores, measured)
    # the loader's fixed input length: clips are repeat-tiled / cut to it before Whisper, like
    # the training input (official: 82,200 samples); must equal the training num_samples
    num_samples: int = 82200
    # features of the loader's speech-only view (rm_sil=True), for the paper's silence
    # experiment; write them to another directory (pipelines.whisper.features --rm-sil --out-dir ...)
    rm_sil: bool = False
    # K seeded RawBoost views per training clip whose Whisper features are precomputed
    # (pipelines.whisper.views), so Whisper sees the augmented audio as in the release; the
    # loader picks the view matching the waveform it augments. 0 = Whisper on clean audio.
    augmented_views: int = 0

    def __post_init__(self) -> None:
        check(self.actors >= 1, "actors", f"must be >= 1, got {self.actors}")
        check(self.threads_per_actor >= 1, "threads_per_actor",
              f"must be >= 1, got {self.threads_per_actor}")
        check(self.batch_size >= 1, "batch_size", f"must be >= 1, got {self.batch_size}")
        check(self.num_samples >= 1600, "num_samples", f"must be >= 1600 (0.1 s), got {self.num_samples}")
        check(self.fast_seconds >= 5.12, "fast_seconds",
              f"must be >= 5.12 (256 encoder frames), got {self.fast_seconds}")
        check(bool(self.model), "model", "give a Whisper directory or hub id")
        check(self.augmented_views >= 0, "augmented_views", f"must be >= 0, got {self.augmented_views}")
