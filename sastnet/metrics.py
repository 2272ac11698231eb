"""Evaluation metrics of the paper's tables (docs/evaluation.md).

F1 scores and EER are returned in percent (0..100), as the paper prints them. Source tracing
labels include bona fide (class 0), exactly as the official evaluation scores them.

Both F1s are defined over the task's classes ``0 .. n_classes - 1`` (the same function serves
training's checkpoint selection, the registry's champion metric and the tables):

* ``macro_f1``: unweighted mean of the per-class F1; every class counts the same. A class that
  has clips or predictions counts (a class predicted but absent from ``y_true`` scores 0, one
  never predicted scores 0); a class with neither has no F1 and is left out of the mean rather
  than counted as 0, so an evaluation set without, say, any SQ clip is not scored down for what
  it lacks (CoSG). On a set holding every class this is scikit-learn's ``average="macro"``.
* ``weighted_f1``: per-class F1 weighted by the class's support in ``y_true``
  (``average="weighted"``); what the official SASTNet evaluation script computes.
* ``eer``: ASVspoof-style equal error rate with bona fide (label 0) as the target class; the
  score is "how bona fide" a clip looks (e.g. the bona fide probability).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, roc_curve

from sastnet.taxonomy import CLASS_NAMES, num_classes


def _labels(y: np.ndarray | list) -> np.ndarray:
    return np.asarray(y).astype(np.int64).ravel()


def _f1(y_true, y_pred, n_classes: int, average: str) -> float:
    y_true, y_pred = _labels(y_true), _labels(y_pred)
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"{name} holds labels outside 0..{n_classes - 1} "
                             f"({sorted(set(y.tolist()) - set(range(n_classes)))})")
    if not y_true.size:
        return float("nan")
    # zero_division=nan: a class with neither clips nor predictions is left out of the mean
    return 100.0 * float(f1_score(y_true, y_pred, labels=np.arange(n_classes), average=average,
                                  zero_division=np.nan))


def macro_f1(y_true, y_pred, n_classes: int) -> float:
    """Macro-averaged F1 in percent over the task's ``n_classes`` classes (module docstring)."""
    return _f1(y_true, y_pred, n_classes, "macro")


def weighted_f1(y_true, y_pred, n_classes: int) -> float:
    """Support-weighted F1 in percent (the official evaluation's number)."""
    return _f1(y_true, y_pred, n_classes, "weighted")


def confusion_matrix_normalized(y_true, y_pred, n_classes: int) -> np.ndarray:
    """``n_classes x n_classes`` confusion matrix, rows = true labels, each row summing to 1.

    A class with no true clips gets a row of zeros (its recall is undefined, not zero: see
    ``per_class_recall``).
    """
    cm = confusion_matrix(_labels(y_true), _labels(y_pred), labels=np.arange(n_classes))
    cm = cm.astype(np.float64)
    totals = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)


def per_class_recall(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Recall of each class (the confusion matrix's diagonal); NaN where a class has no clips."""
    y_true = _labels(y_true)
    cm = confusion_matrix_normalized(y_true, y_pred, n_classes)
    support = np.bincount(y_true, minlength=n_classes)[:n_classes]
    return np.where(support > 0, np.diag(cm), np.nan)


def eer(scores, labels) -> float:
    """Equal error rate in percent; ``labels`` 0 = bona fide (target), anything else = spoof.

    Computed as in the ASVspoof tools: over all thresholds, the point where the false
    rejection rate of bona fide and the false acceptance rate of spoofs are closest, reported
    as their mean.

    Raises:
        ValueError: when the labels do not contain both bona fide and spoofed clips.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    target = _labels(labels) == 0
    if target.all() or not target.any():
        raise ValueError("EER needs both bona fide (label 0) and spoofed clips")
    far, tar, _ = roc_curve(target, scores, drop_intermediate=False)
    frr = 1.0 - tar
    i = int(np.argmin(np.abs(frr - far)))
    return 100.0 * float((frr[i] + far[i]) / 2)


def summarize(y_true, probs, task: str) -> dict:
    """All numbers of one evaluation: F1s, accuracy, per-class recall, and EER.

    Args:
        y_true: true labels of ``task`` (0 = bona fide).
        probs: (N, C) class probabilities (or any scores whose argmax is the prediction);
            column 0 is the bona fide score used for the EER.
        task: one of ``sastnet.taxonomy.TASKS``.

    Returns:
        flat dict: ``n``, ``macro_f1``, ``weighted_f1``, ``accuracy`` (percent),
        ``recall_<class name>`` (percent, NaN for absent classes) and ``eer`` (percent; NaN
        when the clips are all bona fide or all spoofed).
    """
    probs = np.asarray(probs, dtype=np.float64)
    n_classes = num_classes(task)
    if probs.ndim != 2 or probs.shape[1] != n_classes:
        raise ValueError(f"probs must be (N, {n_classes}) for task {task!r}, got {probs.shape}")
    y_true = _labels(y_true)
    y_pred = probs.argmax(axis=1)
    out = {"n": int(y_true.size), "macro_f1": macro_f1(y_true, y_pred, n_classes),
           "weighted_f1": weighted_f1(y_true, y_pred, n_classes),
           "accuracy": 100.0 * float(np.mean(y_true == y_pred)) if y_true.size else float("nan")}
    for name, recall in zip(CLASS_NAMES[task], per_class_recall(y_true, y_pred, n_classes)):
        out[f"recall_{name}"] = 100.0 * float(recall)
    try:
        out["eer"] = eer(probs[:, 0], y_true)
    except ValueError:
        out["eer"] = float("nan")
    return out
