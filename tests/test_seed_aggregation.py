"""Seeds as a dimension of the tables: mean ± sample std with n, worked out by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from pipelines.evaluate.scoring import evaluate, load_predictions
from pipelines.evaluate.seeds import SeedStats, flat_metrics, flat_metrics_per_seed, format_stats
from pipelines.evaluate.tables import table_i, table_ii
from sastnet.taxonomy import num_classes

LABELS = [0, 1, 2, 3]
# macro F1 = weighted F1 here (one clip per class):
PREDS = {0: [0, 1, 2, 3],  # every class right: 100
         1: [0, 1, 2, 2],  # F1 1, 1, 2/3, 0: 66.667
         2: [0, 1, 1, 1]}  # F1 1, 1/2, 0, 0: 37.5


def _write(root, task, model, seed, experiment, eval_set, labels, preds):
    c = num_classes(task)
    probs = np.eye(c)[preds] * 0.9 + 0.1 / c
    df = pd.DataFrame({"key": [f"{eval_set}_{i}" for i in range(len(labels))],
                       f"label_{task}": labels, "pred": preds,
                       **{f"prob_{i}": probs[:, i] for i in range(c)}})
    path = root / task / model / f"seed{seed}" / experiment / f"{eval_set}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path)


def _row(markdown, name):
    lines = [ln for ln in markdown.splitlines() if ln.startswith(f"| {name} |")]
    assert len(lines) == 1, markdown
    return [c.strip() for c in lines[0].strip("|").split("|")]


@pytest.fixture()
def results(tmp_path):
    root = tmp_path / "predictions"
    for seed, preds in PREDS.items():
        _write(root, "aux", "sastnet", seed, "full", "cosg_all", LABELS, preds)
    return evaluate(load_predictions(root), seed=1)


def test_seed_stats_by_hand():
    # mean (100 + 66.667 + 37.5) / 3 = 68.056; deviations 31.944, -1.389, -30.556:
    # sample variance (1020.45 + 1.93 + 933.64) / 2 = 978.01 -> std 31.273
    stats = SeedStats.of({0: 100.0, 1: 200 / 3, 2: 37.5})
    assert stats.n == 3
    assert stats.mean == pytest.approx(68.0556, abs=1e-4)
    assert stats.std == pytest.approx(31.2731, abs=1e-4)
    assert format_stats(stats) == "68.06 ± 31.27"
    one = SeedStats.of({5: 40.0})
    assert one.n == 1 and math.isnan(one.std) and format_stats(one) == "40.00"
    assert SeedStats.of({0: float("nan"), 1: 10.0}).n == 1  # undefined for a seed: left out
    # per-seed differences, paired by seed: (37.5 - 100, 66.667 - 66.667) -> -31.25 ± 44.19
    diff = SeedStats.of({0: 37.5, 1: 200 / 3}).minus(SeedStats.of({0: 100.0, 1: 200 / 3, 2: 1.0}))
    assert diff.n == 2 and diff.mean == pytest.approx(-31.25) and diff.std == pytest.approx(44.1942,
                                                                                           abs=1e-4)


def test_table_cell_is_mean_and_std_over_seeds_with_n(results):
    md = table_i(results)
    assert "mean ± sample std over n training seeds" in md.splitlines()[0]
    assert _row(md, "SASTNet")[3] == "68.06 ± 31.27 / 68.06 ± 31.27 (n=3)"
    random_cell = _row(md, "Random")[3]
    assert random_cell.endswith("(n=3)") and "±" in random_cell  # one Random draw per seed


def test_metrics_files_hold_mean_std_n_and_every_seed(results):
    flat = flat_metrics(results)["full_aux"]
    assert flat["sastnet/cosg_all/macro_f1"] == pytest.approx(68.0556, abs=1e-4)
    assert flat["sastnet/cosg_all/macro_f1_std"] == pytest.approx(31.2731, abs=1e-4)
    assert flat["sastnet/cosg_all/n_seeds"] == 3
    per_seed = flat_metrics_per_seed(results)["full_aux"]
    assert [per_seed[f"sastnet/seed{k}/cosg_all/macro_f1"] for k in range(3)] == [
        100.0, pytest.approx(66.6667, abs=1e-4), 37.5]


def test_table_ii_difference_is_paired_by_seed(tmp_path):
    root = tmp_path / "p"
    for seed, (orig, rm) in {0: (PREDS[0], PREDS[2]), 1: (PREDS[1], PREDS[1])}.items():
        _write(root, "vq", "w2v2_aasist", seed, "seen250", "test_seen", LABELS, orig)
        _write(root, "vq", "w2v2_aasist", seed, "seen250", "test_seen.rm_sil", LABELS, rm)
    md = table_ii(evaluate(load_predictions(root)))
    row = _row(md, "S-VQ")
    assert row[1] == "83.33 ± 23.57 / 83.33 ± 23.57 (n=2)"  # 100, 66.667
    assert row[3] == "-31.25 ± 44.19 / -31.25 ± 44.19 (n=2)"  # -62.5, 0


def test_a_folder_that_is_not_a_seed_is_named(tmp_path):
    _write(tmp_path, "aux", "sastnet", 0, "full", "cosg_all", LABELS, PREDS[0])
    (tmp_path / "aux" / "sastnet" / "seed0").rename(tmp_path / "aux" / "sastnet" / "run0")
    with pytest.raises(ValueError, match="'run0' is not a seed folder"):
        load_predictions(tmp_path)


def test_summary_has_headline_fingerprint_and_stage_times(results, tmp_path):
    from pipelines.common.stage_times import StageClock
    from pipelines.evaluate.summary import rerender_summary, summary_record, write_summary
    from pipelines.tracking.fingerprint import run_fingerprint

    record = summary_record(results, tasks=["aux"], seeds=(0, 1, 2),
                            fingerprint=run_fingerprint("abc", ["data/shards"]))
    md = write_summary(tmp_path, record).read_text()
    row = _row(md, "SASTNet")
    assert row[1] == "3" and row[-2:] == ["68.06 ± 31.27", "68.06 ± 31.27"]  # CoSG (All)
    assert row[2] == "–"  # no CoRS predictions in this run
    assert "- params digest: `abc`" in md and "- commit: `" in md and "torch" in md
    assert "Not recorded" in md  # no stage clock yet
    ticks = iter([0.0, 1.0, 31.0, 32.0])
    clock = StageClock(tmp_path, clock=lambda: next(ticks))
    clock.feed("Running stage 'evaluate':\n")
    clock.finish(0)
    md = rerender_summary(tmp_path).read_text()
    assert _row(md, "`evaluate`")[1:2] == ["30 s"]



def test_summary_has_a_section_per_task_in_order_and_eer_for_bin(tmp_path):
    """The full profile trains VQ, AUX, DEC and BIN: summary.md shows every task (it showed
    only the first), and BIN's headline has the EER the paper reports for it."""
    from pipelines.evaluate.summary import render_summary, summary_record
    from pipelines.tracking.fingerprint import run_fingerprint

    root = tmp_path / "predictions"
    for seed, preds in PREDS.items():
        _write(root, "vq", "sastnet", seed, "seen250", "cosg_all", LABELS, preds)
    for seed in (0, 1):  # every clip right: EER 0 on both seeds
        _write(root, "bin", "sastnet", seed, "seen250", "cosg_all", [0, 0, 1, 1], [0, 0, 1, 1])
    record = summary_record(evaluate(load_predictions(root), seed=1), tasks=["vq", "bin"],
                            seeds=(0, 1, 2), fingerprint=run_fingerprint("abc", []))
    md = render_summary(record, {})
    assert md.index("## VQ task") < md.index("## BIN task")
    vq, bin_ = md.split("## BIN task")
    assert _row(vq, "SASTNet")[-2:] == ["68.06 ± 31.27", "68.06 ± 31.27"]
    assert "EER" not in _row(vq, "Model")
    header, row = _row(bin_, "Model"), _row(bin_, "SASTNet")
    assert header[-1] == "CoSG (All) EER" and row[1] == "2"
    # CoSG holds no bona fide clip: its EER is undefined and must not count as n=0
    spoof_only = tmp_path / "spoof_only"
    for seed in (0, 1):
        _write(spoof_only, "bin", "sastnet", seed, "seen250", "cosg_all", [1, 1], [1, 1])
    only = summary_record(evaluate(load_predictions(spoof_only), seed=1), tasks=["bin"],
                          seeds=(0, 1), fingerprint=run_fingerprint("abc", []))
    only_row = _row(render_summary(only, {}), "SASTNet")
    assert only_row[1] == "2" and only_row[-1] == "–"
    assert row[-3:] == ["100.00 ± 0.00", "100.00 ± 0.00", "0.00 ± 0.00"]


