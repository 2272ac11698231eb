"""The confusion-matrix figure (PNG), in the paper's style (Fig. 3): one plotter for the
training run's dev matrix (MLflow artifact) and the evaluation stage's matrices.

Rows are true labels, normalised to sum to 1 (recall on the diagonal); each cell also shows its
clip count; a class without true clips shows "–" (its recall is undefined, not 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display (must precede pyplot)
import matplotlib.pyplot as plt
import numpy as np

from pipelines.common.io import atomic_path


def plot_confusion(counts: Sequence[Sequence[int]] | np.ndarray, class_names: Sequence[str],
                   title: str, path: str | Path) -> np.ndarray:
    """Draw a confusion matrix of clip ``counts`` (rows = true class) to ``path``, atomically.

    Returns:
        the row-normalised matrix that was drawn.
    """
    counts = np.asarray(counts, dtype=np.float64)
    n = len(class_names)
    if counts.shape != (n, n):
        raise ValueError(f"{path}: confusion counts of shape {counts.shape} for {n} classes")
    support = counts.sum(axis=1, keepdims=True)
    norm = np.divide(counts, support, out=np.zeros_like(counts), where=support > 0)
    fig, ax = plt.subplots(figsize=(1.1 * n + 1.8, 1.1 * n + 1.2), dpi=110)
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), class_names, rotation=30, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.set_title(title, fontsize=9)
    for i in range(n):
        for j in range(n):
            text = f"{norm[i, j]:.2f}\n({int(counts[i, j])})" if support[i, 0] else "–"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.6 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    with atomic_path(path) as tmp:  # a crash never leaves half a PNG under the real name
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return norm
