"""Ray Train training of SASTNet and its baselines, tracked in MLflow.

Public API: ``TrainJob`` / ``job_from_params`` (what to train), ``ClusterSettings`` /
``settings_from_params`` (where), ``run_training`` (driver), ``train_loop_per_worker``.
"""

from pipelines.train.driver import ClusterSettings, run_training, settings_from_params
from pipelines.train.job import TrainJob, job_from_params
from pipelines.train.loop import train_loop_per_worker

__all__ = ["ClusterSettings", "TrainJob", "job_from_params", "run_training",
           "settings_from_params", "train_loop_per_worker"]
