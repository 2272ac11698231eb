"""A long stage for the process tests: under ``stage_process`` it starts what real stages start
(a local Ray with a running task, a multiprocessing pool) and waits, so a test can kill the
``dvc repro`` above it and check that nothing it started survives.

    python -m tests.pipelines.stage_with_workers <state.json> [seconds]
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

from pipelines.common.process import stage_process


def _sleep(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def main(state: Path, seconds: float) -> None:
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1)(_sleep).remote(seconds)
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            pool.apply_async(_sleep, (seconds,))
            time.sleep(1.0)  # let the Ray worker and the pool child start
            state.write_text(json.dumps({"pid": os.getpid()}))
            ray.get(task)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    with stage_process("stage_with_workers", argv=[]):
        main(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 120.0)
