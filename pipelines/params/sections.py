"""Registry of ``params.yaml`` sections: name -> frozen dataclass. Order = file order."""

from __future__ import annotations

from pipelines.params.common import CommonParams
from pipelines.params.corpus import CorpusParams
from pipelines.params.features import FeaturesParams

SECTIONS: dict[str, type] = {
    "common": CommonParams,
    "corpus": CorpusParams,
    "features": FeaturesParams,
}
