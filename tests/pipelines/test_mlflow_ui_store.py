"""What the MLflow UI reads from the store: metric names, descriptions, parents, registry text.

The browser side is tests/test_mlflow_ui_browser.py; this checks the store itself.
"""

from __future__ import annotations

import json

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from pipelines.tracking.experiments import DESCRIPTION_TAG, KIND_TAG, VIEW_TAG
from pipelines.tracking.groups import CHILDREN_TAG, PARENT_TAG
from pipelines.tracking.runs import (
    REPO_ROOT,
    keeping_run_times,
    mlflow_metric_name,
    relative_to_checkout,
    start_or_resume_run,
)
from tests.mlflow_ui_store import MODEL, SEEDS, VARIANTS, build_store


def test_metric_names_are_grouped_by_split():
    assert mlflow_metric_name("train_loss") == "train/loss"
    assert mlflow_metric_name("lr") == "train/lr"
    assert mlflow_metric_name("dev_macro_f1") == "dev/macro_f1"
    assert mlflow_metric_name("best_dev_macro_f1") == "dev/best_macro_f1"
    assert mlflow_metric_name("best_dev_f1_then_loss") == "dev/best_f1_then_loss"
    assert mlflow_metric_name("dev_ece_after_heldout") == "dev/ece_after_heldout"
    assert mlflow_metric_name("calibration_temperature") == "dev/calibration_temperature"
    assert mlflow_metric_name("test_seen_rm_sil_macro_f1") == "test_seen_rm_sil/macro_f1"
    assert mlflow_metric_name("cosg_known_eer") == "cosg_known/eer"
    assert mlflow_metric_name("cosg_all/macro_f1") == "cosg_all/macro_f1"
    assert mlflow_metric_name("open_set.auroc") == "open_set.auroc"  # no split: kept


def test_params_hold_paths_relative_to_the_checkout():
    assert relative_to_checkout(f"{REPO_ROOT}/data/features") == "data/features"
    assert relative_to_checkout(f'["{REPO_ROOT}/a", "/elsewhere/b"]') == '["a", "/elsewhere/b"]'


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui_store")
    return MlflowClient(tracking_uri=f"sqlite:///{build_store(root)}")


@pytest.mark.slow  # MLflow SQLite store creation takes seconds
def test_the_training_experiment_describes_itself_and_opens_on_its_runs(store):
    tags = store.get_experiment_by_name("sastnet").tags
    assert "`aux/sastnet/seed0`" in tags[DESCRIPTION_TAG] and "<" not in tags[DESCRIPTION_TAG]
    assert "commit" in tags[DESCRIPTION_TAG]
    assert tags[KIND_TAG] == "custom_model_development"
    view = json.loads(tags[VIEW_TAG])
    assert "metrics.`dev/best_macro_f1`" in view["selectedColumns"]


@pytest.mark.slow
def test_runs_have_grouped_metrics_relative_params_artifacts_and_a_parent(store):
    exp = store.get_experiment_by_name("sastnet").experiment_id
    runs = store.search_runs([exp])
    parents = {r.info.run_id: r for r in runs if CHILDREN_TAG in r.data.tags}
    children = [r for r in runs if CHILDREN_TAG not in r.data.tags]
    assert sorted(p.info.run_name for p in parents.values()) == sorted(
        f"aux/{v}" for v in VARIANTS)
    assert len(children) == len(VARIANTS) * len(SEEDS)
    for run in children:
        metrics = run.data.metrics
        assert {"train/loss", "dev/macro_f1", "dev/best_macro_f1", "test_seen/macro_f1",
                "cosg_all/macro_f1"} <= set(metrics)
        assert not any(k.startswith(("best_", "test_seen_")) for k in metrics)
        assert run.data.params["job.feature_dir"] == "data/features"
        assert run.data.tags[PARENT_TAG] in parents
        parent = parents[run.data.tags[PARENT_TAG]]
        assert parent.data.tags["variant"] == run.data.tags["variant"]
        assert parent.info.start_time <= run.info.start_time
        assert parent.info.end_time >= run.info.end_time
        artifacts = {a.path for a in store.list_artifacts(run.info.run_id, "plots")}
        assert "plots/confusion_dev.png" in artifacts and "plots/confusion" in artifacts
        confusion = {a.path.rsplit("/", 1)[-1]
                     for a in store.list_artifacts(run.info.run_id, "plots/confusion")}
        assert any("test_seen" in p for p in confusion) and any("cosg_all" in p for p in confusion)
        assert [a.path for a in store.list_artifacts(run.info.run_id, "tables")] == [
            "tables/per_system.md"]
    sastnet = next(p for p in parents.values() if p.data.tags["variant"] == "sastnet")
    level = VARIANTS["sastnet"]
    assert sastnet.data.metrics["dev/best_macro_f1"] == pytest.approx(level + 4 + 0.5)
    assert sastnet.data.metrics["dev/best_macro_f1_std"] == 0.7071  # rounded for the UI
    assert sastnet.data.metrics["cosg_all/macro_f1"] == pytest.approx(level - 30 + 0.5)
    assert sastnet.data.metrics["seeds/n"] == len(SEEDS)


