"""DVC stage ``register``: move each task's ``champion`` alias to its best group of versions.

    python -m stages.register     # writes reports/registry.json

Candidates are the versions the trainings registered (``models/<task>/<variant>/seed<k>/run.json``),
grouped by variant (one version per seed). Each group is scored by its **mean** dev metric
(``train.select_metric``) over the seeds, its versions are tagged with their seed and the
group's mean / std / n, and the alias goes to the best seed's version of the group with the
highest mean, only if that mean strictly beats the current champion's
(``pipelines/tracking/registry.py``). ``reports/registry.json`` lists every group's spread.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from mlflow.tracking import MlflowClient

from pipelines.common.io import write_json
from pipelines.common.process import stage_process
from pipelines.params import load_params
from pipelines.params.train import model_dir
from pipelines.tracking.registry import (
    best_group,
    champion_info,
    group_scores,
    promote_if_better,
    tag_group,
)
from pipelines.tracking.runs import default_tracking_uri


def load_run_records(models_dir: str | Path, task: str, variant: str,
                     seeds: tuple[int, ...]) -> dict[int, dict]:
    """``run.json`` of every seed of one (task, variant), with a clear error when one is missing."""
    records = {}
    for seed in seeds:
        path = model_dir(models_dir, task, variant, seed) / "run.json"
        if not path.exists():
            raise FileNotFoundError(f"{path}: not trained yet; run `dvc repro train` "
                                    f"(or `python -m stages.train --task {task} --variant "
                                    f"{variant} --seed {seed}`)")
        records[seed] = json.loads(path.read_text())
    return records


def register_task(task: str, variants: tuple[str, ...], seeds: tuple[int, ...],
                  models_dir: str | Path, metric: str, tracking_uri: str | None = None) -> dict:
    """Score, tag and promote the groups (variants) of one task; returns its report entry."""
    records = {v: load_run_records(models_dir, task, v, seeds) for v in variants}
    first = records[variants[0]][seeds[0]]
    name = first["registered_model"]
    uri = tracking_uri or first.get("tracking_uri") or default_tracking_uri()
    client = MlflowClient(tracking_uri=uri)
    groups = []
    for variant in variants:
        score = group_scores(client, name, variant,
                             {s: str(r["version"]) for s, r in records[variant].items()}, metric)
        tag_group(client, name, score, metric)
        groups.append(score)
    winner = best_group(groups)
    promotion = promote_if_better(name, winner.best_version, metric=metric, tracking_uri=uri,
                                  score=winner.mean)
    return {"rule": f"highest mean {metric} over seeds; champion = that group's best seed",
            "groups": [g.to_dict() for g in groups], "winner": winner.group,
            "promotion": promotion.to_dict(),
            "champion": champion_info(name, metric=metric, tracking_uri=uri)}


def register_all(tasks: tuple[str, ...], variants: tuple[str, ...], seeds: tuple[int, ...],
                 models_dir: str | Path, metric: str, tracking_uri: str | None = None) -> dict:
    return {"metric": metric, "seeds": list(seeds),
            "tasks": {task: register_task(task, variants, seeds, models_dir, metric, tracking_uri)
                      for task in tasks}}


def main() -> None:
    """Move each task's ``champion`` alias to its best registered version."""
    params = load_params()
    tp = params.train
    report = register_all(tp.tasks, (tp.baseline_variant, *tp.variants), tp.seeds,
                          tp.models_dir, tp.select_metric)
    write_json(Path(params.common.reports_dir) / "registry.json", report)
    for task, entry in report["tasks"].items():
        champ = entry["champion"]
        for g in entry["groups"]:
            print(f"{task}/{g['group']}: {tp.select_metric} {g['mean']:.2f} ± {g['std']:.2f} "
                  f"(n={g['n']})")
        print(f"{task}: champion {champ['registered_model']} v{champ['version']} "
              f"({champ['variant']} seed {champ['seed']}, group mean "
              f"{champ[f'group_mean_{tp.select_metric}']:.2f})")


if __name__ == "__main__":
    with stage_process("register"):
        typer.run(main)
