"""stage_clock records each stage's CPU seconds next to its wall seconds."""

import json
import os
import subprocess
import sys

from pipelines.common.stage_times import StageClock, process_cpu_s


def test_each_stage_gets_its_cpu_seconds(tmp_path):
    walls, cpus = iter([0.0, 1.0, 11.0, 11.0, 14.0, 14.0]), iter([5.0, 12.5, 12.5, 13.0])
    clock = StageClock(tmp_path, clock=lambda: next(walls), cpu_clock=lambda: next(cpus))
    for line in ["Running stage 'a':", "Updating lock file 'dvc.lock'",
                 "Running stage 'b':", "Updating lock file 'dvc.lock'"]:
        clock.feed(line)
    clock.finish(0)
    stages = json.loads((tmp_path / "stage_times.json").read_text())["stages"]
    assert (stages["a"]["wall_s"], stages["a"]["cpu_s"]) == (10.0, 7.5)
    assert (stages["b"]["wall_s"], stages["b"]["cpu_s"]) == (3.0, 0.5)


def test_no_cpu_clock_no_cpu_field(tmp_path):
    walls = iter([0.0, 1.0, 2.0, 3.0])
    clock = StageClock(tmp_path, clock=lambda: next(walls))
    clock.feed("Running stage 'a':")
    clock.finish(0)
    assert "cpu_s" not in json.loads((tmp_path / "stage_times.json").read_text())["stages"]["a"]


def test_process_cpu_counts_waited_for_children():
    before = process_cpu_s(os.getpid())
    subprocess.run([sys.executable, "-c", "import time\nt = time.process_time()\n"
                    "while time.process_time() - t < 0.5: pass"], check=True)
    after = process_cpu_s(os.getpid())
    assert before is not None and after - before >= 0.4
    assert process_cpu_s(2**22 + 12345) is None  # no such process
