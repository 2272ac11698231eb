"""MLflow run reattachment and the champion alias rule, on a throwaway SQLite store."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from pipelines.tracking.registry import champion_info, promote_if_better
from pipelines.tracking.runs import data_fingerprint, flatten, start_or_resume_run


@pytest.fixture()
def uri(tmp_path):
    return f"sqlite:///{tmp_path}/mlflow.db"


@pytest.mark.slow  # MLflow SQLite store creation takes seconds
def test_resume_reattaches_the_same_run_and_unknown_ids_start_fresh(uri):
    first = start_or_resume_run("exp", "aux/x", tracking_uri=uri)
    first.log_params({"a": 1})
    first.log_metrics({"m": 1.0}, step=1)
    first.finish("FAILED")
    again = start_or_resume_run("exp", "aux/x", resume_run_id=first.run_id, tracking_uri=uri)
    assert again.run_id == first.run_id
    assert again.client.get_run(again.run_id).info.status == "RUNNING"
    again.log_params({"a": 1, "b": 2})  # params already logged are skipped, not an error
    fresh = start_or_resume_run("exp", "aux/x", resume_run_id="0" * 32, tracking_uri=uri)
    assert fresh.run_id != first.run_id


def _version(uri: str, score: float) -> str:
    tracker = start_or_resume_run("exp", "v", tracking_uri=uri)
    tracker.log_metrics({"best_dev_macro_f1": score}, step=1)
    client = MlflowClient(tracking_uri=uri)
    try:
        client.create_registered_model("sastnet-aux")
    except Exception:
        pass
    mv = client.create_model_version("sastnet-aux", f"runs:/{tracker.run_id}/model",
                                     run_id=tracker.run_id, tags={"variant": f"s{score}"})
    return str(mv.version)


@pytest.mark.slow
def test_champion_moves_only_to_a_strictly_better_version(uri):
    v1, v2, v3 = _version(uri, 50.0), _version(uri, 40.0), _version(uri, 60.0)
    assert promote_if_better("sastnet-aux", v1, tracking_uri=uri).promoted
    worse = promote_if_better("sastnet-aux", v2, tracking_uri=uri)
    assert not worse.promoted and worse.champion_version == v1 and worse.previous_score == 50.0
    assert promote_if_better("sastnet-aux", v3, tracking_uri=uri).champion_version == v3
    assert not promote_if_better("sastnet-aux", v3, tracking_uri=uri).promoted  # already champion
    info = champion_info("sastnet-aux", tracking_uri=uri)
    assert info["version"] == v3 and info["dev_macro_f1"] == 60.0 and info["variant"] == "s60.0"


def test_data_fingerprint_changes_with_the_index(tmp_path):
    index = tmp_path / "index.json"
    index.write_text('{"splits": {}}')
    before = data_fingerprint([index, tmp_path / "absent.json"])
    index.write_text('{"splits": {"dev": []}}')
    assert data_fingerprint([index]) != before
    assert data_fingerprint([tmp_path / "absent.json"]) == "none"


def test_flatten_nested_params():
    assert flatten("train", {"main": {"lr": 1e-3}, "tasks": ["aux"]}) == {
        "train.main.lr": 1e-3, "train.tasks": '["aux"]'}


@pytest.mark.slow
def test_register_stage_offers_every_variant_in_training_order(uri, tmp_path):
    import json

    from stages.register import register_all

    for variant, score in (("w2v2_aasist", 55.0), ("sastnet", 70.0)):
        version = _version(uri, score)
        out = tmp_path / "models" / "aux" / variant
        out.mkdir(parents=True)
        (out / "run.json").write_text(json.dumps({"registered_model": "sastnet-aux",
                                                  "version": version, "tracking_uri": uri}))
    report = register_all(("aux",), ("w2v2_aasist", "sastnet"), tmp_path / "models",
                          "dev_macro_f1", tracking_uri=uri)
    entry = report["tasks"]["aux"]
    assert [p["promoted"] for p in entry["promotions"]] == [True, True]
    assert entry["champion"]["variant"] == "s70.0" and entry["champion"]["dev_macro_f1"] == 70.0
    with pytest.raises(FileNotFoundError, match="not trained yet"):
        register_all(("vq",), ("sastnet",), tmp_path / "models", "dev_macro_f1", tracking_uri=uri)
