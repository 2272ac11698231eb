"""The codec zoo driver on a tiny synthetic manifest (two codecs, three steps each)."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from pipelines.codecs.zoo import build_zoo, load_split_audio, resynthesis_quality, tracked_zoo
from pipelines.params.codecs import CodecsParams
from pipelines.params.core import ParamsError
from sastnet.codecs import load_codec
from sastnet.codecs.token_lm import PLAN_BANDS, continue_prompts, load_token_lm


def _manifest(tmp_path: Path, bad: bool = False) -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for i, split in enumerate(["train"] * 4 + ["dev"] * 2):
        path = tmp_path / f"c{i}.flac"
        t = np.arange(8000) / 16000
        wave = 0.3 * np.sin(2 * np.pi * (150 + 40 * i) * t) + 0.01 * rng.standard_normal(8000)
        sf.write(path, wave.astype(np.float32), 16000)
        rows.append({"key": f"s_{i:03d}", "path": str(path), "codec": "bonafide", "split": split})
    if bad:
        (tmp_path / "broken.flac").write_bytes(b"not audio")
        sf.write(tmp_path / "8k.flac", np.zeros(800, np.float32), 8000)
        rows += [{"key": "b", "path": str(tmp_path / "broken.flac"), "codec": "bonafide", "split": "train"},
                 {"key": "c", "path": str(tmp_path / "8k.flac"), "codec": "bonafide", "split": "train"},
                 {"key": "d", "path": str(tmp_path / "c0.flac"), "codec": "zoo_x", "split": "train"}]
    out = tmp_path / "manifest.parquet"
    pd.DataFrame(rows).to_parquet(out)
    return out


def test_load_split_audio_skips_bad_files_with_a_reason(tmp_path, caplog):
    waves = load_split_audio(_manifest(tmp_path, bad=True), "train")
    assert len(waves) == 4 and all(w.dtype == np.float32 for w in waves)
    assert "broken.flac: unreadable" in caplog.text
    assert "8k.flac: sample rate 8000 Hz, expected 16000 Hz" in caplog.text


def test_missing_manifest_says_which_stage_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="dvc repro corpus"):
        load_split_audio(tmp_path / "none.parquet", "train")


def test_params_name_unknown_codecs():
    with pytest.raises(ParamsError, match="codecs: unknown zoo codec.*zoo_nope"):
        CodecsParams(codecs=("zoo_nope",))


def test_trivial_baseline_is_scored():
    import torch

    dev = [torch.sin(torch.arange(4000) / 10.0)[None] * 0.3]
    q = resynthesis_quality(None, dev)
    assert q["si_snr_db"] < -10 and q["mel_distance"] > 0


@pytest.mark.slow
def test_build_zoo_writes_checkpoints_token_lm_and_records(tmp_path):
    params = CodecsParams(codecs=("zoo_svq_dis_freq", "zoo_mvq_sem_freq"), manifest=str(_manifest(tmp_path)),
                          out_dir=str(tmp_path / "codecs"), steps=3, batch_size=2, crop_s=0.25,
                          teacher_path=None, lm_steps=2, lm_seq_frames=10, dev_clips=2,
                          dev_clip_s=0.25, workers=1)
    zoo = build_zoo(params, progress=False)
    assert list(zoo["codecs"]) == ["zoo_svq_dis_freq", "zoo_mvq_sem_freq"]
    json.dumps(zoo)  # serialisable as zoo.json
    rec = zoo["codecs"]["zoo_svq_dis_freq"]
    assert rec["family"] == {"vq": "svq", "aux": "disentangle", "dec": "freq"}
    assert rec["labels"] == {"vq": 2, "aux": 3, "dec": 2, "bin": 1} and rec["held_out"] is False
    assert set(rec["checkpoints"]) == {"early", "mid", "late"}
    assert rec["bitrate_kbps"] == pytest.approx(0.5)
    for key in ("mel_distance", "si_snr_db"):
        assert np.isfinite(rec["quality"][key]) and np.isfinite(rec["trivial"][key])
    codec = load_codec(rec["checkpoints"]["late"])
    lm = load_token_lm(rec["token_lm"])
    assert lm.config.plan_bands == PLAN_BANDS
    prompts = [np.zeros(1600, np.float32), np.full(800, 0.1, np.float32)]
    waves = continue_prompts(codec, lm, prompts, prompt_s=0.02, seeds=[0, 1])
    assert [w.shape for w in waves] == [(1600,), (800,)]
    assert zoo["codecs"]["zoo_mvq_sem_freq"]["token_lm"] is None
    assert zoo["codecs"]["zoo_mvq_sem_freq"]["teacher"] == "random-whisper"


@pytest.mark.slow
def test_a_rerun_reuses_finished_codecs_and_a_param_change_retrains(tmp_path):
    from pipelines.codecs.zoo import train_zoo_codec

    params = CodecsParams(codecs=("zoo_sq_dis_freq",), manifest=str(_manifest(tmp_path)),
                          out_dir=str(tmp_path / "codecs"), steps=3, batch_size=2, crop_s=0.25,
                          teacher_path=None, dev_clips=1, dev_clip_s=0.25, workers=1)
    first = train_zoo_codec("zoo_sq_dis_freq", params, params.out_dir)
    again = train_zoo_codec("zoo_sq_dis_freq", params, params.out_dir)
    assert again["timing"] == {"reused": True} and not first["timing"]["reused"]
    assert json.dumps({**again, "timing": 0}) == json.dumps({**first, "timing": 0})
    changed = dataclasses.replace(params, steps=4)
    assert train_zoo_codec("zoo_sq_dis_freq", changed, params.out_dir)["steps"] == 4


def _file_hashes(root: Path) -> dict[str, str]:
    import hashlib

    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_one_and_two_pool_workers_write_identical_codecs(tmp_path):
    """Seeds come from each codec's name, not from the worker that trains it; the tracked
    zoo.json holds no timings; a global RNG left dirty by earlier work changes nothing."""
    import torch

    manifest = str(_manifest(tmp_path))
    names = ("zoo_svq_dis_freq", "zoo_mvq_none_time", "zoo_sq_dis_freq")

    def run(workers: int, seed: int = 1234) -> tuple[dict, dict]:
        out = tmp_path / f"codecs_w{workers}_s{seed}"
        params = CodecsParams(codecs=names, manifest=manifest, out_dir=str(out), steps=3,
                              batch_size=2, crop_s=0.25, teacher_path=None, lm_steps=2,
                              lm_seq_frames=10, dev_clips=2, dev_clip_s=0.25, workers=workers,
                              seed=seed)
        zoo = build_zoo(params, progress=False)
        (out / "zoo.json").write_text(json.dumps(tracked_zoo(zoo)).replace(str(out), "OUT"))
        return zoo, {k: v for k, v in _file_hashes(out).items()}

    torch.manual_seed(99)
    torch.rand(7)  # dirty global RNG in this (the workers=1) process
    _, one_files = run(1)
    two, two_files = run(2)
    assert two["workers"] == 2 and all("train_seconds" in r["timing"] for r in two["codecs"].values())
    record = json.loads((tmp_path / "codecs_w1_s1234/zoo_svq_dis_freq/record.json").read_text())
    assert "timing" not in record and "train_seconds" not in json.dumps(record)
    # checkpoint files embed nothing run-specific: equal bytes; record.json name their own dir
    weights = {k: v for k, v in one_files.items() if k.endswith(".pt")}
    assert weights and weights == {k: v for k, v in two_files.items() if k.endswith(".pt")}
    assert one_files["zoo.json"] == two_files["zoo.json"]
    _, other = run(1, seed=4321)
    assert {k: v for k, v in other.items() if k.endswith(".pt")} != weights
