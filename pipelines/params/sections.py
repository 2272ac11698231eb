"""Registry of ``params.yaml`` sections: name -> frozen dataclass. Order = file order."""

from __future__ import annotations

from pipelines.params.codecs import CodecsParams
from pipelines.params.common import CommonParams
from pipelines.params.corpus import CorpusParams

SECTIONS: dict[str, type] = {
    "common": CommonParams,
    "corpus": CorpusParams,
    "codecs": CodecsParams,
}
