"""Pure parts of the figure modules: the features stage's wall split, the fast-vs-faithful
frame analysis, the DVC stage table."""

import numpy as np
import pytest

from benchmarks.dvc_repro import project_stage_count, stage_table
from benchmarks.whisper_features import explain_cosines, frame_cosines, frame_levels_db, split_wall


def test_split_wall_adds_up_to_the_stage_wall():
    report = {"actors": 2, "timing": {
        "plan_s": 0.5, "ray_start_s": 4.0, "shutdown_s": 1.5, "stage_wall_s": 20.0,
        "busy_s": 10.0, "encode_s": 8.0,
        "actor_startup_s": [{"spawn_s": 1.0, "import_s": 2.0, "load_s": 0.5},
                            {"spawn_s": 1.5, "import_s": 2.5, "load_s": 0.5}]}}
    split = split_wall(report)
    # slowest actor: 1.5 + 2.5 + 0.5 = 4.5 s; per actor 4.0 s encoding, 1.0 s I/O
    assert split["actor_spawn"] == 1.5 and split["actor_imports"] == 2.5
    assert split["encoder_compute"] == 4.0 and split["shard_io_decode"] == 1.0
    assert split["waiting"] == pytest.approx(20.0 - 0.5 - 4.0 - 1.5 - 4.5 - 5.0)
    parts = sum(v for k, v in split.items() if k != "stage_wall")
    assert parts == pytest.approx(split["stage_wall"])


def test_frame_cosines_and_which_frame_is_worst():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 128, 8)).astype(np.float32)
    b = a.copy()
    b[1, 97] = -a[1, 97]  # one flipped frame: cosine -1
    b[:, 127] = rng.standard_normal((3, 8))  # last frame unrelated
    cos = frame_cosines(b, a)
    assert cos[0, 0] == pytest.approx(1.0) and cos[1, 97] == pytest.approx(-1.0)
    waves = [np.ones(82_200, np.float32) * 0.1 for _ in range(3)]
    waves[1][97 * 640:98 * 640] = 0.0  # digital silence under the flipped frame
    levels = frame_levels_db(waves)
    assert levels[1, 97] < -100 and levels[0, 0] == pytest.approx(-20.0, abs=0.01)
    out = explain_cosines(cos, levels)
    assert out["min_at"] == {"clip": 1, "pooled_frame": 97, "seconds": [3.88, 3.92],
                             "level_dbfs": pytest.approx(levels[1, 97], abs=0.1)}
    assert out["mean_interior_quiet"] == pytest.approx(-1.0)
    assert next(iter(out["worst_pooled_frames_by_mean"])) in (97, 127)


def test_stage_table_totals_and_cpu_share():
    table, totals = stage_table({"stages": {
        "a": {"wall_s": 10.0, "cpu_s": 15.0, "status": "ok"},
        "b": {"wall_s": 30.0, "cpu_s": 5.0, "status": "ok"},
        "c": {"status": "running"}}})
    assert totals["wall_s"] == 40.0 and totals["cpu_s"] == 20.0 and totals["stages"] == 2
    assert "| a | 10.0 | 15.0 | 1.50 | ok |" in table
    assert "| **total** | 40.0 | 20.0 | 0.50 | |" in table
    _, no_cpu = stage_table({"stages": {"a": {"wall_s": 1.0}}})
    assert no_cpu["cpu_s"] is None


def test_project_stage_count_expands_foreach():
    assert project_stage_count() >= 10


def test_recorded_stage_estimates_the_one_actor_wall(tmp_path):
    import json

    from benchmarks.whisper_features import recorded_stage

    assert recorded_stage(tmp_path, {1: 10.0, 2: 12.0}) is None  # no record: no note
    (tmp_path / "timings").mkdir()
    (tmp_path / "features.json").write_text(json.dumps({"shards": 7}))  # as write_report splits it
    (tmp_path / "timings" / "features.json").write_text(json.dumps(
        {"computed_clips": 1000, "actors": 2, "wall_s": 70.0, "clips_per_actor_s": 10.0}))
    note = recorded_stage(tmp_path, {1: 19.0, 2: 21.0})
    assert "1 actor would take ~119 s" in note and "~1.70x" in note  # (19 + 1000 / 10) / 70
