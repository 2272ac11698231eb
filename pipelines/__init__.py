"""Distributed programs: Ray feature extraction, Ray Train, MLflow tracking, WebDataset I/O."""

# Before any math library loads: the environment that decides CPU numerics (MKL_CBWR, ...).
from pipelines.common.determinism import pin_numeric_env as _pin_numeric_env

_pin_numeric_env()
