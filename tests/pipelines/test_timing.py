"""Timing records of stage processes (pipelines.common.timing), read by benchmarks/run_split.py."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from pipelines.common import timing

ROOT = Path(__file__).resolve().parents[2]


def test_a_phase_inside_itself_counts_once_and_added_seconds_sum():
    timing._phases.clear()
    with timing.phase("mlflow"):
        with timing.phase("mlflow"):
            time.sleep(0.05)
        time.sleep(0.05)
    assert 0.1 <= timing.phases()["mlflow"] < 0.5  # not 0.15: the inner block is not added twice

    @timing.timed("ray_start")
    def start() -> str:
        time.sleep(0.02)
        return "up"

    assert start() == "up" and timing.phases()["ray_start"] >= 0.02
    timing.add_phase("train_teardown", 1.5)
    timing.add_phase("train_teardown", -3.0)  # a clock step backwards adds nothing
    assert timing.phases()["train_teardown"] == 1.5


STAGE = """
import sys, time
from pipelines.common import timing
from pipelines.common.process import stage_process
with stage_process("demo", argv=["--x", "1"]):
    with timing.phase("ray_start"):
        time.sleep(0.2)
    time.sleep(0.3)
    if sys.argv[1] == "fail":
        raise RuntimeError("boom")
"""


def test_a_stage_process_writes_its_record_on_success_and_on_failure(tmp_path):
    env = {"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(ROOT),
           "SASTNET_TIMINGS_DIR": str(tmp_path / "t"), "DVC_STAGE": "demo@1"}
    ok = subprocess.run([sys.executable, "-c", STAGE, "ok"], cwd=tmp_path, env=env,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    record = json.loads((tmp_path / "t" / "demo_--x_1.json").read_text())
    assert record["stage"] == "demo --x 1" and record["dvc_stage"] == "demo@1"
    assert record["status"] == "ok"
    assert 0.2 <= record["phases"]["ray_start"] < 1.0
    assert record["phases"]["imports"] > 0  # interpreter start + imports before the body
    assert record["process_s"] >= record["phases"]["imports"] + 0.5
    failed = subprocess.run([sys.executable, "-c", STAGE, "fail"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode != 0 and "boom" in failed.stderr
    assert json.loads((tmp_path / "t" / "demo_--x_1.json").read_text())["status"] == "failed"


def test_outside_dvc_no_record_is_written(tmp_path):
    env = {"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", STAGE, "ok"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert not (tmp_path / "reports").exists()
