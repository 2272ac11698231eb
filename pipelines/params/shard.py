"""``shard``: WebDataset shards per split, with taxonomy-balanced training lists (stage ``shard``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipelines.params.core import check
from sastnet.taxonomy import TASKS

Strategy = Literal[TASKS]  # one of the task names


@dataclass(frozen=True)
class ShardParams:
    samples_per_shard: int = 256  # small shards so 2 ranks x 2 workers all get work on the default corpus
    # Training lists written as ``train-<task>``: bona fide and one spoof per utterance, the spoof's
    # class balanced for that task (official *_bal_vq / *_mult_learn / *_bal_dec lists; BIN: any spoof).
    tasks: tuple[Strategy, ...] = ("vq", "aux", "dec", "bin")
    # Balancing of the one ``dev`` split. The release's dev list is the AUX-balanced one
    # (dev_mult_learn.txt) and every task is selected on it; "all" keeps every seen dev clip.
    dev_strategy: Literal[TASKS + ("all",)] = "aux"
    # redraw: draw the balanced lists above from every seen train clip (any corpus);
    # official: the task's CodecFake+ list, row for row (corpus.codecfake_plus.task_lists),
    # plus dev-<task> and test_list-<task> from the dev and test lists (paper profile)
    train_lists: Literal["redraw", "official"] = "redraw"
    full_train: bool = False  # also write ``train``: every seen train clip, unbalanced (kNN attribution)
    seen_max_utt_id: int = 250  # paper, Sec. V: CoRS test utt id <= 250 -> test_seen, > 250 -> test_unseen

    def __post_init__(self) -> None:
        check(self.samples_per_shard >= 1, "samples_per_shard", f"must be >= 1, got {self.samples_per_shard}")
        check(len(self.tasks) > 0, "tasks", f"list at least one of {', '.join(TASKS)}")
        check(len(set(self.tasks)) == len(self.tasks), "tasks", f"duplicates in {list(self.tasks)}")
        check(self.seen_max_utt_id > 0, "seen_max_utt_id", "must be > 0")
