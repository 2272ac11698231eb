"""``knn``: training-free kNN source attribution (stages ``knn_clips``, ``embeddings``, ``knn``).

Method and defaults: the SSL kNN attribution paper (``../shared/papers/002_*``, Sec. 2.2-3);
docs/knn.md says what runs and what it costs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pipelines.params.core import check

CHECKPOINTS = ("early", "mid", "late")  # the zoo's saved checkpoints (pipelines/codecs/zoo.py)


@dataclass(frozen=True)
class KnnClipsParams:
    """Which clips make the kNN classes (stage ``knn_clips``)."""

    # zoo: the same bona fide clips resynthesized by every saved checkpoint of every zoo codec
    # (data/codecs); manifest: the CoRS clips of data/corpus/manifest.parquet as they are (the
    # CodecFake+ ingestion holds the whole release), one class per codec, no checkpoints
    source: Literal["zoo", "manifest"] = "zoo"
    # bona fide clips per speaker, each with its own prompt, resynthesized by every checkpoint
    # (paper: 600 prompts of one speaker; here 12 speakers x 5 = 60 per class, for the budget)
    clips_per_speaker: int = 5
    max_seconds: float = 2.5  # each clip cut to its first seconds (resynthesis + encoder cost)
    checkpoints: tuple[str, ...] = CHECKPOINTS  # checkpoint-level classes of the known codecs
    held_out_checkpoints: tuple[str, ...] = ("late",)  # the held-out codecs: the "unknown" ones
    workers: int = 2  # processes resynthesizing (one torch thread each)

    def __post_init__(self) -> None:
        check(self.clips_per_speaker >= 1, "clips_per_speaker", "must be >= 1")
        check(self.max_seconds >= 0.5, "max_seconds", f"must be >= 0.5, got {self.max_seconds}")
        check(self.workers >= 1, "workers", "must be >= 1")
        for key in ("checkpoints", "held_out_checkpoints"):
            bad = [c for c in getattr(self, key) if c not in CHECKPOINTS]
            check(not bad and len(getattr(self, key)) > 0, key,
                  f"{bad or '[]'}: name at least one of {', '.join(CHECKPOINTS)}")


@dataclass(frozen=True)
class KnnEmbeddingsParams:
    """The frozen encoder and its pooled hidden states (stage ``embeddings``, Ray actors)."""

    # transformers dir or hub id (local cache only unless local_files_only is false);
    # paper: facebook/wav2vec2-xls-r-2b (layer 8) or facebook/w2v-bert-2.0 (layer 4)
    model: str = "data/whisper/tiny.en"
    local_files_only: bool = True  # DESIGN.md: nothing is downloaded unless the user asks
    # hidden-state indices stored (0 = the input embeddings, i = after block i); [] = all
    layers: tuple[int, ...] = ()
    actors: int = 2  # Ray actors, each holding one encoder
    threads_per_actor: int = 1  # torch threads (and Ray CPUs) per actor
    batch_size: int = 8  # clips per encoder call

    def __post_init__(self) -> None:
        check(bool(self.model), "model", "give a transformers directory or hub id")
        check(all(i >= 0 for i in self.layers), "layers", f"must be >= 0, got {self.layers}")
        check(self.actors >= 1, "actors", "must be >= 1")
        check(self.threads_per_actor >= 1, "threads_per_actor", "must be >= 1")
        check(self.batch_size >= 1, "batch_size", "must be >= 1")


@dataclass(frozen=True)
class KnnAttributionParams:
    """The kNN evaluation (stage ``knn``)."""

    splits: int = 3  # random splits (seeded by split index), mean +- std (paper, Table 1)
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)  # support/validation/query, Sec. 2.3
    speaker_disjoint: bool = True  # whole speakers per part where there are >= 3 speakers
    # k grid of the validation F1-vs-k curve (paper, Fig. 1: plateau near 91, k = 56 used)
    k_grid: tuple[int, ...] = (1, 3, 5, 7, 9, 11, 15, 21, 31, 41, 56, 91)
    layer: int | None = None  # None: the layer of the best checkpoint-level validation F1
    # open set: quantile of the known validation clips' kNN distances used as the threshold
    open_set_quantile: float = 0.95

    def __post_init__(self) -> None:
        check(self.splits >= 1, "splits", "must be >= 1")
        check(abs(sum(self.fractions) - 1.0) < 1e-6 and min(self.fractions) > 0, "fractions",
              f"three positive fractions summing to 1, got {self.fractions}")
        check(len(self.k_grid) > 0 and min(self.k_grid) >= 1, "k_grid", "positive k values")
        check(self.layer is None or self.layer >= 0, "layer", "must be >= 0 or null")
        check(0.5 <= self.open_set_quantile < 1.0, "open_set_quantile", "must be in [0.5, 1)")


@dataclass(frozen=True)
class KnnParams:
    clips: KnnClipsParams = field(default_factory=KnnClipsParams)
    embeddings: KnnEmbeddingsParams = field(default_factory=KnnEmbeddingsParams)
    attribution: KnnAttributionParams = field(default_factory=KnnAttributionParams)
    index_dir: str = "data/knn/index"  # the support index the knn stage writes (DVC output)
    # `sastnet knn enrol` writes the index plus enrolled systems here (not a DVC output, so
    # `dvc repro` never discards an enrolment); `sastnet knn attribute` prefers it when present
    enrolled_dir: str = "data/knn/enrolled"
