"""Feature shards: exact mirror of the audio shards, equal to a direct encoder call, identical
for 1 and 2 Ray actors, and a killed job resumes to the same bytes."""

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import webdataset as wds
import yaml

from pipelines.params.features import FeaturesParams
from pipelines.whisper.feature_shards import (
    extract_shard,
    file_sha256,
    read_audio_shard,
    read_feature_shard,
)
from sastnet.whisper import load_whisper_encoder, whisper_features

ROOT = Path(__file__).resolve().parents[1]
NUM_SAMPLES = 24000


def make_tiny_whisper(path: Path) -> Path:
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    torch.manual_seed(0)
    cfg = WhisperConfig(vocab_size=64, d_model=16, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                        decoder_ffn_dim=32, max_target_positions=8, pad_token_id=0,
                        bos_token_id=0, eos_token_id=1, decoder_start_token_id=1)
    WhisperModel(cfg).save_pretrained(path)
    WhisperFeatureExtractor().save_pretrained(path)
    return path


def flac_bytes(wave: np.ndarray, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, rate, format="FLAC")
    return buf.getvalue()


def make_audio_shards(shards_dir: Path, n_shards: int, per_shard: int, seed: int = 0) -> None:
    """Audio shards in the contract format: <key>.flac + <key>.json, split dirs."""
    rng = np.random.default_rng(seed)
    for s in range(n_shards):
        split = "train" if s % 2 == 0 else "dev"
        path = shards_dir / split / f"shard-{s // 2:06d}.tar"
        path.parent.mkdir(parents=True, exist_ok=True)
        with wds.TarWriter(str(path)) as writer:
            for i in range(per_shard):
                key = f"p{s:03d}_{i:03d}"
                wave = 0.1 * rng.standard_normal(int(rng.integers(4000, 40000))).astype(np.float32)
                writer.write({"__key__": key, "flac": flac_bytes(wave),
                              "json": {"key": key, "label_vq": 0, "label_aux": 0, "label_dec": 0,
                                       "label_bin": 0, "vad": [[0, 3000]] if i % 2 else [],
                                       "has_speech": bool(i % 2)}})


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return make_tiny_whisper(tmp_path_factory.mktemp("tiny_whisper"))


def test_stored_features_equal_a_direct_encoder_call(tmp_path, tiny_model):
    from transformers import WhisperFeatureExtractor

    make_audio_shards(tmp_path / "shards", 1, 5)
    src = tmp_path / "shards/train/shard-000000.tar"
    enc = load_whisper_encoder(str(tiny_model), max_source_seconds=5.12)
    fe = WhisperFeatureExtractor.from_pretrained(tiny_model)
    record = extract_shard(lambda w: whisper_features(enc, fe, w, faithful=False), src,
                           tmp_path / "out.tar", num_samples=NUM_SAMPLES, batch_size=2)
    assert record["clips"] == 5 and record["sha256"] == file_sha256(tmp_path / "out.tar")
    stored = read_feature_shard(tmp_path / "out.tar")
    audio = read_audio_shard(src, NUM_SAMPLES)
    assert [k for k, _ in stored] == [k for k, _ in audio]  # same keys, same order
    for (key, feat), (_, wave) in zip(stored, audio):
        assert feat.dtype == np.float16 and feat.shape == (128, 16)
        direct = whisper_features(enc, fe, [wave], faithful=False)[0]
        np.testing.assert_allclose(feat.astype(np.float32), direct, rtol=2e-3, atol=2e-3,
                                   err_msg=key)


@pytest.mark.parametrize("rate,channels,match", [(8000, 1, "8000 Hz"), (16000, 2, "2 channels")])
def test_bad_audio_names_shard_and_key(tmp_path, rate, channels, match):
    path = tmp_path / "shard-000000.tar"
    wave = np.zeros((1600, channels), np.float32) if channels > 1 else np.zeros(1600, np.float32)
    with wds.TarWriter(str(path)) as writer:
        writer.write({"__key__": "bad_001", "flac": flac_bytes(wave, rate), "json": {}})
    with pytest.raises(ValueError, match=f"shard-000000.tar: bad_001.flac: .*{match}"):
        read_audio_shard(path, NUM_SAMPLES)


