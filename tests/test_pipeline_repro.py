"""The whole DVC pipeline, from nothing, on the tiny ``ci`` profile, in copies of the repository.

Slow (the longest tests of the suite): every stage runs for real - synthesizers, codec training,
silero-vad on Ray, WebDataset shards, Whisper features on Ray actors, Ray Train DDP (every
model once per seed, two seeds), MLflow registry, predictions and the paper tables with
mean ± std over the seeds, kNN attribution, and reports/summary.md - through the stage clock of
scripts/run.sh. The copies run side by side, so each also runs on a machine the others keep busy:

- ``one``: the whole pipeline with 1 pool worker / Ray actor / Ray task slot everywhere;
- ``two``: the data stages up to the Whisper features with 2 of each (corpus threads, codec zoo
  processes, VAD Ray tasks, Whisper feature actors): every ``data/`` output hash in ``dvc.lock``
  must equal ``one``'s (equal shards train equal weights: a training's own determinism, resumed
  or not, is checked in tests/pipelines/test_train_cluster.py, so ``two`` trains nothing);
- ``seed``: ``two`` once more up to the shards with another ``common.seed``: they must change.

``one`` also holds what tests/pipelines/test_train_shards.py (gone) checked with a Ray Train run
of its own: the baseline, then SASTNet with its wav2vec 2.0 initialised from the baseline's best
epoch (``init_keys``), 2 workers each, and ``predict``'s probabilities.

``one`` goes beside ``two`` then ``seed``, and beside tests/test_paper_profile_repro.py's run
(``whole_runs`` in tests/conftest.py).

What stays fixed on purpose: ``train.num_workers`` (the DDP world size is part of the
training's arithmetic: per-rank batches and BatchNorm statistics) and thread counts
(``resynthesize.threads``, ``features.threads_per_actor``): docs/determinism.md.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from repo_copy import _copy_repo, _env, _run

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]
TWO_TARGETS = ["features"]  # the data stages (a training in parallel only cost CI time)


def _params(repo: Path, workers: int, seed: int | None = None) -> None:
    params = yaml.safe_load((repo / "profiles" / "ci.yaml").read_text())
    params["corpus"]["synthetic"]["workers"] = workers
    params["codecs"]["workers"] = workers
    params["vad"]["num_cpus"] = workers
    params["features"]["actors"] = workers
    if seed is not None:
        params["common"]["seed"] = seed
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _data_hashes(repo: Path) -> dict[str, str]:
    """``data/...`` output -> md5 from dvc.lock (models/ hold run ids: weights compared below)."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values()
            for out in stage.get("outs", []) if out["path"].startswith("data/")}


def _top_level(root: Path, names: set[str]):
    """A copytree ``ignore`` for these names directly under ``root`` only (not sastnet/models)."""
    return lambda folder, entries: [e for e in entries if Path(folder) == root and e in names]


def _ci_copy(tmp_path_factory, name: str, workers: int, cmd: list[str]) -> Path:
    repo = tmp_path_factory.mktemp(name) / "repo"
    _copy_repo(repo)
    # from nothing: the committed dvc.lock (the default profile's) would otherwise keep
    # the hashes of stages this copy does not run
    (repo / "dvc.lock").unlink(missing_ok=True)
    _params(repo, workers)
    _run(cmd, repo, _env(repo), timeout=3000)
    return repo


def _one(tmp_path_factory) -> Path:
    return _ci_copy(tmp_path_factory, "one", 1,
                    [sys.executable, "-m", "pipelines.repro"])


def _two_then_seed(tmp_path_factory) -> tuple[Path, Path]:
    two = _ci_copy(tmp_path_factory, "two", 2, ["dvc", "repro", *TWO_TARGETS])
    # another common.seed in a copy of ``two`` (its worker counts kept: the codec zoo, whose seed
    # is its own key, stays cached), up to the shards, while ``one`` still trains
    seeded = tmp_path_factory.mktemp("seed") / "repo"
    shutil.copytree(two, seeded, symlinks=True, ignore=_top_level(
        two, {"ray_results", "mlruns", "mlflow.db", "models"}))
    _params(seeded, 2, seed=4321)
    _run(["dvc", "repro", "shard"], seeded, _env(seeded))
    return two, seeded


