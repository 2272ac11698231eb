"""DVC stage ``register``: move each task's ``champion`` alias to its best group of versions.

    python -m stages.register     # writes reports/registry.json

Each trained version is first calibrated (``calibrate_version``): a temperature fitted on the dev
split, ECE before/after logged to its MLflow run and written to ``reports/calibration/``
(``calibration.json``, ``calibration.md``, reliability diagrams), and the version is wrapped as
the pyfunc trace model (``pipelines/trace/pyfunc.py``) registered beside it; the groups below
are made of those calibrated versions, so the champion is one (``docs/trace.md``).

Candidates are the versions the trainings registered (``models/<task>/<variant>/seed<k>/run.json``),
grouped by variant (one version per seed). Each group is scored by its **mean** dev metric
(``train.select_metric``) over the seeds, its versions are tagged with their seed and the
group's mean / std / n, and the alias goes to the best seed's version of the group with the
highest mean, only if that mean strictly beats the current champion's
(``pipelines/tracking/registry.py``). ``reports/registry.json`` lists every group's spread.

For the MLflow UI (``docs/mlflow_ui.md``): each group's training runs become the children of
one parent run holding their dev mean and std (``pipelines/tracking/groups.py``), coloured one
hue per group; every calibrated version gets a description (the run it wraps, why its
temperature is or is not applied), the registered model one (how versions are judged), and
the champion one saying which group won, by how much and how ties are broken.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import typer
from mlflow.tracking import MlflowClient

from pipelines.common.io import timings_path, write_json, write_report, write_text
from pipelines.common.process import stage_process
from pipelines.dataset.loader import shard_paths_for
from pipelines.params import load_params
from pipelines.params.train import model_dir
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
from pipelines.tracking.runs import RunTracker, default_tracking_uri, keeping_run_times


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


@dataclasses.dataclass(frozen=True)
class CalibrationInputs:
    """Where the dev split lives, for fitting each candidate's temperature."""

    dev_shards: list[str]
    feature_dir: str | None  # Whisper features of dev (for models that use Whisper)
    features: dict | None  # FeaturesParams fields, stored with the model for serving
    reports_dir: Path  # reports/calibration/ goes here
    seed: int


def calibrate_version(run: dict, best_dir: Path, variant: str, cal: CalibrationInputs,
                      label: str | None = None) -> tuple[str, dict]:
    """Fit the temperature of one trained version on dev and register its trace model.

    Returns:
        (the calibrated version to promote, its calibration figures).
    """
    from mlflow.tracking import MlflowClient

    from pipelines.evaluate.calibrate import (
        calibrate_probs,
        calibration_reason,
        dev_probabilities,
        plot_reliability,
        temperature_to_apply,
    )
    from pipelines.trace.pyfunc import log_trace_model
    from pipelines.tracking.registry import (
        WEIGHTS_TAG,
        temperature_tag,
        version_of_training,
        weights_fingerprint,
    )
    from pipelines.tracking.runs import default_tracking_uri
    from pipelines.train.checkpoint import load_best

    task, name = run["task"], run["registered_model"]
    tracking_uri = run.get("tracking_uri") or default_tracking_uri()
    probs, labels = dev_probabilities(best_dir, task, cal.dev_shards, cal.feature_dir)
    result = calibrate_probs(probs, labels, seed=cal.seed)
    temperature = temperature_to_apply(result)
    figures = {**result.to_dict(), "applied": temperature is not None}
    client = MlflowClient(tracking_uri=tracking_uri)
    tracker = RunTracker(tracking_uri, run["mlflow_run_id"])
    tracker.log_metrics({"calibration_temperature": result.temperature,
                         **{f"dev_{key}": getattr(result, key)
                            for key in ("ece_before", "ece_after", "ece_after_heldout")}}, step=0)
    label = label or variant
    png = plot_reliability(probs, labels, result.temperature, f"{task} / {label} (dev)",
                           cal.reports_dir / "calibration" / f"reliability_{task}_{label}.png")
    tracker.log_artifact(png, "plots")
    scorer = trained_model_uri(run)
    # one version per trained model: a forced rerun of the training logs the same weights again
    # under a new model URI; its version is the one registered before (issue 39)
    weights = {WEIGHTS_TAG: weights_fingerprint(load_best(best_dir)[0])}
    version = version_of_training(client, name, run["mlflow_run_id"],
                                  {**weights, "temperature": temperature_tag(temperature)})
    if version is not None:
        scorer = client.get_model_version(name, version).tags.get("trace_scorer", scorer)
    else:
        with keeping_run_times(client, run["mlflow_run_id"]):  # logging the model reopens the run
            version = log_trace_model(
                run_id=run["mlflow_run_id"], tracking_uri=tracking_uri, scorer_uri=scorer,
                task=task, registered_name=name, temperature=temperature, calibration=figures,
                features=cal.features, tags={"variant": variant, "task": task, **weights,
                                             "wraps": str(run.get("version") or scorer)})
    reason = calibration_reason(figures)
    client.set_model_version_tag(name, version, "calibration", reason)
    client.update_model_version(name, version, description=(
        f"Trace model of the training run `{task}/{label.replace('_seed', '/seed')}` (run "
        f"`{run['mlflow_run_id']}`): its scorer (`{scorer}`) wrapped with windowing and "
        f"calibration, what `sastnet trace` and `mlflow models serve` use. Calibration: "
        f"{reason}."))
    return version, figures


