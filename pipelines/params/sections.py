"""Registry of ``params.yaml`` sections: name -> frozen dataclass. Order = file order."""

from __future__ import annotations

from pipelines.params.common import CommonParams
from pipelines.params.corpus import CorpusParams
from pipelines.params.model import ModelParams
from pipelines.params.train import TrainParams

SECTIONS: dict[str, type] = {
    "common": CommonParams,
    "corpus": CorpusParams,
    "model": ModelParams,
    "train": TrainParams,
}
