"""DVC stage ``train_baseline`` / ``train``: one (task, variant) on Ray Train, tracked in MLflow.

    python -m stages.train --task aux --variant w2v2_aasist

Writes ``models/<task>/<variant>/best/`` and ``models/<task>/<variant>/run.json``; details in
``pipelines/train/driver.py`` and docs/training.md.
"""

from __future__ import annotations

import json
from typing import Literal

import typer

from pipelines.params import load_params
from pipelines.train import job_from_params, run_training, settings_from_params
from sastnet.models.config import VARIANTS
from sastnet.taxonomy import TASKS


def main(task: Literal[TASKS] = typer.Option(..., help="the task whose labels are learnt"),
         variant: Literal[VARIANTS + ("toy",)] = typer.Option(
             ..., help="model variant (toy: the tiny test model)")) -> None:
    """Train one (task, variant) on Ray Train, tracked in MLflow."""
    params = load_params()
    summary = run_training(job_from_params(params, task, variant),
                           settings_from_params(params))
    print(json.dumps({k: summary[k] for k in ("task", "variant", "version", "dev", "train_s")}))


if __name__ == "__main__":
    typer.run(main)
