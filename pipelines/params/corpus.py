"""``corpus``: where the bona fide (and, for CodecFake+, the spoofed) audio comes from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pipelines.params.core import check
from pipelines.params.corpus_synthetic import SyntheticCorpusParams

TASK_LISTS = {"aux": "mult_learn.txt", "vq": "mult_learn_bal_vq.txt",
              "dec": "mult_learn_bal_dec.txt", "bin": "mult_learn.txt"}


@dataclass(frozen=True)
class CodecFakePlusParams:
    """The CodecFake+ release on disk (``source: codecfake_plus``); see docs/codecfake_plus.md.

    Audio layout (the official README's tree and its loaders): CoRS clips (train, dev and test)
    lie flat as ``<audio_root>/<cors_dir>/<UTT>.<ext>``; CoSG clips as
    ``<audio_root>/<cosg_dir>/<MODEL>/<UTT>.<ext>``. Relative list names are read from
    ``protocol_dir``.
    """

    audio_root: str = "/data/codecfake_plus"  # the release's top folder ("CodecFake+/")
    cors_dir: str = "all_data_16k"  # official README: CoRS (+ maskgct_vctk) audio, flat
    cosg_dir: str = "SLMdemos_16k"  # official README: CoSG audio, one folder per model
    audio_extensions: tuple[str, ...] = ("flac", "wav")  # official loader tries .flac, then .wav
    protocol_dir: str = "/data/codecfake_plus/protocols"  # the official .txt lists
    # 7-column training lists; several (the per-task balanced variants) are merged by key into
    # the manifest, and each list's rows are kept in order in data/corpus/lists.parquet
    train_lists: tuple[str, ...] = ("train_mult_learn.txt",)
    dev_lists: tuple[str, ...] = ("dev_mult_learn.txt",)
    # 7-column test lists (test speakers, 1,510 rows each): their own evaluation set beside
    # CoRS_ALL (they hold the Encodec_24b24k rows CoRS_ALL lacks); () = not read
    test_lists: tuple[str, ...] = ()
    # The official list of each task, without its train_/dev_/test_ prefix (release: AUX and
    # BIN train on *_mult_learn.txt, VQ on *_mult_learn_bal_vq.txt, DEC on *_bal_dec.txt).
    # Used by shard.train_lists: official.
    task_lists: dict[str, str] = field(default_factory=lambda: dict(TASK_LISTS))
    cors_list: str = "CoRS_ALL.txt"  # 5-column CoRS test list
    cosg_list: str = "CoSG_ALL.txt"  # 4/5-column CoSG list
    cosg_seen_list: str = "CoSG_SEEN.txt"  # CoSG rows of codecs seen in training ("kn. codec")
    seen_max_utt_id: int = 250  # paper, Sec. IV-A: utt id <= 250 is "seen" content
    # a listed clip whose audio is missing or unreadable: stop (default) or skip and report it
    # (skip: each one is printed and listed in reports/corpus.json, with the resyntheses of a
    # skipped bona fide clip: they cannot be paired with their source)
    on_bad_audio: Literal["raise", "skip"] = "raise"
    # "header": duration from the header only (fast); "full": decode every file at ingestion so
    # a truncated/corrupt body is caught here, not in the shard stage (the paper profile)
    verify_audio: Literal["header", "full"] = "header"

    def __post_init__(self) -> None:
        check(self.seen_max_utt_id > 0, "seen_max_utt_id", "must be > 0")
        check(len(self.train_lists) > 0, "train_lists", "name at least one training list")
        check(len(self.audio_extensions) > 0, "audio_extensions", "name at least one extension")
        for task in self.task_lists:
            check(task in TASK_LISTS, "task_lists", f"{task!r} is not a task; allowed: "
                  f"{', '.join(TASK_LISTS)}")
        for ext in self.audio_extensions:
            check(not ext.startswith("."), "audio_extensions",
                  f"{ext!r}: give extensions without the dot, e.g. 'flac'")


@dataclass(frozen=True)
class CorpusParams:
    source: Literal["synthetic", "codecfake_plus"] = "synthetic"
    codecfake_plus: CodecFakePlusParams = field(default_factory=CodecFakePlusParams)
    synthetic: SyntheticCorpusParams = field(default_factory=SyntheticCorpusParams)
