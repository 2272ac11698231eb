"""DVC stage ``train_baseline`` / ``train``: one (task, variant, seed) on Ray Train, in MLflow.

    python -m stages.train --task aux --variant w2v2_aasist --seed 0

Writes ``models/<task>/<variant>/seed<k>/best/`` (the DVC output) and ``run.json`` beside it;
details in ``pipelines/train/driver.py`` and docs/training.md.
"""

from __future__ import annotations

import json

import typer

from pipelines.common.process import stage_process
from pipelines.params import load_params
from pipelines.train.driver import run_training, settings_from_params
from pipelines.train.job import job_from_params
from stages._cli import Seed, Task, Variant


def main(task: Task, variant: Variant, seed: Seed) -> None:
    """Train one (task, variant, seed) on Ray Train, tracked in MLflow."""
    params = load_params()
    summary = run_training(job_from_params(params, task, variant, seed),
                           settings_from_params(params))
    # registered later, by stage register (as its calibrated trace model): no version yet
    print(json.dumps({k: summary[k] for k in ("task", "variant", "seed", "model_uri", "dev",
                                              "train_s")}))


if __name__ == "__main__":
    with stage_process("train"):
        typer.run(main)
