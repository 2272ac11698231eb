"""Confusion-matrix figures (PNG) in the paper's style (Fig. 3).

Row-normalised by the true labels; predictions on the horizontal axis, true labels on the
vertical axis; class names from ``sastnet.taxonomy.CLASS_NAMES``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display (must precede pyplot)
import matplotlib.pyplot as plt
import numpy as np

from pipelines.common.io import atomic_path
from sastnet.metrics import confusion_matrix_normalized
from sastnet.taxonomy import CLASS_NAMES, num_classes


def plot_confusion_matrix(y_true, y_pred, task: str, title: str, path: str | Path) -> np.ndarray:
    """Draw the row-normalised confusion matrix of ``task`` to ``path``; returns the matrix."""
    n = num_classes(task)
    cm = confusion_matrix_normalized(y_true, y_pred, n)
    names = CLASS_NAMES[task]
    fig, ax = plt.subplots(figsize=(1.1 * n + 1.8, 1.1 * n + 1.2), dpi=110)
    im = ax.imshow(cm, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), names, rotation=30, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.set_title(title, fontsize=9)
    support = np.bincount(np.asarray(y_true, dtype=np.int64), minlength=n)[:n]
    for i in range(n):
        for j in range(n):
            text = f"{cm[i, j]:.2f}" if support[i] else "–"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if cm[i, j] > 0.6 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    with atomic_path(path) as tmp:  # a crash never leaves half a PNG under the real name
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return cm
