"""MAE pretraining (pipelines/pretrain/mae.py) and the official-layout loader it feeds."""

import numpy as np
import pytest
import torch
from shard_dummies import fake_vad, make_manifest

from pipelines.dataset.loader import shard_paths_for
from pipelines.dataset.shards import build_shards
from pipelines.params.shard import ShardParams
from pipelines.pretrain.mae import (
    PretrainSettings,
    checkpoint,
    load_clips,
    logmel_images,
    pretrain_mae,
)
from sastnet.models import build_model, model_config
from sastnet.models.audiomae import AudioMAELoadError, load_audiomae, load_audiomae_file


def _images(n: int, seed: int, frames: int = 64, bins: int = 64) -> torch.Tensor:
    """Spectrogram-like images: a few harmonic ridges per clip that drift slowly in time, so a
    hidden patch is predictable from the visible ones (what an MAE can learn)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None]
    f = np.arange(bins)[None, :]
    out = np.empty((n, frames, bins), np.float32)
    for i in range(n):
        f0 = rng.uniform(4, 10) + 2 * np.sin(2 * np.pi * t / rng.uniform(30, 90))
        img = sum(np.exp(-0.5 * ((f - k * f0) / 1.2) ** 2) / k for k in range(1, 6))
        img = img * (1 + 0.5 * np.sin(2 * np.pi * t / rng.uniform(10, 40)))
        out[i] = img + 0.05 * rng.standard_normal(img.shape)
    return torch.from_numpy((out - out.mean()) / out.std())


def _settings(epochs: int, **kw) -> PretrainSettings:
    base = dict(epochs=epochs, batch_size=16, lr=2e-3, warmup_epochs=1, weight_decay=0.05,
                mask_ratio=0.8, seed=0, threads=1)
    return PretrainSettings(**{**base, **kw})


def test_pretraining_loss_falls_on_a_tiny_example():
    cfg = model_config("m_mae", "aux", "tiny").mae
    mae, history = pretrain_mae(_images(128, 0), _images(32, 1), cfg, _settings(12))
    dev = [h["dev_loss"] for h in history]
    assert len(history) == 13 and history[0]["epoch"] == 0
    assert dev[-1] < 0.7 * dev[0], dev  # held-out clips, same masks every epoch
    assert history[-1]["train_loss"] < history[1]["train_loss"]


def test_same_seed_same_weights():
    cfg = model_config("m_mae", "aux", "tiny").mae
    images = _images(32, 0)
    a, _ = pretrain_mae(images, None, cfg, _settings(2))
    b, _ = pretrain_mae(images, None, cfg, _settings(2))
    c, _ = pretrain_mae(images, None, cfg, _settings(2, seed=1))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


@pytest.mark.parametrize("variant", ["m_mae", "sastnet", "s_mae"])
def test_fine_tuning_loads_every_pretrained_tensor(tmp_path, variant):
    cfg = model_config("m_mae", "aux", "tiny").mae
    mae, _ = pretrain_mae(_images(32, 0), None, cfg, _settings(1))
    path = tmp_path / "mae.pt"
    torch.save(checkpoint(mae, {"image": "logmel"}), path)
    saved = torch.load(path, weights_only=True)["model"]
    assert "blocks.0.attn.qkv.weight" in saved and "decoder_pred.weight" in saved  # official names

    model = build_model(model_config(variant, "aux", "tiny", num_samples=16000), load_weights=False)
    result = load_audiomae_file(model.mae, str(path))  # the training job's loader
    assert result.unused == []  # every file tensor found its place
    assert all(k.startswith(("feedback", "query_mask_token")) for k in result.kept)
    # every loaded tensor equals the pretrained one; the decoder went into every class decoder
    num_decoders = len(model.mae.decoders)
    assert num_decoders == (1 if variant == "s_mae" else 4)
    pretrained, loaded = mae.state_dict(), model.mae.state_dict()
    for key in result.loaded:
        source = "decoders.0." + key.split(".", 2)[2] if key.startswith("decoders.") else key
        assert torch.equal(loaded[key], pretrained[source]), key
    per_decoder = [k for k in pretrained if k.startswith("decoders.0.")]
    encoder = len(saved) - len(per_decoder)  # the file holds the encoder and one decoder
    assert len(result.loaded) == encoder + num_decoders * len(per_decoder)


def test_a_checkpoint_of_another_size_is_a_clear_error():
    big = model_config("m_mae", "aux", "tiny", mae={"embed_dim": 96}).mae
    mae, _ = pretrain_mae(_images(16, 0), None, big, _settings(1, batch_size=8))
    model = build_model(model_config("m_mae", "aux", "tiny", num_samples=16000), load_weights=False)
    with pytest.raises(AudioMAELoadError, match="patch_embed.proj.weight"):
        load_audiomae(model.mae, checkpoint(mae, {})["model"])


def test_clips_come_from_the_train_lists_once_each(tmp_path):
    manifest = make_manifest(tmp_path / "clips")
    build_shards(manifest, fake_vad(manifest), tmp_path / "shards",
                 ShardParams(samples_per_shard=3, tasks=("aux", "vq")), seed=1)
    paths = [p for t in ("aux", "vq") for p in shard_paths_for(tmp_path / "shards", f"train-{t}")]
    keys, waves = load_clips(paths, num_samples=8000)
    assert len(keys) == len(set(keys)) and waves.shape == (len(keys), 8000)
    train_keys = set(manifest.loc[manifest["split"] == "train", "key"])
    assert set(keys) <= train_keys and len(keys) > 0
    bona = manifest[(manifest["split"] == "train") & (manifest["codec"] == "bonafide")]
    assert set(bona["key"]) <= set(keys)  # shared by both lists, kept once
    images = logmel_images(waves, model_config("m_mae", "aux", "tiny").mel, patch=16)
    assert images.shape == (len(keys), 16, 64)
