"""Stage ``evaluate``: the paper's tables (mean ± std over seeds), metrics, confusion matrices
and ``reports/summary.md``, from prediction files.

    python -m stages.evaluate [predictions]    # default folder: predictions/

Reads ``<pred_root>/<task>/<model>/seed<k>/<experiment>/<eval_set>[.rm_sil].parquet`` (see
``pipelines.evaluate.scoring``) and writes ``reports/tables/*.md``, ``metrics/evaluation.json``
(mean, std, n over seeds), ``metrics/evaluation_seeds.json`` (every seed),
``reports/plots/cm_<experiment>_<task>_<model>_seed<k>_<eval_set>[_rm_sil].png`` and, outside
DVC's outputs, ``reports/summary.md`` (headline table, fingerprint, stage times). The test and
CoSG scores of each model, its confusion matrices and the per-system table are also logged to
its training's MLflow run (found through ``models/<task>/<model>/seed<k>/run.json``), and the
mean and std over seeds to the group's parent run.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import typer
from mlflow.tracking import MlflowClient
from tqdm import tqdm

from pipelines.common.io import write_json, write_text
from pipelines.common.process import stage_process
from pipelines.evaluate.per_system import load_system_predictions, render_per_system
from pipelines.evaluate.plots import plot_confusion_matrix
from pipelines.evaluate.robustness import robustness_metrics, write_robustness
from pipelines.evaluate.scoring import (
    RANDOM,
    EvalResult,
    evaluate,
    load_predictions,
    with_cors,
)
from pipelines.evaluate.seeds import flat_metrics, flat_metrics_per_seed
from pipelines.evaluate.summary import summary_record, write_summary
from pipelines.evaluate.tables import SET_NAMES, display_name, render_tables
from pipelines.params import load_params
from pipelines.params.train import model_dir
from pipelines.tracking.fingerprint import params_digest, run_fingerprint
from pipelines.tracking.groups import group_parent_run, log_group_summary
from pipelines.tracking.runs import RunTracker, log_to_existing_run
from sastnet.taxonomy import TASKS


def write_evaluation(pred_root: str | Path, reports_dir: str | Path, metrics_dir: str | Path,
                     seed: int) -> tuple[dict[str, str], list[EvalResult]]:
    """Score all predictions under ``pred_root`` and write tables, metrics and plots.

    Returns:
        the rendered markdown tables by name, and the per-seed results.
    Raises:
        FileNotFoundError: no prediction files under ``pred_root``.
    """
    preds = load_predictions(pred_root)
    if not preds:
        raise FileNotFoundError(f"{pred_root}: no prediction files "
                                "(<task>/<model>/seed<k>/<experiment>/<eval_set>[.rm_sil].parquet)")
    results = evaluate(preds, seed=seed)
    tables = render_tables(results)
    for name, text in tables.items():
        write_text(Path(reports_dir) / "tables" / f"{name}.md", text)
    # Which systems fool the model (pipelines/evaluate/per_system.py): its own table file.
    tables["per_system"] = render_per_system(load_system_predictions(pred_root))
    write_text(Path(reports_dir) / "tables" / "per_system.md", tables["per_system"])
    # The laundering axis (pipelines/evaluate/robustness.py): robustness_<task>.md and .png;
    # its macro F1 joins the metrics files with the condition as the view (<set>/<condition>/).
    robust, robust_results = write_robustness(pred_root, reports_dir, TASKS)
    tables.update({f"robustness_{task}": text for task, text in robust.items()})
    robust_flat, robust_seeds = robustness_metrics(robust_results)
    # One metrics file each (nested by ``<experiment>_<task>``) so `dvc metrics show` lists all.
    write_json(Path(metrics_dir) / "evaluation.json", _merged(flat_metrics(results), robust_flat))
    write_json(Path(metrics_dir) / "evaluation_seeds.json",
               _merged(flat_metrics_per_seed(results), robust_seeds))
    for p in tqdm([p for p in with_cors(preds) if p.model != RANDOM], desc="confusion matrices"):
        seed_title = "" if p.seed is None else f" - seed {p.seed}"
        title = (f"{display_name(p.model, p.task)} - {p.task.upper()} - "
                 f"{SET_NAMES.get(p.eval_set, p.eval_set)}{' rm_sil' if p.rm_sil else ''}"
                 f"{seed_title}")
        plot_confusion_matrix(p.labels, p.probs.argmax(axis=1), p.task, title,
                              confusion_png(reports_dir, p))
    return tables, results


def _merged(metrics: dict, more: dict) -> dict:
    """Two ``{"<experiment>_<task>": {name: value}}`` metric dicts in one, keys sorted."""
    out = {group: dict(values) for group, values in metrics.items()}
    for group, values in more.items():
        out.setdefault(group, {}).update(values)
    return {group: dict(sorted(values.items())) for group, values in out.items()}


def confusion_png(reports_dir: str | Path, p: EvalResult) -> Path:
    """``reports/plots/cm_<experiment>_<task>_<model>[_seed<k>]_<eval_set>[_rm_sil].png``
    (``p``: a scored prediction set or its result)."""
    seed_part = "" if p.seed is None else f"_seed{p.seed}"
    return Path(reports_dir) / "plots" / (f"cm_{p.experiment}_{p.task}_{p.model}{seed_part}_"
                                          f"{p.eval_set}{'_rm_sil' if p.rm_sil else ''}.png")


def log_to_training_runs(results: list[EvalResult], models_dir: str | Path,
                         reports_dir: str | Path | None = None) -> list[str]:
    """Log each model's test / CoSG scores (``<set>[_rm_sil]/<metric>``), confusion matrices
    and the per-system table (``reports_dir``'s) to its training's MLflow run, and the mean
    and std over seeds to the group's parent run (``pipelines.tracking.groups``); returns the
    runs reached (``<task>/<model>/seed<k>``). Models without a ``run.json`` are skipped."""
    by_model: dict[tuple, dict[str, float]] = defaultdict(dict)
    plots: dict[tuple, list[Path]] = defaultdict(list)
    for r in results:
        if r.model == RANDOM or r.seed is None:
            continue
        for metric in ("macro_f1", "weighted_f1", "accuracy", "eer"):
            value = r.metrics.get(metric)
            if value is not None and math.isfinite(value):
                name = f"{r.eval_set}{'_rm_sil' if r.rm_sil else ''}/{metric}"
                by_model[(r.task, r.model, r.seed, r.experiment)][name] = float(value)
        if reports_dir is not None and confusion_png(reports_dir, r).is_file():
            plots[(r.task, r.model, r.seed, r.experiment)].append(confusion_png(reports_dir, r))
    per_system = Path(reports_dir) / "tables" / "per_system.md" if reports_dir else None
    reached, groups = [], defaultdict(list)
    for (task, model, seed, experiment), metrics in sorted(by_model.items()):
        run_path = model_dir(models_dir, task, model, seed) / "run.json"
        if not run_path.is_file():
            print(f"evaluate: {run_path} not found, {task}/{model}/seed{seed} not logged to MLflow")
            continue
        run = json.loads(run_path.read_text())
        if log_to_existing_run(run["mlflow_run_id"], run["tracking_uri"], metrics,
                               {"eval_experiment": experiment}):
            reached.append(f"{task}/{model}/seed{seed}")
            tracker = RunTracker(run["tracking_uri"], run["mlflow_run_id"])
            for png in plots[(task, model, seed, experiment)]:
                tracker.log_artifact(png, "plots/confusion")
            if per_system is not None and per_system.is_file():
                tracker.log_artifact(per_system, "tables")
            groups[(task, model, run["tracking_uri"])].append(run["mlflow_run_id"])
        else:
            print(f"evaluate: MLflow run {run['mlflow_run_id']} of {run_path} is not in "
                  f"{run['tracking_uri']}; not logged")
    eval_sets = tuple(sorted({name.split("/")[0] + "/" for m in by_model.values() for name in m}))
    for (task, model, uri), run_ids in groups.items():
        run_ids = list(dict.fromkeys(run_ids))  # a run evaluated in two experiments counts once
        client = MlflowClient(tracking_uri=uri)
        log_group_summary(client, group_parent_run(client, f"{task}/{model}", run_ids), run_ids,
                          eval_sets)
    return reached


def evaluation_inputs(params) -> list[str]:
    """The DVC outputs the numbers come from: data, features and every model's best/."""
    data = Path(params.common.data_dir)
    tp = params.train
    inputs = [str(data / "shards"), str(data / "features"), str(data / "features_rm_sil")]
    for task in tp.tasks:
        for variant in (tp.baseline_variant, *tp.variants):
            inputs += [str(model_dir(tp.models_dir, task, variant, s) / "best") for s in tp.seeds]
    return inputs


def main(pred_root: str = typer.Argument("predictions", help="prediction files' root folder"),
         ) -> None:
    """The paper's tables, metrics and confusion matrices from prediction files."""
    params = load_params()
    reports_dir = params.common.reports_dir
    tables, results = write_evaluation(pred_root, reports_dir, "metrics", params.common.seed)
    print(f"evaluate: wrote {', '.join(sorted(tables))} to {reports_dir}/tables")
    reached = log_to_training_runs(results, params.train.models_dir, reports_dir)
    print(f"evaluate: test and CoSG scores logged to {len(reached)} MLflow run(s)")
    fingerprint = run_fingerprint(params_digest(params), evaluation_inputs(params))
    record = summary_record(results, tasks=params.train.tasks, seeds=params.train.seeds,
                            fingerprint=fingerprint, baseline=params.train.baseline_variant,
                            robustness={t[len("robustness_"):]: text for t, text in tables.items()
                                        if t.startswith("robustness_")})
    print(f"evaluate: {write_summary(reports_dir, record)}")


if __name__ == "__main__":
    with stage_process("evaluate"):
        typer.run(main)
