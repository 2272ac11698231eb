"""The driver: one ``TorchTrainer`` run for one (task, variant, seed), tracked in one MLflow run.

    python -m pipelines.train --task aux --variant w2v2_aasist --seed 0   # local Ray
    ray job submit --working-dir . -- .venv/bin/python -m pipelines.train --task aux ...

The Ray run is named ``<task>-<variant>-s<seed>-<job hash>`` under ``storage_path``: rerunning
the same job resumes from its latest checkpoint (Ray Train restores a run of the same name),
and the MLflow run id stored in that checkpoint is reattached, so a resumed training stays
one MLflow run. After training the best checkpoint (by the dev metric) becomes
``models/<task>/<variant>/seed<k>/best/`` (the DVC output) and is logged to the MLflow run,
tagged with its variant and seed (stage ``register`` registers it as one version of
``<prefix>-<task>``, calibrated);
``models/<task>/<variant>/seed<k>/run.json`` (beside the DVC output, not in it: it holds run
ids and wall time) records what happened. The MLflow run carries the run fingerprint
(``pipelines.tracking.fingerprint``) as tags.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchConfig, TorchTrainer

from pipelines.common import timing
from pipelines.common.determinism import ray_runtime_env
from pipelines.common.io import write_json
from pipelines.common.plots import plot_confusion
from pipelines.common.ray_local import connect_or_start_ray
from pipelines.params.train import model_dir
from pipelines.tracking.experiments import DESCRIPTION_TAG
from pipelines.tracking.fingerprint import mlflow_tags, params_digest, run_fingerprint
from pipelines.tracking.runs import (
    RunTracker,
    data_fingerprint,
    flatten,
    git_commit,
    log_model,
    relative_to_checkout,
    start_or_resume_run,
)
from pipelines.train.checkpoint import (
    latest_run_id,
    load_best,
    prune_unlisted_checkpoints,
    ray_checkpoint_budget,
    read_meta,
    write_best,
)
from pipelines.train.export import ScoringModule
from pipelines.train.job import TrainJob, build_job_model
from pipelines.train.loop import train_loop_per_worker
from pipelines.train.plots import plot_curves


@dataclass(frozen=True)
class ClusterSettings:
    """How and where to run: Ray workers, retries, storage, tracking."""

    num_workers: int = 2
    cpus_per_worker: float = 1.0
    use_gpu: bool = False
    max_failures: int = 2
    checkpoints_to_keep: int = 2
    storage_path: str = "ray_results"
    models_dir: str = "models"
    experiment: str = "sastnet"
    registered_model_prefix: str = "sastnet"
    tracking_uri: str | None = None  # None: MLFLOW_TRACKING_URI or sqlite:///<repo>/mlflow.db
    data_index_files: tuple[str, ...] = ()  # hashed into the run's data fingerprint
    data_dirs: tuple[str, ...] = ()  # DVC outputs the job reads: their dvc.lock hashes are tagged
    params_digest: str = "none"  # pipelines.tracking.fingerprint.params_digest of the params
    extra_params: dict[str, Any] = field(default_factory=dict)  # the stage's params, logged


def build_trainer(job: TrainJob, settings: ClusterSettings, tracker: RunTracker | None,
                  clock_file: str | None = None) -> TorchTrainer:
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"job": job, "tracker": tracker, "clock_file": clock_file},
        scaling_config=ScalingConfig(num_workers=settings.num_workers, use_gpu=settings.use_gpu,
                                     resources_per_worker={"CPU": settings.cpus_per_worker,
                                                           **({"GPU": 1} if settings.use_gpu else {})}),
        torch_config=TorchConfig(backend="nccl" if settings.use_gpu else "gloo"),
        run_config=RunConfig(
            name=job.run_name,
            storage_path=str(Path(settings.storage_path).resolve())
            if "://" not in settings.storage_path else settings.storage_path,
            failure_config=FailureConfig(max_failures=settings.max_failures),
            checkpoint_config=CheckpointConfig(
                num_to_keep=ray_checkpoint_budget(settings.checkpoints_to_keep),
                checkpoint_score_attribute=job.select_metric, checkpoint_score_order="max"),
        ),
    )


def run_training(job: TrainJob, settings: ClusterSettings) -> dict[str, Any]:
    """Train ``job`` on Ray, track it in MLflow, write ``best/`` and ``run.json``; return run.json."""
    if job.data_source == "shards" and len(job.train_shards) < settings.num_workers:
        # Ranks split the training data by whole shards: a rank without one has nothing to read.
        raise ValueError(
            f"train-{job.task} has {len(job.train_shards)} shard(s) for {settings.num_workers} "
            "workers; every worker needs at least one: lower shard.samples_per_shard (more, "
            "smaller shards) or train.num_workers")
    runtime_env = ray_runtime_env()
    # Ray Train's controller checks on its workers every 2 s by default, so a finished training
    # waited ~1-2 s more before fit() returned; 0.5 s costs nothing measurable on 2 cores
    runtime_env["env_vars"]["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"] = "0.5"
    connect_or_start_ray(runtime_env=runtime_env)
    storage = Path(settings.storage_path).resolve()
    out_dir = model_dir(settings.models_dir, job.task, job.variant, job.seed)
    resume_id = latest_run_id(storage / job.run_name)
    if "://" not in settings.storage_path:  # a killed run's checkpoints Ray lost track of
        prune_unlisted_checkpoints(storage / job.run_name)
    tracker = start_or_resume_run(
        settings.experiment, f"{job.task}/{job.variant}/seed{job.seed}", resume_run_id=resume_id,
        tracking_uri=settings.tracking_uri,
        tags={"task": job.task, "variant": job.variant, "seed": str(job.seed),
              "job": job.run_name})
    inputs = [*settings.data_dirs, *([job.init_from] if job.init_from else [])]
    fingerprint = run_fingerprint(settings.params_digest, inputs)
    tracker.set_tags({**mlflow_tags(fingerprint), **run_tags(job, fingerprint)})
    hashes = list(fingerprint["dvc_inputs"].items())  # (relative path, DVC md5), as `inputs`
    tracker.log_datasets(dict(hashes[:len(settings.data_dirs)]), "training")
    if job.init_from:
        tracker.log_datasets(dict(hashes[len(settings.data_dirs):]), "init")
    tracker.log_params({
        **flatten("job", {k: v for k, v in job.to_dict().items()
                          if k not in ("train_shards", "dev_shards", "fault_injection")}),
        **flatten("params", settings.extra_params),
        "job.num_train_shards": len(job.train_shards), "ray.num_workers": settings.num_workers,
        "ray.cpus_per_worker": settings.cpus_per_worker, "ray.use_gpu": settings.use_gpu,
        "git_commit": git_commit(), "data_hash": data_fingerprint(settings.data_index_files),
    })
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "resolved_config.json"
        config_path.write_text(json.dumps({"job": job.to_dict(),
                                           "cluster": dataclasses.asdict(settings)}, indent=2))
        tracker.log_artifact(config_path)

    started, fit_started = time.perf_counter(), time.time()
    with tempfile.TemporaryDirectory() as clock_dir:
        clock_file = str(Path(clock_dir) / "rank0_clock.json")
        try:
            result = build_trainer(job, settings, tracker, clock_file).fit()
        except Exception:
            tracker.finish("FAILED")
            raise
        train_s = time.perf_counter() - started
        _time_fit(clock_file, fit_started, time.time())

    ranked = sorted(result.best_checkpoints or [], key=lambda cm: cm[1][job.select_metric])
    if not ranked:
        raise RuntimeError(f"{job.run_name}: training reported no checkpoint")
    best_ckpt, best_metrics = ranked[-1]
    config = {"job": job.portable_dict(), "model_builder": job.model_builder}
    with best_ckpt.as_directory() as best_dir:
        write_best(best_dir, out_dir / "best", config)
        best_meta = read_meta(best_dir)
    with result.checkpoint.as_directory() as last_dir:
        last_meta = read_meta(last_dir)
        history = _history(last_dir)
    model_uri = _log_outputs(job, settings, tracker, out_dir / "best", best_meta, history)
    tracker.set_tags({DESCRIPTION_TAG: run_tags(job, fingerprint, outcome=(
        f" Kept epoch {best_meta['epoch']} of {last_meta['epoch']}: dev macro F1 "
        f"{best_meta['metrics']['dev_macro_f1']:.2f}."))[DESCRIPTION_TAG]})
    summary = {
        "task": job.task, "variant": job.variant, "seed": job.seed, "job": job.run_name,
        "mlflow_run_id": tracker.run_id, "tracking_uri": tracker.tracking_uri,
        "registered_model": f"{settings.registered_model_prefix}-{job.task}",
        "model_uri": model_uri,  # registered by stage register (as its calibrated trace model)
        "best_epoch": best_meta["epoch"], "epochs": last_meta["epoch"],
        "dev": {k: best_metrics[k] for k in ("dev_macro_f1", "dev_weighted_f1", "dev_loss")
                if k in best_metrics},
        "workers": last_meta["workers"], "train_s": round(train_s, 1),
        "ray_run_dir": str(storage / job.run_name),
    }
    write_json(out_dir / "run.json", summary)
    tracker.finish()
    return summary


def run_tags(job: TrainJob, fingerprint: dict[str, Any], outcome: str = "") -> dict[str, str]:
    """The tags a reader filters and compares by (``profile``, ``commit``) and the run's
    description (``mlflow.note.content``, shown on its page); ``outcome``: what training gave."""
    init = (f" Its wav2vec 2.0 starts from `{relative_to_checkout(job.init_from)}` (the "
            "baseline of the same task and seed, as in the paper)." if job.init_from else "")
    description = (f"`{job.variant}` trained on the `{job.task}` task with seed {job.seed}: "
                   f"{job.epochs} epochs of batch {job.batch_size}, lr {job.lr:g}; the epoch "
                   f"kept is the best by `{job.select_metric}` on dev.{init}{outcome} "
                   "Test and CoSG scores arrive with the `evaluate` stage; the parent run holds "
                   "the mean and std over seeds.")
    commit = fingerprint["git_commit"] + ("-dirty" if fingerprint["git_dirty"] else "")
    return {"profile": str(fingerprint.get("params_profile") or "custom"), "commit": commit,
            DESCRIPTION_TAG: description}


def _time_fit(clock_file: str, fit_started: float, fit_finished: float) -> None:
    """Split ``TorchTrainer.fit`` into worker start, set-up, epochs, MLflow and teardown
    (``pipelines.common.timing``) from rank 0's marks; nothing when rank 0 ran elsewhere."""
    try:
        clock = json.loads(Path(clock_file).read_text())
    except (OSError, ValueError):
        return  # another node's rank 0, or no epoch ran in this attempt
    timing.add_phase(timing.TRAIN_WORKERS, clock["loop_started"] - fit_started)
    timing.add_phase(timing.TRAIN_SETUP, clock["epochs_started"] - clock["loop_started"])
    timing.add_phase(timing.MLFLOW, clock["mlflow_s"])
    timing.add_phase(timing.TRAIN_TEARDOWN,
                     fit_finished - clock.get("epochs_finished", clock["epochs_started"]))


