"""Training-run figures logged to MLflow: dev confusion matrix and training curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def plot_confusion(confusion: Sequence[Sequence[int]], class_names: Sequence[str], title: str,
                   path: str | Path) -> Path:
    """Row-normalised confusion matrix (rows = true class) with counts, as a PNG."""
    counts = np.asarray(confusion, dtype=float)
    norm = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.2 * len(class_names) + 2, 1.2 * len(class_names) + 1.5))
    ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            ax.text(j, i, f"{norm[i, j]:.2f}\n({int(counts[i, j])})", ha="center", va="center",
                    color="white" if norm[i, j] > 0.5 else "black", fontsize=8)
    ax.set_xticks(range(len(class_names)), class_names)
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_curves(history: Sequence[dict], title: str, path: str | Path) -> Path:
    """Train loss terms and dev F1 per epoch, as a PNG."""
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_f1) = plt.subplots(1, 2, figsize=(10, 4))
    for key in sorted({k for h in history for k in h if k.startswith("train_")}):
        ax_loss.plot(epochs, [h.get(key, np.nan) for h in history], marker="o", label=key)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_title("training loss terms")
    ax_loss.legend(fontsize=7)
    for key in ("dev_macro_f1", "dev_weighted_f1"):
        ax_f1.plot(epochs, [h.get(key, np.nan) for h in history], marker="o", label=key)
    ax_f1.set_xlabel("epoch")
    ax_f1.set_ylabel("F1 (%)")
    ax_f1.set_title("dev")
    ax_f1.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
