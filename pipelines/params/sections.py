"""Registry of ``params.yaml`` sections: name -> frozen dataclass. Order = file order."""

from __future__ import annotations

from pipelines.params.codecs import CodecsParams
from pipelines.params.common import CommonParams
from pipelines.params.corpus import CorpusParams
from pipelines.params.features import FeaturesParams
from pipelines.params.knn import KnnParams
from pipelines.params.model import ModelParams
from pipelines.params.resynthesize import ResynthesizeParams
from pipelines.params.shard import ShardParams
from pipelines.params.train import TrainParams
from pipelines.params.vad import VadParams

SECTIONS: dict[str, type] = {
    "common": CommonParams,
    "corpus": CorpusParams,
    "resynthesize": ResynthesizeParams,
    "vad": VadParams,
    "shard": ShardParams,
    "features": FeaturesParams,
    "codecs": CodecsParams,
    "model": ModelParams,
    "train": TrainParams,
    "knn": KnnParams,
}


def check_consistency(sections: dict) -> None:
    """Rules that span sections; raise ParamsError naming both keys."""
    from pipelines.params.core import check

    features, train, shard = sections["features"], sections["train"], sections["shard"]
    check(features.num_samples == train.num_samples, "features.num_samples",
          f"{features.num_samples} must equal train.num_samples ({train.num_samples}): the "
          "Whisper features are computed on the same fixed-length input the models see")
    missing = [t for t in train.tasks if t not in shard.tasks]
    check(not missing, "train.tasks", f"{', '.join(missing)} have no training shards; add them "
          f"to shard.tasks (now {', '.join(shard.tasks)})")
