"""Confusion-matrix figures of the evaluation stage (``pipelines.common.plots`` draws them).

Class names from ``sastnet.taxonomy.CLASS_NAMES``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix

from pipelines.common.plots import plot_confusion
from sastnet.taxonomy import CLASS_NAMES, num_classes


def plot_confusion_matrix(y_true, y_pred, task: str, title: str, path: str | Path) -> np.ndarray:
    """Draw the row-normalised confusion matrix of ``task`` to ``path``; returns the matrix."""
    counts = confusion_matrix(np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64),
                              labels=np.arange(num_classes(task)))
    return plot_confusion(counts, CLASS_NAMES[task], title, path)
