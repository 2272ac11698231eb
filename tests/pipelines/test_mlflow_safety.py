"""The repository's MLflow store follows its checkout, and only this project's models load
(issue 20). Real MLflow (SQLite store), real `sastnet trace`."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.tracking.registry import promote_if_better
from pipelines.tracking.runs import log_and_register_model, start_or_resume_run
from pipelines.train.export import ScoringModule
from sastnet.models import build_model, model_config

ROOT = Path(__file__).resolve().parents[2]
NUM_SAMPLES = 32000
REGISTER = """
import torch
from pipelines.tracking.registry import promote_if_better
from pipelines.tracking.runs import default_tracking_uri, log_and_register_model, start_or_resume_run
from pipelines.train.export import ScoringModule
from sastnet.models import build_model, model_config

torch.manual_seed(0)
scoring = ScoringModule(build_model(model_config("m_mae", "aux", "tiny", num_samples=32000)), 32000, None)
tracker = start_or_resume_run("sastnet", "aux/m_mae")
tracker.log_metrics({"best_dev_macro_f1": 50.0}, step=0)
version = log_and_register_model(tracker, scoring, scoring.input_example(), registered_name="sastnet-aux", tags={})
assert promote_if_better("sastnet-aux", version).promoted
print(default_tracking_uri())
"""


def _register(experiment: str, uri: str) -> None:
    torch.manual_seed(0)
    scoring = ScoringModule(build_model(model_config("m_mae", "aux", "tiny", num_samples=NUM_SAMPLES)),
                            NUM_SAMPLES, None)
    tracker = start_or_resume_run(experiment, "aux/m_mae", tracking_uri=uri)
    tracker.log_metrics({"best_dev_macro_f1": 50.0}, step=0)
    version = log_and_register_model(tracker, scoring, scoring.input_example(),
                                     registered_name="sastnet-aux", tags={})
    assert promote_if_better("sastnet-aux", version, tracking_uri=uri).promoted


def _clip(path: Path) -> Path:
    sf.write(path, (0.1 * np.random.default_rng(0).standard_normal(16000)).astype("float32"), 16000)
    return path


def test_trace_refuses_a_champion_from_another_experiment(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    _register("someone-elses", uri)
    result = CliRunner().invoke(app, ["trace", str(_clip(tmp_path / "a.wav")), "--task", "aux"])
    assert result.exit_code == 2, result.output
    assert "experiment 'someone-elses', not 'sastnet'" in result.output


def test_trace_loads_the_weights_only_copy_and_refuses_a_bare_pickle(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    _register("sastnet", uri)
    (config,) = tmp_path.glob("mlruns/**/extra_files/serving_config.json")
    # the requirements are given, not inferred by loading the model in a subprocess (~20 s)
    reqs = (config.parents[1] / "requirements.txt").read_text().split()
    assert {r.split("==")[0] for r in reqs} >= {"torch", "sastnet-pipeline"}, reqs
    assert not any("+" in r or r.startswith("google-") for r in reqs), reqs
    (pickle_file,) = [p for p in config.parents[1].rglob("*.pth")]
    pickle_file.write_bytes(b"not a pickle")  # any unpickling now fails
    clip = str(_clip(tmp_path / "a.wav"))
    result = CliRunner().invoke(app, ["trace", clip, "--task", "aux"])
    assert result.exit_code == 0, result.output  # served from the weights-only copy

    for extra in config.parent.iterdir():  # a version registered before the copy existed
        extra.unlink()
    result = CliRunner().invoke(app, ["trace", clip, "--task", "aux"])
    assert result.exit_code == 2 and "no weights-only copy" in result.output, result.output


def _copy_code(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                           cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file() and name.decode().startswith(("pipelines/", "sastnet/", "stages/")):
            (dest / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name.decode())


@pytest.mark.slow
def test_a_moved_checkout_traces_with_its_own_champion(tmp_path):
    first, moved = tmp_path / "first", tmp_path / "elsewhere" / "moved"
    _copy_code(first)

    def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PYTHONPATH")}
        return subprocess.run([sys.executable, *args], cwd=cwd, env={**env, "PYTHONPATH": str(cwd)},
                              capture_output=True, text=True, timeout=600, check=False)

    made = run(first, "-c", REGISTER)
    assert made.returncode == 0, made.stderr[-3000:]
    assert (first / "mlruns").is_dir()
    moved.parent.mkdir(parents=True)
    shutil.move(first, moved)  # the original path is gone: reading from it would fail
    clip = _clip(moved / "clip.wav")
    traced = run(moved, "-m", "pipelines.cli", "trace", str(clip), "--task", "aux")
    assert traced.returncode == 0, traced.stdout[-2000:] + traced.stderr[-3000:]
    assert "AUX source tracing" in traced.stdout
    assert f"{first / 'mlruns'} -> {moved / 'mlruns'}" in traced.stderr  # said so, once
    with sqlite3.connect(moved / "mlflow.db") as con:
        dump = "\n".join(con.iterdump())
    assert str(first) not in dump  # nothing points at the old place any more
