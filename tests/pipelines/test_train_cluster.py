"""Training as a Ray job on a real two-node Ray cluster on this machine (slow).

Checks: two workers on two different nodes, DDP kept parameters identical, one MLflow run
with per-epoch metrics and a registered model version; and a worker SIGKILLed after a
checkpoint -> the worker group restarts from that checkpoint, finishes, still one run, with the
losses and bit-identical weights of the uninterrupted run (every epoch re-seeds from (seed,
epoch, rank) and the checkpoint carries the RNG states, so the epochs after the kill replay
exactly). Both trainings are the toy model with dropout (every step draws from torch's RNG),
3 epochs, 2 workers.

The same cluster, as ``ray start`` records it on a machine, shows that a stage's local Ray never
joins a cluster it was not pointed at (one cluster start for the module, not two).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from local_ray_cluster import RAY, LocalRayCluster
from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    with LocalRayCluster(num_nodes=2, cpus_per_node=1) as c:
        yield c
    assert not c.stragglers(), "the test cluster left processes behind"


def submit_training(cluster: LocalRayCluster, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env_vars = {"MLFLOW_TRACKING_URI": f"sqlite:///{out}/mlflow.db", "RAY_AUTH_MODE": "disabled",
                "SASTNET_GIT_COMMIT": "test"}
    cmd = [RAY, "job", "submit", "--address", cluster.dashboard_url, "--working-dir", str(ROOT),
           "--runtime-env-json", json.dumps({"env_vars": env_vars}), "--",
           sys.executable, "-m", "pipelines.train", "--task", "aux", "--variant", "toy",
           "--synthetic", "--synthetic-clips", "64", "--workers", "2",
           "--storage-path", str(out / "ray"), "--models-dir", str(out / "models"), *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env=cluster.env)


def _runs(out: Path) -> tuple[MlflowClient, list]:
    client = MlflowClient(tracking_uri=f"sqlite:///{out}/mlflow.db")
    experiment = client.get_experiment_by_name("sastnet")
    return client, client.search_runs([experiment.experiment_id])


@pytest.fixture(scope="module")
def straight(cluster, tmp_path_factory):
    """The uninterrupted 3-epoch training: checked below, and the reference of the resumed one."""
    out = tmp_path_factory.mktemp("straight")
    proc = submit_training(cluster, out, "--epochs", "3")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def _losses(out: Path) -> list[float]:
    client, runs = _runs(out)
    assert len(runs) == 1
    history = client.get_metric_history(runs[0].info.run_id, "train/loss")
    return [m.value for m in sorted(history, key=lambda m: m.step)]


def test_ray_job_trains_on_two_nodes_with_ddp_and_mlflow(straight):
    tmp_path = straight
    run = json.loads((tmp_path / "models/aux/toy/seed0/run.json").read_text())
    workers = run["workers"]
    assert sorted(w["rank"] for w in workers) == [0, 1]
    assert len({w["node_id"] for w in workers}) == 2, workers
    assert workers[0]["param_checksum"] == workers[1]["param_checksum"]
    assert (tmp_path / "models/aux/toy/seed0/best/model.pt").exists()

    client, runs = _runs(tmp_path)
    assert [r.info.run_id for r in runs] == [run["mlflow_run_id"]]
    history = client.get_metric_history(run["mlflow_run_id"], "dev/macro_f1")
    assert sorted(m.step for m in history) == [1, 2, 3]
    for key in ("train/ce", "train/awl_p0", "dev/weighted_f1", "train/samples_per_s"):
        assert client.get_metric_history(run["mlflow_run_id"], key)
    assert runs[0].data.params["git_commit"] == "test"
    tags = runs[0].data.tags  # the run fingerprint, in MLflow's own source/user tags
    assert tags["mlflow.source.git.commit"] == "test" and tags["fingerprint.git_dirty"] == "false"
    assert tags["mlflow.source.name"] and tags["mlflow.user"]
    assert tags["seed"] == "0" and tags["fingerprint.pkg.torch"] and tags["fingerprint.cpu_cores"]
    assert tags["commit"] == "test" and "seed 0" in tags["mlflow.note.content"]
    # logged, not registered: the register stage makes the one registry version per training
    assert run["model_uri"].startswith("models:/") and "version" not in run
    assert not client.search_model_versions(f"run_id='{run['mlflow_run_id']}'")
    model = client.get_logged_model(run["model_uri"].rsplit("/", 1)[-1])
    assert model.source_run_id == run["mlflow_run_id"] and model.tags["variant"] == "toy"
    assert model.tags["seed"] == "0"
    artifacts = {a.path for a in client.list_artifacts(run["mlflow_run_id"], "plots")}
    assert artifacts == {"plots/confusion_dev.png", "plots/training_curves.png"}


def test_killed_worker_resumes_from_checkpoint_with_the_uninterrupted_weights(cluster, straight,
                                                                               tmp_path):
    marker = tmp_path / "killed.pid"
    fault = {"kill_rank": 1, "after_epoch": 1, "marker": str(marker), "delay_s": 3}
    proc = submit_training(cluster, tmp_path, "--epochs", "3", "--fault-injection", json.dumps(fault))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert marker.exists(), "the fault was not injected"
    run = json.loads((tmp_path / "models/aux/toy/seed0/run.json").read_text())
    killed_pid = int(marker.read_text())
    assert killed_pid not in {w["pid"] for w in run["workers"]}, "worker group was not restarted"
    assert run["epochs"] == 3

    client, runs = _runs(tmp_path)
    assert len(runs) == 1, "a resumed training must stay one MLflow run"
    history = client.get_metric_history(run["mlflow_run_id"], "dev/macro_f1")
    # epoch 1 logged once: the restarted group resumed after it instead of starting over
    assert sorted(m.step for m in history) == [1, 2, 3]
    assert client.get_metric_history(run["mlflow_run_id"], "dev/best_macro_f1")
    assert runs[0].info.status == "FINISHED"

    assert len(_losses(straight)) == 3
    assert _losses(tmp_path) == _losses(straight)
    a, b = (torch.load(o / "models/aux/toy/seed0/best/model.pt", weights_only=True)
            for o in (tmp_path, straight))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from uninterrupted"



PRINT_GCS = "print('GCS', ray.get_runtime_context().gcs_address); ray.shutdown()"


def _gcs(code: str, env: dict) -> str:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    gcs = next(line.split()[1] for line in out.stdout.splitlines() if line.startswith("GCS "))
    return gcs.rsplit(":", 1)[1]  # its port: Ray names the host by this machine's IP or loopback


def test_a_local_start_never_joins_the_ray_start_cluster_recorded_on_the_machine(cluster):
    tmp = Path(tempfile.mkdtemp(prefix="rl_", dir="/tmp"))  # short: Ray's socket paths
    try:
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
