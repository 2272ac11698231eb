"""Wall time per DVC stage, taken from the run itself, kept out of every DVC-tracked output.

``StageClock`` reads ``dvc repro``'s output (``python -m pipelines.repro`` feeds it) and stamps each
stage's start ("Running stage 'x':") and end (DVC's next lock-file update, the next stage, or
the end of the run) into ``reports/stage_times.json``, with its wall seconds and its CPU
seconds (``cpu_s``: what dvc and the commands it ran and waited for used in between, from
``/proc/<dvc pid>/stat``; processes a stage leaves orphaned, e.g. Ray workers killed at
shutdown, are not counted). Wall-clock times differ on every run,
so they live only in that git- and DVC-ignored report (and in ``reports/summary.md``, which
``pipelines.repro`` re-renders at the end so it includes the last stages' times); a stage DVC
skipped keeps the time of the run that last executed it.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipelines.common.io import write_json

TIMES_FILE = "stage_times.json"
START = re.compile(r"^Running stage '(?P<stage>[^']+)':")
END = re.compile(r"^(Updating|Generating) lock file")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def process_cpu_s(pid: int) -> float | None:
    """CPU seconds of process ``pid`` plus its waited-for children (utime, stime, cutime,
    cstime of ``/proc/<pid>/stat``); None where /proc is not there (not Linux) or it exited."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state is fields[0]
    ticks = sum(int(x) for x in fields[11:15])  # stat fields 14-17
    return ticks / os.sysconf("SC_CLK_TCK")


def load_stage_times(reports_dir: str | Path) -> dict[str, Any]:
    path = Path(reports_dir) / TIMES_FILE
    return json.loads(path.read_text()) if path.is_file() else {"stages": {}}


class StageClock:
    """Turns ``dvc repro`` output lines into per-stage start/end records."""

    def __init__(self, reports_dir: str | Path, clock=time.time,
                 cpu_clock: Callable[[], float | None] = lambda: None) -> None:
        self.path = Path(reports_dir) / TIMES_FILE
        self.clock, self.cpu_clock = clock, cpu_clock
        self.data = load_stage_times(reports_dir)
        self.current: str | None = None
        self.started = 0.0
        self.cpu_started: float | None = None
        self.run_started = clock()
        self.data["run"] = {"started": _now(), "status": "running", "stages_run": []}

    def feed(self, line: str) -> None:
        start = START.match(line)
        if start or END.match(line):
            self._close("ok")
        if start:
            self.current, self.started = start.group("stage"), self.clock()
            self.cpu_started = self.cpu_clock()
            self.data["stages"][self.current] = {"started": _now(), "status": "running"}
            self.data["run"]["stages_run"].append(self.current)
            self._write()

    def finish(self, returncode: int) -> None:
        self._close("ok" if returncode == 0 else "failed")
        run = self.data["run"]
        run.update(finished=_now(), status="ok" if returncode == 0 else f"failed (exit {returncode})",
                   wall_s=round(self.clock() - self.run_started, 1))
        self._write()

    def _close(self, status: str) -> None:
        if self.current is None:
            return
        entry = self.data["stages"][self.current]
        entry.update(finished=_now(), wall_s=round(self.clock() - self.started, 1), status=status)
        cpu = self.cpu_clock()
        entry.pop("cpu_s", None)  # a skipped-then-rerun stage must not keep an old CPU time
        if cpu is not None and self.cpu_started is not None:
            entry["cpu_s"] = round(cpu - self.cpu_started, 1)
        self.current = None
        self._write()

    def _write(self) -> None:
        write_json(self.path, self.data)
