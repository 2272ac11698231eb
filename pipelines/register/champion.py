"""Score, tag and promote the groups of calibrated versions of each task (the register step, part 2).

Candidates are the versions the trainings registered (``models/<task>/<variant>/seed<k>/run.json``),
calibrated and wrapped as trace models first (``pipelines.register.versions``), grouped by variant
(one version per seed). Each group is scored by its **mean** dev metric (``train.select_metric``)
over the seeds, its versions are tagged with their seed and the group's mean / std / n, and the
alias goes to the best seed's version of the group with the highest mean, only if that mean
strictly beats the current champion's (``pipelines/tracking/registry.py``).

For the MLflow UI (``docs/mlflow_ui.md``): each group's training runs become the children of
one parent run holding their dev mean and std (``pipelines/tracking/groups.py``), coloured one
hue per group; every calibrated version gets a description (the run it wraps, why its
temperature is or is not applied), the registered model one (how versions are judged), and
the champion one saying which group won, by how much and how ties are broken.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlflow.tracking import MlflowClient

from pipelines.params.train import model_dir
from pipelines.register.versions import (
    CalibrationInputs,
    calibrate_version,
    hand_over_to_calibrated,
)
from pipelines.tracking.groups import colour_groups, group_parent_run, log_group_summary
from pipelines.tracking.registry import (
    CHAMPION,
    GroupScore,
    Promotion,
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
                  models_dir: str | Path, metric: str, tracking_uri: str | None = None,
                  calibration: CalibrationInputs | None = None) -> dict:
    """Score, tag and promote the groups (variants) of one task; returns its report entry."""
    records = {v: load_run_records(models_dir, task, v, seeds) for v in variants}
    figures = {}
    if calibration is not None:  # the groups are made of the calibrated trace versions
        for variant, by_seed in records.items():
            for seed, run in by_seed.items():
                best = model_dir(models_dir, task, variant, seed) / "best"
                version, figures[f"{variant}/seed{seed}"] = calibrate_version(
                    run, best, variant, calibration, label=f"{variant}_seed{seed}")
                hand_over_to_calibrated(run, version, tracking_uri or run.get("tracking_uri"))
                by_seed[seed] = {**run, "trained_version": run.get("version"), "version": version}
    first = records[variants[0]][seeds[0]]
    name = first["registered_model"]
    uri = tracking_uri or first.get("tracking_uri") or default_tracking_uri()
    client = MlflowClient(tracking_uri=uri)
    unregistered = [f"{v}/seed{s}" for v, by_seed in records.items() for s, r in by_seed.items()
                    if not r.get("version")]
    if unregistered:
        raise ValueError(f"{task}: {', '.join(unregistered)} logged a model but have no registry "
                         "version: the register stage registers their calibrated trace models "
                         "(calibration inputs needed)")
    groups, parents = [], []
    for variant in variants:
        score = group_scores(client, name, variant,
                             {s: str(r["version"]) for s, r in records[variant].items()}, metric)
        tag_group(client, name, score, metric)
        groups.append(score)
        runs = [client.get_model_version(name, v).run_id for _, v in sorted(score.versions.items())]
        parents.append((group_parent_run(client, f"{task}/{variant}", runs), runs))
        log_group_summary(client, parents[-1][0], runs, ("dev/best_", "dev/ece", "dev/calibration"))
    colour_groups(client, parents)
    winner = best_group(groups)
    promotion = promote_if_better(name, winner.best_version, metric=metric, tracking_uri=uri,
                                  score=winner.mean)
    describe_registry(client, name, task, groups, winner, promotion, metric)
    return {"rule": f"highest mean {metric} over seeds; champion = that group's best seed",
            "calibration": figures,
            "groups": [g.to_dict() for g in groups], "winner": winner.group,
            "promotion": promotion.to_dict(),
            "champion": registry_state_named(champion_info(name, metric=metric, tracking_uri=uri))}


def _spread(g: GroupScore) -> str:
    return f"`{g.group}` {g.mean:.2f}{'' if g.n < 2 else f' ± {g.std:.2f}'} (n={g.n})"


def champion_note(groups: list[GroupScore], winner: GroupScore, promotion: Promotion,
                  metric: str) -> str:
    """Why the champion holds the alias: the winning group, its margin over the runner-up, each
    seed's score, the tie rules (or why the holder kept it)."""
    if not promotion.promoted and promotion.champion_version != winner.best_version:
        return (f"Champion kept: the best group of the last registration, {_spread(winner)}, "
                f"does not strictly beat this version's group mean {promotion.previous_score:.2f}.")
    runner_up = max((g for g in groups if g is not winner), key=lambda g: g.mean, default=None)
    margin = (f", {winner.mean - runner_up.mean:+.2f} points over {_spread(runner_up)}"
              if runner_up else "")
    seeds = ", ".join(f"seed {s}: {v:.2f}" for s, v in sorted(winner.scores.items()))
    text = (f"Champion: group {_spread(winner)} has the highest mean dev `{metric}`{margin}. "
            f"Seeds ({seeds}): seed {winner.best_seed} scores highest, so its version holds the "
            "alias (ties: the lowest seed; between groups of equal mean, the first listed, the "
            "baseline).")
    if promotion.promoted and promotion.previous_champion:
        text += (f" It took the alias from version {promotion.previous_champion} (group mean "
                 f"{promotion.previous_score:.2f}).")
    return text


def describe_registry(client: MlflowClient, name: str, task: str, groups: list[GroupScore],
                      winner: GroupScore, promotion: Promotion, metric: str) -> None:
    """Descriptions the registry pages show: the registered model's (what it holds, how the
    alias moves) and the champion version's (``champion_note`` after the version's own)."""
    client.update_registered_model(name, description=(
        f"Source tracing models of the `{task}` task: one version per trained model (the "
        "trace model of each training run, calibrated where dev allows it; the scorer it wraps is the run's logged "
        "model, named in its `wraps` tag; its `calibrated` tag says whether a temperature is "
        "applied, `calibration` why or why not). Models are judged as groups, one variant "
        f"over its seeds, by the mean `{metric}` on dev; `@{CHAMPION}` is the best seed of the "
        "best group and moves only when a group's mean strictly beats the champion's."))

    def own_description(version: str) -> str:  # without an earlier champion note
        return (client.get_model_version(name, version).description or "").split(
            "\n\nChampion")[0]

    if promotion.promoted and promotion.previous_champion:
        client.update_model_version(name, promotion.previous_champion,
                                    description=own_description(promotion.previous_champion))
    champion = promotion.champion_version
    client.update_model_version(name, champion, description=(
        own_description(champion) + "\n\n" + champion_note(groups, winner, promotion, metric)))


def registry_state_named(champion: dict | None) -> dict | None:
    """The champion's registry version under ``registry_version`` (a run-state key that
    ``write_report`` keeps out of the DVC-tracked report: a registry holding an earlier run's
    versions numbers the same models differently)."""
    if champion is None:
        return None
    return {("registry_version" if k == "version" else k): v for k, v in champion.items()}


def register_all(tasks: tuple[str, ...], variants: tuple[str, ...], seeds: tuple[int, ...],
                 models_dir: str | Path, metric: str, tracking_uri: str | None = None,
                 calibration: CalibrationInputs | None = None) -> dict:
    return {"metric": metric, "seeds": list(seeds),
            "tasks": {task: register_task(task, variants, seeds, models_dir, metric, tracking_uri,
                                          calibration)
                      for task in tasks}}