def test_the_loader_joins_audio_and_feature_shards(tmp_path, tiny_model):
    from pipelines.dataset.loader import make_dataset

    make_audio_shards(tmp_path / "shards", 1, 3)
    src = tmp_path / "shards/train/shard-000000.tar"
    dst = tmp_path / "features/train/shard-000000.tar"
    rng = np.random.default_rng(1)
    fake = {}

    def encode(waves):  # any encoder: this test is about the shard contract
        out = rng.standard_normal((len(waves), 128, 8)).astype(np.float32)
        fake.update({len(fake) + i: o for i, o in enumerate(out)})
        return out

    extract_shard(encode, src, dst, num_samples=NUM_SAMPLES, batch_size=2)
    samples = list(make_dataset([str(src)], num_samples=NUM_SAMPLES,
                                feature_dir=str(tmp_path / "features"),
                                split_by_node=False, split_by_worker=False))
    assert [s["key"] for s in samples] == ["p000_000", "p000_001", "p000_002"]
    for i, sample in enumerate(samples):
        np.testing.assert_array_equal(sample["whisper"], fake[i].astype(np.float16).astype(np.float32))
        assert sample["wave"].shape == (NUM_SAMPLES,)


@pytest.mark.parametrize("rm_sil", [False, True])
def test_waves_are_the_loaders_waves(tmp_path, rm_sil):
    from pipelines.dataset.loader import make_dataset

    make_audio_shards(tmp_path / "shards", 1, 4)
    src = str(tmp_path / "shards/train/shard-000000.tar")
    ours = read_audio_shard(src, NUM_SAMPLES, rm_sil=rm_sil)
    theirs = list(make_dataset([src], num_samples=NUM_SAMPLES, rm_sil=rm_sil,
                               split_by_node=False, split_by_worker=False))
    assert [k for k, _ in ours] == [s["key"] for s in theirs]
    for (_, a), b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b["wave"])
    if rm_sil:  # clip 1 has vad [[0, 3000]]: its speech-only view is those samples, tiled
        wave = ours[1][1]
        np.testing.assert_array_equal(wave[3000:6000], wave[:3000])


def test_params_reject_impossible_values():
    from pipelines.params import ParamsError

    with pytest.raises(ParamsError, match="fast_seconds"):
        FeaturesParams(fast_seconds=3.0)
    with pytest.raises(ParamsError, match="actors"):
        FeaturesParams(actors=0)


def _cfg(model: Path, actors: int) -> FeaturesParams:
    return FeaturesParams(model=str(model), variant="fast", actors=actors, batch_size=2,
                          num_samples=NUM_SAMPLES)


def _shard_hashes(out_dir: Path) -> dict[str, str]:
    return {str(p.relative_to(out_dir)): file_sha256(p) for p in sorted(out_dir.glob("*/shard-*.tar"))}


def _dvc_dir_hash(out_dir: Path) -> str:
    """The folder's hash as DVC computes it for ``dvc.lock`` (every file, index.json included)."""
    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.db import HashFileDB
    from dvc_objects.fs import LocalFileSystem

    fs = LocalFileSystem()
    odb = HashFileDB(fs, str(out_dir.parent / f".{out_dir.name}-odb"))
    _, _, obj = build(odb, str(out_dir), fs, "md5")
    return obj.hash_info.value


@pytest.fixture
def ray_local():
    import ray

    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


@pytest.mark.slow
def test_one_and_two_actors_write_identical_shards(tmp_path, tiny_model, ray_local):
    from pipelines.whisper.features import run_features

    make_audio_shards(tmp_path / "shards", 4, 3)
    # the same clips in a second split (like bona fide clips in every train-<task> list)
    (tmp_path / "shards/train-vq").mkdir()
    shutil.copy(tmp_path / "shards/train/shard-000001.tar", tmp_path / "shards/train-vq/shard-000000.tar")
    one = run_features(tmp_path / "shards", tmp_path / "f1", _cfg(tiny_model, 1), progress=False)
    two = run_features(tmp_path / "shards", tmp_path / "f2", _cfg(tiny_model, 2), progress=False)
    assert one["clips"] == two["clips"] == 15 and two["actors"] == 2
    assert one["reused_clips"] == two["reused_clips"] == 3 and one["computed_clips"] == 12
    assert _shard_hashes(tmp_path / "f1") == _shard_hashes(tmp_path / "f2")
    assert len(_shard_hashes(tmp_path / "f1")) == 5
    copied = read_feature_shard(tmp_path / "f2/train-vq/shard-000000.tar")
    owner = read_feature_shard(tmp_path / "f2/train/shard-000001.tar")
    assert [k for k, _ in copied] == [k for k, _ in owner]
    for (_, a), (_, b) in zip(copied, owner):
        np.testing.assert_array_equal(a, b)
    index = json.loads((tmp_path / "f1/index.json").read_text())
    planned = [str(p.relative_to(tmp_path / "shards"))
               for p in sorted((tmp_path / "shards").glob("*/shard-*.tar"))]
    assert index["complete"] and list(index["shards"]) == planned
    again = run_features(tmp_path / "shards", tmp_path / "f1", _cfg(tiny_model, 1), progress=False)
    assert again["skipped_shards"] == 5 and again["computed_clips"] == 0
    # a damaged finished shard is detected by its checksum and rewritten
    damaged = tmp_path / "f1/train/shard-000000.tar"
    damaged.write_bytes(damaged.read_bytes()[:-10])
    fixed = run_features(tmp_path / "shards", tmp_path / "f1", _cfg(tiny_model, 1), progress=False)
    assert fixed["computed_shards"] == 1
    assert _shard_hashes(tmp_path / "f1") == _shard_hashes(tmp_path / "f2")


