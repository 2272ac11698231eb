"""Training-free kNN source attribution on pooled SSL features, with an open-set flag.

The method of Pirlogeanu, Stan & Cucu (``../shared/papers/002_*``, after TADA, Stan et al.,
Interspeech 2025): every clip is one vector (a layer's hidden states of a frozen pretrained
speech encoder, averaged over time); a query is attributed by a majority vote of its ``k``
nearest support vectors under cosine distance (around the support set's mean vector, see
``cosine_distances``). Nothing is trained: a new system is enrolled by
adding its vectors to the support set.

* splits: support / validation / query = 70 / 10 / 20 % (paper, Sec. 2.3), disjoint in prompts
  and, where there are enough speakers, in speakers (``split_parts``); or "mixed", where one
  clip of a prompt may be in the support set of one class and the query of another (Table 1,
  row 5);
* classes balanced by subsampling, without weighting (Sec. 2.3) (``balanced``);
* ``k`` chosen on the validation F1-vs-k curve (Sec. 3, Fig. 1) (``choose_k``);
* open set: the mean cosine distance of a query to its ``k`` nearest support vectors; a
  threshold fitted on known-class validation clips flags "unknown" (``fit_threshold``).

Pure numpy (+ scikit-learn metrics); ``pipelines/knn`` runs it on the stored embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score

PARTS = ("support", "validation", "query")
FRACTIONS = (0.7, 0.1, 0.2)  # paper, Sec. 2.3: 420 / 60 / 120 of 600 prompts


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (cosine similarity = dot product); zero rows stay zero."""
    x = np.asarray(x, dtype=np.float64)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def support_center(support: np.ndarray) -> np.ndarray:
    """The centre the cosine is taken around: the support set's mean vector."""
    return np.asarray(support, dtype=np.float64).mean(axis=0)


def cosine_distances(query: np.ndarray, support: np.ndarray,
                     center: np.ndarray | None = None) -> np.ndarray:
    """``(Q, S)`` cosine distances ``1 - cos``, in [0, 2], after subtracting ``center``.

    ``center`` defaults to the support set's mean. Time-mean-pooled SSL states share a large
    common offset: uncentred, every pair of clips is nearly parallel (distances ~1e-4 on the
    Whisper tiny.en encoder), so thresholds and the F1-vs-k curve live in the last digits of
    float32. Centring on the support set (never on the queries: no test statistics leak) makes
    the cosine compare what differs between clips.
    """
    c = support_center(support) if center is None else np.asarray(center, dtype=np.float64)
    q = np.asarray(query, dtype=np.float64) - c
    s = np.asarray(support, dtype=np.float64) - c
    return 1.0 - l2_normalize(q) @ l2_normalize(s).T


@dataclass(frozen=True)
class KnnResult:
    """Per query: the voted label, the mean distance to its k neighbours, the neighbours."""

    labels: np.ndarray  # (Q,) int
    distances: np.ndarray  # (Q,) mean cosine distance to the k nearest support vectors
    neighbours: np.ndarray  # (Q, k) support indices, nearest first


def knn_predict(support: np.ndarray, support_labels: np.ndarray, query: np.ndarray,
                k: int, center: np.ndarray | None = None) -> KnnResult:
    """Cosine kNN with majority vote.

    A tie in votes goes to the tied class whose voting neighbours are nearer on average
    (then to the lower label), so the answer never depends on the order of the support set.

    Args:
        support: ``(S, d)`` vectors; support_labels: ``(S,)`` non-negative ints.
        query: ``(Q, d)`` vectors.
        k: neighbours per vote, ``1 <= k <= S``.
        center: subtracted before the cosine (default: the support mean; see
            ``cosine_distances``). Pass one fixed centre when distances from different
            support sets are compared against one threshold (enrolment).
    """
    return vote(cosine_distances(query, support, center), support_labels, k)


def vote(dist: np.ndarray, support_labels: np.ndarray, k: int) -> KnnResult:
    """The kNN vote on a ``(Q, S)`` distance matrix (see ``knn_predict``)."""
    support_labels = np.asarray(support_labels, dtype=np.int64)
    if not 1 <= k <= dist.shape[1]:
        raise ValueError(f"k={k} must be between 1 and the support size {dist.shape[1]}")
    # stable sort: equal distances keep the lower support index first
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    near = np.take_along_axis(dist, order, axis=1)
    votes_of = support_labels[order]
    n_query, n_classes = dist.shape[0], int(support_labels.max()) + 1
    counts = np.zeros((n_query, n_classes))
    sums = np.zeros((n_query, n_classes))
    rows = np.repeat(np.arange(n_query), k)
    np.add.at(counts, (rows, votes_of.ravel()), 1.0)
    np.add.at(sums, (rows, votes_of.ravel()), near.ravel())
    mean_dist = np.divide(sums, counts, out=np.full_like(sums, np.inf), where=counts > 0)
    tied = np.where(counts == counts.max(axis=1, keepdims=True), mean_dist, np.inf)
    labels = np.argmin(tied, axis=1)  # argmin takes the lowest label among exact ties
    return KnnResult(labels=labels, distances=near.mean(axis=1), neighbours=order)


def macro_f1(y_true, y_pred) -> float:
    """Macro F1 in [0, 1] over the classes present in either (the paper's 0.98 scale)."""
    return float(f1_score(np.asarray(y_true), np.asarray(y_pred), average="macro",
                          zero_division=0))


