"""Training-run figures logged to MLflow: training curves (the dev confusion matrix is drawn by
``pipelines.common.plots.plot_confusion``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


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
