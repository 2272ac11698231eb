"""Where a stage process's wall time goes: named phases, one record per process (issue 33).

    with phase("ray_start"):
        connect_or_start_ray()

``stage_process`` (``pipelines.common.process``) opens a record when a stage's body starts and
writes it when the stage ends, to ``reports/timings/stages/<stage>.json`` (``SASTNET_TIMINGS_DIR``
overrides the folder): the process's start (from the kernel), the seconds from there to the
stage body (interpreter start and module imports), the seconds of every phase the code named
(Ray start and stop, Ray Train worker start, MLflow calls, ...) and the end. The rest of the
process's life is the stage's own work. ``benchmarks/run_split.py`` puts these records beside
the run's ``reports/stage_times.json`` (DVC's wall time per stage) and splits a run's wall time
into work and overhead. Records are reports only: never a DVC output, never read by a stage.
"""

from __future__ import annotations

import functools
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import psutil

from pipelines.common.io import write_json

# Phase names the split knows (benchmarks/run_split.py); any other name is reported as is.
IMPORTS = "imports"  # process start -> stage body (interpreter, module imports)
RAY_START = "ray_start"  # ray.init: a local node started, or a cluster joined
RAY_STOP = "ray_stop"  # ray.shutdown
TRAIN_WORKERS = "train_workers_start"  # TorchTrainer.fit -> the first worker's loop starts
TRAIN_SETUP = "train_setup"  # worker loop start -> first epoch (model build, weights loaded)
TRAIN_TEARDOWN = "train_teardown"  # last epoch's report -> fit returns
MLFLOW = "mlflow"  # every MLflow call: runs, params, metrics, artifacts, registry

F = TypeVar("F", bound=Callable)
_phases: dict[str, float] = defaultdict(float)  # seconds per phase, this process
_open: dict[str, int] = defaultdict(int)  # blocks of each phase now running (nesting depth)
_record: dict | None = None


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Add the block's wall seconds to phase ``name`` of this process's record. A phase inside
    the same phase counts once (the outer block); inside another phase it counts in both, so
    keep different phases disjoint."""
    _open[name] += 1
    started = time.perf_counter()
    try:
        yield
    finally:
        _open[name] -= 1
        if _open[name] == 0:
            _phases[name] += time.perf_counter() - started


def timed(name: str) -> Callable[[F], F]:
    """Decorator: every call of the function is phase ``name``."""
    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            with phase(name):
                return fn(*args, **kwargs)
        return inner  # type: ignore[return-value]
    return wrap


def add_phase(name: str, seconds: float) -> None:
    """Add ``seconds`` measured elsewhere (e.g. in a Ray worker) to phase ``name``."""
    _phases[name] += max(float(seconds), 0.0)


def phases() -> dict[str, float]:
    return dict(_phases)


def timings_dir(root: str | Path | None = None) -> Path:
    if os.environ.get("SASTNET_TIMINGS_DIR"):
        return Path(os.environ["SASTNET_TIMINGS_DIR"])
    root = Path(root or os.environ.get("DVC_ROOT") or Path.cwd())
    return root / "reports" / "timings" / "stages"


def open_record(name: str, slug: str) -> None:
    """Start this process's record (called by ``stage_process`` when the stage body starts)."""
    global _record
    proc = psutil.Process()
    started = proc.create_time()
    now = time.time()
    _phases.clear()
    _phases[IMPORTS] = max(now - started, 0.0)
    _record = {"stage": name, "dvc_stage": os.environ.get("DVC_STAGE"), "slug": slug,
               "pid": os.getpid(), "process_started": started, "body_started": now}


def close_record(status: str, root: str | Path | None = None) -> Path | None:
    """Write this process's record; returns its path (None when no record was opened or the
    folder cannot be written: timing never fails a stage)."""
    global _record
    if _record is None:
        return None
    record, _record = _record, None
    now = time.time()
    record.update(finished=now, status=status,
                  process_s=round(now - record["process_started"], 3),
                  phases={k: round(v, 3) for k, v in _phases.items()})
    path = timings_dir(root) / f"{record['slug']}.json"
    try:
        write_json(path, record)
    except OSError:
        return None
    return path
