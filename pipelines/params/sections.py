"""Registry of ``params.yaml`` sections: name -> frozen dataclass. Order = file order."""

from __future__ import annotations

from pipelines.params.codecs import CodecsParams
from pipelines.params.common import CommonParams
from pipelines.params.core import check
from pipelines.params.corpus import CorpusParams
from pipelines.params.features import FeaturesParams
from pipelines.params.knn import KnnParams
from pipelines.params.launder import LaunderParams
from pipelines.params.model import ModelParams
from pipelines.params.pretrain_mae import PretrainMAEParams
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
    "pretrain_mae": PretrainMAEParams,
    "train": TrainParams,
    "knn": KnnParams,
    "launder": LaunderParams,
}


def check_consistency(sections: dict) -> None:
    """Rules that span sections; raise ParamsError naming both keys."""
    features, train, shard = sections["features"], sections["train"], sections["shard"]
    check(features.num_samples == train.num_samples, "features.num_samples",
          f"{features.num_samples} must equal train.num_samples ({train.num_samples}): the "
          "Whisper features are computed on the same fixed-length input the models see")
    missing = [t for t in train.tasks if t not in shard.tasks]
    check(not missing, "train.tasks", f"{', '.join(missing)} have no training shards; add them "
          f"to shard.tasks (now {', '.join(shard.tasks)})")
    check(shard.train_lists == "redraw" or sections["corpus"].source == "codecfake_plus",
          "shard.train_lists", "official needs corpus.source: codecfake_plus (the official lists); "
          "use redraw for the synthetic corpus")
    check(features.augmented_views == 0 or (train.rawboost_algo > 0 and not train.rm_sil),
          "features.augmented_views", f"{features.augmented_views} views need RawBoost on "
          f"(train.rawboost_algo > 0, now {train.rawboost_algo}) and the full clip "
          f"(train.rm_sil: false, now {train.rm_sil})")
    from pipelines.params.whisper_width import check_whisper_width

    check_whisper_width(sections)
