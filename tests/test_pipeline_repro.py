"""The whole DVC pipeline, from nothing, on the tiny ``ci`` profile, in a copy of the repository.

Slow (several minutes on 2 cores): every stage runs for real - synthesizers, codec training,
silero-vad on Ray, WebDataset shards, Whisper features on Ray actors, Ray Train DDP (every
model once per seed, two seeds), MLflow registry, predictions and the paper tables with
mean ± std over the seeds, and reports/summary.md - through the stage clock of scripts/run.sh.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _copy_repo(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                           cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            (dest / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name.decode())
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)


def _run(cmd: list[str], cwd: Path, env: dict) -> str:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1500)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout[-4000:]}\n{out.stderr[-6000:]}"
    return out.stdout


def test_dvc_repro_ci_profile_end_to_end(tmp_path):
    repo = tmp_path / "repo"
    _copy_repo(repo)
    shutil.copyfile(repo / "profiles" / "ci.yaml", repo / "params.yaml")
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "RAY_AUTH_MODE": "disabled",
           "PYTHONPATH": str(repo)}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("RAY_ADDRESS", None)

    _run([sys.executable, "-m", "pipelines.tracking.stage_clock"], repo, env)
    check_ci_outputs(repo, env)


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
    for model in ("w2v2_aasist", "m_mae", "sastnet", "random"):
        assert f"{model}/cors/macro_f1" in group, sorted(group)[:20]
        assert f"{model}/cors/weighted_f1_std" in group and group[f"{model}/cors/n_seeds"] == 2
    per_seed = json.loads((repo / "metrics" / "evaluation_seeds.json").read_text())["seen250_aux"]
    for seed in (0, 1):
        assert f"sastnet/seed{seed}/cors/macro_f1" in per_seed
    registry = json.loads((repo / "reports" / "registry.json").read_text())
    entry = registry["tasks"]["aux"]
    assert [g["n"] for g in entry["groups"]] == [2, 2, 2]
    assert entry["champion"]["seed"] in ("0", "1")
    # register calibrated every trained model (each seed); the champion is a trace model
    calibration = json.loads((repo / "reports" / "calibration" / "calibration.json").read_text())
    assert {k.rsplit("/", 1)[0] for k in calibration} == {"aux/w2v2_aasist", "aux/m_mae", "aux/sastnet"}
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
    assert sorted((r.data.tags["variant"], r.data.tags["seed"]) for r in runs) == sorted(
        (v, s) for v in ("w2v2_aasist", "m_mae", "sastnet") for s in ("0", "1"))
    for r in runs:
        assert r.data.tags["mlflow.source.git.commit"] and r.data.tags["mlflow.user"]
        assert r.data.tags["fingerprint.params_digest"] != "none"
        assert "cors_macro_f1" in r.data.metrics and "cosg_all_weighted_f1" in r.data.metrics

    shown = _run(["dvc", "metrics", "show"], repo, env)
    assert "metrics/evaluation.json" in shown
    assert "metrics/knn.json" in shown
    again = _run(["dvc", "repro"], repo, env)
    assert "didn't change" in again or "up to date" in again
    assert "Running stage" not in again
