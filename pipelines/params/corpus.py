"""``corpus``: where the bona fide (and, for CodecFake+, the spoofed) audio comes from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pipelines.params.core import check
from pipelines.params.corpus_synthetic import SyntheticCorpusParams


@dataclass(frozen=True)
class CodecFakePlusParams:
    """The CodecFake+ release on disk (``source: codecfake_plus``)."""

    audio_root: str = "/data/codecfake_plus"  # folder holding the release's audio
    protocol_dir: str = "/data/codecfake_plus/protocols"  # the official .txt lists
    train_list: str = "train_mult_learn.txt"  # 7-column training list (AUX-balanced)
    dev_list: str = "dev_mult_learn.txt"
    cors_list: str = "CoRS_ALL.txt"  # 5-column CoRS test list
    cosg_list: str = "CoSG_ALL.txt"  # 4/5-column CoSG list
    cosg_seen_list: str = "CoSG_SEEN.txt"
    seen_max_utt_id: int = 250  # paper, Sec. V: utt id <= 250 is "seen" content

    def __post_init__(self) -> None:
        check(self.seen_max_utt_id > 0, "seen_max_utt_id", "must be > 0")


@dataclass(frozen=True)
class CorpusParams:
    source: Literal["synthetic", "codecfake_plus"] = "synthetic"
    codecfake_plus: CodecFakePlusParams = field(default_factory=CodecFakePlusParams)
    synthetic: SyntheticCorpusParams = field(default_factory=SyntheticCorpusParams)
