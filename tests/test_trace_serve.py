"""``sastnet serve`` for real: the documented command started as a new user would (its own
process, a PATH without the virtual environment's ``bin``, no PYTHONPATH, another folder), a real
SQLite registry and a real kNN index; the server answers the bad-input zoo with the records
``sastnet trace`` gives for the same files (kNN column included), and HTTP 400 naming each bad
row with every row's record kept (issue #40).

Before #40 the documented ``mlflow models serve`` stopped with ``exec: uvicorn: not found``
(return code 127) unless the environment was on PATH, and bad rows came back as HTTP 200 with
``Error opening <_io.BytesIO object at 0x...>``.
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import mlflow
import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.trace.pyfunc import log_trace_model
from pipelines.tracking.runs import log_and_register_model, start_or_resume_run
from pipelines.train.export import ScoringModule
from sastnet.models import build_model, model_config
from tests.test_knn_cli import index_dir, system_clip  # noqa: F401  (fixture: tiny index)
from tests.test_trace import SCHEMA
from tests.test_trace_bad_inputs import ZOO, build_zoo

NUM_SAMPLES = 16000
SASTNET = Path(sys.executable).parent / "sastnet"  # the venv's console script
RECORD_SCHEMA = SCHEMA["$defs"]["record"] | {"$defs": SCHEMA["$defs"]}
# what a client can send: a folder and a broken symlink have no bytes to read
SENT = [n for n in ZOO if n not in ("folder.wav", "dangling.wav")]


@pytest.fixture()
def store(tmp_path):
    """A registry whose champion is a calibrated trace model of a tiny m_mae (no Whisper)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    torch.manual_seed(0)
    model = build_model(model_config("m_mae", "aux", "tiny", num_samples=NUM_SAMPLES))
    scoring = ScoringModule(model, NUM_SAMPLES, None)
    tracker = start_or_resume_run("sastnet", "aux/m_mae", tracking_uri=uri)
    raw = log_and_register_model(tracker, scoring, scoring.input_example(),
                                 registered_name="sastnet-aux", tags={})
    version = log_trace_model(
        run_id=tracker.run_id, tracking_uri=uri, scorer_uri=f"models:/sastnet-aux/{raw}",
        task="aux", registered_name="sastnet-aux", temperature=1.5, calibration={},
        features=None, tags={"variant": "m_mae", "wraps": str(raw)})
    mlflow.tracking.MlflowClient(uri).set_registered_model_alias("sastnet-aux", "champion",
                                                                 version)
    return uri


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fresh_env(uri: str) -> dict:
    """A new user's shell: the venv not on PATH, no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    env["MLFLOW_TRACKING_URI"] = uri
    return env


def _post(port: int, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture()
def server(store, index_dir, tmp_path):  # noqa: F811
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    port = _free_port()
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([str(SASTNET), "serve", "--port", str(port), "--knn-index",
                             str(index_dir / "index")], cwd=elsewhere, env=_fresh_env(store),
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("server did not answer /ping: " + (tmp_path / "server.log").read_text())
        yield port, tmp_path / "server.log"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _without_floats(record: dict) -> dict:
    """A record with numbers rounded (the CLI and the server run the same code, one process
    each: float sums may differ in the last bits)."""
    def walk(x):
        if isinstance(x, float):
            return round(x, 5)
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items()}
        if isinstance(x, list):
            return [walk(v) for v in x]
        return x
    return walk(record)


def test_sastnet_serve_answers_the_zoo_like_trace(server, store, index_dir, tmp_path,  # noqa: F811
                                                  monkeypatch):
    port, log = server
    zoo = build_zoo(tmp_path / "zoo")
    # a clip the index knows ("noise") and one it does not ("chirp")
    rng = np.random.default_rng(5)
    sf.write(zoo / "noise_known.flac", system_clip("noise", rng), 16000)
    sf.write(zoo / "chirp_unknown.flac", system_clip("chirp", rng), 16000)
    names = SENT + ["noise_known.flac", "chirp_unknown.flac"]
    rows = [{"name": n, "audio_base64": base64.b64encode((zoo / n).read_bytes()).decode()}
            for n in names]
    rows.append({"name": "not_base64", "audio_base64": "%%% not base64 %%%"})
    status, body = _post(port, {"dataframe_records": rows})
    assert status == 400, body
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    message = body["message"]
    assert message.startswith("7 of 12 rows could not be traced"), message
    assert "Failed to predict data" not in message and "_io.BytesIO" not in message
    served = body["predictions"]
    assert [r["file"] for r in served] == names + ["not_base64"]
    for i, record in enumerate(served):
        jsonschema.validate(record, RECORD_SCHEMA)
        if record["status"] == "error":
            assert f"row {i} ({record['file']!r}): {record['error']}" in message
    for name, (state, words) in ZOO.items():
        if name == "truncated.flac":  # this model's windows are 1 s, the zoo test's 2 s
            words = "decoding failed in 2.00-3.00 s of 6.00 s"
        if name in SENT:
            record = served[names.index(name)]
            assert record["status"] == state, (name, record["error"])
            assert words is None or words in record["error"], (name, record["error"])
    assert "not valid base64" in served[-1]["error"]

    # the same files through `sastnet trace` (same store, same index): the same records
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.chdir(zoo)
    cli = CliRunner().invoke(app, ["trace", *names, "--knn-index", str(index_dir / "index"),
                                   "--format", "json"])
    assert cli.exit_code == 1, cli.output
    traced = json.loads(cli.stdout)["files"]
    for mine, theirs in zip(served, traced):
        assert _without_floats(mine) == _without_floats(theirs), mine["file"]
    known, unknown = (served[names.index(n)] for n in ("noise_known.flac", "chirp_unknown.flac"))
    assert known["knn"]["system"] == "noise" and not known["knn"]["unknown"]
    assert unknown["knn"]["unknown"] and unknown["results"]["aux"]["ood_source"] == "knn"
    assert "closed-set guess" in unknown["results"]["aux"]["ood_reason"]

    # a request of good rows only: HTTP 200, records only
    status, body = _post(port, {"dataframe_records": [rows[names.index("rate8k.wav")]],
                                "params": {"knn": False}})
    assert status == 200 and body["predictions"][0]["status"] == "ok", body
    assert body["predictions"][0]["knn"] is None
    assert body["predictions"][0]["results"]["aux"]["ood_source"] == "confidence"
    text = log.read_text()
    assert "kNN open set: " + str(index_dir / "index") in text
    assert "calibrated: temperature 1.5" in text
    _print_table(served, status=400, message=message)


def test_serve_stops_with_exit_2_naming_a_missing_model_or_index(store, tmp_path):
    run = subprocess.run([str(SASTNET), "serve", "--model", "models:/sastnet-vq@champion",
                          "--port", str(_free_port())], cwd=tmp_path, env=_fresh_env(store),
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 2 and "cannot serve models:/sastnet-vq@champion" in run.stderr
    run = subprocess.run([str(SASTNET), "serve", "--knn-index", str(tmp_path / "nothing"),
                          "--port", str(_free_port())], cwd=tmp_path, env=_fresh_env(store),
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 2 and "no kNN index" in run.stderr, run.stderr


def test_mlflow_models_serve_needs_the_environment_on_path(store, tmp_path):
    """Why ``sastnet serve`` exists: MLflow's own command execs ``uvicorn`` from PATH."""
    mlflow_cli = Path(sys.executable).parent / "mlflow"
    if not shutil.which("uvicorn", path=str(Path(sys.executable).parent)):
        pytest.skip("no uvicorn in this environment")
    run = subprocess.run([str(mlflow_cli), "models", "serve", "-m", "models:/sastnet-aux@champion",
                          "--env-manager", "local", "--port", str(_free_port())], cwd=tmp_path,
                         env=_fresh_env(store), capture_output=True, text=True, timeout=240)
    assert run.returncode != 0 and "uvicorn" in run.stderr + run.stdout


def _print_table(records: list[dict], status: int, message: str) -> None:
    """The zoo as the server answered it (``pytest -s``; the issue's closing note)."""
    print(f"\n| file | row | message | HTTP {status} |\n|---|---|---|---|")
    for i, r in enumerate(records):
        verdict = r["results"]["aux"]["decision"] if r["status"] == "ok" else ""
        print(f"| {r['file']} | {i}: {r['status']} {verdict} | "
              f"{r['error'] or '; '.join(r['warnings'])} | |")
    print(f"\nmessage: {message}")
