"""Metrics against values computed by hand (working in the comments)."""

import numpy as np
import pytest

from sastnet.metrics import (
    confusion_matrix_normalized,
    eer,
    macro_f1,
    per_class_recall,
    summarize,
    weighted_f1,
)

# true 0 0 0 1 1 2 / pred 0 0 1 1 2 2
# class 0: P 2/2 R 2/3 F1 0.8 | class 1: P 1/2 R 1/2 F1 0.5 | class 2: P 1/2 R 1 F1 2/3
Y_TRUE = [0, 0, 0, 1, 1, 2]
Y_PRED = [0, 0, 1, 1, 2, 2]


def test_macro_f1_by_hand():
    assert macro_f1(Y_TRUE, Y_PRED, 3) == pytest.approx(100 * (0.8 + 0.5 + 2 / 3) / 3)  # 65.56


def test_weighted_f1_by_hand():
    # supports 3, 2, 1
    assert weighted_f1(Y_TRUE, Y_PRED, 3) == pytest.approx(100 * (0.8 * 3 + 0.5 * 2 + 2 / 3) / 6)


def test_macro_and_weighted_differ_on_imbalanced_classes():
    y_true = [0] * 8 + [1, 2]
    y_pred = [0] * 8 + [0, 0]
    # class 0 F1 = 2*0.8*1/1.8 = 0.8889; classes 1, 2 F1 = 0
    assert macro_f1(y_true, y_pred, 3) == pytest.approx(100 * 0.8888889 / 3, rel=1e-6)
    assert weighted_f1(y_true, y_pred, 3) == pytest.approx(100 * 0.8888889 * 0.8, rel=1e-6)


def test_f1_is_over_the_task_classes():
    # 4-class task, class 3 has neither clips nor predictions: left out, not counted as 0
    assert macro_f1(Y_TRUE, Y_PRED, 4) == pytest.approx(macro_f1(Y_TRUE, Y_PRED, 3))
    # class 3 predicted once but absent from y_true: counts with F1 0
    # true 0 0 0 1 1 2 / pred 0 0 1 1 2 3: class 2 P 0/1 R 0/1 F1 0 -> (0.8 + 0.5 + 0 + 0) / 4
    y_pred = [0, 0, 1, 1, 2, 3]
    assert macro_f1(Y_TRUE, y_pred, 4) == pytest.approx(100 * (0.8 + 0.5 + 0 + 0) / 4)
    with pytest.raises(ValueError, match="outside 0..2"):
        macro_f1(Y_TRUE, y_pred, 3)


def test_training_dev_metrics_use_the_same_f1():
    import inspect

    from pipelines.train import loop

    source = inspect.getsource(loop.evaluate)
    assert "macro_f1(y_true, y_pred, num_classes)" in source and "f1_score" not in source


def test_confusion_matrix_rows_are_true_labels_and_sum_to_one():
    cm = confusion_matrix_normalized(Y_TRUE, Y_PRED, n_classes=4)
    expected = np.array([[2 / 3, 1 / 3, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
    np.testing.assert_allclose(cm, expected)


def test_per_class_recall_nan_for_absent_class():
    recall = per_class_recall(Y_TRUE, Y_PRED, n_classes=4)
    np.testing.assert_allclose(recall[:3], [2 / 3, 0.5, 1.0])
    assert np.isnan(recall[3])


def test_eer_by_hand():
    # bona fide (target) scores 0.9 0.8 0.3; spoof scores 0.35 0.2 0.1
    # threshold 0.35: bona fide 0.3 rejected (FRR 1/3), spoof 0.35 accepted (FAR 1/3)
    assert eer([0.9, 0.8, 0.3, 0.35, 0.2, 0.1], [0, 0, 0, 1, 1, 1]) == pytest.approx(100 / 3)


def test_eer_perfect_and_inverted():
    assert eer([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    assert eer([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 100.0


def test_eer_needs_both_classes():
    with pytest.raises(ValueError, match="both bona fide"):
        eer([0.1, 0.2], [1, 1])


def test_summarize_dec_task():
    probs = np.array([[0.9, 0.05, 0.05], [0.8, 0.1, 0.1], [0.3, 0.6, 0.1],
                      [0.35, 0.6, 0.05], [0.2, 0.3, 0.5], [0.1, 0.1, 0.8]])  # argmax = Y_PRED
    out = summarize(Y_TRUE, probs, "dec")
    assert out["n"] == 6
    assert out["macro_f1"] == pytest.approx(65.5555556)
    assert out["weighted_f1"] == pytest.approx(67.7777778)
    assert out["accuracy"] == pytest.approx(400 / 6)
    assert out["recall_REAL"] == pytest.approx(200 / 3) and out["recall_FREQ"] == 100.0
    assert out["eer"] == pytest.approx(100 / 3)


def test_summarize_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"probs must be \(N, 4\)"):
        summarize([0, 1], np.zeros((2, 3)), "vq")