def f1_vs_k(support: np.ndarray, support_labels: np.ndarray, val: np.ndarray,
            val_labels: np.ndarray, ks) -> dict[int, float]:
    """Validation macro F1 for each ``k`` (those above the support size are left out)."""
    dist = cosine_distances(val, support)  # centred on the support mean
    return {k: macro_f1(val_labels, vote(dist, support_labels, k).labels)
            for k in sorted(set(ks)) if k <= len(support)}


def choose_k(curve: dict[int, float]) -> int:
    """The ``k`` of the best validation F1; among equal scores, the smallest ``k``."""
    if not curve:
        raise ValueError("empty F1-vs-k curve: the support set is smaller than every k")
    best = max(curve.values())
    return min(k for k, f1 in curve.items() if f1 >= best - 1e-12)


def split_parts(speakers: np.ndarray, prompts: np.ndarray, seed: int, *,
                fractions: tuple[float, float, float] = FRACTIONS,
                speaker_disjoint: bool = True) -> np.ndarray:
    """Assign source clips to support (0), validation (1) and query (2); -1 = left out.

    Prompts (the text spoken) never appear in two parts. With ``speaker_disjoint`` (and at
    least one speaker per part) whole speakers are assigned, about ``fractions`` of the clips
    each, and a clip whose prompt already belongs to an earlier part is left out; otherwise
    whole prompts are assigned.

    Args:
        speakers, prompts: one entry per source clip.
        seed: the split's own seed (e.g. ``[global seed, split index]``): the same seed gives
            the same parts whatever the order of the clips.
    """
    speakers, prompts = np.asarray(speakers).astype(str), np.asarray(prompts).astype(str)
    use_speakers = speaker_disjoint and len(np.unique(speakers)) >= len(PARTS)
    groups = speakers if use_speakers else prompts
    part_of_group = _assign_groups(groups, fractions, np.random.default_rng(seed))
    parts = np.array([part_of_group[g] for g in groups], dtype=np.int64)
    if use_speakers:  # a prompt stays in the first part that has it
        first: dict[str, int] = {}
        for prompt, part in zip(prompts, parts):
            first[prompt] = min(first.get(prompt, part), part)
        parts = np.where([first[p] == part for p, part in zip(prompts, parts)], parts, -1)
    return parts


def _assign_groups(groups: np.ndarray, fractions, rng: np.random.Generator) -> dict[str, int]:
    """Shuffled groups dealt to the parts so each gets about its fraction of the clips and at
    least one group (when there are enough groups)."""
    names, sizes = np.unique(groups, return_counts=True)
    order = rng.permutation(len(names))
    total, cum = sizes.sum(), np.cumsum(fractions)
    out, taken = {}, 0
    for rank, i in enumerate(order):
        part = int(np.searchsorted(cum * total, taken + sizes[i] / 2.0))
        part = min(part, len(fractions) - 1)
        # never leave a later part empty: the last groups go to parts not served yet
        left = len(order) - rank
        missing = [p for p in range(len(fractions)) if p not in out.values() and p > part]
        if len(missing) >= left:
            part = missing[0]
        out[str(names[i])] = part
        taken += sizes[i]
    return out


def split_items_mixed(n_items: int, seed: int,
                      fractions: tuple[float, float, float] = FRACTIONS) -> np.ndarray:
    """Every item (a class's clip) assigned independently: one prompt may sit in the support
    set of one class and the query of another (paper, Table 1 row 5, "prompts mixed")."""
    rng = np.random.default_rng(seed)
    cut = np.round(np.cumsum(fractions) * n_items).astype(int)
    parts = np.searchsorted(cut, np.arange(n_items), side="right")
    return parts[rng.permutation(n_items)]


def balanced(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of an equal number of items per class (the smallest class's count), chosen at
    random, in increasing order: classes balanced without weighting."""
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) == 0:
        return np.zeros(0, dtype=np.int64)
    n = counts.min()
    keep = [rng.choice(np.flatnonzero(labels == c), n, replace=False) for c in classes]
    return np.sort(np.concatenate(keep))


def fit_threshold(known_distances: np.ndarray, quantile: float) -> float:
    """Distance above which a clip is "unknown": the ``quantile`` of the known-class
    validation distances (0.95: about 5 % false alarms on known systems)."""
    if len(known_distances) == 0:
        raise ValueError("no validation distances to fit the open-set threshold on")
    return float(np.quantile(np.asarray(known_distances), quantile))


def open_set_scores(known: np.ndarray, unknown: np.ndarray, threshold: float) -> dict[str, float]:
    """Detection figures of the "unknown" flag (``distance > threshold``); unknown = positive.

    Returns AUROC (threshold-free), detection rate (unknown clips flagged), false-alarm rate
    (known clips flagged) and the F1 of the flag, all in [0, 1].
    """
    known, unknown = np.asarray(known, float), np.asarray(unknown, float)
    y = np.r_[np.zeros(len(known)), np.ones(len(unknown))]
    scores = np.r_[known, unknown]
    flagged = scores > threshold
    return {"auroc": float(roc_auc_score(y, scores)),
            "detection_rate": float(flagged[y == 1].mean()),
            "false_alarm_rate": float(flagged[y == 0].mean()),
            "f1_unknown": float(f1_score(y, flagged, zero_division=0))}
