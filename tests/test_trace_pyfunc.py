"""The calibrated trace model in a real MLflow registry (SQLite store in a temp dir): the pyfunc
loaded from ``models:/sastnet-aux@champion`` answers like ``sastnet trace``."""

import base64
import json

import jsonschema
import mlflow
import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.register.versions import hand_over_to_calibrated
from pipelines.trace.pyfunc import TraceRequestError, log_trace_model
from pipelines.tracking.registry import promote_if_better
from pipelines.tracking.runs import log_and_register_model, start_or_resume_run
from pipelines.train.export import ScoringModule
from sastnet.models import build_model, model_config
from tests.test_trace import SCHEMA, _tone

NUM_SAMPLES = 16000
TEMPERATURE = 1.7


@pytest.fixture()
def registry(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # no params.yaml here: trace must not need one
    torch.manual_seed(0)
    model = build_model(model_config("m_mae", "aux", "tiny", num_samples=NUM_SAMPLES))
    scoring = ScoringModule(model, NUM_SAMPLES, None)
    tracker = start_or_resume_run("sastnet", "aux/m_mae", tracking_uri=uri)  # train.experiment
    tracker.log_metrics({"best_dev_macro_f1": 50.0}, step=0)
    raw = log_and_register_model(tracker, scoring, scoring.input_example(),
                                 registered_name="sastnet-aux", tags={})
    kwargs = dict(run_id=tracker.run_id, tracking_uri=uri, scorer_uri=f"models:/sastnet-aux/{raw}",
                  task="aux", registered_name="sastnet-aux", temperature=TEMPERATURE,
                  calibration={"ece_before": 0.2, "ece_after": 0.05}, features=None,
                  tags={"variant": "m_mae"})
    assert promote_if_better("sastnet-aux", raw, tracking_uri=uri).promoted  # a pre-calibration champion
    version = log_trace_model(**kwargs)
    assert version != raw and log_trace_model(**kwargs) == version  # idempotent
    # equal score: promote_if_better would keep the raw one; the register stage hands over
    assert not promote_if_better("sastnet-aux", version, tracking_uri=uri).promoted
    run = {"registered_model": "sastnet-aux", "version": raw}
    assert hand_over_to_calibrated(run, version, uri)
    assert not hand_over_to_calibrated(run, version, uri)  # already the calibrated one
    # register again under other calibration rules: a new wrapper of the same training
    # replaces the old one as champion (run J: T = 0.05 no longer applied)
    recalibrated = log_trace_model(**{**kwargs, "temperature": None,
                                      "tags": {"variant": "m_mae", "wraps": str(raw)}})
    stale = {"registered_model": "sastnet-aux", "version": raw}
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    # a store from before #40 named the wrapped training `calibrated_from`: still understood
    client.set_model_version_tag("sastnet-aux", version, "calibrated_from", str(raw))
    assert recalibrated not in (raw, version)
    assert hand_over_to_calibrated(stale, recalibrated, uri)
    assert str(client.get_model_version_by_alias("sastnet-aux", "champion").version) == recalibrated
    # another training's wrapper does not take the alias
    assert not hand_over_to_calibrated({"registered_model": "sastnet-aux", "version": "999"},
                                       version, uri)
    client.set_registered_model_alias("sastnet-aux", "champion", version)  # the fixture's state
    # the tags say whether a temperature exists (#40: `calibrated_from=4` on an uncalibrated
    # champion read as "calibrated"); reusing a version drops the stale tag of an older store
    assert log_trace_model(**kwargs) == version
    tags = client.get_model_version("sastnet-aux", version).tags
    assert tags["calibrated"] == "yes" and tags["temperature"] == "1.7"
    assert "calibrated_from" not in tags
    tags = client.get_model_version("sastnet-aux", recalibrated).tags
    assert tags["calibrated"] == "no" and tags["temperature"] == "none"
    assert tags["wraps"] == str(raw)
    sf.write(tmp_path / "a.wav", _tone(2.5, 16000, seed=3), 16000)
    sf.write(tmp_path / "b.flac", _tone(1.2, 44100, channels=2, seed=4), 44100)
    return tmp_path, raw


def test_registry_pyfunc_gives_the_cli_probabilities(registry):
    tmp_path, raw = registry
    result = CliRunner().invoke(app, ["trace", "a.wav", "b.flac", "--format", "json",
                                      "--output", "cli.json"])
    assert result.exit_code == 0, result.output
    cli = json.loads((tmp_path / "cli.json").read_text())
    jsonschema.validate(cli, SCHEMA)
    assert cli["models"]["aux"]["calibrated"] and cli["models"]["aux"]["temperature"] == TEMPERATURE

    served = mlflow.pyfunc.load_model("models:/sastnet-aux@champion")
    request = {"name": ["a.wav", "b.flac", "bad", "empty"],
               "audio_base64": [base64.b64encode((tmp_path / n).read_bytes()).decode()
                                for n in ("a.wav", "b.flac")] + ["%%%", ""]}
    import pandas as pd

    with pytest.raises(TraceRequestError) as failed:  # HTTP 400 when served
        served.predict(pd.DataFrame(request))
    assert "2 of 4 rows could not be traced" in failed.value.message
    assert "row 2 ('bad'): audio_base64 is not valid base64" in failed.value.message
    assert "row 3 ('empty'): empty file" in failed.value.message
    records = failed.value.records  # every row's record, the good rows scored
    assert failed.value.json_kwargs["predictions"] is records
    for rec in records:
        jsonschema.validate(rec, SCHEMA["$defs"]["record"] | {"$defs": SCHEMA["$defs"]})
    for rec, ref in zip(records[:2], cli["files"]):
        assert rec["status"] == "ok" and rec["file"] == ref["file"]
        np.testing.assert_allclose(list(rec["results"]["aux"]["probabilities"].values()),
                                   list(ref["results"]["aux"]["probabilities"].values()), atol=1e-6)
        assert rec["results"]["aux"]["calibrated"] is True
    assert records[2]["status"] == "error" and "base64" in records[2]["error"]
    assert records[3]["status"] == "error" and "empty" in records[3]["error"]

    # The raw training version scores the same clip sharper: calibration was applied.
    raw_out = CliRunner().invoke(app, ["trace", "a.wav", "--format", "json", "--model",
                                       f"models:/sastnet-aux/{raw}"])
    raw_rec = json.loads(raw_out.stdout)["files"][0]["results"]["aux"]
    assert raw_rec["calibrated"] is False
    cal = cli["files"][0]["results"]["aux"]
    assert raw_rec["decision"] == cal["decision"] and raw_rec["confidence"] >= cal["confidence"]

    # `--task all` traces every task that has a model (only aux is registered here).
    every = CliRunner().invoke(app, ["trace", "a.wav", "--task", "all", "--format", "json"])
    assert every.exit_code == 0, every.output
    assert list(json.loads(every.stdout)["models"]) == ["aux"]
    assert "note: no vq model" in every.output


def test_versions_registered_before_the_trace_group_still_load():
    """A registered trace model pickles its ``python_model`` by reference (``python_model.pkl``,
    read by ``mlflow.pyfunc.load_model``): versions registered before #34 name the class at its
    old home, ``pipelines.tracking.pyfunc``, which must keep resolving to the class."""
    import pickle

    from pipelines.trace.pyfunc import SastnetTraceModel

    stored = b"cpipelines.tracking.pyfunc\nSastnetTraceModel\n)\x81."  # class ref + __new__
    assert type(pickle.loads(stored)) is SastnetTraceModel
