"""The epoch a seed keeps: dev macro F1 first, dev cross-entropy only among equal F1."""

import pytest

from pipelines.train.loop import dev_selection_score


def test_higher_f1_always_wins_over_a_lower_loss():
    # one clip of ~1,000 dev clips moves macro F1 by >= 0.1 point; the loss term is <= 0.1
    assert dev_selection_score(90.2, 10.0) > dev_selection_score(90.0, 0.0)
    assert dev_selection_score(90.2, 50.0) > dev_selection_score(90.0, 0.0)  # loss capped


def test_equal_f1_the_lower_loss_wins_even_when_saturated():
    epochs = [(100.0, 0.30), (100.0, 0.05), (100.0, 0.12)]
    best = max(range(3), key=lambda i: dev_selection_score(*epochs[i]))
    assert best == 1
    assert dev_selection_score(100.0, 0.05) == pytest.approx(100.0 - 0.0005)
