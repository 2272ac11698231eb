"""``dvc repro`` with each stage's wall and CPU time recorded, under one shared local Ray.

    python -m pipelines.repro [dvc repro args]    # what scripts/run.sh runs

Starts one local Ray on 127.0.0.1 that every stage joins (``pipelines.common.ray_local.shared_ray``;
``SASTNET_SHARED_RAY=0``: each stage starts its own), runs ``dvc repro`` with the given
arguments, passes its output through, records each stage's times in ``reports/stage_times.json``
(``pipelines.common.stage_times``) and re-renders ``reports/summary.md`` at the end so it shows
the last stages' times. This module sits above every group (it runs the whole pipeline and
re-renders the evaluation's summary); the clock itself lives in ``common/`` so the summary can
read its file without importing the runner.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import typer

from pipelines.common.process import sigterm_exits
from pipelines.common.ray_local import shared_ray
from pipelines.common.stage_times import TIMES_FILE, StageClock, process_cpu_s
from pipelines.evaluate.summary import rerender_summary
from pipelines.params import load_params


def run_dvc_repro(args: list[str], reports_dir: str | Path = "reports") -> int:
    """``dvc repro *args`` with its stages timed; returns dvc's exit status. Interrupted
    (Ctrl-C, SIGTERM), it stops ``dvc`` (SIGINT, then SIGKILL after 10 s) before re-raising."""
    proc = subprocess.Popen(["dvc", "repro", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    clock = StageClock(reports_dir, cpu_clock=lambda: process_cpu_s(proc.pid))
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            clock.feed(line)
        returncode = proc.wait()
    except BaseException:
        _stop(proc)
        clock.finish(proc.returncode if proc.returncode is not None else 130)
        raise
    clock.finish(returncode)
    return returncode


def _stop(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGINT ``proc`` (DVC stops its stage and keeps its lock file consistent), SIGKILL it
    after ``grace_s``."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


app = typer.Typer(add_completion=False)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def main(ctx: typer.Context) -> None:
    """Run `dvc repro [ARGS]` under one local Ray and record each stage's wall time in
    reports/stage_times.json."""
    reports_dir = load_params().common.reports_dir
    signal.signal(signal.SIGTERM, sigterm_exits)  # a kill stops dvc and the shared Ray too
    with shared_ray(num_cpus=os.cpu_count()):
        returncode = run_dvc_repro(list(ctx.args), reports_dir)
    if rerender_summary(reports_dir):
        print(f"stage times: {Path(reports_dir) / TIMES_FILE}; summary: "
              f"{Path(reports_dir) / 'summary.md'}")
    sys.exit(returncode)


if __name__ == "__main__":
    app()
