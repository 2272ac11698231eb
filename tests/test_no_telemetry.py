"""Nothing phones home: importing the pipelines turns off MLflow's telemetry and Ray's usage
stats unless the user set them (README, Security)."""

import os
import subprocess
import sys


def _env_after_import(extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_DISABLE_TELEMETRY", "RAY_USAGE_STATS_ENABLED")}
    # MLflow's own reading of its switch (its is_telemetry_disabled() is also true under pytest)
    code = ("import pipelines, os; from mlflow.environment_variables import MLFLOW_DISABLE_TELEMETRY; "
            "print(os.environ['RAY_USAGE_STATS_ENABLED'], MLFLOW_DISABLE_TELEMETRY.get())")
    return subprocess.run([sys.executable, "-c", code], env={**env, **extra}, check=True,
                          capture_output=True, text=True).stdout.split()


def test_telemetry_off_by_default_and_user_setting_wins():
    assert _env_after_import({}) == ["0", "True"]
    assert _env_after_import({"RAY_USAGE_STATS_ENABLED": "1",
                              "MLFLOW_DISABLE_TELEMETRY": "false"}) == ["1", "False"]
