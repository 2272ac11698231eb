"""``sastnet export models:/sastnet-aux@champion``: a calibrated trace model in a real MLflow
registry (SQLite store in a temp dir) exports with its temperature, variant, seed, version and
run id, and the folder traces as the registry model does."""

import json

import mlflow
import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.export import load_model
from pipelines.trace.pyfunc import log_trace_model
from pipelines.tracking.runs import log_and_register_model, start_or_resume_run
from pipelines.train.export import ScoringModule
from sastnet.models import build_model, model_config
from tests.export_dummies import NUM_SAMPLES, RUN_DIR, speechlike

TEMPERATURE = 1.7

pytestmark = pytest.mark.slow  # an MLflow store


@pytest.fixture()
def registry(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # no params.yaml here
    torch.manual_seed(0)
    model = build_model(model_config("w2v2_aasist", "aux", "tiny", num_samples=NUM_SAMPLES))
    scoring = ScoringModule(model, NUM_SAMPLES, None)
    tracker = start_or_resume_run("sastnet", "aux/w2v2_aasist", tracking_uri=uri)
    raw = log_and_register_model(tracker, scoring, scoring.input_example(),
                                 registered_name="sastnet-aux", tags={})
    version = log_trace_model(
        run_id=tracker.run_id, tracking_uri=uri, scorer_uri=f"models:/sastnet-aux/{raw}",
        task="aux", registered_name="sastnet-aux", temperature=TEMPERATURE,
        calibration={"ece_before": 0.2, "ece_after": 0.05, "applied": True}, features=None,
        tags={"variant": "w2v2_aasist", "seed": "3"})
    mlflow.tracking.MlflowClient(tracking_uri=uri).set_registered_model_alias(
        "sastnet-aux", "champion", version)
    sf.write(tmp_path / "a.wav", speechlike(2.5, 16000, seed=5), 16000)
    return tmp_path, version, tracker.run_id


def test_the_champion_exports_with_its_calibration_and_traces_like_the_registry(registry):
    tmp_path, version, run_id = registry
    result = CliRunner().invoke(app, ["export", "models:/sastnet-aux@champion", "out",
                                      "--run-dir", str(RUN_DIR)])
    assert result.exit_code == 0, result.output
    assert "T=1.7" in result.output
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["temperature"] == TEMPERATURE and config["calibration"]["applied"] is True
    assert config["source"] | {"model": "models:/sastnet-aux@champion"} == config["source"]
    assert (config["source"]["version"], config["source"]["run_id"]) == (version, run_id)
    assert (config["source"]["variant"], config["source"]["seed"]) == ("w2v2_aasist", 3)
    card = (tmp_path / "out" / "README.md").read_text()
    assert f"registered model `sastnet-aux` version {version}" in card
    assert "temperature 1.7 fitted on dev" in card

    registry_run = CliRunner().invoke(app, ["trace", "a.wav", "--format", "json", "--no-knn"])
    assert registry_run.exit_code == 0, registry_run.output
    want = json.loads(registry_run.stdout)["files"][0]["results"]["aux"]
    for backend in ("torch", "onnx"):
        got = load_model(tmp_path / "out", backend=backend).trace_files(["a.wav"])[0]
        got = got["results"]["aux"]
        assert got["calibrated"] and got["decision"] == want["decision"]
        np.testing.assert_allclose(list(got["probabilities"].values()),
                                   list(want["probabilities"].values()), atol=1e-4)
