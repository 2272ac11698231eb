"""Per-system accuracy table (pipelines/evaluate/per_system.py) from prediction files."""

import numpy as np
import pandas as pd

from pipelines.evaluate.per_system import (
    load_system_predictions,
    per_system_accuracy,
    render_per_system,
    worst_systems,
)

# (codec, aux label): two CoRS codecs and bona fide, one CoSG system
CLIPS = {"test_seen": [("bonafide", 0), ("zoo_a", 1), ("zoo_b", 2)],
         "test_unseen": [("bonafide", 0), ("zoo_a", 1), ("zoo_b", 2)],
         "cosg_all": [("gen_x", 1), ("bonafide", 0)]}


def _write(root, model, fooled_by: str):
    for eval_set, clips in CLIPS.items():
        rows = []
        for i, (codec, label) in enumerate(clips * 5):
            pred = 3 if codec == fooled_by else label  # every clip of that system misclassified
            probs = np.eye(4)[pred] * 0.7 + 0.075
            rows.append({"key": f"{eval_set}_{i}", "codec": codec, "label_aux": label,
                         **{f"prob_{c}": probs[c] for c in range(4)}, "pred": pred})
        path = root / "aux" / model / "main" / f"{eval_set}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_parquet(path)
        # the rm_sil view is not part of this table
        pd.DataFrame(rows).assign(pred=0).to_parquet(path.with_name(f"{eval_set}.rm_sil.parquet"))


def test_per_system_accuracy_shows_which_system_fools_which_model(tmp_path):
    _write(tmp_path, "m_mae", fooled_by="zoo_b")
    _write(tmp_path, "sastnet", fooled_by="gen_x")
    frame = load_system_predictions(tmp_path)
    acc = per_system_accuracy(frame).set_index(["set", "model", "codec"])["accuracy"]
    assert acc[("cors", "m_mae", "zoo_b")] == 0.0 and acc[("cors", "m_mae", "zoo_a")] == 100.0
    assert acc[("cosg_all", "sastnet", "gen_x")] == 0.0 and acc[("cors", "sastnet", "zoo_b")] == 100.0
    n = per_system_accuracy(frame).set_index(["set", "model", "codec"])["n"]
    assert n[("cors", "m_mae", "zoo_a")] == 10  # test_seen + test_unseen
    worst = worst_systems(frame, k=2)
    assert {(w["model"], w["codec"]) for w in worst} == {("m_mae", "zoo_b"), ("sastnet", "gen_x")}
    text = render_per_system(frame)
    assert "## main / AUX / CoRS test, per codec" in text
    assert "| zoo_b | SEM | 10 | 0.0 | 100.0 |" in text
    assert "| *macro F1 (all classes)* | | | " in text


def test_write_evaluation_writes_the_per_system_table(tmp_path):
    from stages.evaluate import write_evaluation

    _write(tmp_path / "pred", "m_mae", fooled_by="zoo_a")
    tables, _ = write_evaluation(tmp_path / "pred", tmp_path / "reports", tmp_path / "metrics", 0)
    written = (tmp_path / "reports" / "tables" / "per_system.md").read_text()
    assert written == tables["per_system"] and "| zoo_a | None | 10 | 0.0 |" in written
