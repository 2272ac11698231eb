"""A stage's local Ray never joins a cluster it was not pointed at."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from local_ray_cluster import LocalRayCluster  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PRINT_GCS = "print('GCS', ray.get_runtime_context().gcs_address); ray.shutdown()"


def _gcs(code: str, env: dict) -> str:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    gcs = next(line.split()[1] for line in out.stdout.splitlines() if line.startswith("GCS "))
    return gcs.rsplit(":", 1)[1]  # its port: Ray names the host by this machine's IP or loopback


@pytest.mark.slow
def test_a_local_start_never_joins_the_ray_start_cluster_recorded_on_the_machine():
    tmp = Path(tempfile.mkdtemp(prefix="rl_", dir="/tmp"))  # short: Ray's socket paths
    try:
        with LocalRayCluster(num_nodes=1, cpus_per_node=1) as cluster:
            # what `ray start` leaves for a plain ray.init() to find: <RAY_TMPDIR>/ray/ray_current_cluster
            (tmp / "ray").mkdir()
            (tmp / "ray" / "ray_current_cluster").write_text(cluster.address)
            env = {k: v for k, v in cluster.env.items() if k != "RAY_ADDRESS"}
            env["RAY_TMPDIR"] = str(tmp)
            port = str(cluster.gcs_port)
            # the way the training stage started Ray before: it joins that cluster
            assert _gcs(f"import ray; ray.init(log_to_driver=False); {PRINT_GCS}", env) == port
            # the stages' local start and the training's: a node of their own
            local = _gcs("import ray; from pipelines.common.ray_local import init_local_ray; "
                         f"init_local_ray(num_cpus=1, include_dashboard=False); {PRINT_GCS}", env)
            assert local != port
            train = ("import ray; from pipelines.common.ray_local import connect_or_start_ray; "
                     f"connect_or_start_ray(); {PRINT_GCS}")
            assert _gcs(train, env) != port
            # asked through RAY_ADDRESS (as `ray job submit` does), the training joins it
            assert _gcs(train, {**env, "RAY_ADDRESS": cluster.address}) == port
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