WHOLE_RUNS = {"ci_one": _one, "ci_two_then_seed": _two_then_seed}  # started by tests/conftest.py


@pytest.fixture(scope="module")
def runs(whole_runs):
    two, seeded = whole_runs["ci_two_then_seed"].result()
    return {"one": whole_runs["ci_one"].result(), "two": two, "seed": seeded}


def test_dvc_repro_ci_profile_end_to_end(runs):
    check_ci_outputs(runs["one"], _env(runs["one"]))


def test_one_and_two_workers_give_identical_outputs(runs):
    one, two = _data_hashes(runs["one"]), _data_hashes(runs["two"])
    core = {"data/corpus", "data/codecs", "data/resynth", "data/shards", "data/features"}
    assert core <= set(one) and core <= set(two)
    assert "data/features" in two  # Whisper feature actors: 1 vs 2
    differ = {path: (one[path], two[path]) for path in set(one) & set(two) if one[path] != two[path]}
    assert not differ, f"outputs differ between 1 and 2 workers: {differ}"


def test_another_seed_changes_the_outputs(runs):
    one, seeded = _data_hashes(runs["one"]), _data_hashes(runs["seed"])
    assert seeded["data/codecs"] == one["data/codecs"]  # codecs.seed is its own key
    assert seeded["data/resynth"] != one["data/resynth"]  # seeded clip subsets, CoSG draws
    assert seeded["data/shards"] != one["data/shards"]


