"""The model ``sastnet trace`` scores with, from wherever it lives: one loading function.

``load_trace_model(spec, task)`` accepts
  * nothing: ``models:/sastnet-<task>@champion`` from the MLflow registry;
  * an MLflow model URI (``models:/name@alias``, ``models:/name/3``, ``runs:/<id>/model``);
  * a bare MLflow run id (32 hex digits): its calibrated ``trace_model``, else its ``model``;
  * a folder holding a training checkpoint (``models/<task>/<variant>/best/`` or any folder with
    exactly one ``best`` checkpoint below it, e.g. ``models/aux/sastnet/seed0``).

Registry versions made by ``stages.register`` are trace models (``pipelines.trace.pyfunc``:
the scorer plus the temperature fitted on dev, where dev allows a fit; a saturated dev set does
not); a raw training version or a folder is scored uncalibrated. The output says which, and why
(``TraceModel.calibration_note``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.evaluate.calibrate import calibration_note
from pipelines.trace.origin import checkout_of, model_origins, resolve_whisper_dir, store_checkout
from sastnet.calibration import apply_temperature
from sastnet.taxonomy import CLASS_NAMES, TASKS

RUN_ID = re.compile(r"^[0-9a-f]{32}$")
MIN_INPUT_FRACTION = 0.5  # a clip shorter than half the model's input is too short to score


@dataclass
class TraceModel:
    """A scorer with what trace needs to know about it.

    ``scorer`` maps the packed (B, width) float32 input of ``pipelines.train.export`` to
    softmax probabilities; ``temperature`` is None when uncalibrated.
    """

    task: str
    scorer: Any
    num_samples: int
    whisper_dim: int | None
    source: str
    temperature: float | None = None
    calibration: dict = field(default_factory=dict)
    features: dict | None = None  # FeaturesParams fields for the Whisper encoder, if it needs one
    _whisper_fn: Callable | None = None
    # export folders (pipelines.export): (B, T) windows -> (B, C) softmax with Whisper inside,
    # in place of scorer + features (the torch or the ONNX Runtime network)
    window_scorer: Callable[[np.ndarray], np.ndarray] | None = None
    # checkouts a relative Whisper path is looked up in (``origin.model_origins``), never the cwd
    origins: tuple[Path, ...] = ()

    @property
    def classes(self) -> tuple[str, ...]:
        return CLASS_NAMES[self.task]

    @property
    def calibrated(self) -> bool:
        return self.temperature is not None

    @property
    def min_samples(self) -> int:
        return int(self.num_samples * MIN_INPUT_FRACTION)

    @property
    def calibration_note(self) -> str:
        """Whether the probabilities are calibrated and, when not, why (docs/trace.md)."""
        return calibration_note(self.temperature, self.calibration)

    @property
    def closed_set_note(self) -> str:
        """What the model cannot say: it has no class for a system it never saw."""
        return (f"closed set: every clip gets one of {', '.join(self.classes)}, a clip of a system "
                "the model never saw too (the default run's held-out codecs are all called one "
                "known class); the OOD flag (kNN open set when an index is used, else low "
                "confidence) is the only warning for those")

    def describe(self) -> dict:
        return {"task": self.task, "source": self.source, "calibrated": self.calibrated,
                "temperature": self.temperature, "calibration_note": self.calibration_note,
                "closed_set_note": self.closed_set_note, "input_s": self.num_samples / 16000,
                "min_input_s": self.min_samples / 16000, "dev_calibration": self.calibration}

    def locate_whisper(self) -> None:
        """Make the Whisper directory of ``features`` one that exists, found below the model's
        ``origins`` when relative; a ``FileNotFoundError`` naming what was tried and the fix."""
        if not self.whisper_dim or self.window_scorer is not None:
            return  # no Whisper, or an export folder's bundled one
        from pipelines.params.features import FeaturesParams

        features = dict(self.features or {})
        name = features.get("model", FeaturesParams.model)
        features["model"] = resolve_whisper_dir(name, self.origins, self.source)
        self.features = features

    def whisper_fn(self) -> Callable | None:
        """Whisper features exactly as the features stage computed them (lazy: loads once)."""
        if not self.whisper_dim:
            return None
        if self._whisper_fn is None:
            from pipelines.params.features import FeaturesParams
            from pipelines.whisper.features import FeatureWorker

            self.locate_whisper()
            self._whisper_fn = FeatureWorker(FeaturesParams(**self.features)).encode
        return self._whisper_fn

    def probabilities(self, waves: np.ndarray) -> np.ndarray:
        """(B, num_samples) 16 kHz windows -> (B, C) probabilities, calibrated when possible."""
        if self.window_scorer is not None:
            probs = np.asarray(self.window_scorer(waves), dtype=np.float64)
        else:
            probs = self._scorer_probabilities(waves)
        if probs.shape[1] != len(self.classes):
            raise ValueError(f"{self.source} has {probs.shape[1]} classes but task {self.task} "
                             f"has {len(self.classes)}: wrong --task for this model?")
        return apply_temperature(probs, self.temperature) if self.calibrated else probs

    def _scorer_probabilities(self, waves: np.ndarray) -> np.ndarray:
        import torch

        from pipelines.train.export import pack_inputs

        whisper_fn = self.whisper_fn()
        whisper = whisper_fn(list(waves)) if whisper_fn else None
        with torch.no_grad():
            packed = torch.from_numpy(pack_inputs(waves, whisper))
            return self.scorer(packed).double().numpy()


def find_best_dir(folder: Path) -> Path:
    """The checkpoint folder (``model.pt`` + ``config.json``) at or below ``folder``."""
    if (folder / "model.pt").exists() and (folder / "config.json").exists():
        return folder
    found = sorted(p.parent for p in folder.rglob("model.pt") if (p.parent / "config.json").exists())
    if len(found) == 1:
        return found[0]
    if not found:
        raise FileNotFoundError(f"{folder}: no training checkpoint (model.pt + config.json) in or "
                                "below it; train one (`dvc repro train`) or pass a registry URI")
    raise ValueError(f"{folder} holds {len(found)} checkpoints ({', '.join(map(str, found))}): "
                     "pass one of them")


def load_checkpoint_dir(folder: Path, task: str) -> TraceModel:
    """A training ``best/`` folder as an (uncalibrated) trace model."""
    import json

    from pipelines.evaluate.predict import load_trained_model
    from pipelines.train.export import ScoringModule

    best = find_best_dir(folder)
    model, job = load_trained_model(best)
    if job.task != task:
        raise ValueError(f"{best} is a {job.task} model, not {task}: pass --task {job.task}")
    meta = json.loads((best / "metrics.json").read_text()) if (best / "metrics.json").exists() else {}
    scorer = ScoringModule(model, job.num_samples, meta.get("whisper_dim"))
    return TraceModel(task=task, scorer=scorer, num_samples=job.num_samples,
                      whisper_dim=scorer.whisper_dim, source=str(best),
                      features=_checkout_features(best), origins=model_origins(best))


def _checkout_features(best: Path) -> dict | None:
    """The ``features`` params of the checkout holding ``best`` (how its Whisper features were
    made), or None when it is in none or its params.yaml is unreadable."""
    import dataclasses

    from pipelines.params import ParamsError, load_params

    checkout = checkout_of(best)
    if checkout is None or not (checkout / "params.yaml").is_file():
        return None
    try:
        return dataclasses.asdict(load_params(checkout / "params.yaml").features)
    except ParamsError:
        return None


def _registry_uri(spec: str | None, task: str) -> list[str]:
    if spec is None:
        return [f"models:/sastnet-{task}@champion"]
    if RUN_ID.match(spec):
        return [f"runs:/{spec}/trace_model", f"runs:/{spec}/model"]
    return [spec]


class PickleRefusedError(RuntimeError):
    """A logged model with only a pickled serving module, and no permission to unpickle."""


def load_logged_scorer(local_path: str | Path):
    """The serving module of a logged training model, rebuilt from its weights-only copy.

    The one place that knows the serving format (``pipelines/train/export.py``): the pyfunc
    trace model and ``--model`` URIs both load through here. Nothing is unpickled unless the
    version predates the weights-only copy and ``SASTNET_TRUST_PICKLE=1`` says the store is
    trusted (README "Security").
    """
    import os

    from pipelines.train.export import has_serving_weights, load_serving_weights

    local_path = Path(local_path)
    if has_serving_weights(local_path / "extra_files"):
        return load_serving_weights(local_path / "extra_files")
    if os.environ.get("SASTNET_TRUST_PICKLE") != "1":
        raise PickleRefusedError(
            f"{local_path} has no weights-only copy (registered before it existed); loading its "
            "pickle would run code from the artifact store. Retrain and register it again, or, "
            "if you trust that store, set SASTNET_TRUST_PICKLE=1.")
    import mlflow.pytorch

    return mlflow.pytorch.load_model(str(local_path), map_location="cpu").eval()


def check_registry_origin(uri: str, experiment: str | None) -> None:
    """Registry URIs must name a version trained in this project's experiment."""
    if not experiment or not uri.startswith("models:/"):
        return
    from mlflow.tracking import MlflowClient

    from pipelines.tracking.registry import check_origin

    client = MlflowClient()
    ref = uri[len("models:/"):]
    if "@" in ref:
        name, alias = ref.split("@", 1)
        version = client.get_model_version_by_alias(name, alias).version
    else:
        name, version = ref.rsplit("/", 1)
    check_origin(client, name, str(version), experiment)


