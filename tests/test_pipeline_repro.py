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
    # register calibrated every trained model and the champion is the calibrated trace model
    calibration = json.loads((repo / "reports" / "calibration" / "calibration.json").read_text())
    assert set(calibration) == {"aux/w2v2_aasist", "aux/m_mae", "aux/sastnet"}
    assert all(c["temperature"] > 0 for c in calibration.values())
    assert list((repo / "reports" / "calibration").glob("reliability_aux_*.png"))
    assert "| system | class | n |" in (repo / "reports" / "tables" / "per_system.md").read_text()
    clip = next((repo / "data").rglob("*.flac"))
    traced = subprocess.run([sys.executable, "-m", "pipelines.cli", "trace", str(clip), "--format",
                             "json"], cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert traced.returncode == 0, traced.stderr[-3000:]
    assert json.loads(traced.stdout)["models"]["aux"]["calibrated"] is True
    for report in ("corpus", "zoo", "shards", "features", "vad"):
        assert (repo / "reports" / f"{report}.json").exists(), report

    shown = _run(["dvc", "metrics", "show"], repo, env)
    assert "metrics/evaluation.json" in shown
    again = _run(["dvc", "repro"], repo, env)
    assert "didn't change" in again or "up to date" in again
    assert "Running stage" not in again
