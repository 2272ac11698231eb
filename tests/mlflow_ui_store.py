"""A small finished MLflow store, written by the project's own tracking code (no training).

Two variants of the ``aux`` task, two seeds each: per-epoch train/dev metrics, the best epoch,
a dev confusion matrix, then what the ``evaluate`` stage logs (test/CoSG scores, confusion
matrices, the per-system table, the group means) and what ``register`` does (one registry
version per run, parent runs, descriptions, the ``champion`` alias).
"""

from __future__ import annotations

import json
from pathlib import Path

from mlflow.tracking import MlflowClient

from pipelines.common.plots import plot_confusion
from pipelines.evaluate.scoring import EvalResult
from pipelines.register.champion import register_task
from pipelines.tracking.experiments import DESCRIPTION_TAG
from pipelines.tracking.runs import start_or_resume_run
from sastnet.taxonomy import CLASS_NAMES
from stages.evaluate import confusion_png, log_to_training_runs

VARIANTS = {"w2v2_aasist": 80.0, "sastnet": 90.0}  # variant -> its dev macro F1 level
SEEDS = (0, 1)
MODEL = "sastnet-aux"


def build_store(root: Path) -> Path:
    """Write the store to ``root/mlflow.db`` (artifacts in ``root/mlruns``); returns its path."""
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    client.create_registered_model(MODEL)
    models, reports = root / "models", root / "reports"
    confusion = [[4, 1, 0, 0], [0, 5, 0, 0], [1, 0, 3, 1], [0, 0, 1, 4]]
    results = []
    for variant, level in VARIANTS.items():
        for seed in SEEDS:
            tracker = start_or_resume_run(
                "sastnet", f"aux/{variant}/seed{seed}", tracking_uri=uri,
                tags={"task": "aux", "variant": variant, "seed": str(seed),
                      DESCRIPTION_TAG: f"`{variant}` trained on the `aux` task with seed {seed}."})
            tracker.log_params({"job.feature_dir": str(Path.cwd() / "data" / "features")})
            for epoch in (1, 2):
                tracker.log_metrics({"train_loss": 1.0 / epoch, "lr": 1e-3,
                                     "dev_macro_f1": level + 2 * epoch + seed}, step=epoch)
            tracker.log_metrics({"best_dev_macro_f1": level + 4 + seed}, step=2)
            png = root / "tmp" / "confusion_dev.png"
            plot_confusion(confusion, CLASS_NAMES["aux"], f"aux / {variant} (dev)", png)
            tracker.log_artifact(png, "plots")
            tracker.finish()
            version = client.create_model_version(
                MODEL, f"{client.get_run(tracker.run_id).info.artifact_uri}/model",
                run_id=tracker.run_id, tags={"variant": variant, "seed": str(seed)}).version
            run_dir = models / "aux" / variant / f"seed{seed}"
            run_dir.mkdir(parents=True)
            (run_dir / "run.json").write_text(json.dumps({
                "task": "aux", "variant": variant, "seed": seed, "mlflow_run_id": tracker.run_id,
                "tracking_uri": uri, "registered_model": MODEL, "version": version}))
            for eval_set, drop in (("test_seen", 1.0), ("cosg_all", 30.0)):
                result = EvalResult("full", "aux", variant, eval_set, False,
                                    {"macro_f1": level - drop + seed}, seed)
                plot_confusion(confusion, CLASS_NAMES["aux"], f"{variant} {eval_set}",
                               confusion_png(reports, result))
                results.append(result)
    (reports / "tables").mkdir(parents=True)
    (reports / "tables" / "per_system.md").write_text("# Per system\n\n| system | F1 |\n")
    register_task("aux", tuple(VARIANTS), SEEDS, models, "dev_macro_f1", tracking_uri=uri)
    log_to_training_runs(results, models, reports)
    return root / "mlflow.db"
