"""One trained version -> its calibrated trace model in the registry (the register step, part 1).

Each trained version is calibrated (``calibrate_version``): a temperature fitted on the dev split,
ECE before/after logged to its MLflow run and written to ``reports/calibration/``
(``calibration.json``, ``calibration.md``, reliability diagrams: ``write_calibration_report``),
and the version is wrapped as the pyfunc trace model (``pipelines/trace/pyfunc.py``) registered
beside it. ``pipelines.register.champion`` then judges the groups those versions make.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mlflow.tracking import MlflowClient

from pipelines.common.io import write_json, write_text
from pipelines.evaluate.calibrate import (
    calibrate_probs,
    calibration_reason,
    dev_probabilities,
    plot_reliability,
    temperature_to_apply,
)
from pipelines.trace.pyfunc import log_trace_model
from pipelines.tracking.registry import (
    CHAMPION,
    WEIGHTS_TAG,
    current_champion,
    temperature_tag,
    version_of_training,
    weights_fingerprint,
)
from pipelines.tracking.runs import RunTracker, default_tracking_uri, keeping_run_times
from pipelines.train.checkpoint import load_best


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
