"""Ray Train training of SASTNet and its baselines, tracked in MLflow.

Public API: ``TrainJob`` / ``job_from_params`` (what to train), ``ClusterSettings`` /
``settings_from_params`` (where), ``run_training`` (driver), ``train_loop_per_worker``.

The names load on first use, so a process that needs only ``pipelines.train.checkpoint`` or
``pipelines.train.job`` (predict, evaluate, trace) does not import Ray Train and MLflow.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {"ClusterSettings": "driver", "run_training": "driver", "settings_from_params": "driver",
          "TrainJob": "job", "job_from_params": "job", "train_loop_per_worker": "loop"}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
