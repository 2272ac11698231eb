"""Taxonomy-balanced training lists: each bona fide utterance paired 1:1 with one of its spoofs.

The official lists (``train_mult_learn.txt`` AUX-, ``*_bal_vq.txt`` VQ-, ``*_bal_dec.txt``
DEC-balanced) put every bona fide row next to one spoof of the same utterance, the codec drawn
about uniformly inside a class, classes about equally often. Here the draw is a *balanced* draw,
deterministic for a seed:

1. bona fide utterances are visited in a seeded random order;
2. each gets the spoof class (for the strategy's task) used least so far among the classes it
   has spoofs of, ties broken by the seeded generator;
3. inside that class, the codec used least so far, ties broken the same way.

So with every utterance resynthesized by every codec, class counts differ by at most one and
codec counts inside a class by at most one: the uniform draw without its sampling noise. The
``bin`` strategy has one spoof class, so it balances codecs over all spoofs ("any spoof").
(The release's switch loaded the AUX list for the VQ setting and had no DEC branch; here every
strategy is its own list.)
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from sastnet.taxonomy import BONAFIDE, TASKS

STRATEGIES = TASKS  # a training list is balanced for one task's classes


def _least_used(options: list, counts: Counter, rng: np.random.Generator):
    low = min(counts[o] for o in options)
    tied = [o for o in options if counts[o] == low]
    return tied[int(rng.integers(len(tied)))] if len(tied) > 1 else tied[0]


def balanced_pairs(clips: pd.DataFrame, strategy: str, seed: int) -> pd.DataFrame:
    """Pair every bona fide clip with one spoof of the same utterance, balanced for ``strategy``.

    Args:
        clips: manifest rows of one split (``key``, ``codec``, ``pair_key``, ``label_<task>``);
            callers drop unseen codecs first.
        strategy: ``vq``, ``aux``, ``dec`` (balance that task's spoof classes) or ``bin``.
        seed: the same seed gives the same list.

    Returns:
        The chosen rows, bona fide then its spoof, pairs in the seeded visiting order, with a
        ``pair_index`` column. Bona fide clips with no spoof are left out.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown sampling strategy {strategy!r}; allowed: {', '.join(STRATEGIES)}")
    is_bona = (clips["codec"] == BONAFIDE).to_numpy()
    bona_labels = clips.index[is_bona][np.argsort(clips["key"].to_numpy()[is_bona], kind="stable")]
    bona_keys = clips.loc[bona_labels, "key"].tolist()
    spoofs = clips[~is_bona].sort_values("key", kind="stable")
    classes = (np.ones(len(spoofs), dtype=int) if strategy == "bin"
               else spoofs[f"label_{strategy}"].astype(int).to_numpy())
    # pair_key -> class -> codec -> row label
    options: dict[str, dict[int, dict[str, object]]] = {}
    for label, pair_key, codec, cls in zip(spoofs.index, spoofs["pair_key"], spoofs["codec"], classes):
        options.setdefault(pair_key, {}).setdefault(int(cls), {}).setdefault(codec, label)
    rng = np.random.default_rng(seed)
    class_counts: Counter = Counter()
    codec_counts: Counter = Counter()
    chosen: list = []
    pair_index: list[int] = []
    for pos in rng.permutation(len(bona_keys)):
        by_class = options.get(bona_keys[pos])
        if not by_class:
            continue
        cls = _least_used(sorted(by_class), class_counts, rng)
        codec = _least_used(sorted(by_class[cls]), codec_counts, rng)
        class_counts[cls] += 1
        codec_counts[codec] += 1
        pair = len(chosen) // 2
        chosen += [bona_labels[pos], by_class[cls][codec]]
        pair_index += [pair, pair]
    out = clips.loc[chosen].copy()
    out["pair_index"] = pair_index
    return out.reset_index(drop=True)


def class_histogram(rows: pd.DataFrame, task: str) -> dict[int, int]:
    """Clips per label of ``task`` (sorted by label)."""
    counts = rows[f"label_{task}"].astype(int).value_counts()
    return {int(k): int(v) for k, v in sorted(counts.items())}
