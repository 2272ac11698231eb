"""Trace clips with a registered model: ``sastnet trace clip.wav [more.wav ...]``.

The model comes from the MLflow registry (default ``models:/sastnet-<task>@champion``) or any
MLflow model URI (``runs:/<id>/model``). Its serving form (``pipelines.train.export``) takes the
waveform, plus the flattened Whisper features for models that use Whisper; those are computed
by the ``features`` stage's own worker (same encoder settings).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from pipelines.common.audio_io import load_audio
from pipelines.train.export import pack_inputs
from sastnet.crop import repeat_crop
from sastnet.taxonomy import CLASS_NAMES

WhisperFn = Callable[[list[np.ndarray]], np.ndarray]


class PickleRefusedError(RuntimeError):
    """A registered version with only a pickled serving model, and no permission to unpickle."""


def load_registered(model_uri: str, experiment: str | None = None):
    """The serving module behind an MLflow model URI, with a clear error when it is missing.

    For a registry URI (``models:/<name>@<alias>`` or ``models:/<name>/<version>``) and an
    ``experiment``, the version must come from a run of that experiment in this store
    (``pipelines.tracking.registry.check_origin``), or nothing is loaded.
    """
    import mlflow.artifacts
    import mlflow.pytorch
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from pipelines.tracking.registry import check_origin
    from pipelines.tracking.runs import default_tracking_uri
    from pipelines.tracking.serving import has_serving_weights, load_serving_weights

    mlflow.set_tracking_uri(default_tracking_uri())  # MLFLOW_TRACKING_URI, else the repo's store
    try:
        if experiment and model_uri.startswith("models:/"):
            client = MlflowClient()
            ref = model_uri[len("models:/"):]
            if "@" in ref:
                name, alias = ref.split("@", 1)
                version = client.get_model_version_by_alias(name, alias).version
            else:
                name, version = ref.rsplit("/", 1)
            check_origin(client, name, str(version), experiment)
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri))
        if has_serving_weights(local / "extra_files"):
            return load_serving_weights(local / "extra_files")  # nothing unpickled
        if os.environ.get("SASTNET_TRUST_PICKLE") != "1":
            raise PickleRefusedError(
                f"{model_uri} has no weights-only copy (registered before it existed); loading "
                "its pickle would run code from the artifact store. Retrain and register it "
                "again, or, if you trust that store, set SASTNET_TRUST_PICKLE=1.")
        return mlflow.pytorch.load_model(model_uri, map_location="cpu").eval()
    except (MlflowException, OSError) as err:
        raise FileNotFoundError(
            f"no model at {model_uri} (tracking store {mlflow.get_tracking_uri()}): train and "
            f"register one first (`dvc repro`), or pass --model-uri. ({err})") from None


def trace_clips(paths: Sequence[str | Path], task: str, scorer, whisper_fn: WhisperFn | None
                ) -> pd.DataFrame:
    """Class probabilities for each clip: one row per file, ``p_<class>`` columns + ``decision``.

    Args:
        paths: 16 kHz mono audio files.
        task: ``vq``, ``aux``, ``dec`` or ``bin`` (names the classes).
        scorer: the serving module (``ScoringModule``) of a registered model.
        whisper_fn: waves -> (N, 128, d) Whisper features; needed when the model uses Whisper.
    """
    names = CLASS_NAMES[task]
    waves = [repeat_crop(load_audio(p), scorer.num_samples) for p in paths]
    whisper = None
    if scorer.whisper_dim:
        if whisper_fn is None:
            raise ValueError(f"this {task} model uses Whisper features: give a Whisper encoder")
        whisper = whisper_fn(waves)
    import torch

    with torch.no_grad():
        probs = scorer(torch.from_numpy(pack_inputs(np.stack(waves), whisper))).numpy()
    if probs.shape[1] != len(names):
        raise ValueError(f"model has {probs.shape[1]} classes but task {task} has {len(names)}: "
                         "wrong --task for this model?")
    df = pd.DataFrame(probs, columns=[f"p_{n}" for n in names])
    df.insert(0, "clip", [str(p) for p in paths])
    df["decision"] = [names[i] for i in probs.argmax(axis=1)]
    return df
