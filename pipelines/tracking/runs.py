"""MLflow tracking for training runs: one run per training, even across retries and resumes.

The driver opens (or reattaches to) the run and hands a small picklable ``RunTracker`` to
the Ray Train loop; only rank 0 calls it. It talks to MLflow through ``MlflowClient`` with
an explicit run id, so no process-global "active run" is involved and a restarted worker
group (or a rerun of the driver, which finds the run id in the latest checkpoint) keeps
logging into the same run.

Store: ``MLFLOW_TRACKING_URI`` when set, else ``sqlite:///<repo>/mlflow.db`` with artifacts
in ``<repo>/mlruns/`` (both git-ignored). Browse with ``mlflow ui --backend-store-uri
sqlite:///mlflow.db``. MLflow records artifact locations as absolute paths, so a moved or
copied checkout would read (and write) the original's ``mlruns/``: ``relocate_store`` rewrites
them to this checkout's on first use (``default_tracking_uri``).

Metric names: the training loop, Ray Train's checkpoint ranking and the registry speak in flat
names (``dev_macro_f1``, ``best_dev_macro_f1``); MLflow gets them grouped by what they were
measured on (``dev/macro_f1``, ``dev/best_macro_f1``, ``train/loss``, ``test_seen/macro_f1``),
so the UI's charts and tables fall into one section per split (``mlflow_metric_name``).
``RunTracker.log_metrics`` renames on the way in; read a run's metrics with
``mlflow_metric_name(<flat name>)``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient

from pipelines.common.timing import MLFLOW, timed
from pipelines.tracking.experiments import describe_experiment
from pipelines.tracking.fingerprint import git_state, params_profile

REPO_ROOT = Path(__file__).resolve().parents[2]


def default_tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI``, else the SQLite store in the repository (relocated to this
    checkout if it was moved or copied)."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    relocate_store(REPO_ROOT / "mlflow.db", REPO_ROOT / "mlruns")
    return f"sqlite:///{REPO_ROOT / 'mlflow.db'}"


_MLRUNS = re.compile(r"^(?:file://)?(/.*?/mlruns)/?$")


def relocate_store(db: Path, artifacts: Path) -> dict[str, str]:
    """Point a moved SQLite store's artifact paths at ``artifacts`` (this checkout's ``mlruns/``).

    Experiments created here have ``<checkout>/mlruns`` as artifact location, and every run,
    logged model and model version below them stores an absolute path starting with it. When
    that prefix is not ``artifacts``, the checkout was moved or copied: every text column that
    starts with the old prefix (plain or ``file://``) is rewritten in one transaction, so the
    store reads its own artifacts and writes new ones beside itself. Idempotent.

    Returns ``{old prefix: new prefix}`` (empty when nothing had to change).
    """
    if not db.is_file():
        return {}
    here = str(artifacts.resolve())
    con = sqlite3.connect(db, timeout=60)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        if "experiments" not in tables:
            return {}
        moved = {}
        for (location,) in con.execute("SELECT artifact_location FROM experiments"):
            match = _MLRUNS.match(location or "")
            if match and match.group(1) != here:
                moved[match.group(1)] = here
        if not moved:
            return {}
        with con:
            for table in tables:
                columns = [c[1] for c in con.execute(f'PRAGMA table_info("{table}")')
                           if any(t in (c[2] or "").upper() for t in ("CHAR", "TEXT", "CLOB"))]
                for column in columns:
                    for old, new in moved.items():
                        for a, b in ((f"file://{old}", f"file://{new}"), (old, new)):
                            con.execute(f'UPDATE "{table}" SET "{column}" = ? || substr("{column}", ?) '
                                        f'WHERE "{column}" = ? OR substr("{column}", 1, ?) = ?',
                                        (b, len(a) + 1, a, len(a) + 1, a + "/"))
        print(f"{db}: the checkout moved; MLflow artifact paths rewritten "
              + ", ".join(f"{old} -> {new}" for old, new in moved.items()), file=sys.stderr)
        return moved
    finally:
        con.close()


def _artifact_root(tracking_uri: str) -> str | None:
    """Local artifact folder beside a SQLite store (``mlruns/``); None lets a server decide."""
    if tracking_uri.startswith("sqlite:///"):
        return (Path(tracking_uri[len("sqlite:///"):]).parent / "mlruns").resolve().as_uri()
    return None


def get_or_create_experiment(client: MlflowClient, name: str, tracking_uri: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(name, artifact_location=_artifact_root(tracking_uri))


def git_commit() -> str:
    """The commit being trained, ``<sha>[-dirty]`` (see ``fingerprint.git_state``)."""
    commit, dirty = git_state(REPO_ROOT)
    return commit + ("-dirty" if dirty else "")


def data_fingerprint(paths: Iterable[str | Path]) -> str:
    """sha256 over the given index files (shard / feature indexes), the data's identity.

    The indexes list every shard with its clip counts; the shard stage rewrites them whenever
    the data changes, so their hash changes with the data (the same role as DVC's md5 of the
    output folder, which ``dvc.lock`` also records).
    """
    digest = hashlib.sha256()
    found = False
    for path in sorted(str(p) for p in paths):
        if Path(path).is_file():
            digest.update(path.encode() + b"\0" + Path(path).read_bytes())
            found = True
    return digest.hexdigest()[:16] if found else "none"


# Flat names that belong to the training split without saying so (pipelines/train/loop.py).
_TRAIN_METRICS = ("lr", "epoch_s", "samples_per_s")
# Splits a flat name can start with, longest first (``test_seen_rm_sil_macro_f1``).
_SPLITS = ("test_unseen_rm_sil", "test_seen_rm_sil", "cosg_known_rm_sil", "cosg_all_rm_sil",
           "cors_rm_sil", "test_unseen", "test_seen", "cosg_known", "cosg_all", "cors", "train",
           "dev")


def mlflow_metric_name(name: str) -> str:
    """The MLflow name of a flat metric name: ``<split>/<measure>``.

    ``train_loss`` -> ``train/loss``, ``lr`` -> ``train/lr``, ``dev_macro_f1`` ->
    ``dev/macro_f1``, ``best_dev_macro_f1`` -> ``dev/best_macro_f1``,
    ``calibration_temperature`` -> ``dev/calibration_temperature`` (fitted on dev),
    ``test_seen_rm_sil_eer`` -> ``test_seen_rm_sil/eer``. A name holding a ``/`` already is an
    MLflow name and is kept; so is a name of no known split.
    """
    if "/" in name:
        return name
    if name in _TRAIN_METRICS:
        return f"train/{name}"
    if name == "calibration_temperature":
        return "dev/calibration_temperature"
    best = name.startswith("best_")
    rest = name[len("best_"):] if best else name
    for split in _SPLITS:
        if rest.startswith(split + "_"):
            return f"{split}/{'best_' if best else ''}{rest[len(split) + 1:]}"
    return name


def relative_to_checkout(value: str) -> str:
    """``value`` with this checkout's absolute path dropped from every path in it (params read
    the same on every machine and in every copy of the repository)."""
    return value.replace(f"{REPO_ROOT}/", "").replace(str(REPO_ROOT), ".")


def flatten(prefix: str, value: Any) -> dict[str, Any]:
    """Nested dict -> ``{"a.b": v}`` for ``log_params``."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(f"{prefix}.{k}" if prefix else str(k), v))
        return out
    return {prefix: json.dumps(value) if isinstance(value, (list, tuple)) else value}


