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


def _trained(uri, models, variant: str, scores: dict[int, float]) -> dict[int, str]:
    """Register one version per seed and write the run.json the register stage reads."""
    import json

    versions = {}
    for seed, score in scores.items():
        versions[seed] = _version(uri, score)
        out = models / "aux" / variant / f"seed{seed}"
        out.mkdir(parents=True)
        (out / "run.json").write_text(json.dumps({"registered_model": "sastnet-aux",
                                                  "version": versions[seed], "tracking_uri": uri}))
    return versions


@pytest.mark.slow
def test_register_promotes_the_best_mean_over_seeds_not_the_luckiest_run(uri, tmp_path):
    from pipelines.register.champion import register_all

    models = tmp_path / "models"
    # the baseline has the single best run (80) but the lower mean: (80 + 50 + 50) / 3 = 60
    base = _trained(uri, models, "w2v2_aasist", {0: 80.0, 1: 50.0, 2: 50.0})
    # SASTNet: (70 + 72 + 62) / 3 = 68; sample std sqrt((4 + 16 + 36) / 2) = sqrt(28) = 5.29
    sast = _trained(uri, models, "sastnet", {0: 70.0, 1: 72.0, 2: 62.0})
    report = register_all(("aux",), ("w2v2_aasist", "sastnet"), (0, 1, 2), models,
                          "dev_macro_f1", tracking_uri=uri)
    entry = report["tasks"]["aux"]
    groups = {g["group"]: g for g in entry["groups"]}
    assert groups["w2v2_aasist"]["mean"] == pytest.approx(60.0)
    assert groups["w2v2_aasist"]["std"] == pytest.approx(17.3205, abs=1e-4)  # sqrt(300)
    assert groups["sastnet"]["mean"] == pytest.approx(68.0)
    assert groups["sastnet"]["std"] == pytest.approx(28 ** 0.5)
    assert groups["sastnet"]["n"] == 3 and groups["sastnet"]["best_seed"] == 1
    assert entry["winner"] == "sastnet" and entry["promotion"]["promoted"]
    # the alias points at the best seed's version of the winning group
    assert entry["champion"]["registry_version"] == sast[1] and entry["champion"]["seed"] == "1"
    assert entry["champion"]["group_mean_dev_macro_f1"] == pytest.approx(68.0)
    client = MlflowClient(tracking_uri=uri)
    tags = client.get_model_version("sastnet-aux", base[0]).tags
    assert tags["seed"] == "0" and tags["group_n"] == "3"
    assert float(tags["group_mean_dev_macro_f1"]) == pytest.approx(60.0)

    # a later group with a lucky seed (90) but a lower mean (64) does not demote the champion
    _trained(uri, models, "m_mae", {0: 90.0, 1: 51.0, 2: 51.0})
    again = register_all(("aux",), ("m_mae",), (0, 1, 2), models, "dev_macro_f1",
                         tracking_uri=uri)["tasks"]["aux"]
    assert not again["promotion"]["promoted"]
    assert again["promotion"]["previous_score"] == pytest.approx(68.0)
    assert again["champion"]["registry_version"] == sast[1]
    with pytest.raises(FileNotFoundError, match=r"w2v2_aasist/seed5/run.json: not trained yet"):
        register_all(("aux",), ("w2v2_aasist",), (0, 1, 5, 6), models, "dev_macro_f1",
                     tracking_uri=uri)


@pytest.mark.slow
def test_fingerprint_tags_fill_mlflow_source_and_user_columns(uri, tmp_path, monkeypatch):
    import subprocess

    from pipelines.tracking.fingerprint import mlflow_tags, run_fingerprint

    monkeypatch.delenv("SASTNET_GIT_COMMIT", raising=False)
    lock = tmp_path / "dvc.lock"
    lock.write_text("schema: '2.0'\nstages:\n  shard:\n    cmd: x\n    outs:\n"
                    "    - path: data/shards\n      md5: abc123.dir\n")
    tracker = start_or_resume_run("exp", "aux/w2v2_aasist/seed0", tracking_uri=uri)
    tracker.set_tags(mlflow_tags(run_fingerprint(
        "d1g35t", ["data/shards", "data/shards/index.json", "data/features"], lock_path=lock)))
    tags = MlflowClient(tracking_uri=uri).get_run(tracker.run_id).data.tags
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert tags["mlflow.source.git.commit"] == head
    assert tags["fingerprint.git_dirty"] in ("true", "false")
    assert tags["mlflow.user"] and tags["mlflow.source.name"] and tags["mlflow.source.type"]
    assert tags["fingerprint.params_digest"] == "d1g35t"
    assert tags["fingerprint.dvc.data/shards"] == "abc123.dir"
    assert tags["fingerprint.dvc.data/shards/index.json"] == "data/shards@abc123.dir"
    assert tags["fingerprint.dvc.data/features"] == "not in dvc.lock"
    import torch

    assert tags["fingerprint.pkg.torch"] == torch.__version__
    assert tags["fingerprint.threads.torch_intraop"] == str(torch.get_num_threads())
    for name in ("transformers", "ray", "mlflow", "webdataset"):
        assert tags[f"fingerprint.pkg.{name}"] != "not installed", name
    assert tags["fingerprint.cpu"] and int(tags["fingerprint.cpu_cores"]) >= 1


def test_params_digest_follows_values_and_code_defaults():
    import dataclasses

    import yaml

    from pipelines.params import PROFILES_DIR, parse_params
    from pipelines.tracking.fingerprint import params_digest

    data = yaml.safe_load((PROFILES_DIR / "default.yaml").read_text())
    base = parse_params(data)
    assert params_digest(base) == params_digest(parse_params(data))
    data["train"]["seeds"] = [0, 1]
    assert params_digest(parse_params(data)) != params_digest(base)
    changed = dataclasses.replace(base.train, num_workers=3)  # as a new code default would
    assert params_digest(dataclasses.replace(base, sections={**base.sections, "train": changed})) \
        != params_digest(base)


@pytest.mark.slow
def test_the_registry_report_is_the_same_bytes_on_a_registry_with_earlier_versions(uri, tmp_path):
    """A second run of the same trainings into a registry that holds the first's versions writes
    the same DVC-tracked registry.json; the registry state (versions, the previous champion)
    goes to the untracked part."""
    import json

    from pipelines.common.io import write_report
    from pipelines.register.champion import register_all

    for run in (0, 1):
        models = tmp_path / f"models{run}"
        _trained(uri, models, "w2v2_aasist", {0: 60.0, 1: 50.0})
        _trained(uri, models, "sastnet", {0: 70.0, 1: 72.0})
        report = register_all(("aux",), ("w2v2_aasist", "sastnet"), (0, 1), models,
                              "dev_macro_f1", tracking_uri=uri)
        write_report(tmp_path / f"registry{run}.json", report, tmp_path / f"state{run}.json")
    assert (tmp_path / "registry0.json").read_bytes() == (tmp_path / "registry1.json").read_bytes()
    tracked = json.loads((tmp_path / "registry1.json").read_text())["tasks"]["aux"]
    assert tracked["winner"] == "sastnet" and tracked["champion"]["seed"] == "1"
    first, second = (json.loads((tmp_path / f"state{run}.json").read_text())["tasks"]["aux"]
                     for run in (0, 1))
    assert first["promotion"]["previous_champion"] is None
    assert second["promotion"]["previous_champion"] == first["champion"]["registry_version"]
    assert second["champion"]["registry_version"] == first["champion"]["registry_version"]