@pytest.mark.slow
def test_registry_versions_and_the_champion_say_why(store):
    model = store.get_registered_model(MODEL)
    assert "`@champion`" in model.description
    champion = store.get_model_version_by_alias(MODEL, "champion")
    assert champion.tags["variant"] == "sastnet" and champion.tags["seed"] == "1"
    text = champion.description
    assert "`sastnet` 94.50 ± 0.71 (n=2)" in text  # the winner, its spread
    assert "+10.00 points over `w2v2_aasist` 84.50 ± 0.71" in text  # by how much, over whom
    assert "seed 0: 94.00, seed 1: 95.00" in text and "ties" in text


@pytest.mark.slow
def test_reopening_a_finished_run_keeps_its_duration(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = start_or_resume_run("sastnet", "aux/x/seed0", tracking_uri=uri)
    tracker.finish()
    client = MlflowClient(tracking_uri=uri)
    ended = client.get_run(tracker.run_id).info.end_time
    mlflow.set_tracking_uri(uri)
    with keeping_run_times(client, tracker.run_id), mlflow.start_run(run_id=tracker.run_id):
        mlflow.log_param("late", 1)  # what logging a model into the run does to it
    info = client.get_run(tracker.run_id).info
    assert info.end_time == ended and info.status == "FINISHED"


@pytest.mark.slow
def test_a_training_run_records_its_inputs_and_describes_itself(tmp_path):
    from pipelines.train.driver import run_tags
    from pipelines.train.job import TrainJob

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = start_or_resume_run("sastnet", "aux/sastnet/seed0", tracking_uri=uri)
    tracker.log_datasets({"data/shards": "0123456789abcdef0123456789abcdef.dir",
                          "data/features": "not in dvc.lock"}, "training")
    job = TrainJob(task="aux", variant="sastnet", seed=0,
                   init_from=str(REPO_ROOT / "models/aux/w2v2_aasist/seed0/best"))
    tags = run_tags(job, {"git_commit": "abc", "git_dirty": True, "params_profile": "default"})
    tracker.set_tags(tags)
    run = MlflowClient(tracking_uri=uri).get_run(tracker.run_id)
    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert inputs["data/shards"].dataset.digest == "0123456789abcdef0123456789abcdef.dir"
    assert inputs["data/features"].dataset.digest == "not-in-dvc-lock"
    assert inputs["data/shards"].tags[0].value == "training"
    assert run.data.tags["profile"] == "default" and run.data.tags["commit"] == "abc-dirty"
    description = run.data.tags[DESCRIPTION_TAG]
    assert "`sastnet` trained on the `aux` task with seed 0" in description
    assert "`models/aux/w2v2_aasist/seed0/best`" in description and str(REPO_ROOT) not in description


@pytest.mark.slow
def test_a_training_logs_its_model_and_the_trace_model_is_its_one_registry_version(tmp_path):
    import torch

    from pipelines.trace.models import load_trace_model
    from pipelines.trace.pyfunc import log_trace_model
    from pipelines.tracking.runs import log_model
    from pipelines.train.export import ScoringModule
    from sastnet.models import build_model, model_config

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    torch.manual_seed(0)
    scoring = ScoringModule(build_model(model_config("m_mae", "aux", "tiny", num_samples=16000)),
                            16000, None)
    tracker = start_or_resume_run("sastnet", "aux/m_mae/seed0", tracking_uri=uri)
    model_uri = log_model(tracker, scoring, scoring.input_example(), tags={"seed": "0"})
    tracker.finish()
    client = MlflowClient(tracking_uri=uri)
    assert model_uri.startswith("models:/m-") and not client.search_registered_models()
    # no registered model yet: register's first version of a task creates it (a fresh store)
    version = log_trace_model(run_id=tracker.run_id, tracking_uri=uri, scorer_uri=model_uri,
                              task="aux", registered_name="sastnet-aux", temperature=None,
                              calibration={}, features=None, tags={"variant": "m_mae"})
    assert [str(v.version) for v in client.search_model_versions("name='sastnet-aux'")] == [version]
    mlflow.set_tracking_uri(uri)
    traced = load_trace_model(f"models:/sastnet-aux/{version}", "aux", "sastnet")
    assert traced.num_samples == 16000
