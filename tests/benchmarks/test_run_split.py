"""B7 (benchmarks/run_split.py): a run's wall time split from its records, by hand-computed values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.registry import Skip
from benchmarks.run_split import run, split_run, split_stage


def _write_run(reports: Path, stages: dict[str, float], records: dict[str, dict],
               run_wall: float) -> None:
    (reports / "timings" / "stages").mkdir(parents=True)
    (reports / "stage_times.json").write_text(json.dumps({
        "stages": {name: {"wall_s": wall, "status": "ok"} for name, wall in stages.items()},
        "run": {"stages_run": list(stages), "wall_s": run_wall, "status": "ok"}}))
    for name, record in records.items():
        (reports / "timings" / "stages" / f"{name}.json").write_text(
            json.dumps({"dvc_stage": name, **record}))


def test_a_stage_splits_into_dvc_imports_ray_workers_mlflow_and_work():
    record = {"process_s": 100.0, "phases": {"imports": 8.0, "ray_start": 20.0, "ray_stop": 5.0,
                                             "train_workers_start": 10.0, "train_teardown": 2.0,
                                             "train_setup": 3.0, "mlflow": 13.0}}
    parts = split_stage(110.0, record)
    assert parts == {"dvc": 10.0, "imports": 8.0, "ray": 25.0, "train_workers": 12.0,
                     "mlflow": 13.0, "work": 42.0}  # 100 - 8 - 25 - 12 - 13 (set-up is work)
    assert split_stage(5.0, None) == {"dvc": 0.0, "imports": 0.0, "ray": 0.0,
                                      "train_workers": 0.0, "mlflow": 0.0, "work": 5.0}


def test_a_run_and_a_baseline_run_give_totals_and_ratios(tmp_path):
    before, after = tmp_path / "before", tmp_path / "after"
    _write_run(before, {"a": 50.0, "b": 150.0}, {
        "a": {"process_s": 45.0, "phases": {"imports": 5.0, "ray_start": 30.0}},
        "b": {"process_s": 140.0, "phases": {"imports": 10.0, "mlflow": 10.0}}}, 220.0)
    _write_run(after, {"a": 20.0, "b": 120.0}, {
        "a": {"process_s": 18.0, "phases": {"imports": 3.0, "ray_start": 5.0}},
        "b": {"process_s": 118.0, "phases": {"imports": 5.0, "mlflow": 2.0}}}, 150.0)
    split = split_run(before)
    assert split["totals"]["work"] == 10.0 + 120.0
    assert split["totals"]["between_stages"] == 20.0 and split["totals"]["overhead"] == 90.0
    result = run(tmp_path, stage_times=str(after / "stage_times.json"), baseline_run=str(before))
    figures = {f["id"]: f for f in result["figures"]}
    assert figures["B7.overhead"]["a"]["best"] == 150.0
    assert figures["B7.overhead"]["b"]["best"] == 10.0 + 111.0
    assert figures["B7.run_wall"]["ratio"] == round(220.0 / 150.0, 3)
    assert figures["B7.overhead_cut"]["ratio"] == round(90.0 / 29.0, 3)
    assert "| `a` | 20.0 | 2.0 | 3.0 | 5.0 |" in result["tables"][1]


def test_no_run_record_is_a_skip_that_says_what_to_run(tmp_path):
    with pytest.raises(Skip, match="run `bash scripts/run.sh` first"):
        split_run(tmp_path)