def _history(checkpoint_dir: str) -> list[dict]:
    from pipelines.train.checkpoint import load_training_state

    return load_training_state(checkpoint_dir)["history"]


def _log_outputs(job: TrainJob, settings: ClusterSettings, tracker: RunTracker, best_dir: Path,
                 best_meta: dict, history: list[dict]) -> str:
    """Figures, best-epoch metrics, and the logged model; returns the model's URI."""
    from sastnet.taxonomy import CLASS_NAMES

    with tempfile.TemporaryDirectory() as tmp:
        title = f"{job.task} / {job.variant} (dev, epoch {best_meta['epoch']})"
        confusion_png = Path(tmp) / "confusion_dev.png"
        plot_confusion(best_meta["confusion"], CLASS_NAMES[job.task], title, confusion_png)
        tracker.log_artifact(confusion_png, "plots")
        tracker.log_artifact(plot_curves(history, f"{job.task} / {job.variant}",
                                         Path(tmp) / "training_curves.png"), "plots")
        (Path(tmp) / "workers.json").write_text(json.dumps(best_meta["workers"], indent=2))
        tracker.log_artifact(Path(tmp) / "workers.json")
    # the registry ranks versions by best_<train.select_metric> (pipelines.tracking.registry)
    kept = ("dev_macro_f1", "dev_weighted_f1", "dev_loss", job.select_metric)
    tracker.log_metrics({f"best_{k}": best_meta["metrics"][k] for k in dict.fromkeys(kept)
                         if k in best_meta["metrics"]}, step=best_meta["epoch"])

    model, _ = build_job_model(job)
    state, _ = load_best(best_dir)
    model.load_state_dict(state)
    scoring = ScoringModule(model, job.num_samples, best_meta.get("whisper_dim"))
    with torch.no_grad():
        example = scoring.input_example()
    return log_model(tracker, scoring, example, tags={
        "variant": job.variant, "task": job.task, "seed": str(job.seed),
        job.select_metric: f"{best_meta['metrics'][job.select_metric]:.4f}", "job": job.run_name})


def settings_from_params(params: Any, *, data_dir: str | Path | None = None) -> ClusterSettings:
    """Cluster settings from the ``train`` section (the section itself is logged as params)."""
    tp = params.train
    data_dir = Path(data_dir or params.common.data_dir)
    return ClusterSettings(
        num_workers=tp.num_workers, cpus_per_worker=tp.cpus_per_worker, use_gpu=tp.use_gpu,
        max_failures=tp.max_failures, checkpoints_to_keep=tp.checkpoints_to_keep,
        storage_path=tp.storage_path, models_dir=tp.models_dir, experiment=tp.mlflow_experiment,
        registered_model_prefix=tp.registered_model_prefix,
        data_index_files=(str(data_dir / "shards" / "index.json"),
                          str(data_dir / "features" / "index.json")),
        data_dirs=(str(data_dir / "shards"), str(data_dir / "features")),
        params_digest=params_digest(params),
        extra_params={"model": dataclasses.asdict(params.model),
                      "train": dataclasses.asdict(params.train)})
