"""Distributed programs: Ray feature extraction, Ray Train, MLflow tracking, WebDataset I/O."""

import os as _os

# Before any math library loads: the environment that decides CPU numerics (MKL_CBWR, ...).
from pipelines.common.determinism import pin_numeric_env as _pin_numeric_env

_pin_numeric_env()

# Nothing phones home from a research machine (README, Security): MLflow 3's usage telemetry
# and Ray's usage stats are on unless these say otherwise; a user's own setting wins.
_os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
_os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
