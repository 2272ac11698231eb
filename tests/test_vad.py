"""silero-vad on real speech made with espeak-ng (skipped where espeak-ng or sox is missing)."""

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from pipelines.params.vad import VadParams
from pipelines.vad import (
    read_vad,
    run_vad,
    speech_segments,
    speech_segments_batch,
    vad_summary,
    write_vad,
)
from sastnet.silence import rm_sil

SR = 16000
pytestmark = pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")),
                                reason="needs espeak-ng and sox")


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    tmp = tmp_path_factory.mktemp("speech")
    subprocess.run(["espeak-ng", "-w", str(tmp / "raw.wav"), "Please call Stella and ask her to bring these things."],
                   check=True)
    subprocess.run(["sox", str(tmp / "raw.wav"), "-r", str(SR), str(tmp / "s.wav")], check=True)
    wave, sr = sf.read(tmp / "s.wav", dtype="float32")
    assert sr == SR
    return wave


@pytest.fixture(scope="module")
def model():
    from silero_vad import load_silero_vad
    return load_silero_vad()


def test_rm_sil_removes_leading_and_trailing_silence(speech, model):
    pad = np.zeros(SR, np.float32)
    padded = np.concatenate([pad, speech, pad])
    kept = rm_sil(padded, speech_segments(padded, model, VadParams()))
    assert len(kept) < len(speech)  # both seconds of padding (and inter-word pauses) are gone
    assert len(padded) - len(kept) > 2 * SR


def test_pure_speech_is_almost_unchanged(speech, model):
    kept = rm_sil(speech, speech_segments(speech, model, VadParams()))
    assert 0.7 * len(speech) < len(kept) <= len(speech)


def test_batched_scoring_gives_the_same_segments(speech, model):
    rng = np.random.default_rng(0)
    waves = [speech, np.concatenate([np.zeros(7000, np.float32), speech[:20001]]),
             np.zeros(SR // 2, np.float32), (0.01 * rng.standard_normal(3333)).astype(np.float32)]
    cfg = VadParams(forward_batch=3)
    assert speech_segments_batch(waves, model, cfg) == [speech_segments(w, model, cfg) for w in waves]


def test_silence_has_no_segments(model):
    assert speech_segments(np.zeros(SR, np.float32), model, VadParams()) == []


@pytest.mark.slow
def test_run_vad_with_ray_flags_no_speech_and_unreadable(speech, tmp_path):
    sf.write(tmp_path / "speech.flac", speech, SR)
    sf.write(tmp_path / "quiet.flac", np.zeros(SR, np.float32), SR)
    (tmp_path / "broken.flac").write_bytes(b"nope")
    manifest = pd.DataFrame({"key": ["speech", "quiet", "broken"],
                             "path": [str(tmp_path / n) for n in ("speech.flac", "quiet.flac", "broken.flac")]})
    frame = run_vad(manifest, VadParams(batch_clips=2, num_cpus=1))
    assert frame["key"].tolist() == ["speech", "quiet", "broken"]
    assert frame["has_speech"].tolist() == [True, False, False]
    assert frame.loc[0, "speech_fraction"] > 0.5 and frame.loc[2, "error"].startswith("unreadable audio")
    summary = vad_summary(frame)
    assert summary["no_speech"] == 1 and summary["errors"] == 1 and summary["no_speech_keys"] == ["quiet"]
    write_vad(frame, tmp_path / "t.parquet")
    back = read_vad(tmp_path / "t.parquet")
    assert back["segments"].tolist() == frame["segments"].tolist()
