"""Paper tables from a small predictions tree built here; F1 cells worked out by hand."""

import json

import numpy as np
import pandas as pd
import pytest

from pipelines.evaluate.scoring import evaluate, load_predictions
from pipelines.evaluate.seeds import flat_metrics
from pipelines.evaluate.tables import (
    display_name,
    table_bin,
    table_i,
    table_ii,
    table_iii,
    table_iv,
)
from sastnet.taxonomy import num_classes
from stages.evaluate import write_evaluation


def _write(root, experiment, task, model, eval_set, labels, preds):
    c = num_classes(task)
    probs = np.eye(c)[preds] * 0.9 + 0.1 / c
    df = pd.DataFrame({"key": [f"{eval_set}_{i}" for i in range(len(labels))],
                       f"label_{task}": labels, "pred": preds,
                       **{f"prob_{i}": probs[:, i] for i in range(c)}})
    path = root / task / model / experiment / f"{eval_set}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path)


@pytest.fixture()
def pred_root(tmp_path):
    root = tmp_path / "predictions"
    for model in ("w2v2_aasist", "sastnet_tuned"):
        _write(root, "full", "aux", model, "test_seen", [0, 1], [0, 1])
        _write(root, "full", "aux", model, "test_unseen", [2, 3], [2, 2])
        _write(root, "full", "aux", model, "cosg_known", [0, 1], [0, 1])
    _write(root, "full", "aux", "w2v2_aasist", "cosg_all", [0, 0, 0, 1], [0, 0, 1, 1])
    _write(root, "full", "aux", "sastnet_tuned", "cosg_all", [0, 0, 1, 2, 3, 3],
           [0, 0, 1, 2, 3, 3])
    _write(root, "seen250", "vq", "w2v2_aasist", "test_seen", [0, 1, 2, 3], [0, 1, 2, 3])
    _write(root, "seen250", "vq", "w2v2_aasist", "test_seen.rm_sil", [0, 1, 2, 3], [0, 1, 1, 1])
    return root


def _row(markdown, name):
    lines = [ln for ln in markdown.splitlines() if ln.startswith(f"| {name} |")]
    assert len(lines) == 1, markdown
    return [c.strip() for c in lines[0].strip("|").split("|")]


def test_table_i_cells_macro_and_weighted(pred_root):
    results = evaluate(load_predictions(pred_root), seed=1)
    md = table_i(results)
    assert "macro F1 / weighted F1" in md and "weighted F1" in md.splitlines()[0]
    # w2v2_aasist, cosg_all: class 0 F1 0.8 (support 3), class 1 F1 2/3 (support 1)
    # CoRS = seen + unseen: labels 0 1 2 3 / preds 0 1 2 2 -> F1 1, 1, 2/3, 0
    assert _row(md, "S-AUX") == ["S-AUX", "66.67 / 66.67 (n=1)", "100.00 / 100.00 (n=1)",
                                 "73.33 / 76.67 (n=1)"]
    assert _row(md, "SASTNet (Tuned W2V2)")[3] == "100.00 / 100.00 (n=1)"
    assert md.index("| Random |") < md.index("| S-AUX |") < md.index("| SASTNet")


def test_random_row_is_seeded(pred_root):
    a = table_i(evaluate(load_predictions(pred_root), seed=7))
    b = table_i(evaluate(load_predictions(pred_root), seed=7))
    assert _row(a, "Random") == _row(b, "Random")
    assert all(c != "–" for c in _row(a, "Random")[1:])


def test_table_ii_difference(pred_root):
    md = table_ii(evaluate(load_predictions(pred_root)))
    # rm_sil: labels 0 1 2 3 / preds 0 1 1 1 -> F1 1, 0.5, 0, 0 -> 37.5
    assert _row(md, "S-VQ") == ["S-VQ", "100.00 / 100.00 (n=1)", "37.50 / 37.50 (n=1)",
                                "-62.50 / -62.50 (n=1)", "–", "–", "–"]
    assert "rm_sil - original" in md


def test_tables_iii_iv_front_end_marks(pred_root):
    results = evaluate(load_predictions(pred_root))
    md4 = table_iv(results)
    assert _row(md4, "SASTNet (Tuned W2V2)")[1:4] == ["✓", "✓", "✓"]
    assert _row(md4, "S-AUX")[1:4] == ["✓", "", ""]
    assert _row(md4, "Random")[1:4] == ["", "", ""]
    md3 = table_iii(results)  # no seen250 AUX results: header only
    assert md3.count("\n| ") == 1


