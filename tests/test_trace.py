"""``sastnet trace`` on real files: a folder of good and bad audio, windows, formats, models.

The model is a tiny m_mae built from modules (no training needed: the checks are about what
trace does with the audio and the model, not about accuracy), saved as a training ``best/``
folder. The folder with the 10-minute file is scored by a smaller real torch scorer (frame
log-energies -> linear -> softmax, same interface as ``ScoringModule``) so that 300 windows stay
cheap on a shared 2-core machine.
"""

import json
import tracemalloc
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.trace import TraceModel, TraceOptions, expand_paths, load_trace_model, trace_files
from pipelines.train.job import TrainJob, build_job_model

NUM_SAMPLES = 32000  # 2 s windows
ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "docs" / "trace.schema.json").read_text())


def _tone(seconds: float, sr: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    wave = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(len(t))
    wave = wave.astype("float32")
    return np.stack([wave, 0.5 * wave], axis=1) if channels == 2 else wave


class EnergyScorer(torch.nn.Module):
    """A small real scorer with ScoringModule's interface: (B, T) waves -> (B, 4) probabilities."""

    def __init__(self, num_samples: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.num_samples, self.whisper_dim = num_samples, None
        self.linear = torch.nn.Linear(16, 4)

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        frames = packed[:, : self.num_samples].reshape(packed.shape[0], 16, -1)
        return torch.softmax(self.linear(torch.log(frames.pow(2).mean(-1) + 1e-6)), dim=-1)


def energy_model() -> TraceModel:
    return TraceModel(task="aux", scorer=EnergyScorer(NUM_SAMPLES), num_samples=NUM_SAMPLES,
                      whisper_dim=None, source="test energy scorer")


@pytest.fixture(scope="module")
def best_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    job = TrainJob(task="aux", variant="m_mae", size="tiny", num_samples=NUM_SAMPLES)
    model, _ = build_job_model(job)
    best = tmp_path_factory.mktemp("models") / "aux" / "m_mae" / "seed0" / "best"
    best.mkdir(parents=True)
    torch.save(model.state_dict(), best / "model.pt")
    (best / "config.json").write_text(json.dumps({"job": job.to_dict()}))
    (best / "metrics.json").write_text(json.dumps({"epoch": 1, "whisper_dim": None}))
    return best


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("clips")
    sf.write(d / "good.wav", _tone(3.0, 16000), 16000)
    (d / "empty.wav").write_bytes(b"")
    (d / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio" * 10)
    nan = _tone(2.5, 16000)
    nan[1000:1010] = np.nan
    sf.write(d / "nan.wav", nan, 16000, subtype="FLOAT")
    (d / "sub").mkdir()
    sf.write(d / "sub" / "rate8k.wav", _tone(3.0, 8000), 8000)
    sf.write(d / "stereo48k.flac", _tone(3.0, 48000, channels=2), 48000)
    sf.write(d / "click.wav", _tone(0.05, 16000), 16000)
    # 10 minutes at 16 kHz, written in blocks (never a 10-minute array here either)
    with sf.SoundFile(d / "long.wav", "w", 16000, 1, subtype="PCM_16") as fh:
        for i in range(60):
            fh.write(_tone(10.0, 16000, seed=i))
    return d


EXPECTED_ERRORS = {"empty.wav": "empty file", "corrupt.wav": "unreadable audio",
                   "nan.wav": "NaN or infinite", "click.wav": "too short"}


def test_folder_of_good_and_bad_files_gives_one_row_each(best_dir, clip_folder):
    model = energy_model()
    files = expand_paths([str(clip_folder)])
    assert len(files) == 8  # recursive: sub/rate8k.wav included
    records = trace_files(files, {"aux": model}, TraceOptions(batch_size=8))
    by_name = {Path(r["file"]).name: r for r in records}
    assert [r["file"] for r in records] == files
    for name, reason in EXPECTED_ERRORS.items():
        assert by_name[name]["status"] == "error", name
        assert reason in by_name[name]["error"], (name, by_name[name]["error"])
        assert by_name[name]["results"] == {}
    assert "0.050 s" in by_name["click.wav"]["error"] and "1.00 s" in by_name["click.wav"]["error"]
    for name in ("good.wav", "rate8k.wav", "stereo48k.flac", "long.wav"):
        res = by_name[name]["results"]["aux"]
        assert by_name[name]["status"] == "ok", by_name[name]
        assert set(res["probabilities"]) == {"REAL", "None", "SEM", "Disent"}
        assert abs(sum(res["probabilities"].values()) - 1) < 1e-6
        assert res["decision"] == max(res["probabilities"], key=res["probabilities"].get)
        assert res["calibrated"] is False
    stereo = by_name["stereo48k.flac"]
    assert stereo["audio"] == {"sample_rate_hz": 48000, "channels": 2, "duration_s": 3.0,
                               "resampled": True, "downmixed": True}
    assert any("down-mixed 2 channels" in w for w in stereo["warnings"])
    assert any("resampled 8000 Hz -> 16000 Hz" in w for w in by_name["rate8k.wav"]["warnings"])
    # 3 s with 2 s windows: one full window + a 1 s tail (>= half a window) tiled
    assert [(w["start_s"], w["end_s"]) for w in by_name["good.wav"]["results"]["aux"]["windows"]] \
        == [(0.0, 2.0), (2.0, 3.0)]
    long = by_name["long.wav"]["results"]["aux"]
    assert len(long["windows"]) == 300 and long["windows"][-1]["end_s"] == 600.0
    probs = np.array([list(w["probabilities"].values()) for w in long["windows"]])
    np.testing.assert_allclose(list(long["probabilities"].values()), probs.mean(0), atol=1e-9)


def test_checkpoint_folder_model_scores_resampled_audio_like_its_16k_original(best_dir, tmp_path):
    model = load_trace_model(str(best_dir.parent), "aux")  # a seed folder holding best/
    assert not model.calibrated and model.num_samples == NUM_SAMPLES
    wave = _tone(4.0, 48000)
    sf.write(tmp_path / "a48.wav", wave, 48000, subtype="FLOAT")
    from scipy.signal import resample_poly
    sf.write(tmp_path / "a16.wav", resample_poly(wave, 1, 3).astype("float32"), 16000, subtype="FLOAT")
    r48, r16 = trace_files([str(tmp_path / "a48.wav"), str(tmp_path / "a16.wav")], {"aux": model})
    p48, p16 = (np.array(list(r["results"]["aux"]["probabilities"].values())) for r in (r48, r16))
    np.testing.assert_allclose(p48, p16, atol=2e-3)


def test_long_file_memory_is_bounded(clip_folder):
    model = energy_model()
    long = str(clip_folder / "long.wav")
    trace_files([long], {"aux": model}, TraceOptions(batch_size=4))  # warm-up (lazy imports)
    tracemalloc.start()
    [record] = trace_files([long], {"aux": model}, TraceOptions(batch_size=4))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert record["status"] == "ok"
    whole_file = 600 * 16000 * 4  # float32 samples of the whole file: 38 MB
    assert peak < whole_file / 4, f"peak {peak / 1e6:.1f} MB: the file was not streamed"


def test_cli_json_validates_and_exit_code_is_one_when_a_file_fails(best_dir, clip_folder, tmp_path):
    out = tmp_path / "trace.json"
    files = [str(clip_folder / n) for n in ("good.wav", "empty.wav", "stereo48k.flac", "click.wav")]
    result = CliRunner().invoke(app, ["trace", *files, "--model", str(best_dir), "--format", "json",
                                      "--output", str(out)])
    assert result.exit_code == 1, result.output
    report = json.loads(out.read_text())
    jsonschema.validate(report, SCHEMA)
    assert [r["status"] for r in report["files"]] == ["ok", "error", "ok", "error"]
    assert report["models"]["aux"]["calibrated"] is False
    ok = CliRunner().invoke(app, ["trace", files[0], "--model", str(best_dir), "--format", "csv"])
    assert ok.exit_code == 0, ok.output
    header, row = ok.stdout.strip().splitlines()[:2]
    assert header.startswith("file,status,error,family,") and "aux_p_SEM" in header
    table = CliRunner().invoke(app, ["trace", files[0], "--model", str(best_dir)],
                               env={"COLUMNS": "240"})
    assert table.exit_code == 0 and "NOT calibrated" in table.stdout and "good.wav" in table.stdout


def test_schema_rejects_a_malformed_record():
    bad = {"schema": "sastnet-trace/1", "models": {}, "files": [{"file": "x", "status": "maybe"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


def test_manifests_and_globs(clip_folder, tmp_path):
    (tmp_path / "list.txt").write_text(f"# clips\n{clip_folder / 'good.wav'}\n\nmissing.wav\n")
    files = expand_paths([str(tmp_path / "list.txt"), str(clip_folder / "*.flac")])
    assert files == [str(clip_folder / "good.wav"), str(tmp_path / "missing.wav"),
                     str(clip_folder / "stereo48k.flac")]
    import pandas as pd
    pd.DataFrame({"path": ["good.wav"]}).to_csv(clip_folder / "m.csv", index=False)
    assert expand_paths([str(clip_folder / "m.csv")]) == [str(clip_folder / "good.wav")]
    pd.DataFrame({"file": ["good.wav"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="needs a 'path' column"):
        expand_paths([str(tmp_path / "bad.csv")])


def test_model_argument_errors_name_the_fix(best_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.chdir(tmp_path)
    sf.write(tmp_path / "a.wav", _tone(2.0, 16000), 16000)
    result = CliRunner().invoke(app, ["trace", "a.wav", "--task", "vq"])
    assert result.exit_code == 2 and "models:/sastnet-vq@champion" in result.output
    result = CliRunner().invoke(app, ["trace", "a.wav", "--task", "vq", "--model", str(best_dir)])
    assert result.exit_code == 2 and "pass --task aux" in result.output
    two = tmp_path / "two"
    for k in (0, 1):
        (two / f"seed{k}").mkdir(parents=True)
        for f in best_dir.iterdir():
            (two / f"seed{k}" / f.name).write_bytes(f.read_bytes())
    result = CliRunner().invoke(app, ["trace", "a.wav", "--model", str(two)])
    assert result.exit_code == 2 and "holds 2 checkpoints" in result.output