def check_ci_outputs(repo: Path, env: dict) -> None:
    """What a finished ci run must have produced (also usable on a run made by hand)."""
    tables = {p.name for p in (repo / "reports" / "tables").glob("*.md")}
    assert {"table_i.md", "table_ii.md", "table_iii.md", "table_iv.md"} <= tables
    table_iv = (repo / "reports" / "tables" / "table_iv.md").read_text()
    assert "Random" in table_iv
    for row in [ln for ln in table_iv.splitlines() if ln.startswith("| ") and "Model" not in ln]:
        assert row.count("(n=2)") == 3 and "±" in row, row  # mean ± std over the two seeds
    assert list((repo / "reports" / "plots").glob("cm_*_seed1_*.png"))
    metrics = json.loads((repo / "metrics" / "evaluation.json").read_text())
    group = metrics["seen250_aux"]
    for model in ("w2v2_aasist", "sastnet", "random"):
        assert f"{model}/cors/macro_f1" in group, sorted(group)[:20]
        assert f"{model}/cors/weighted_f1_std" in group and group[f"{model}/cors/n_seeds"] == 2
    per_seed = json.loads((repo / "metrics" / "evaluation_seeds.json").read_text())["seen250_aux"]
    for seed in (0, 1):
        assert f"sastnet/seed{seed}/cors/macro_f1" in per_seed
    registry = json.loads((repo / "reports" / "registry.json").read_text())
    entry = registry["tasks"]["aux"]
    assert [g["n"] for g in entry["groups"]] == [2, 2]
    assert entry["champion"]["seed"] in ("0", "1")
    # register calibrated every trained model (each seed); the champion is a trace model
    calibration = json.loads((repo / "reports" / "calibration" / "calibration.json").read_text())
    assert {k.rsplit("/", 1)[0] for k in calibration} == {"aux/w2v2_aasist", "aux/sastnet"}
    assert all(c["temperature"] > 0 and "applied" in c for c in calibration.values())
    assert list((repo / "reports" / "calibration").glob("reliability_aux_*.png"))
    assert "| system | class | n |" in (repo / "reports" / "tables" / "per_system.md").read_text()
    clip = next((repo / "data").rglob("*.flac"))
    traced = subprocess.run([sys.executable, "-m", "pipelines.cli", "trace", str(clip), "--format",
                             "json"], cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert traced.returncode == 0, traced.stderr[-3000:]
    assert json.loads(traced.stdout)["models"]["aux"]["dev_calibration"]
    for report in ("corpus", "zoo", "shards", "features", "vad", "knn_clips", "embeddings"):
        assert (repo / "reports" / f"{report}.json").exists(), report
    # training-free kNN attribution (stages knn_clips -> embeddings -> knn)
    knn_table = (repo / "reports" / "knn" / "knn.md").read_text()
    for row in ("| Checkpoint |", "| Architecture |", "| Taxonomy VQ |", "AUROC"):
        assert row in knn_table, row
    assert (repo / "reports" / "knn" / "knn_f1_vs_k.png").stat().st_size > 0
    knn_metrics = json.loads((repo / "metrics" / "knn.json").read_text())
    assert {"checkpoint", "architecture", "vq", "aux", "dec"} <= set(knn_metrics["in_domain"])
    assert (repo / "data" / "knn" / "index" / "vectors.npz").exists()

    summary = (repo / "reports" / "summary.md").read_text()
    assert "mean ± sample std over seeds" in summary and "| SASTNet | 2 |" in summary
    assert "- commit: `" in summary and "- params digest: `" in summary
    assert "`train@aux-sastnet-1`" in summary and "`evaluate`" in summary  # stage times
    assert "`data/shards` | `" in summary  # DVC hash of an input
    times = json.loads((repo / "reports" / "stage_times.json").read_text())
    assert times["stages"]["train_baseline@aux-1"]["wall_s"] > 0
    lock = (repo / "dvc.lock").read_text()
    assert "stage_times" not in lock and "summary" not in lock  # times stay out of DVC

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("sastnet").experiment_id])
    parents = {r.info.run_id: r for r in runs if "group_children" in r.data.tags}
    runs = [r for r in runs if r.info.run_id not in parents]
    assert sorted((r.data.tags["variant"], r.data.tags["seed"]) for r in runs) == sorted(
        (v, s) for v in ("w2v2_aasist", "sastnet") for s in ("0", "1"))
    assert sorted(p.info.run_name for p in parents.values()) == ["aux/sastnet", "aux/w2v2_aasist"]
    for p in parents.values():  # the mean and spread over the seeds (pipelines/tracking/groups.py)
        assert p.data.metrics["seeds/n"] == 2 and "dev/best_macro_f1_std" in p.data.metrics
        assert "cosg_all/macro_f1_std" in p.data.metrics
    for r in runs:
        assert r.data.tags["mlflow.source.git.commit"] and r.data.tags["mlflow.user"]
        assert r.data.tags["fingerprint.params_digest"] != "none"
        assert "cors/macro_f1" in r.data.metrics and "cosg_all/weighted_f1" in r.data.metrics
        assert r.data.tags["mlflow.parentRunId"] in parents
        if r.data.tags["variant"] == "sastnet":  # the paper's order: W2V2 from its seed's baseline
            assert int(r.data.tags["init_keys"]) > 0, "SASTNet's wav2vec 2.0 was not initialised"
            assert Path(r.data.tags["init_from"]).parts[-3:] == (
                "w2v2_aasist", f"seed{r.data.tags['seed']}", "best")
    # one registry version per trained model (its calibrated trace model), the champion says why
    assert len(client.search_model_versions("name='sastnet-aux'")) == 4
    assert "Champion: group" in client.get_model_version_by_alias(
        "sastnet-aux", "champion").description
    for model in ("w2v2_aasist", "sastnet"):
        for seed in (0, 1):
            run = json.loads((repo / "models" / "aux" / model / f"seed{seed}" / "run.json").read_text())
            assert sorted(w["rank"] for w in run["workers"]) == [0, 1]  # Ray Train, 2 workers
            assert (repo / "models" / "aux" / model / f"seed{seed}" / "best").is_dir()
    # pipelines.evaluate.predict: one row per clip, class probabilities that sum to 1
    preds = pd.read_parquet(repo / "predictions/aux/sastnet/seed0/seen250/cosg_all.parquet")
    assert len(preds) and {"key", "label_aux", "prob_0", "prob_3", "pred"} <= set(preds.columns)
    assert preds["key"].is_unique
    probs = preds[[f"prob_{c}" for c in range(4)]].sum(axis=1)
    assert ((probs - 1).abs() < 1e-5).all()

    shown = _run(["dvc", "metrics", "show"], repo, env)
    assert "metrics/evaluation.json" in shown
    assert "metrics/knn.json" in shown
    again = _run(["dvc", "repro"], repo, env)
    assert "didn't change" in again or "up to date" in again
    assert "Running stage" not in again
