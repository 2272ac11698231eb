"""pipelines.common.plots: the one confusion-matrix figure (training's dev matrix, evaluation)."""

import matplotlib.image
import numpy as np
import pytest

from pipelines.common.plots import plot_confusion


def test_rows_normalised_and_empty_class_kept(tmp_path):
    counts = [[3, 1, 0], [0, 0, 0], [1, 1, 2]]  # class 1 has no true clips
    norm = plot_confusion(counts, ("REAL", "TIME", "FREQ"), "t", tmp_path / "cm.png")
    np.testing.assert_allclose(norm, [[0.75, 0.25, 0], [0, 0, 0], [0.25, 0.25, 0.5]])
    assert matplotlib.image.imread(tmp_path / "cm.png").ndim == 3


def test_wrong_shape_names_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"cm\.png: confusion counts of shape \(2, 2\) for 3"):
        plot_confusion([[1, 0], [0, 1]], ("a", "b", "c"), "t", tmp_path / "cm.png")
    assert not (tmp_path / "cm.png").exists()
