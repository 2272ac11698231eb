"""The whole DVC pipeline, from nothing, on the tiny ``ci`` profile, in a copy of the repository.

Slow (several minutes on 2 cores): every stage runs for real - synthesizers, codec training,
silero-vad on Ray, WebDataset shards, Whisper features on Ray actors, Ray Train DDP, MLflow
registry, predictions and the paper tables.
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

    _run(["dvc", "repro"], repo, env)

    tables = {p.name for p in (repo / "reports" / "tables").glob("*.md")}
    assert {"table_i.md", "table_ii.md", "table_iii.md", "table_iv.md"} <= tables
    assert "Random" in (repo / "reports" / "tables" / "table_iv.md").read_text()
    assert list((repo / "reports" / "plots").glob("cm_*.png"))
    metrics = json.loads((repo / "metrics" / "evaluation.json").read_text())
    group = metrics["seen250_aux"]
    for model in ("w2v2_aasist", "m_mae", "sastnet", "random"):
        assert f"{model}/cors/macro_f1" in group, sorted(group)[:20]
    registry = json.loads((repo / "reports" / "registry.json").read_text())
    assert "aux" in json.dumps(registry)
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

    shown = _run(["dvc", "metrics", "show"], repo, env)
    assert "metrics/evaluation.json" in shown
    assert "metrics/knn.json" in shown
    again = _run(["dvc", "repro"], repo, env)
    assert "didn't change" in again or "up to date" in again
    assert "Running stage" not in again
