"""Train one (task, variant) on Ray; runnable locally or as a Ray job.

    python -m pipelines.train --task aux --variant w2v2_aasist --seed 0
    ray job submit --working-dir . -- .venv/bin/python -m pipelines.train --task aux --variant sastnet \
        --storage-path /shared/ray_results --models-dir /shared/models --data-dir /shared/data
    python -m pipelines.train --task aux --variant toy --synthetic     # machinery smoke test

Settings come from params.yaml (``model``, ``train``); the options override a few of them.
Under ``ray job submit`` the working directory is a copy: give absolute/shared paths for
storage, models and data, and ``MLFLOW_TRACKING_URI`` (e.g. a tracking server).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import typer

from pipelines.params import load_params
from pipelines.train.driver import run_training, settings_from_params
from pipelines.train.job import TrainJob, job_from_params

app = typer.Typer(add_completion=False)


@app.command()
def main(
    task: str = typer.Option(..., help="vq | aux | dec | bin"),
    variant: str = typer.Option(..., help="model variant (w2v2_aasist, m_mae, sastnet, ...)"),
    seed: int | None = typer.Option(None, help="one of train.seeds [default: the first]"),
    params_file: Path = typer.Option(Path("params.yaml"), "--params"),
    workers: int | None = typer.Option(None, help="Ray Train workers (train.num_workers)"),
    epochs: int | None = typer.Option(None, help="override the schedule's epochs"),
    storage_path: str | None = typer.Option(None, help="Ray run storage (train.storage_path)"),
    models_dir: str | None = typer.Option(None, help="train.models_dir"),
    data_dir: str | None = typer.Option(None, help="common.data_dir"),
    synthetic: bool = typer.Option(False, help="toy model on synthetic clips (smoke test)"),
    synthetic_clips: int = typer.Option(96, help="training clips with --synthetic"),
    fault_injection: str | None = typer.Option(None, hidden=True, help="JSON, tests only"),
) -> None:
    params = load_params(params_file)
    seed = params.train.seeds[0] if seed is None else seed
    if data_dir:
        params.sections["common"] = dataclasses.replace(params.common, data_dir=data_dir)
    if synthetic:
        tp = params.train
        job = TrainJob(task=task, variant=variant, model_builder="pipelines.train.toy",
                       data_source="synthetic", num_train_clips=synthetic_clips, epochs=2,
                       batch_size=8, lr=3e-3, num_samples=4000, seed=seed,
                       weight_decay=tp.weight_decay, select_metric=tp.select_metric)
    else:
        job = job_from_params(params, task, variant, seed)
    job = dataclasses.replace(job, epochs=epochs or job.epochs,
                              fault_injection=json.loads(fault_injection) if fault_injection else {})
    settings = settings_from_params(params)
    settings = dataclasses.replace(
        settings, num_workers=workers or settings.num_workers,
        storage_path=storage_path or settings.storage_path,
        models_dir=models_dir or settings.models_dir)
    summary = run_training(job, settings)
    typer.echo(json.dumps(summary, indent=2))


if __name__ == "__main__":
    app()