@pytest.mark.slow
def test_killed_job_resumes_to_identical_output(tmp_path, tiny_model):
    from pipelines.whisper.features import run_features

    n_shards = 8
    make_audio_shards(tmp_path / "shards", n_shards, 4)
    params = {"features": {"model": str(tiny_model), "variant": "faithful", "actors": 1,
                           "batch_size": 1, "num_samples": NUM_SAMPLES},
              "train": {"num_samples": NUM_SAMPLES},
              # the tiny test Whisper is 16 wide: params are checked against the model's fusion
              "model": {"overrides": {"fusion": {"whisper_dim": 16}}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "features"
    cmd = [sys.executable, "-m", "pipelines.whisper.features", "--params", str(tmp_path / "params.yaml"),
           "--shards-dir", str(tmp_path / "shards"), "--out-dir", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    log = tmp_path / "job.log"
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=log.open("w"))
    index_path, done = out / "index.json", 0
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None and done < 1:
            if index_path.exists():
                done = len(json.loads(index_path.read_text())["shards"])
            time.sleep(0.02)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local Ray it started
        except ProcessLookupError:
            pass  # the whole group had already exited: the assert below says why
        proc.wait()
    assert 1 <= done < n_shards, (f"the job was not killed mid-run ({done} shards done, exit "
                                  f"{proc.returncode}):\n{log.read_text()[-3000:]}")
    visible = set(_shard_hashes(out))
    for name in visible:  # every visible shard is complete (renamed after writing)
        read_feature_shard(out / name)
    cfg = FeaturesParams(**params["features"])
    resumed = run_features(tmp_path / "shards", out, cfg, progress=False)
    assert resumed["skipped_shards"] >= 1 and resumed["clips"] == n_shards * 4
    fresh = run_features(tmp_path / "shards", tmp_path / "fresh", cfg, progress=False)
    assert fresh["skipped_shards"] == 0
    assert _shard_hashes(out) == _shard_hashes(tmp_path / "fresh")
    # index.json too: no timings in it, so the resumed folder has the same DVC hash
    records = json.loads((out / "index.json").read_text())["shards"].values()
    assert records and not any("seconds" in r for r in records)
    assert _dvc_dir_hash(out) == _dvc_dir_hash(tmp_path / "fresh")


@pytest.mark.slow
def test_runs_on_a_two_node_cluster_via_address(tmp_path, tiny_model):
    """RAY_ADDRESS path: a 2-node local cluster (1 CPU each), one actor per node."""
    import ray
    from ray.cluster_utils import Cluster

    from pipelines.whisper.features import run_features

    make_audio_shards(tmp_path / "shards", 3, 2)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        report = run_features(tmp_path / "shards", tmp_path / "f", _cfg(tiny_model, 2),
                              ray_address=cluster.address, progress=False)
        assert not ray.is_initialized()  # the job disconnects from a cluster it joined
    finally:
        cluster.shutdown()
    assert report["actors"] == 2 and report["clips"] == 6
    local = run_features(tmp_path / "shards", tmp_path / "g", _cfg(tiny_model, 1), progress=False)
    assert local["clips"] == 6
    assert _shard_hashes(tmp_path / "f") == _shard_hashes(tmp_path / "g")


@pytest.mark.slow
def test_splits_option_leaves_other_splits_alone(tmp_path, tiny_model, ray_local):
    from pipelines.whisper.features import run_features

    make_audio_shards(tmp_path / "shards", 4, 2)
    full = run_features(tmp_path / "shards", tmp_path / "f", _cfg(tiny_model, 1), progress=False)
    before = _shard_hashes(tmp_path / "f")
    dev = run_features(tmp_path / "shards", tmp_path / "f", _cfg(tiny_model, 1), progress=False,
                       splits=["dev"])
    assert dev["shards"] == 2 and dev["skipped_shards"] == 2 and full["shards"] == 4
    assert _shard_hashes(tmp_path / "f") == before
    index = json.loads((tmp_path / "f/index.json").read_text())
    assert len(index["shards"]) == 4
    only = run_features(tmp_path / "shards", tmp_path / "g", _cfg(tiny_model, 1), progress=False,
                        splits=["train"])
    assert only["clips"] == 4 and set(_shard_hashes(tmp_path / "g")) == {
        "train/shard-000000.tar", "train/shard-000001.tar"}
