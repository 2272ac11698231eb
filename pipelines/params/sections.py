"""Registry of ``params.yaml`` sections: name -> frozen dataclass. Order = file order."""

from __future__ import annotations

from pipelines.params.codecs import CodecsParams
from pipelines.params.common import CommonParams
from pipelines.params.corpus import CorpusParams
from pipelines.params.features import FeaturesParams
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
}