def test_display_names():
    assert display_name("w2v2_aasist", "dec") == "S-DEC"
    assert display_name("w2v2_m_mae_pretrained", "aux") == "W2V2 + M-MAE (Pretrained W2V2)"
    assert display_name("my_model", "aux") == "my_model"


@pytest.mark.slow  # renders ~10 PNGs
def test_write_evaluation_outputs(pred_root, tmp_path):
    tables, _ = write_evaluation(pred_root, tmp_path / "reports", tmp_path / "metrics", seed=1)
    assert sorted(tables) == ["per_system", "table_i", "table_ii", "table_iii", "table_iv"]
    assert (tmp_path / "reports" / "tables" / "table_i.md").read_text() == tables["table_i"]
    everything = json.loads((tmp_path / "metrics" / "evaluation.json").read_text())
    metrics = everything["full_aux"]
    assert metrics["w2v2_aasist/cosg_all/macro_f1"] == pytest.approx(73.3333, abs=1e-3)
    assert metrics["w2v2_aasist/cosg_all/weighted_f1"] == pytest.approx(76.6667, abs=1e-3)
    assert all(isinstance(v, (int, float)) for v in metrics.values())
    seen = everything["seen250_vq"]
    assert seen["w2v2_aasist/test_seen/rm_sil/macro_f1"] == 37.5
    png = tmp_path / "reports" / "plots" / "cm_full_aux_w2v2_aasist_cosg_all.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "reports" / "plots" / "cm_full_aux_w2v2_aasist_cors.png").exists()


def test_flat_metrics_drop_nan(pred_root):
    results = evaluate(load_predictions(pred_root))
    flat = flat_metrics(results)
    # cosg_known holds only bona fide + one class -> EER defined; a set with one class would not
    assert all(np.isfinite(v) for group in flat.values() for v in group.values())


def test_predictions_missing_columns_are_named(tmp_path):
    path = tmp_path / "vq" / "m" / "full" / "cosg_all.parquet"
    path.parent.mkdir(parents=True)
    pd.DataFrame({"key": ["a"], "label_vq": [0], "prob_0": [1.0]}).to_parquet(path)
    with pytest.raises(ValueError, match=r"lack column\(s\) prob_1, prob_2, prob_3"):
        load_predictions(tmp_path)


def test_confusion_plot_axes(tmp_path):
    import matplotlib.image

    from pipelines.evaluate.plots import plot_confusion_matrix
    cm = plot_confusion_matrix([0, 0, 1, 2], [0, 1, 1, 1], "dec", "t", tmp_path / "cm.png")
    np.testing.assert_allclose(cm, [[0.5, 0.5, 0], [0, 1, 0], [0, 1, 0]])  # rows = true
    assert matplotlib.image.imread(tmp_path / "cm.png").ndim == 3


def test_bin_table_eer(tmp_path):
    root = tmp_path / "p"
    # one-hot probs: prob_0 = 0.95 for predicted bona fide, 0.05 otherwise
    # labels 0 0 1 1 / preds 0 1 1 1 -> bona fide scores .95 .05, spoof .05 .05:
    # threshold .05 accepts all (FRR 0, FAR 1); threshold .95: FRR 1/2, FAR 0 -> EER 25
    _write(root, "full", "bin", "sastnet", "cosg_all", [0, 0, 1, 1], [0, 1, 1, 1])
    md = table_bin(evaluate(load_predictions(root)))
    assert _row(md, "SASTNet") == ["SASTNet", "–", "–", "25.00 (n=1)"]
    assert "EER" in md.splitlines()[0]


def test_seen250_only_run_still_gets_tables_i_and_iv(tmp_path):
    root = tmp_path / "predictions"
    _write(root, "seen250", "aux", "sastnet", "test_seen", [0, 1], [0, 1])
    _write(root, "seen250", "aux", "sastnet", "test_unseen", [0, 2], [0, 1])
    _write(root, "seen250", "aux", "sastnet", "cosg_all", [0, 3], [0, 3])
    tables, _ = write_evaluation(root, tmp_path / "reports", tmp_path / "metrics", seed=1)
    assert sorted(tables) == ["per_system", "table_i", "table_ii", "table_iii", "table_iv"]
    assert "utt. id <= 250 only" in tables["table_i"]
    assert "| SASTNet |" in tables["table_i"]
