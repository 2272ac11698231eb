"""cluster.yaml is a valid Ray cluster-launcher config that installs the project with setup.sh."""

from pathlib import Path

import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parents[2]


def test_cluster_yaml_passes_the_launchers_schema():
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    validate_config(prepare_config(config))
    assert any("scripts/setup.sh" in cmd for cmd in config["setup_commands"])
    assert config["available_node_types"]["gpu_worker"]["resources"]["GPU"] == 1


def _commands(config: dict) -> list[str]:
    keys = ("setup_commands", "head_setup_commands", "worker_setup_commands",
            "head_start_ray_commands", "worker_start_ray_commands", "initialization_commands")
    return [cmd for key in keys for cmd in config.get(key, []) or []]


def test_cluster_yaml_binds_nothing_to_all_interfaces():
    """Issue 20: MLflow (no auth; its aliases pick the model `sastnet trace` loads) and the Ray
    dashboard (its Jobs API runs any code) listened on 0.0.0.0."""
    import re

    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    commands = _commands(config)
    assert not any(bad in cmd for cmd in commands for bad in ("0.0.0.0", "::", "--host=*"))
    ray_head = " ".join(c for c in config["head_start_ray_commands"] if "ray start --head" in c)
    assert re.search(r"--dashboard-host[= ]127\.0\.0\.1\b", ray_head), ray_head
    mlflow = " ".join(c for c in commands if "mlflow server" in c)
    host = re.search(r"--host[= ](\S+)", mlflow)
    assert host and host.group(1) in ('"$HEAD_IP"', "127.0.0.1"), mlflow
    assert "hostname -I" in mlflow  # $HEAD_IP: the private address, not a public one