@dataclass(frozen=True)
class RunTracker:
    """Handle on one MLflow run, safe to pickle into Ray workers (use it from rank 0 only)."""

    tracking_uri: str
    run_id: str

    @property
    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.tracking_uri)

    @timed(MLFLOW)
    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Log flat-named ``metrics`` under their MLflow names (``mlflow_metric_name``)."""
        now = mlflow.utils.time.get_current_time_millis()
        self.client.log_batch(self.run_id, metrics=[
            mlflow.entities.Metric(mlflow_metric_name(k), float(v), now, step)
            for k, v in metrics.items()])

    @timed(MLFLOW)
    def log_params(self, params: dict[str, Any]) -> None:
        """Log the params the run does not hold yet, paths relative to the checkout."""
        existing = self.client.get_run(self.run_id).data.params
        fresh = {k: relative_to_checkout(str(v))[:6000] for k, v in params.items()
                 if k not in existing}
        if fresh:
            self.client.log_batch(self.run_id, params=[
                mlflow.entities.Param(k, v) for k, v in fresh.items()])

    @timed(MLFLOW)
    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    @timed(MLFLOW)
    def set_tags(self, tags: dict[str, str]) -> None:
        if tags:  # one round trip for all of them (a set_tag per tag: one SQLite commit each)
            self.client.log_batch(self.run_id, tags=[
                mlflow.entities.RunTag(k, str(v)) for k, v in tags.items()])

    @timed(MLFLOW)
    def log_datasets(self, datasets: dict[str, str], context: str) -> None:
        """Record DVC outputs the run read as MLflow dataset inputs (the run page's Datasets
        box): ``{path: DVC md5}``, the hash as the dataset's digest and in its source."""
        from mlflow.entities import Dataset, DatasetInput, InputTag

        def digest(md5: str) -> str:  # "<folder>@<md5>" inside an output; "not in dvc.lock"
            md5 = md5.rsplit("@", 1)[-1]
            return md5 if re.fullmatch(r"[0-9a-f]{8,32}(\.dir)?", md5) else "not-in-dvc-lock"

        self.client.log_inputs(self.run_id, datasets=[
            DatasetInput(Dataset(name=path, digest=digest(md5), source_type="dvc",
                                 source=json.dumps({"path": path, "dvc_md5": md5})),
                         tags=[InputTag("mlflow.data.context", context)])
            for path, md5 in datasets.items()])

    @timed(MLFLOW)
    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)

    @timed(MLFLOW)
    def metric_history(self, key: str) -> list[float]:
        return [m.value for m in sorted(self.client.get_metric_history(self.run_id, key),
                                        key=lambda m: m.step)]


