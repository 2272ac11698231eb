"""The trained model ``sastnet export`` writes out: from the registry or a training folder.

``load_export_source(spec, task, ...)`` accepts what ``sastnet trace --model`` accepts: a
registry URI (``models:/sastnet-aux@champion``, ``models:/sastnet-aux/18``), a run id, or a
training folder (``models/aux/sastnet/seed2``, one ``best/`` checkpoint in or below it). It
returns the network with what the folder needs to say about it: task, variant, seed, input
length, calibration temperature, the Whisper settings of the ``features`` stage, and where it
came from. MLflow is imported only for registry specs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from pipelines.evaluate.predict import load_trained_model
from pipelines.trace.models import find_best_dir, load_trace_model
from sastnet.taxonomy import TASKS


@dataclass
class ExportSource:
    model: nn.Module  # the trained SourceTracingModel, eval mode
    task: str
    variant: str
    seed: int | None
    experiment: str | None  # train.experiment (full | seen250) when known; None: the run's
    num_samples: int
    temperature: float | None  # None: uncalibrated
    calibration: dict = field(default_factory=dict)  # the register stage's dev figures
    features: dict | None = None  # FeaturesParams fields of the Whisper encoder, if it uses one
    source: str = ""  # the spec as given
    registry: dict = field(default_factory=dict)  # name, version, run_id for registry specs


def _registry_details(uri: str) -> dict:
    """Name, version, run id and tags of a ``models:/`` URI's version ({} for other URIs)."""
    if not uri.startswith("models:/"):
        return {}
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    ref = uri[len("models:/"):]
    if "@" in ref:
        name, alias = ref.split("@", 1)
        mv = client.get_model_version_by_alias(name, alias)
    else:
        name, version = ref.rsplit("/", 1)
        mv = client.get_model_version(name, version)
    return {"name": name, "version": str(mv.version), "run_id": mv.run_id, "tags": dict(mv.tags)}


def task_of_uri(uri: str) -> str | None:
    """``models:/sastnet-<task>...`` -> task (the register stage's naming), else None."""
    if uri.startswith("models:/sastnet-"):
        task = uri[len("models:/sastnet-"):].split("@")[0].split("/")[0]
        return task if task in TASKS else None
    return None


def registered_calibration(reports_dir: Path, task: str, variant: str, seed: int | None
                           ) -> tuple[float | None, dict]:
    """(temperature if the register stage applied one, its dev figures) of one trained model,
    from ``reports/calibration/calibration.json``; (None, {}) when the run has none."""
    path = reports_dir / "calibration" / "calibration.json"
    if not path.is_file() or seed is None:
        return None, {}
    entry = json.loads(path.read_text()).get(f"{task}/{variant}/seed{seed}") or {}
    return (float(entry["temperature"]) if entry.get("applied") else None), entry


def load_export_source(spec: str, task: str | None, *, mlflow_experiment: str | None,
                       reports_dir: Path, features: dict | None) -> ExportSource:
    """The model named by ``spec`` (see the module docstring).

    Args:
        spec: registry URI, run id, or training folder.
        task: the task; None = from the folder's job or the registry name ``sastnet-<task>``.
        mlflow_experiment: registry versions must come from this MLflow experiment
            (``train.mlflow_experiment``; README "Security").
        reports_dir: the run's reports (a training folder's temperature comes from its
            calibration report: the one the register stage wrapped it with).
        features: the ``features`` params, for models whose source does not store them.
    """
    if Path(spec).is_dir():
        return _from_folder(Path(spec), task, reports_dir, features)
    task = task or task_of_uri(spec)
    if task is None:
        raise ValueError(f"{spec}: cannot tell the task from it; pass --task")
    traced = load_trace_model(spec, task, mlflow_experiment)
    details = _registry_details(spec)
    tags = details.pop("tags", {})
    seed = tags.get("seed")
    return ExportSource(
        model=traced.scorer.model, task=task, variant=tags.get("variant", "unknown"),
        seed=int(seed) if seed not in (None, "") else None, experiment=None,
        num_samples=traced.num_samples, temperature=traced.temperature,
        calibration=traced.calibration, features=traced.features or features, source=spec,
        registry=details)


def _from_folder(folder: Path, task: str | None, reports_dir: Path,
                 features: dict | None) -> ExportSource:
    best = find_best_dir(folder)
    model, job = load_trained_model(best)
    if task is not None and job.task != task:
        raise ValueError(f"{best} is a {job.task} model, not {task}: pass --task {job.task}")
    temperature, calibration = registered_calibration(reports_dir, job.task, job.variant, job.seed)
    return ExportSource(model=model, task=job.task, variant=job.variant, seed=job.seed,
                        experiment=job.experiment, num_samples=job.num_samples,
                        temperature=temperature, calibration=calibration,
                        features=features if model.needs_whisper else None, source=str(best))


def describe_source(src: ExportSource) -> dict[str, Any]:
    """What config.json records about where the weights came from."""
    return {"model": src.source, "task": src.task, "variant": src.variant, "seed": src.seed,
            "experiment": src.experiment, **src.registry}
