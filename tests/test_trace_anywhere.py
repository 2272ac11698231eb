"""``sastnet trace`` from any folder: a model's relative Whisper path is found in the checkout the
model came from, never the current directory (issue #40).

A throwaway checkout in tmp_path (a ``dvc.yaml``, a random tiny Whisper at the default
``data/whisper/tiny.en``, a tiny SASTNet ``best/`` folder) is traced from another folder. The
code's own checkout is taken out of the search so a built ``data/whisper`` there cannot help.
"""

import json
import shutil
from pathlib import Path

import pytest
import soundfile as sf
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.params.features import FeaturesParams
from pipelines.params.knn import KnnParams
from pipelines.trace import origin
from pipelines.trace.origin import model_origins, resolve_whisper_dir, store_checkout
from tests.export_dummies import build_best, build_tiny_whisper, speechlike
from tests.test_knn_cli import index_dir  # noqa: F401  (fixture: a tiny index + its Whisper)


@pytest.fixture()
def checkout(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(origin, "code_checkout", lambda: None)
    root = tmp_path / "checkout"
    root.mkdir()
    (root / "dvc.yaml").write_text("stages: {}\n")
    build_best(root / "models", "sastnet")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    sf.write(elsewhere / "clip.wav", speechlike(1.5, 16000, seed=1), 16000)
    monkeypatch.chdir(elsewhere)
    return root


def test_trace_from_another_folder_finds_whisper_in_the_models_checkout(checkout):
    build_tiny_whisper(checkout / FeaturesParams.model)  # the relative default, in the checkout
    result = CliRunner().invoke(app, ["trace", "clip.wav", "--model",
                                      str(checkout / "models" / "aux" / "sastnet" / "seed2"),
                                      "--no-knn", "--format", "json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)["files"]
    assert row["status"] == "ok" and row["results"]["aux"]["decision"]


def test_missing_whisper_names_the_folders_tried_and_the_fix(checkout):
    result = CliRunner().invoke(app, ["trace", "clip.wav", "--model",
                                      str(checkout / "models" / "aux" / "sastnet" / "seed2"),
                                      "--no-knn"])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert f"tried {checkout / FeaturesParams.model}" in message
    assert "dvc repro whisper_convert" in message and "--whisper DIR" in message
    assert "sastnet export" in message


def test_origins_come_from_the_model_and_its_store_not_the_cwd(tmp_path, monkeypatch):
    monkeypatch.setattr(origin, "code_checkout", lambda: None)
    root = tmp_path / "repo"
    (root / "mlruns" / "1" / "abc" / "artifacts").mkdir(parents=True)
    (root / "dvc.yaml").write_text("stages: {}\n")
    assert store_checkout(f"sqlite:///{root / 'mlflow.db'}") == root
    assert store_checkout(f"file://{root / 'mlruns'}") == root
    assert store_checkout("http://tracking.example:5000") is None
    assert model_origins(root / "mlruns" / "1" / "abc" / "artifacts", None) == (root,)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "whisper" / "tiny.en").mkdir(parents=True)  # in the cwd: not used
    with pytest.raises(FileNotFoundError, match="tried .*/repo/data/whisper/tiny.en"):
        resolve_whisper_dir("data/whisper/tiny.en", (root,), "models:/sastnet-aux@champion")
    assert resolve_whisper_dir("openai/whisper-small", (root,), "m") == "openai/whisper-small"


def test_the_knn_index_of_the_models_checkout_is_used_from_another_folder(checkout, index_dir):  # noqa: F811
    """No --knn-index: the checkout's ``data/knn/index`` is found from elsewhere, and its encoder
    (stored relative, as the knn stage writes it) is found in that checkout too."""
    shutil.copytree(index_dir / "whisper", checkout / FeaturesParams.model)
    index = checkout / KnnParams.index_dir
    shutil.copytree(index_dir / "index", index)
    meta = json.loads((index / "meta.json").read_text())
    (index / "meta.json").write_text(json.dumps({**meta, "model": FeaturesParams.model}))
    build_best(checkout / "plain", "m_mae")
    model = str(checkout / "plain" / "aux" / "m_mae" / "seed2")
    result = CliRunner().invoke(app, ["trace", "clip.wav", "--model", model, "--format", "json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)["files"]
    assert row["knn"]["index"] == str(index) and row["results"]["aux"]["ood_source"] == "knn"
    shutil.rmtree(checkout / FeaturesParams.model)
    result = CliRunner().invoke(app, ["trace", "clip.wav", "--model", model])
    assert result.exit_code == 2 and "kNN encoder directory data/whisper/tiny.en" in result.output
    assert "--no-knn" in " ".join(result.output.split())


def test_a_registry_model_storing_a_relative_whisper_path_traces_from_another_folder(
        checkout, monkeypatch):
    """The issue's case: the champion's pyfunc config says ``data/whisper/tiny.en`` (relative to
    the repository root); trace runs from another folder against that checkout's store."""
    from pipelines.trace.pyfunc import log_trace_model
    from pipelines.tracking.runs import log_and_register_model, start_or_resume_run
    from pipelines.train.export import ScoringModule
    from pipelines.train.job import TrainJob, build_job_model
    from tests.export_dummies import NUM_SAMPLES, WHISPER_DIM

    build_tiny_whisper(checkout / FeaturesParams.model)
    uri = f"sqlite:///{checkout / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    elsewhere = Path.cwd()
    monkeypatch.chdir(checkout)  # the run's artifacts land in <checkout>/mlruns, as in a run
    job = TrainJob(task="aux", variant="sastnet", size="tiny", num_samples=NUM_SAMPLES,
                   model_overrides={"fusion": {"whisper_dim": WHISPER_DIM}})
    scoring = ScoringModule(build_job_model(job)[0], NUM_SAMPLES, WHISPER_DIM)
    tracker = start_or_resume_run("sastnet", "aux/sastnet", tracking_uri=uri)
    raw = log_and_register_model(tracker, scoring, scoring.input_example(),
                                 registered_name="sastnet-aux", tags={})
    features = {"model": FeaturesParams.model, "variant": "fast", "fast_seconds": 5.12,
                "num_samples": NUM_SAMPLES}
    version = log_trace_model(run_id=tracker.run_id, tracking_uri=uri,
                              scorer_uri=f"models:/sastnet-aux/{raw}", task="aux",
                              registered_name="sastnet-aux", temperature=None, calibration={},
                              features=features, tags={})
    import mlflow

    mlflow.tracking.MlflowClient(tracking_uri=uri).set_registered_model_alias(
        "sastnet-aux", "champion", version)
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(app, ["trace", "clip.wav", "--no-knn", "--format", "json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)["files"]
    assert row["status"] == "ok" and row["results"]["aux"]["decision"]