def load_mlflow_model(uri: str, task: str, experiment: str | None = None) -> TraceModel:
    """A logged model: a calibrated trace model (pyfunc) or a raw training model (pytorch).

    Neither is unpickled: the pyfunc's settings are read from its ``MLmodel`` file and its
    scorer from the weights-only copy inside its artifacts.
    """
    import mlflow
    from mlflow.models import Model

    check_registry_origin(uri, experiment)
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    store = store_checkout(mlflow.get_tracking_uri())
    where = model_origins(local, store)  # relative paths: the store's checkout, not the cwd
    flavors = Model.load(str(local)).flavors
    if "pytorch" in flavors:
        scorer = load_logged_scorer(local)
        return TraceModel(task=task, scorer=scorer, num_samples=scorer.num_samples,
                          whisper_dim=scorer.whisper_dim, source=uri, origins=where)
    conf = flavors.get("python_function", {})
    cfg = conf.get("config") or {}  # the pyfunc's model_config, as MLmodel stores it
    scorer_rel = (conf.get("artifacts") or {}).get("scorer", {}).get("path")
    if not cfg.get("task") or not scorer_rel:
        raise ValueError(f"{uri} is not a sastnet trace model (its MLmodel has no task in the "
                         "pyfunc config or no scorer artifact)")
    if cfg["task"] != task:
        raise ValueError(f"{uri} is a {cfg['task']} model, not {task}: pass --task {cfg['task']}")
    scorer = load_logged_scorer(local / scorer_rel)
    return TraceModel(task=task, scorer=scorer, num_samples=scorer.num_samples,
                      whisper_dim=scorer.whisper_dim, source=uri,
                      temperature=cfg.get("temperature"),
                      calibration=dict(cfg.get("calibration") or {}), features=cfg.get("features"),
                      origins=where)


def load_trace_model(spec: str | None, task: str, experiment: str | None = None) -> TraceModel:
    """The model for ``task`` named by ``spec`` (see the module docstring).

    ``experiment``: when given, a registry version must come from a run of that experiment
    (``train.experiment``) in this store, or nothing is loaded (``ForeignModelError``).
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; allowed: {', '.join(TASKS)}")
    if spec is not None and Path(spec).is_dir():
        return load_checkpoint_dir(Path(spec), task)
    import mlflow
    from mlflow.exceptions import MlflowException

    from pipelines.tracking.runs import default_tracking_uri

    mlflow.set_tracking_uri(default_tracking_uri())  # MLFLOW_TRACKING_URI, else the repo's store
    errors = []
    for uri in _registry_uri(spec, task):
        try:
            return load_mlflow_model(uri, task, experiment)
        except (MlflowException, OSError) as err:
            errors.append(f"{uri}: {err}")
    raise FileNotFoundError(
        f"no model at {' or '.join(_registry_uri(spec, task))} (tracking store "
        f"{mlflow.get_tracking_uri()}): train and register one first (`dvc repro`), or pass "
        f"--model with a registry URI, run id or checkpoint folder. ({'; '.join(errors)})")