def test_a_summary_json_from_before_task_sections_still_renders():
    from pipelines.evaluate.summary import render_summary
    from pipelines.tracking.fingerprint import run_fingerprint

    legacy = {"generated": "2026-12-01T00:00:00+00:00", "task": "aux", "experiment": "seen250",
              "seeds": [0], "headline": "| Model | n |\n|---|---|\n| SASTNet | 1 |",
              "silence": None, "comparison": None, "fingerprint": run_fingerprint("abc", [])}
    md = render_summary(legacy, {})
    assert "## AUX task" in md and _row(md, "SASTNet") == ["SASTNet", "1"]

def test_the_official_test_list_predictions_are_scored(tmp_path):
    """The paper profile's predict stage writes test_list.parquet (official CodecFake+ test
    list); evaluate scores it like every other set (it refused it before)."""
    root = tmp_path / "predictions"
    for seed, preds in PREDS.items():
        _write(root, "aux", "sastnet", seed, "full", "test_list", LABELS, preds)
    group = flat_metrics(evaluate(load_predictions(root), seed=1))["full_aux"]
    assert group["sastnet/test_list/n_seeds"] == 3
    assert group["sastnet/test_list/macro_f1"] == pytest.approx(68.0556, abs=1e-3)


def _comparison(tmp_path, baseline_preds):
    from pipelines.evaluate.summary import comparison_table

    root = tmp_path / "predictions"
    for seed, preds in PREDS.items():
        _write(root, "aux", "sastnet", seed, "seen250", "cosg_all", LABELS, preds)
        _write(root, "aux", "w2v2_aasist", seed, "seen250", "cosg_all", LABELS,
               baseline_preds[seed])
    return comparison_table(evaluate(load_predictions(root), seed=1), "aux", "seen250")


