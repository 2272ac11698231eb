"""The registered serving model: trace behaviour (windows, resampling, calibration) as MLflow pyfunc.

``stages.register`` wraps each trained version (the pickled ``ScoringModule``) with the
temperature fitted on dev and registers the wrapper as a new version of ``sastnet-<task>``;
that version is what the ``champion`` alias points at. Serve it with

    PYTHONPATH=$PWD mlflow models serve -m models:/sastnet-aux@champion --env-manager local \
        --host 127.0.0.1 --port 5001

Request (``POST /invocations``; ``docs/trace.md`` has a full example)::

    {"dataframe_records": [{"name": "clip.wav", "audio_base64": "<base64 of the file's bytes>"}],
     "params": {"rm_sil": false}}

Response: ``{"predictions": [<record>, ...]}``, one record per input in the schema of
``docs/trace.schema.json`` (``#/$defs/record``) - the same records ``sastnet trace`` prints.

Safety (README "Security"): the network weights always load from the weights-only copy
(``load_logged_scorer``). ``sastnet trace`` reads this model's settings from its ``MLmodel``
file and unpickles nothing; ``mlflow models serve`` / ``mlflow.pyfunc.load_model`` unpickle the
small wrapper class, as MLflow does for every pyfunc: serve only from a store you trust.
"""

from __future__ import annotations

import base64
import binascii
import tempfile
from pathlib import Path

import mlflow
import mlflow.pyfunc
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from pipelines.tracking.runs import ensure_registered_model, model_requirements

ARTIFACT_PATH = "trace_model"
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", "audio_base64"), ColSpec("string", "name", required=False)]),
    params=ParamSchema([ParamSpec("rm_sil", "boolean", False),
                        ParamSpec("ood_confidence", "double", 0.5),
                        ParamSpec("batch_size", "long", 16)]))


class SastnetTraceModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: base64 audio files in, trace records out (``pipelines.evaluate.trace``)."""

    def load_context(self, context) -> None:
        from pipelines.evaluate.trace.models import TraceModel, load_logged_scorer
        from pipelines.evaluate.trace.origin import model_origins, store_checkout

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

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> list[dict]:
        from pipelines.evaluate.trace.core import TraceOptions, error_record, trace_files

        params = params or {}
        options = TraceOptions(rm_sil=bool(params.get("rm_sil", False)),
                               ood_confidence=float(params.get("ood_confidence", 0.5)),
                               batch_size=int(params.get("batch_size", 16)), progress=False)
        frame = pd.DataFrame(model_input)
        if "audio_base64" not in frame.columns:
            raise ValueError("request needs an 'audio_base64' column (base64 of an audio file's "
                             "bytes); see docs/trace.md")
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
    for mv in client.search_model_versions(f"name='{registered_name}' and run_id='{run_id}'"):
        if all(mv.tags.get(k) == v for k, v in wanted.items()):
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
    for k, v in {**tags, **wanted, "flavor": "sastnet-trace-pyfunc"}.items():
        client.set_model_version_tag(registered_name, mv.version, k, str(v))
    return str(mv.version)
