"""The MLflow model registry: the ``champion`` alias of ``sastnet-<task>`` moves only on merit.

Every training registers a version (``pipelines.train.driver``); ``promote_if_better``
compares the candidate's dev metric (the ``best_<metric>`` of its run) with the current
champion's and moves the alias only when the candidate is strictly better, so rerunning an
older or worse model never demotes a good one. Serve the champion with
``mlflow.pyfunc.load_model("models:/sastnet-aux@champion")``.

    python -m stages.register        # all trained (task, variant), writes reports/registry.json
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipelines.tracking.runs import default_tracking_uri

CHAMPION = "champion"


@dataclass(frozen=True)
class Promotion:
    registered_model: str
    candidate_version: str
    candidate_score: float
    previous_champion: str | None
    previous_score: float | None
    promoted: bool
    champion_version: str

    def to_dict(self) -> dict:
        return asdict(self)


def version_score(client: MlflowClient, name: str, version: str, metric: str) -> float:
    """The dev metric of the run that produced a model version (``best_<metric>``)."""
    run_id = client.get_model_version(name, version).run_id
    metrics = client.get_run(run_id).data.metrics
    key = f"best_{metric}"
    if key not in metrics:
        raise KeyError(f"{name} v{version}: its run {run_id} has no metric {key!r}")
    return float(metrics[key])


class ForeignModelError(ValueError):
    """A model version whose run is not in this project's experiment."""


def check_origin(client: MlflowClient, name: str, version: str, experiment: str) -> str:
    """Raise ``ForeignModelError`` unless ``name`` v``version`` was produced by a run of
    ``experiment`` in this store; returns the run id.

    Registry aliases can be moved by anyone who can reach the tracking server: this keeps a
    version registered from elsewhere (another experiment, a run this store does not hold)
    from being loaded as if this project had trained it.
    """
    mv = client.get_model_version(name, version)
    try:
        run = client.get_run(mv.run_id)
    except MlflowException:
        raise ForeignModelError(f"{name} v{version}: its run {mv.run_id!r} is not in this "
                                "tracking store; refusing to load it") from None
    got = client.get_experiment(run.info.experiment_id).name
    if got != experiment:
        raise ForeignModelError(f"{name} v{version} comes from run {mv.run_id} of experiment "
                                f"{got!r}, not {experiment!r} (train.experiment); refusing to "
                                "load it. Point the alias at a version trained here, or pass "
                                "the experiment it belongs to.")
    return mv.run_id


def current_champion(client: MlflowClient, name: str, alias: str = CHAMPION) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def promote_if_better(name: str, version: str, *, metric: str = "dev_macro_f1",
                      alias: str = CHAMPION, tracking_uri: str | None = None) -> Promotion:
    """Point ``alias`` at ``version`` iff it beats the current holder on ``metric`` (strictly)."""
    client = MlflowClient(tracking_uri=tracking_uri or default_tracking_uri())
    score = version_score(client, name, version, metric)
    holder = current_champion(client, name, alias)
    holder_score = version_score(client, name, holder, metric) if holder else None
    promoted = holder != version and (holder_score is None or score > holder_score)
    if promoted:
        client.set_registered_model_alias(name, alias, version)
    return Promotion(registered_model=name, candidate_version=str(version),
                     candidate_score=score, previous_champion=holder,
                     previous_score=holder_score, promoted=promoted,
                     champion_version=str(version) if promoted else str(holder))


def champion_info(name: str, *, metric: str = "dev_macro_f1", alias: str = CHAMPION,
                  tracking_uri: str | None = None) -> dict | None:
    """Champion version of ``name`` with its variant tag and score, or None."""
    client = MlflowClient(tracking_uri=tracking_uri or default_tracking_uri())
    holder = current_champion(client, name, alias)
    if holder is None:
        return None
    mv = client.get_model_version(name, holder)
    return {"registered_model": name, "version": holder, "variant": mv.tags.get("variant"),
            "run_id": mv.run_id, metric: version_score(client, name, holder, metric),
            "uri": f"models:/{name}@{alias}"}
