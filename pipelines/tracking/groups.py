"""Parent runs: one per group of seeds (a task's variant), holding the mean and std over them.

The training runs ``<task>/<variant>/seed<k>`` become children (``mlflow.parentRunId``) of one
run named ``<task>/<variant>``: the UI nests them under it, so the runs table compares
configurations first and seeds on expanding one. The parent's metrics are the group's mean
under the children's own names plus ``<name>_std`` (sample std, ddof=1) and ``seeds/n``, so
the same column reads a seed's value on a child and the mean on its parent.

``stages.register`` makes the parents and logs the dev figures; ``stages.evaluate`` logs the
test and CoSG ones. A parent belongs to one exact set of children: training a seed again
gives its group a new parent, and the old one keeps describing the runs it was made from.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from mlflow.utils.time import get_current_time_millis

from pipelines.tracking.experiments import DESCRIPTION_TAG

PARENT_TAG = "mlflow.parentRunId"
GROUP_TAG = "group"
CHILDREN_TAG = "group_children"  # a digest of the children's run ids: the parent's identity


def group_parent_run(client: MlflowClient, group: str, child_run_ids: list[str]) -> str:
    """The parent run of ``group`` over exactly these children (made once, then reused).

    Its start and end are the first child's start and the last child's end: its duration is
    the group's training time. The children get their ``mlflow.parentRunId`` tag.
    """
    children = [client.get_run(run_id) for run_id in child_run_ids]
    experiment_id = children[0].info.experiment_id
    key = hashlib.sha256(",".join(sorted(child_run_ids)).encode()).hexdigest()[:16]
    found = client.search_runs([experiment_id], f"tags.`{GROUP_TAG}` = '{group}' and "
                                                f"tags.`{CHILDREN_TAG}` = '{key}'", max_results=1)
    if found:
        parent = found[0].info.run_id
    else:
        first = children[0].data.tags
        seeds = sorted(int(c.data.tags.get("seed", -1)) for c in children)
        tags = {GROUP_TAG: group, CHILDREN_TAG: key, "seed": "all",
                **{k: first[k] for k in ("task", "variant", "profile", "commit") if k in first},
                DESCRIPTION_TAG: (f"`{group}` over seeds {', '.join(map(str, seeds))}: each "
                                  "metric is the mean over the seeds (the child runs), the "
                                  "same name with `_std` their sample std, `seeds/n` how many.")}
        parent = client.create_run(experiment_id, run_name=group, tags=tags,
                                   start_time=min(c.info.start_time for c in children)).info.run_id
        client.set_terminated(parent, "FINISHED", end_time=max(
            c.info.end_time or c.info.start_time for c in children))
    for child in children:
        if child.data.tags.get(PARENT_TAG) != parent:
            client.set_tag(child.info.run_id, PARENT_TAG, parent)
    return parent


# Tableau 10: distinct hues for up to ten groups (the UI's default colour is a hash of the run
# id, so two runs of a few can share one).
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac")
COLOUR_TAG = "mlflow.runColor"  # what the UI's colour picker sets


def _shade(colour: str, amount: float) -> str:
    """``colour`` mixed with white (``amount`` > 0) or black (< 0)."""
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    target = 255 if amount > 0 else 0
    return "#" + "".join(f"{round(c + (target - c) * abs(amount)):02x}" for c in rgb)


def colour_groups(client: MlflowClient, groups: list[tuple[str, list[str]]]) -> None:
    """One hue per group (parent run id, its children's run ids, in seed order): the parent in
    the hue, its seeds in shades of it, so charts tell groups and seeds apart."""
    for i, (parent, children) in enumerate(groups):
        hue = PALETTE[i % len(PALETTE)]
        client.set_tag(parent, COLOUR_TAG, hue)
        steps = np.linspace(-0.45, 0.45, len(children)) if len(children) > 1 else [0.0]
        for run_id, amount in zip(children, steps):
            client.set_tag(run_id, COLOUR_TAG, _shade(hue, float(amount)))


def log_group_summary(client: MlflowClient, parent_run_id: str, child_run_ids: list[str],
                      prefixes: tuple[str, ...]) -> dict[str, float]:
    """Log on the parent the mean (and std) over the children of every metric they all hold
    whose name starts with one of ``prefixes``; returns what was logged."""
    metrics = [client.get_run(run_id).data.metrics for run_id in child_run_ids]
    shared = set.intersection(*(set(m) for m in metrics)) if metrics else set()
    summary: dict[str, float] = {"seeds/n": float(len(metrics))}
    for key in sorted(k for k in shared if k.startswith(prefixes)):
        values = np.array([m[key] for m in metrics], dtype=np.float64)
        summary[key] = round(float(values.mean()), 4)  # the UI shows every digit logged
        if len(values) > 1:
            summary[f"{key}_std"] = round(float(values.std(ddof=1)), 4)
    now = get_current_time_millis()
    client.log_batch(parent_run_id, metrics=[Metric(k, v, now, 0) for k, v in summary.items()
                                             if math.isfinite(v)])
    return summary