def trained_model_uri(run: dict) -> str:
    """The model a training logged: ``run.json``'s ``model_uri``; a training from before the
    registry held one version per training registered it itself (``version``)."""
    if run.get("model_uri"):
        return run["model_uri"]
    return f"models:/{run['registered_model']}/{run['version']}"


def hand_over_to_calibrated(run: dict, calibrated: str, tracking_uri: str | None) -> bool:
    """The champion may be this very training in another wrapper: its raw version (a registry
    from before calibration) or an earlier wrapper of it (``wraps`` tag; ``calibrated_from`` in
    stores registered before #40; e.g. a temperature the current rules no longer apply). The new
    wrapper is the same model, so it takes the alias (the strict "better score" rule would never
    move it: the scores are equal)."""
    from mlflow.tracking import MlflowClient

    from pipelines.tracking.registry import CHAMPION, current_champion
    from pipelines.tracking.runs import default_tracking_uri

    client = MlflowClient(tracking_uri=tracking_uri or default_tracking_uri())
    name, trained = run["registered_model"], str(run.get("version") or trained_model_uri(run))
    champion = current_champion(client, name)
    if champion is None or champion == str(calibrated):
        return False
    tags = client.get_model_version(name, champion).tags
    if champion != trained and (tags.get("wraps") or tags.get("calibrated_from")) != trained:
        return False
    client.set_registered_model_alias(name, CHAMPION, calibrated)
    return True


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


def write_calibration_report(report: dict, out_dir: Path) -> None:
    """``calibration.json`` and a markdown table: temperature and dev ECE per trained model."""
    rows = {f"{task}/{key}": figures for task, entry in report["tasks"].items()
            for key, figures in (entry.get("calibration") or {}).items()}
    write_json(out_dir / "calibration.json", rows)
    lines = ["# Calibration (temperature scaling on dev)", "",
             "ECE: expected calibration error, 10 equal-width confidence bins. *held out*: dev "
             "halves scored with the temperature fitted on the other half. *applied*: the "
             "registered model uses T only when it lowers the held-out ECE, the model got at "
             "least one dev clip wrong and T is not at an end of its search range "
             "(docs/trace.md).", "",
             "| model | dev clips | T | applied | ECE before | ECE after | ECE after (held out) "
             "| accuracy |",
             "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
    for key, c in rows.items():
        lines.append(f"| {key} | {c['dev_clips']} | {c['temperature']:.2f} "
                     f"| {'yes' if c.get('applied', True) else 'no'} | {c['ece_before']:.3f} "
                     f"| {c['ece_after']:.3f} | {c['ece_after_heldout']:.3f} | {c['accuracy']:.3f} |")
    write_text(out_dir / "calibration.md", "\n".join(lines) + "\n")





def main() -> None:
    """Move each task's ``champion`` alias to its best registered version."""
    params = load_params()
    tp = params.train
    data = Path(params.common.data_dir)
    reports = Path(params.common.reports_dir)
    calibration = CalibrationInputs(
        dev_shards=shard_paths_for(data / "shards", "dev"), feature_dir=str(data / "features"),
        features=dataclasses.asdict(params.features), reports_dir=reports, seed=params.common.seed)
    report = register_all(tp.tasks, (tp.baseline_variant, *tp.variants), tp.seeds,
                          tp.models_dir, tp.select_metric, calibration=calibration)
    write_report(reports / "registry.json", report, timings_path(reports, "register"))
    write_calibration_report(report, reports / "calibration")
    for task, entry in report["tasks"].items():
        champ = entry["champion"]
        for g in entry["groups"]:
            print(f"{task}/{g['group']}: {tp.select_metric} {g['mean']:.2f} ± {g['std']:.2f} "
                  f"(n={g['n']})")
        print(f"{task}: champion {champ['registered_model']} v{champ['registry_version']} "
              f"({champ['variant']} seed {champ['seed']}, group mean "
              f"{champ[f'group_mean_{tp.select_metric}']:.2f})")


if __name__ == "__main__":
    with stage_process("register"):
        typer.run(main)