@contextlib.contextmanager
def keeping_run_times(client: MlflowClient, run_id: str):
    """Keep a finished run's status and end time across a block that reopens it.

    ``mlflow.start_run(run_id=...)`` (logging a model into a finished run) terminates the run
    again at its end, so every run would read as lasting until its model was registered.
    """
    info = client.get_run(run_id).info
    try:
        yield
    finally:
        if info.end_time is not None:
            client.set_terminated(run_id, status=info.status, end_time=info.end_time)


@timed(MLFLOW)
def start_or_resume_run(experiment: str, run_name: str, *, resume_run_id: str | None = None,
                        tags: dict[str, str] | None = None,
                        tracking_uri: str | None = None) -> RunTracker:
    """Reattach to ``resume_run_id`` when it exists in the store, else open a new run.

    ``tags`` may hold MLflow's own (``mlflow.note.content``: the run's description).
    """
    uri = tracking_uri or default_tracking_uri()
    client = MlflowClient(tracking_uri=uri)
    if resume_run_id:
        try:
            run = client.get_run(resume_run_id)
            if run.info.status != "RUNNING":
                client.update_run(resume_run_id, status="RUNNING")
            return RunTracker(uri, resume_run_id)
        except mlflow.exceptions.MlflowException:
            pass  # the checkpoint outlived its store (e.g. a new mlflow.db): start a new run
    experiment_id = get_or_create_experiment(client, experiment, uri)
    describe_experiment(client, experiment_id, experiment, profile=params_profile(),
                        commit=git_commit())
    run = client.create_run(experiment_id, run_name=run_name, tags=tags or {})
    return RunTracker(uri, run.info.run_id)


