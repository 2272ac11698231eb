"""The registered serving model: trace behaviour (windows, resampling, calibration) as MLflow pyfunc.

``stages.register`` wraps each trained version (the pickled ``ScoringModule``) with the
temperature fitted on dev (none where dev is saturated: the output says so) and registers the
wrapper as a new version of ``sastnet-<task>``; that version is what the ``champion`` alias
points at. Serve it with

    sastnet serve                          # models:/sastnet-aux@champion on 127.0.0.1:5001

(``build_server``: MLflow's scoring server in this process, so it needs neither ``uvicorn`` on
``PATH`` nor ``PYTHONPATH``; ``mlflow models serve`` works too when the virtual environment's
``bin`` is on ``PATH`` and ``PYTHONPATH`` reaches the checkout.)

Request (``POST /invocations``; ``docs/trace.md`` has a full example)::

    {"dataframe_records": [{"name": "clip.wav", "audio_base64": "<base64 of the file's bytes>"}],
     "params": {"rm_sil": false}}

Response: ``{"predictions": [<record>, ...]}``, one record per input in the schema of
``docs/trace.schema.json`` (``#/$defs/record``) - the same records ``sastnet trace`` prints, kNN
column included. A request with a row that could not be traced is HTTP 400 whose ``message``
names each bad row and whose ``predictions`` still holds every row (``TraceRequestError``).

Safety (README "Security"): the network weights always load from the weights-only copy
(``load_logged_scorer``). ``sastnet trace`` reads this model's settings from its ``MLmodel``
file and unpickles nothing; ``mlflow models serve`` / ``mlflow.pyfunc.load_model`` unpickle the
small wrapper class, as MLflow does for every pyfunc: serve only from a store you trust.
That pickle names the class by its module path: versions registered before #34 name
``pipelines.tracking.pyfunc.SastnetTraceModel``, which stays importable (a re-export) so they load.
"""

from __future__ import annotations

import base64
import binascii
import sys
import tempfile
from pathlib import Path

import mlflow
import mlflow.pyfunc
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from pipelines.trace.core import TraceOptions, error_record, trace_files
from pipelines.trace.knn import KNN_INDEX_ENV, KnnOpenSet, served_knn_index
from pipelines.trace.models import TraceModel, check_registry_origin, load_logged_scorer
from pipelines.trace.origin import model_origins, store_checkout
from pipelines.tracking.runs import ensure_registered_model, model_requirements

ARTIFACT_PATH = "trace_model"
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", "audio_base64"), ColSpec("string", "name", required=False)]),
    params=ParamSchema([ParamSpec("rm_sil", "boolean", False),
                        ParamSpec("ood_confidence", "double", 0.5),
                        ParamSpec("batch_size", "long", 16),
                        ParamSpec("knn", "boolean", True)]))


class TraceRequestError(MlflowException):
    """Some rows of a request could not be traced: HTTP 400 naming each, every row's record kept.

    The scoring server answers an ``MlflowException`` with its HTTP status and
    ``{"error_code", "message", ...}``, the extra fields included: here ``predictions``, the
    records of every row (good rows scored, bad ones ``status: "error"``), so a mixed request
    keeps its good rows. The server prefixes ``message`` with the whole request frame (the
    base64 audio); this message stays the plain one.
    """

    def __init__(self, message: str, records: list[dict]) -> None:
        self._plain = message
        self.records = records
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE, predictions=records)

    @property
    def message(self) -> str:
        return self._plain

    @message.setter
    def message(self, value: str) -> None:
        pass  # keep the plain message (see the class docstring)


def failed_rows_message(records: list[dict]) -> str | None:
    """``"2 of 5 rows could not be traced: row 0 ('empty.wav'): empty file ...; ..."`` or None."""
    failed = [(i, r) for i, r in enumerate(records) if r["status"] == "error"]
    if not failed:
        return None
    rows = "; ".join(f"row {i} ({r['file']!r}): {r['error']}" for i, r in failed)
    return (f"{len(failed)} of {len(records)} rows could not be traced (rows count from 0 in "
            f"request order): {rows}. 'predictions' holds every row's record, the good rows "
            "scored.")


class SastnetTraceModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: base64 audio files in, trace records out (``pipelines.trace``)."""

    def load_context(self, context) -> None:
        cfg = context.model_config
        scorer = load_logged_scorer(context.artifacts["scorer"])  # weights-only copy
        # a relative Whisper path is the training checkout's: the one holding these artifacts
        # (<checkout>/mlruns/...) or the tracking store, never the server's working folder
        store = store_checkout(mlflow.get_tracking_uri())
        where = model_origins(context.artifacts["scorer"], store)
        self.trace_model = TraceModel(
            task=cfg["task"], scorer=scorer, num_samples=scorer.num_samples,
            whisper_dim=scorer.whisper_dim, source=cfg.get("source", ARTIFACT_PATH),
            temperature=cfg.get("temperature"), calibration=dict(cfg.get("calibration") or {}),
            features=cfg.get("features"), origins=where)
        self.trace_model.locate_whisper()  # fail at start, naming the folders tried
        # the kNN open set, as `sastnet trace` finds it ($SASTNET_KNN_INDEX, else the server's
        # folder's params, else the model's checkout), loaded once: same records as trace
        index = served_knn_index(where)
        self.knn = KnnOpenSet(index) if index is not None else None
        print(f"sastnet trace model: {self.trace_model.source}; probabilities "
              f"{self.trace_model.calibration_note}; kNN open set: "
              f"{index or 'none (OOD from confidence; set SASTNET_KNN_INDEX)'}", file=sys.stderr)

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> list[dict]:
        params = params or {}
        options = TraceOptions(rm_sil=bool(params.get("rm_sil", False)),
                               ood_confidence=float(params.get("ood_confidence", 0.5)),
                               batch_size=int(params.get("batch_size", 16)), progress=False,
                               knn_index=self.knn if params.get("knn", True) else None)
        frame = pd.DataFrame(model_input)
        if "audio_base64" not in frame.columns:
            raise MlflowException("request needs an 'audio_base64' column (base64 of an audio "
                                  "file's bytes); see docs/trace.md", INVALID_PARAMETER_VALUE)
        names = [str(n) if isinstance(n, str) and n else f"input{i}"
                 for i, n in enumerate(frame.get("name", [None] * len(frame)))]
        records: list[dict | None] = [None] * len(frame)
        sources, where = [], []
        for i, text in enumerate(frame["audio_base64"]):
            try:
                sources.append(base64.b64decode(str(text), validate=True))
                where.append(i)
            except (binascii.Error, ValueError) as err:
                records[i] = error_record(names[i], f"audio_base64 is not valid base64 ({err})")
        traced = trace_files(sources, {self.trace_model.task: self.trace_model}, options,
                             names=[names[i] for i in where])
        for i, record in zip(where, traced):
            records[i] = record
        message = failed_rows_message(records)
        if message:
            raise TraceRequestError(message, records)
        return records


def log_trace_model(*, run_id: str, tracking_uri: str, scorer_uri: str, task: str,
                    registered_name: str, temperature: float | None, calibration: dict,
                    features: dict | None, tags: dict[str, str]) -> str:
    """Log the pyfunc trace model of ``scorer_uri`` into ``run_id`` and register it.

    Idempotent: a version of ``registered_name`` from this run wrapping the same scorer with the
    same temperature is reused, so rerunning the register stage adds no versions.

    Returns:
        the version number (a string, as MLflow gives it).
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    wanted = {"trace_scorer": scorer_uri, "temperature": f"{temperature:.6g}" if temperature else "none"}
    # what the version says about itself: `calibrated` yes/no beside `temperature`, never a tag
    # that suggests a temperature exists when none was fitted (#40: `calibrated_from=4` on an
    # uncalibrated champion); `wraps` names the training's model
    stated = {**tags, **wanted, "calibrated": "yes" if temperature else "no",
              "flavor": "sastnet-trace-pyfunc"}
    for mv in client.search_model_versions(f"name='{registered_name}' and run_id='{run_id}'"):
        if all(mv.tags.get(k) == v for k, v in wanted.items()):
            _state_tags(client, registered_name, str(mv.version), stated, mv.tags)
            return str(mv.version)
    mlflow.set_tracking_uri(tracking_uri)
    config = {"task": task, "temperature": temperature, "calibration": calibration,
              "features": features, "source": f"{registered_name} (wraps {scorer_uri})"}
    with tempfile.TemporaryDirectory() as tmp:
        scorer_dir = mlflow.artifacts.download_artifacts(artifact_uri=scorer_uri, dst_path=tmp)
        with mlflow.start_run(run_id=run_id):
            info = mlflow.pyfunc.log_model(
                name=ARTIFACT_PATH, python_model=SastnetTraceModel(),
                artifacts={"scorer": str(Path(scorer_dir))}, model_config=config,
                signature=SIGNATURE, pip_requirements=model_requirements())
    ensure_registered_model(client, registered_name)  # trainings only log; register registers
    mv = client.create_model_version(registered_name, info.model_uri, run_id=run_id)
    _state_tags(client, registered_name, str(mv.version), stated, {})
    return str(mv.version)


STALE_TAGS = ("calibrated_from",)  # before #40: read as "a temperature was fitted", often wrong


def _state_tags(client, name: str, version: str, tags: dict, current: dict) -> None:
    """Set ``tags`` on a version (those that differ) and drop the stale ones of older stores."""
    for k, v in tags.items():
        if current.get(k) != str(v):
            client.set_model_version_tag(name, version, k, str(v))
    for k in STALE_TAGS:
        if k in current and k not in tags:
            client.delete_model_version_tag(name, version, k)


def build_server(model_uri: str, experiment: str | None = None, knn_index: str | None = None):
    """The scoring server app of a registered trace model (MLflow's own, ``/invocations``,
    ``/ping``, ``/version``), loaded in this process: no ``uvicorn`` on ``PATH`` needed.

    Args:
        model_uri: ``models:/sastnet-aux@champion``, ``runs:/<id>/trace_model``, ...
        experiment: when given, a registry version must come from a run of it (README
            "Security"; what ``sastnet trace`` checks too).
        knn_index: a kNN index folder, ``"none"``, or None (found as ``sastnet trace`` finds it).
    """
    import os

    from mlflow.pyfunc.scoring_server import init

    check_registry_origin(model_uri, experiment)
    if knn_index is not None:
        os.environ[KNN_INDEX_ENV] = str(knn_index)  # read by load_context
    return init(mlflow.pyfunc.load_model(model_uri))
