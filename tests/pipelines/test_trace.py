"""`sastnet trace` against a real MLflow registry (SQLite store in a temp dir)."""

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

NUM_SAMPLES = 32000


@pytest.fixture()
def registered(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # no params.yaml here: trace must not need one
    torch.manual_seed(0)
    model = build_model(model_config("m_mae", "aux", "tiny", num_samples=NUM_SAMPLES))
    scoring = ScoringModule(model, NUM_SAMPLES, None)
    tracker = start_or_resume_run("sastnet", "aux/m_mae", tracking_uri=uri)
    tracker.log_metrics({"best_dev_macro_f1": 50.0}, step=0)
    version = log_and_register_model(tracker, scoring, scoring.input_example(),
                                     registered_name="sastnet-aux", tags={})
    assert promote_if_better("sastnet-aux", version, tracking_uri=uri).promoted
    return tmp_path


def test_trace_prints_probabilities_per_clip(registered):
    rng = np.random.default_rng(0)
    clips = []
    for i, seconds in enumerate((1.0, 3.0)):  # shorter and longer than the model input
        path = registered / f"clip{i}.wav"
        sf.write(path, (0.1 * rng.standard_normal(int(16000 * seconds))).astype("float32"), 16000)
        clips.append(str(path))
    out_csv = registered / "out.csv"
    result = CliRunner().invoke(app, ["trace", *clips, "--task", "aux", "--output", str(out_csv)])
    assert result.exit_code == 0, result.output
    import pandas as pd

    df = pd.read_csv(out_csv)
    assert list(df.columns) == ["clip", "p_REAL", "p_None", "p_SEM", "p_Disent", "decision"]
    assert np.allclose(df[["p_REAL", "p_None", "p_SEM", "p_Disent"]].sum(axis=1), 1.0, atol=1e-4)
    assert set(df["decision"]) <= {"REAL", "None", "SEM", "Disent"}


def test_trace_bad_audio_names_the_file(registered):
    path = registered / "stereo.wav"
    sf.write(path, np.zeros((16000, 2), "float32"), 16000)
    result = CliRunner().invoke(app, ["trace", str(path), "--task", "aux"])
    assert result.exit_code == 2
    assert "stereo.wav" in result.output


def test_trace_without_a_registered_model_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "a.wav"
    sf.write(path, np.zeros(16000, "float32"), 16000)
    result = CliRunner().invoke(app, ["trace", str(path), "--task", "vq"])
    assert result.exit_code != 0
    assert "models:/sastnet-vq@champion" in str(result.exception) + result.output
