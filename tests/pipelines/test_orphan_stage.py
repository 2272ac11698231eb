"""A stage whose `dvc repro` died while the stage was still importing (before the parent-death
signal and the parent watch were armed) must not run on orphaned (seen when a run was killed
between two trainings: the next one trained on, alone)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import sys, time
time.sleep(1.5)  # the imports of a real stage: its parent dies meanwhile
from pipelines.common.process import stage_process
with stage_process("orphan", argv=[], root=sys.argv[1]):
    open(sys.argv[2], "w").write("ran")
"""

PARENT = """
import subprocess, sys
err = open(sys.argv[3], "w")
subprocess.Popen([sys.executable, "-c", sys.argv[4], sys.argv[1], sys.argv[2]], stderr=err)
"""  # exits at once, like a killed dvc


def test_a_stage_orphaned_before_it_starts_exits_without_working(tmp_path):
    marker, err = tmp_path / "ran", tmp_path / "stderr.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DVC_STAGE": "orphan"}
    subprocess.run([sys.executable, "-c", PARENT, str(tmp_path), str(marker), str(err), CHILD],
                   env=env, check=True, timeout=60)
    deadline = time.time() + 60
    while time.time() < deadline and "orphaned" not in err.read_text() and not marker.exists():
        time.sleep(0.2)
    time.sleep(0.5)
    assert not marker.exists()
    assert "exited before the stage started" in err.read_text()
