"""The MLflow model registry: the ``champion`` alias of ``sastnet-<task>`` moves only on merit.

Stage ``register`` gives every trained model one version (its calibrated trace model), tagged
with its variant, seed and weights' fingerprint; a forced rerun of the training (the same run,
the same weights logged again) finds that version again (``version_of_training``). Models are
judged as groups: a group is one variant trained once per seed, and its score is the **mean**
dev metric over its seeds (``group_scores``), so one lucky seed cannot win. ``tag_group``
records each version's seed and its group's mean, std and n as version tags;
``promote_if_better`` moves the alias to the best seed's version of the winning group
only when the group's mean strictly beats the current champion's (its group mean tag, or its
own score for a version registered without one), so rerunning an older or worse model never
demotes a good one. Serve the champion with
``mlflow.pyfunc.load_model("models:/sastnet-aux@champion")``.

    python -m stages.register        # all trained (task, variant), writes reports/registry.json
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipelines.tracking.runs import default_tracking_uri, mlflow_metric_name

CHAMPION = "champion"
WEIGHTS_TAG = "weights_sha256"  # a version's trained weights (``weights_fingerprint``)


@dataclass(frozen=True)
class Promotion:
    registered_model: str
    candidate_version: str
    candidate_score: float  # what was compared: the group's mean over seeds
    previous_champion: str | None
    previous_score: float | None  # the champion's group mean (or own score without one)
    promoted: bool
    champion_version: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GroupScore:
    """One variant over its seeds: the dev metric of each seed's version, mean, sample std."""

    group: str  # the variant
    versions: dict  # seed -> registered version
    scores: dict  # seed -> dev metric
    mean: float
    std: float  # sample std (ddof=1); nan for one seed
    n: int

    @property
    def best_seed(self) -> int:
        """The seed with the highest score (the lowest seed on a tie)."""
        return max(sorted(self.scores), key=lambda s: self.scores[s])

    @property
    def best_version(self) -> str:
        return str(self.versions[self.best_seed])

    def to_dict(self) -> dict:
        return {**asdict(self), "best_seed": self.best_seed, "best_version": self.best_version}


def group_scores(client: MlflowClient, name: str, group: str, versions: dict[int, str],
                 metric: str) -> GroupScore:
    """Mean and spread of ``metric`` over the versions (one per seed) of one group."""
    if not versions:
        raise ValueError(f"{name}: group {group!r} has no versions")
    scores = {seed: version_score(client, name, v, metric) for seed, v in versions.items()}
    arr = np.array(list(scores.values()), dtype=np.float64)
    return GroupScore(group, dict(versions), scores, float(arr.mean()),
                      float(arr.std(ddof=1)) if len(arr) > 1 else math.nan, len(arr))


def tag_group(client: MlflowClient, name: str, score: GroupScore, metric: str) -> None:
    """Record on every version of the group its seed and the group's mean / std / n."""
    for seed, version in score.versions.items():
        for key, value in {"seed": seed, "group": score.group,
                           f"group_mean_{metric}": f"{score.mean:.4f}",
                           f"group_std_{metric}": f"{score.std:.4f}",
                           "group_n": score.n}.items():
            client.set_model_version_tag(name, str(version), key, str(value))


def best_group(scores: list[GroupScore]) -> GroupScore:
    """The group with the highest mean (the first listed on a tie: the baseline)."""
    return max(enumerate(scores), key=lambda item: (item[1].mean, -item[0]))[1]


def version_score(client: MlflowClient, name: str, version: str, metric: str) -> float:
    """The dev metric of the run that produced a model version (``best_<metric>``, in MLflow
    ``dev/best_<...>``; a store written before the names were grouped has the flat name)."""
    run_id = client.get_model_version(name, version).run_id
    metrics = client.get_run(run_id).data.metrics
    for key in (mlflow_metric_name(f"best_{metric}"), f"best_{metric}"):
        if key in metrics:
            return float(metrics[key])
    raise KeyError(f"{name} v{version}: its run {run_id} has no metric "
                   f"{mlflow_metric_name(f'best_{metric}')!r}")


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
                                f"{got!r}, not {experiment!r} (train.mlflow_experiment); refusing to "
                                "load it. Point the alias at a version trained here, or pass "
                                "the experiment it belongs to.")
    return mv.run_id


def weights_fingerprint(state: Mapping[str, Any]) -> str:
    """sha256 over a state dict's names, dtypes, shapes and values: a trained model's identity.

    Not of ``model.pt``'s bytes: ``torch.save`` writes a random ``serialization_id`` into every
    file, so saving the same weights twice gives two digests.
    """
    digest = hashlib.sha256()
    for name in sorted(state):
        value = state[name]
        if hasattr(value, "detach"):  # a tensor; numpy has no bfloat16, float32 holds it exactly
            tensor = value.detach().cpu().contiguous()
            data = (tensor.float() if str(tensor.dtype) == "torch.bfloat16" else tensor).numpy()
            digest.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
            digest.update(data.tobytes())
        else:
            digest.update(f"{name}\0{value!r}\0".encode())
    return digest.hexdigest()


def temperature_tag(temperature: float | None) -> str:
    """A version's ``temperature`` tag (``pipelines.trace.pyfunc.log_trace_model`` writes it)."""
    return f"{temperature:.6g}" if temperature else "none"


def version_of_training(client: MlflowClient, name: str, run_id: str,
                        key: Mapping[str, str]) -> str | None:
    """The version of ``name`` that already holds this training's model, or None.

    A training is one MLflow run (a forced rerun resumes it, ``pipelines.train.driver``) and
    its model is its weights: a version of the same run whose tags match ``key`` (the weights'
    fingerprint, the temperature) is the same trace model, whatever logged model it wraps (a
    rerun logs the same weights again under a new ``models:/m-<id>``). The oldest one wins.
    """
    found = [int(mv.version) for mv in
             client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
             if all(mv.tags.get(k) == v for k, v in key.items())]
    return str(min(found)) if found else None


def current_champion(client: MlflowClient, name: str, alias: str = CHAMPION) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def champion_score(client: MlflowClient, name: str, version: str, metric: str) -> float:
    """What a champion is measured by: its group's mean (tag), else its own ``best_<metric>``."""
    tag = client.get_model_version(name, version).tags.get(f"group_mean_{metric}")
    return float(tag) if tag is not None else version_score(client, name, version, metric)


def promote_if_better(name: str, version: str, *, metric: str = "dev_macro_f1",
                      alias: str = CHAMPION, tracking_uri: str | None = None,
                      score: float | None = None) -> Promotion:
    """Point ``alias`` at ``version`` iff ``score`` strictly beats the current holder's.

    ``score``: the candidate's group mean over seeds (``group_scores``); default: the
    version's own ``best_<metric>`` (a group of one).
    """
    client = MlflowClient(tracking_uri=tracking_uri or default_tracking_uri())
    if score is None:
        score = version_score(client, name, version, metric)
    holder = current_champion(client, name, alias)
    holder_score = champion_score(client, name, holder, metric) if holder else None
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
            "seed": mv.tags.get("seed"), "run_id": mv.run_id,
            metric: version_score(client, name, holder, metric),
            f"group_mean_{metric}": champion_score(client, name, holder, metric),
            "group_n": mv.tags.get("group_n"), "uri": f"models:/{name}@{alias}"}
