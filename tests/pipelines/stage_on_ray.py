"""A stage for the shared-Ray tests: joins (or starts) Ray as the pipeline's stages do, runs a
task, records the Ray it used, then waits and exits with the code asked for.

    python -m tests.pipelines.stage_on_ray <state.json> [seconds] [exit code]
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from pipelines.common.determinism import ray_runtime_env
from pipelines.common.process import stage_process
from pipelines.common.ray_local import connect_or_start_ray


def _worker_env() -> dict:
    return {"pid": os.getpid(), "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED")}


def main(state: Path, seconds: float, code: int) -> None:
    import ray

    connect_or_start_ray(runtime_env=ray_runtime_env(), num_cpus=1, include_dashboard=False,
                         log_to_driver=False)
    worker = ray.get(ray.remote(num_cpus=1)(_worker_env).remote())
    state.write_text(json.dumps({"pid": os.getpid(), "gcs": ray.get_runtime_context().gcs_address,
                                 "worker": worker,
                                 "shared": os.environ.get("SASTNET_SHARED_RAY")}))
    time.sleep(seconds)
    if code:
        raise SystemExit(code)


if __name__ == "__main__":
    with stage_process("stage_on_ray", argv=sys.argv[1:2]):
        main(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.0,
             int(sys.argv[3]) if len(sys.argv) > 3 else 0)
