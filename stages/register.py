"""DVC stage ``register``: move each task's ``champion`` alias to its best registered version.

    python -m stages.register     # writes reports/registry.json

Candidates are the versions the trainings registered (``models/<task>/<variant>/run.json``),
in training order (baseline first); the alias moves only when a candidate is strictly
better on ``train.select_metric`` (``pipelines/tracking/registry.py``).

Each candidate is first calibrated (``calibrate_version``): a temperature fitted on the dev
split, ECE before/after logged to its MLflow run and written to ``reports/calibration/``
(``calibration.json``, ``calibration.md``, reliability diagrams), and the version is wrapped as
the pyfunc trace model (``pipelines/tracking/pyfunc.py``) registered beside it; the champion
alias points at that calibrated version, which ``sastnet trace`` and ``mlflow models serve`` use.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from pipelines.common.process import stage_process
from pipelines.dataset.loader import shard_paths_for
from pipelines.params import load_params
from pipelines.tracking.registry import champion_info, promote_if_better
from stages._io import write_json, write_text


@dataclasses.dataclass(frozen=True)
class CalibrationInputs:
    """Where the dev split lives, for fitting each candidate's temperature."""

    dev_shards: list[str]
    feature_dir: str | None  # Whisper features of dev (for models that use Whisper)
    features: dict | None  # FeaturesParams fields, stored with the model for serving
    reports_dir: Path  # reports/calibration/ goes here
    seed: int


def calibrate_version(run: dict, best_dir: Path, variant: str, cal: CalibrationInputs) -> tuple[str, dict]:
    """Fit the temperature of one trained version on dev and register its trace model.

    Returns:
        (the calibrated version to promote, its calibration figures).
    """
    from mlflow.tracking import MlflowClient

    from pipelines.evaluate.calibrate import (calibrate_probs, dev_probabilities, plot_reliability,
                                              temperature_to_apply)
    from pipelines.tracking.pyfunc import log_trace_model
    from pipelines.tracking.runs import default_tracking_uri

    task, name = run["task"], run["registered_model"]
    tracking_uri = run.get("tracking_uri") or default_tracking_uri()
    probs, labels = dev_probabilities(best_dir, task, cal.dev_shards, cal.feature_dir)
    result = calibrate_probs(probs, labels, seed=cal.seed)
    temperature = temperature_to_apply(result)
    figures = {**result.to_dict(), "applied": temperature is not None}
    client = MlflowClient(tracking_uri=tracking_uri)
    client.log_metric(run["mlflow_run_id"], "calibration_temperature", result.temperature)
    for key in ("ece_before", "ece_after", "ece_after_heldout"):
        client.log_metric(run["mlflow_run_id"], f"dev_{key}", getattr(result, key))
    png = plot_reliability(probs, labels, result.temperature, f"{task} / {variant} (dev)",
                           cal.reports_dir / "calibration" / f"reliability_{task}_{variant}.png")
    client.log_artifact(run["mlflow_run_id"], str(png), "plots")
    version = log_trace_model(
        run_id=run["mlflow_run_id"], tracking_uri=tracking_uri,
        scorer_uri=f"models:/{name}/{run['version']}", task=task, registered_name=name,
        temperature=temperature, calibration=figures, features=cal.features,
        tags={"variant": variant, "task": task, "calibrated_from": str(run["version"])})
    return version, figures


def hand_over_to_calibrated(run: dict, calibrated: str, tracking_uri: str | None) -> bool:
    """A registry from before calibration may have the raw version of this very training as
    champion; its calibrated wrapper is the same model, so it takes the alias (the strict
    "better score" rule would never move it: the scores are equal)."""
    from mlflow.tracking import MlflowClient

    from pipelines.tracking.registry import CHAMPION, current_champion
    from pipelines.tracking.runs import default_tracking_uri

    client = MlflowClient(tracking_uri=tracking_uri or default_tracking_uri())
    if current_champion(client, run["registered_model"]) != str(run["version"]):
        return False
    client.set_registered_model_alias(run["registered_model"], CHAMPION, calibrated)
    return True


def register_all(tasks: tuple[str, ...], variants: tuple[str, ...], models_dir: str | Path,
                 metric: str, tracking_uri: str | None = None,
                 calibration: CalibrationInputs | None = None) -> dict:
    report: dict = {"metric": metric, "tasks": {}}
    for task in tasks:
        promotions = []
        for variant in variants:
            run_path = Path(models_dir) / task / variant / "run.json"
            if not run_path.exists():
                raise FileNotFoundError(f"{run_path}: not trained yet; run `dvc repro train`")
            run = json.loads(run_path.read_text())
            version, figures = run["version"], None
            if calibration is not None:
                version, figures = calibrate_version(run, run_path.parent / "best", variant,
                                                     calibration)
                hand_over_to_calibrated(run, version, tracking_uri or run.get("tracking_uri"))
            promotion = promote_if_better(run["registered_model"], version, metric=metric,
                                          tracking_uri=tracking_uri or run.get("tracking_uri"))
            promotions.append({"variant": variant, **promotion.to_dict(),
                               "trained_version": str(run["version"]), "calibration": figures})
        name = promotions[-1]["registered_model"]
        uri = tracking_uri or json.loads(
            (Path(models_dir) / task / variants[-1] / "run.json").read_text()).get("tracking_uri")
        report["tasks"][task] = {"champion": champion_info(name, metric=metric, tracking_uri=uri),
                                 "promotions": promotions}
    return report


def main() -> None:
    params = load_params()
    tp = params.train
    data = Path(params.common.data_dir)
    reports = Path(params.common.reports_dir)
    calibration = CalibrationInputs(
        dev_shards=shard_paths_for(data / "shards", "dev"), feature_dir=str(data / "features"),
        features=dataclasses.asdict(params.features), reports_dir=reports, seed=params.common.seed)
    report = register_all(tp.tasks, (tp.baseline_variant, *tp.variants), tp.models_dir,
                          tp.select_metric, calibration=calibration)
    write_json(reports / "registry.json", report)
    write_calibration_report(report, reports / "calibration")
    for task, entry in report["tasks"].items():
        champ = entry["champion"]
        print(f"{task}: champion {champ['registered_model']} v{champ['version']} "
              f"({champ['variant']}, {tp.select_metric} {champ[tp.select_metric]:.2f})")


def write_calibration_report(report: dict, out_dir: Path) -> None:
    """``calibration.json`` and a markdown table: temperature and dev ECE per trained model."""
    rows = {f"{task}/{p['variant']}": p["calibration"]
            for task, entry in report["tasks"].items() for p in entry["promotions"]
            if p.get("calibration")}
    write_json(out_dir / "calibration.json", rows)
    lines = ["# Calibration (temperature scaling on dev)", "",
             "ECE: expected calibration error, 10 equal-width confidence bins. *held out*: dev "
             "halves scored with the temperature fitted on the other half. *applied*: the "
             "registered model uses T only when it lowers the held-out ECE.", "",
             "| model | dev clips | T | applied | ECE before | ECE after | ECE after (held out) "
             "| accuracy |",
             "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
    for key, c in rows.items():
        lines.append(f"| {key} | {c['dev_clips']} | {c['temperature']:.2f} "
                     f"| {'yes' if c.get('applied', True) else 'no'} | {c['ece_before']:.3f} "
                     f"| {c['ece_after']:.3f} | {c['ece_after_heldout']:.3f} | {c['accuracy']:.3f} |")
    write_text(out_dir / "calibration.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    with stage_process("register"):
        main()