# What a logged model needs to load (it is pickled: the project's own package included).
# Given explicitly: MLflow would otherwise infer the list by loading the model in a
# subprocess, ~15-20 s per logged model on 2 cores, and add unrelated packages.
MODEL_PACKAGES = ("torch", "cloudpickle", "numpy", "transformers", "sastnet-pipeline")


def model_requirements(packages: Iterable[str] = MODEL_PACKAGES) -> list[str]:
    """``name==version`` of each installed package of ``packages`` (a local version label such
    as torch's ``+cpu`` dropped: pip resolves the public release on any machine)."""
    from importlib import metadata

    reqs = []
    for name in packages:
        try:
            reqs.append(f"{name}=={metadata.version(name).split('+')[0]}")
        except metadata.PackageNotFoundError:
            pass
    return reqs


@timed(MLFLOW)
def log_model(tracker: RunTracker, model: Any, input_example: Any, *,
              tags: dict[str, str] | None = None) -> str:
    """Log ``model`` into the run (pickled: MLflow 3's default pt2 export would fix the batch
    size to the example's; plus the weights-only copy the model's ``save_weights_only`` writes,
    ``pipelines.train.export``, which is what ``sastnet trace`` loads) with an input example and
    ``tags``, without registering it: the registry gets one version per training, the
    calibrated trace model ``stages.register`` makes from this one.

    Returns the logged model's URI (``models:/m-<id>``).
    """
    import tempfile

    mlflow.set_tracking_uri(tracker.tracking_uri)
    client = tracker.client
    with keeping_run_times(client, tracker.run_id), mlflow.start_run(run_id=tracker.run_id), \
            tempfile.TemporaryDirectory() as tmp:
        info = mlflow.pytorch.log_model(model, name="model", input_example=input_example,
                                        serialization_format="pickle",
                                        pip_requirements=model_requirements(),
                                        code_paths=None, tags=tags or None,
                                        extra_files=_weights_only_copy(model, tmp) or None)
    return info.model_uri


def _weights_only_copy(model: Any, directory: str) -> list[str]:
    """The files of ``model.save_weights_only(directory)`` (``ScoringModule``), or none for a
    model without one."""
    save = getattr(model, "save_weights_only", None)
    return save(directory) if save is not None else []


def ensure_registered_model(client: Any, name: str) -> None:
    """Create registered model ``name`` unless the store has it (a task's first version)."""
    if not client.search_registered_models(f"name='{name}'"):
        client.create_registered_model(name)


@timed(MLFLOW)
def log_and_register_model(tracker: RunTracker, model: Any, input_example: Any, *,
                           registered_name: str, tags: dict[str, str]) -> str:
    """``log_model``, then register the logged model as a new version of ``registered_name``
    with ``tags`` (a raw scorer version: what a calibrated trace model wraps, in tests).

    Returns the new version number (a string, as MLflow gives it).
    """
    uri = log_model(tracker, model, input_example)
    ensure_registered_model(tracker.client, registered_name)
    version = tracker.client.create_model_version(
        registered_name, uri, run_id=tracker.run_id, tags={k: str(v) for k, v in tags.items()},
        model_id=uri.rsplit("/", 1)[-1])
    return str(version.version)


@timed(MLFLOW)
def log_to_existing_run(run_id: str, tracking_uri: str, metrics: dict[str, float],
                        tags: dict[str, str] | None = None) -> bool:
    """Add ``metrics`` (and tags) to a finished run, e.g. the test scores of a trained model.

    Returns False, logging nothing, when the run is not in that store (a new ``mlflow.db``).
    """
    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        client.get_run(run_id)
    except mlflow.exceptions.MlflowException:
        return False
    tracker = RunTracker(tracking_uri, run_id)
    tracker.log_metrics(metrics, step=0)
    if tags:
        tracker.set_tags(tags)
    return True
