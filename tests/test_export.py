"""``sastnet export`` and the export folder: what it holds, that it loads without MLflow, DVC or
Ray, that it traces like the checkpoint it came from, and clear errors for bad folders and
inputs. The ONNX parity test is ``test_export_onnx.py``, the model card's ``test_export_card.py``.
"""

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.common.io import current_umask
from pipelines.export import NotAnExportError, load_model
from pipelines.export.source import load_export_source
from pipelines.export.writer import check_no_pickle, write_export
from pipelines.trace import TraceOptions, load_trace_model, trace_files
from tests.export_dummies import (
    NUM_SAMPLES,
    RUN_DIR,
    build_best,
    build_tiny_whisper,
    fast_features,
    speechlike,
)
from tests.test_trace import SCHEMA

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(models dir, Whisper dir, export folder of the tiny sastnet, a clip folder)."""
    tmp = tmp_path_factory.mktemp("export")
    whisper = build_tiny_whisper(tmp / "whisper")
    best = build_best(tmp / "models", "sastnet")
    src = load_export_source(str(best.parent), None, mlflow_experiment=None,
                             reports_dir=RUN_DIR / "reports", features=fast_features(whisper))
    out = tmp / "exported"
    write_export(src, out, run_dir=RUN_DIR)
    clips = tmp / "clips"
    clips.mkdir()
    sf.write(clips / "a.wav", speechlike(2.5, 16000, seed=1), 16000)
    stereo = np.stack([speechlike(1.8, 44100, seed=2)] * 2, axis=1)
    sf.write(clips / "b.flac", stereo, 44100)
    return tmp / "models", whisper, out, clips


def test_folder_holds_weights_config_card_and_onnx_and_no_pickle(run):
    _, _, out, _ = run
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == ["README.md", "config.json", "model.onnx", "model.safetensors",
                     "whisper/config.json", "whisper/model.safetensors",
                     "whisper/preprocessor_config.json"]
    check_no_pickle(out)  # only JSON, markdown, safetensors, ONNX
    umask = current_umask()
    for path in out.rglob("*"):  # readable as the umask allows (safetensors writes 0600)
        assert path.stat().st_mode & 0o777 == (0o777 if path.is_dir() else 0o666) & ~umask
    for path in out.rglob("*"):
        if path.is_file():
            assert b"torch._utils" not in path.read_bytes()  # no torch pickle opcode payloads
    config = json.loads((out / "config.json").read_text())
    assert config["format"] == "sastnet-export/1" and config["task"] == "aux"
    assert config["classes"] == ["REAL", "None", "SEM", "Disent"]
    assert config["sample_rate_hz"] == 16000 and config["num_samples"] == NUM_SAMPLES
    assert config["temperature"] is None  # the fixture run's seed 2: T fitted, not applied
    assert config["calibration"]["applied"] is False
    assert config["whisper"]["variant"] == "fast" and config["whisper"]["mel_frames"] == 512
    assert config["source"]["variant"] == "sastnet" and config["source"]["seed"] == 2
    assert config["onnx"]["parity_max_abs_diff"] <= 1e-4
    assert config["provenance"]["git_commit"] == json.loads(
        (RUN_DIR / "reports" / "summary.json").read_text())["fingerprint"]["git_commit"]


def test_pickle_in_the_folder_is_refused(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"\x80\x04\x95" + b"\0" * 20)  # a pickle
    with pytest.raises(RuntimeError, match="not a safetensors file"):
        check_no_pickle(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    (tmp_path / "extra.pt").write_bytes(b"PK\x03\x04")
    with pytest.raises(RuntimeError, match="extra.pt"):
        check_no_pickle(tmp_path)


def test_export_traces_like_the_checkpoint_it_came_from(run):
    models, whisper, out, clips = run
    checkpoint = load_trace_model(str(models / "aux" / "sastnet"), "aux")
    checkpoint.features = fast_features(whisper)  # Whisper as the features stage ran it
    files = [clips / "a.wav", clips / "b.flac"]
    options = TraceOptions(progress=False)
    reference = trace_files(files, {"aux": checkpoint}, options)
    for backend in ("torch", "onnx"):
        exported = load_model(out, backend=backend).trace_files(files)
        for ref, rec in zip(reference, exported):
            assert rec["status"] == "ok" and rec["audio"] == ref["audio"]
            got, want = rec["results"]["aux"], ref["results"]["aux"]
            assert got["decision"] == want["decision"]
            np.testing.assert_allclose(list(got["probabilities"].values()),
                                       list(want["probabilities"].values()), atol=1e-4)
            assert len(got["windows"]) == len(want["windows"])


def test_loader_and_trace_cli_import_no_mlflow_dvc_or_ray(run):
    _, _, out, clips = run
    code = (
        "import json, sys\n"
        "import numpy as np\n"
        "from pipelines.export import load_model\n"
        "wave = np.random.default_rng(0).standard_normal((40000, 2)).astype('float32') * 0.1\n"
        "out = {}\n"
        "for backend in ('torch', 'onnx'):\n"
        "    record = load_model(sys.argv[1], backend=backend).trace(wave, 22050)\n"
        "    out[backend] = record['results']['aux']['probabilities']\n"
        "    assert record['audio']['resampled'] and record['audio']['downmixed'], record\n"
        "out['loaded'] = sorted({n.split('.')[0] for n in sys.modules} & {'mlflow', 'dvc', 'ray'})\n"
        "print(json.dumps(out))\n")
    done = subprocess.run([sys.executable, "-c", code, str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["loaded"] == []
    np.testing.assert_allclose(list(result["torch"].values()), list(result["onnx"].values()),
                               atol=1e-4)
    # the same for `sastnet trace --model OUT_DIR --backend onnx`
    cli = (
        "import runpy, sys\n"
        "sys.argv = ['sastnet', 'trace', sys.argv[1], '--model', sys.argv[2], '--backend', 'onnx',"
        " '--no-knn', '--format', 'csv']\n"
        "try:\n"
        "    runpy.run_module('pipelines.cli', run_name='__main__')\n"
        "except SystemExit as done:\n"
        "    assert done.code in (0, None), done.code\n"
        "print(sorted({n.split('.')[0] for n in sys.modules} & {'mlflow', 'dvc', 'ray'}))\n")
    done = subprocess.run([sys.executable, "-c", cli, str(clips / "a.wav"), str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert ",ok," in done.stdout and done.stdout.strip().splitlines()[-1] == "[]"


def test_trace_cli_takes_the_folder_with_either_backend(run):
    _, _, out, clips = run
    docs = {}
    for backend in ("torch", "onnx"):
        result = CliRunner().invoke(app, ["trace", str(clips), "--model", str(out), "--backend",
                                          backend, "--format", "json", "--no-knn"])
        assert result.exit_code == 0, result.output
        docs[backend] = json.loads(result.stdout)
        jsonschema.validate(docs[backend], SCHEMA)
        assert docs[backend]["models"]["aux"]["source"].endswith(f"({backend})")
    for a, b in zip(docs["torch"]["files"], docs["onnx"]["files"]):
        assert a["results"]["aux"]["decision"] == b["results"]["aux"]["decision"]
        np.testing.assert_allclose(list(a["results"]["aux"]["probabilities"].values()),
                                   list(b["results"]["aux"]["probabilities"].values()), atol=1e-4)


def test_trace_applies_the_folders_temperature(run, tmp_path):
    _, _, out, clips = run
    import shutil

    calibrated = tmp_path / "calibrated"
    shutil.copytree(out, calibrated)
    config = json.loads((calibrated / "config.json").read_text())
    (calibrated / "config.json").write_text(json.dumps({**config, "temperature": 1.7}))
    raw = load_model(out).trace_files([clips / "a.wav"])[0]["results"]["aux"]
    cal = load_model(calibrated).trace_files([clips / "a.wav"])[0]["results"]["aux"]
    assert cal["calibrated"] and not raw["calibrated"]
    assert cal["decision"] == raw["decision"] and cal["confidence"] < raw["confidence"]


def test_bad_folders_and_inputs_fail_clearly(run, tmp_path):
    _, _, out, clips = run
    with pytest.raises(FileNotFoundError, match="no such folder.*sastnet export"):
        load_model(tmp_path / "missing")
    with pytest.raises(NotAnExportError, match="not a sastnet export folder"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(NotAnExportError, match="something-else"):
        load_model(tmp_path)
    config = json.loads((out / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(FileNotFoundError, match="model.safetensors is missing"):
        load_model(tmp_path)
    with pytest.raises(ValueError, match="backend"):
        load_model(out, backend="tensorrt")
    model = load_model(out)
    with pytest.raises(ValueError, match="samples, channels"):
        model.trace(np.zeros((2, 3, 4), dtype=np.float32), 16000)
    with pytest.raises(ValueError, match="sample_rate_hz"):
        model.trace(np.zeros(16000, dtype=np.float32), 0)
    short = model.trace(np.zeros(4000, dtype=np.float32), 16000)  # 0.25 s: trace's own rule
    assert short["status"] == "error" and "too short" in short["error"]
    nan = speechlike(1.5, 16000, seed=3)
    nan[100] = np.nan
    assert model.trace(nan, 16000)["status"] == "error"

    wrong_task = CliRunner().invoke(app, ["trace", str(clips / "a.wav"), "--model", str(out),
                                          "--task", "vq", "--no-knn"])
    assert wrong_task.exit_code == 2 and "is a aux model" in wrong_task.output
    not_export = CliRunner().invoke(app, ["trace", str(clips / "a.wav"), "--backend", "onnx",
                                          "--model", str(tmp_path / "missing"), "--no-knn"])
    assert not_export.exit_code == 2 and "needs an export folder" in not_export.output


def test_export_cli_writes_a_faithful_folder_and_guards_other_folders(run, tmp_path):
    models, whisper, _, clips = run
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    args = ["export", str(models / "aux" / "sastnet"), "--run-dir", str(RUN_DIR),
            "--whisper", str(whisper)]
    refused = CliRunner().invoke(app, args[:2] + [str(foreign)] + args[2:])
    assert refused.exit_code == 2 and "not a sastnet export folder" in refused.output
    assert (foreign / "keep.txt").read_text() == "mine"

    out = tmp_path / "faithful"
    result = CliRunner().invoke(app, args[:2] + [str(out), "--no-onnx"] + args[2:])
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    # --whisper alone: FeaturesParams' default variant, the paper's 30 s input
    assert config["whisper"]["variant"] == "faithful" and config["whisper"]["mel_frames"] == 3000
    assert config["onnx"] is None and not (out / "model.onnx").exists()
    record = load_model(out).trace_files([clips / "a.wav"])[0]
    assert record["status"] == "ok"
    with pytest.raises(FileNotFoundError, match="no model.onnx"):
        load_model(out, backend="onnx")
    again = CliRunner().invoke(app, args[:2] + [str(out), "--no-onnx"] + args[2:])
    assert again.exit_code == 0, again.output  # an older export is replaced


@pytest.mark.parametrize("seconds", [0.3, 1.5, 5.1375, 12.0])
def test_the_short_log_mel_is_the_first_frames_of_the_30_s_one(seconds):
    """WhisperMel pads to the frames the encoder reads, not to 30 s: the same numbers."""
    from transformers import WhisperFeatureExtractor

    from sastnet.whisper import log_mel

    extractor = WhisperFeatureExtractor()
    n = int(seconds * 16000)
    waves = [speechlike(seconds, 16000, seed=s)[:n] for s in range(3)] + [np.zeros(n, np.float32)]
    for frames in (512, 3000):
        full = log_mel(extractor, waves)[..., :frames]
        assert torch.equal(log_mel(extractor, waves, num_frames=frames), full)
