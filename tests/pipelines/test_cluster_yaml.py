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