def test_comparison_pairs_seeds_and_says_when_a_difference_is_a_finding(tmp_path):
    # SASTNet 100 / 66.67 / 37.5 against a perfect baseline: -0, -33.33, -62.5 per seed;
    # mean -31.94, sample std 31.27 (by hand): just outside the spread, the wrong way
    row = _row(_comparison(tmp_path, {s: LABELS for s in PREDS}), "SASTNet − S-AUX")
    assert row[1] == "CoSG (All)"
    assert row[2] == "-31.94 ± 31.27 (n=3)"
    assert row[3] == "+0.00, -33.33, -62.50"
    assert row[4] == "outside the spread (worse)"


def test_a_difference_inside_the_seed_spread_is_not_a_finding(tmp_path):
    # the baseline gets the same three scores as SASTNet, but on other seeds:
    # +33.33, -33.33, 0 per seed -> mean 0, std 33.33
    shuffled = {0: PREDS[1], 1: PREDS[0], 2: PREDS[2]}
    row = _row(_comparison(tmp_path, shuffled), "SASTNet − S-AUX")
    assert row[2] == "0.00 ± 33.33 (n=3)"
    assert row[4] == "inside the spread: not a finding"


def test_the_cors_to_cosg_gap_per_model_and_its_difference_by_hand(tmp_path):
    """Gap = CoSG - CoRS macro F1 per seed. SASTNet: CoRS 100 on every seed, CoSG (All)
    100 / 66.67 / 37.5 -> 0, -33.33, -62.5 (mean -31.94, std 31.27). Baseline: CoRS 100,
    CoSG (All) 37.5 on every seed -> -62.5 each (std 0). SASTNet loses less: +62.5, +29.17, 0
    per seed (mean 30.56, std 31.27): inside the spread."""
    from pipelines.evaluate.summary import comparison_table, gap_table

    root = tmp_path / "predictions"
    for seed, preds in PREDS.items():
        for model, cosg in (("sastnet", preds), ("w2v2_aasist", PREDS[2])):
            _write(root, "aux", model, seed, "seen250", "test_seen", LABELS, LABELS)
            _write(root, "aux", model, seed, "seen250", "test_unseen", LABELS, LABELS)
            _write(root, "aux", model, seed, "seen250", "cosg_all", LABELS, cosg)
    results = evaluate(load_predictions(root), seed=1)
    gaps = gap_table(results, "aux", "seen250")
    assert _row(gaps, "SASTNet")[2] == "-31.94 ± 31.27 (n=3)"
    assert _row(gaps, "S-AUX")[2] == "-62.50 ± 0.00 (n=3)"
    assert _row(gaps, "S-AUX")[1] == "–"  # no CoSG (kn. codec) predictions
    rows = [r for r in comparison_table(results, "aux", "seen250").splitlines()
            if "CoSG (All) - CoRS" in r]
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[2] == "30.56 ± 31.27 (n=3)" and cells[3] == "+62.50, +29.17, +0.00"
    assert cells[4] == "inside the spread: not a finding"
