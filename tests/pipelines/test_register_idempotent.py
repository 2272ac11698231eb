"""A forced rerun of one training adds no registry version (issue 39, item 5).

``dvc repro -f train@...`` resumes the training's MLflow run and logs its (same) weights again
under a new ``models:/m-<id>``; the register stage that follows must find the version it
registered before, keyed by the run and the weights' fingerprint, not by the logged model's
URI. Real MLflow on SQLite, a tiny model, real dev shards and the stage's own
``register_task`` (calibration included).
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from mlflow.tracking import MlflowClient

from pipelines.dataset.loader import shard_paths_for
from pipelines.dataset.shards import build_shards
from pipelines.params.shard import ShardParams
from pipelines.register.champion import register_task
from pipelines.register.versions import CalibrationInputs
from pipelines.tracking.registry import WEIGHTS_TAG
from pipelines.tracking.runs import log_model, start_or_resume_run
from pipelines.train.checkpoint import load_best
from pipelines.train.export import ScoringModule
from pipelines.train.job import TrainJob, build_job_model
from tests.export_dummies import NUM_SAMPLES, build_best
from tests.shard_dummies import fake_vad, make_manifest

MODEL = "sastnet-aux"


def _finish_training(uri: str, best, run_id: str | None, score: float) -> dict:
    """What the driver does once ``fit()`` returns: (re)attach the run, log the best metric and
    the model from ``best/``, write ``run.json``."""
    tracker = start_or_resume_run("sastnet", "aux/m_mae/seed0", resume_run_id=run_id,
                                  tracking_uri=uri, tags={"task": "aux", "variant": "m_mae",
                                                          "seed": "0"})
    job = TrainJob(task="aux", variant="m_mae", size="tiny", num_samples=NUM_SAMPLES, seed=0,
                   experiment="seen250")
    model, _ = build_job_model(job)
    model.load_state_dict(load_best(best)[0])
    scoring = ScoringModule(model, NUM_SAMPLES, None)
    tracker.log_metrics({"best_dev_macro_f1": score}, step=1)
    with torch.no_grad():
        model_uri = log_model(tracker, scoring, scoring.input_example(), tags={"seed": "0"})
    tracker.finish()
    run = {"task": "aux", "variant": "m_mae", "seed": 0, "mlflow_run_id": tracker.run_id,
           "tracking_uri": uri, "registered_model": MODEL, "model_uri": model_uri}
    (best.parent / "run.json").write_text(json.dumps(run))
    return run


@pytest.mark.slow  # three model logs, three calibrations: ~1 min on 2 cores
def test_a_forced_rerun_of_a_training_adds_no_registry_version(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    models = tmp_path / "models"
    best = build_best(models, "m_mae", seed=0)
    manifest = make_manifest(tmp_path / "clips")
    build_shards(manifest, fake_vad(manifest), tmp_path / "shards",
                 ShardParams(samples_per_shard=3, tasks=("aux",)), seed=1)
    cal = CalibrationInputs(dev_shards=shard_paths_for(tmp_path / "shards", "dev"),
                            feature_dir=None, features=None, reports_dir=tmp_path / "reports",
                            seed=0)

    def register() -> dict:
        return register_task("aux", ("m_mae",), (0,), models, "dev_macro_f1", uri, cal)

    def versions() -> list[str]:
        return sorted(str(mv.version) for mv in client.search_model_versions(f"name='{MODEL}'"))

    first = _finish_training(uri, best, None, 80.0)
    report = register()
    assert versions() == ["1"] and report["champion"]["registry_version"] == "1"
    assert client.get_model_version(MODEL, "1").tags[WEIGHTS_TAG]

    # dvc repro -f train@...: the same run, the same weights, a new logged model
    rerun = _finish_training(uri, best, first["mlflow_run_id"], 80.0)
    assert rerun["mlflow_run_id"] == first["mlflow_run_id"]
    assert rerun["model_uri"] != first["model_uri"]
    again = register()
    assert versions() == ["1"]
    assert again["groups"] == report["groups"] and again["champion"] == report["champion"]
    register()  # and rerunning stage register on its own
    assert versions() == ["1"]

    # a training that ends with other weights is another model: a version of its own
    other = build_best(tmp_path / "other", "m_mae", seed=5)
    shutil.copy(other / "model.pt", best / "model.pt")
    _finish_training(uri, best, first["mlflow_run_id"], 81.0)
    register()
    assert versions() == ["1", "2"]
    tags = [client.get_model_version(MODEL, v).tags[WEIGHTS_TAG] for v in ("1", "2")]
    assert tags[0] != tags[1]
