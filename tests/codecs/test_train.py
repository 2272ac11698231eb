import numpy as np
import pytest
import torch

from sastnet.codecs import build_codec
from sastnet.codecs.semantic import build_random_teacher, whisper_log_mel
from sastnet.codecs.train import CodecTrainConfig, codec_loss, random_crops, train_codec
from tests.codecs.conftest import tiny_config


def _waves(seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(4000) / 16000
    return [(0.3 * np.sin(2 * np.pi * f * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
            for f in (220, 330, 440)]


def test_random_crops_shape_and_padding():
    rng = np.random.default_rng(0)
    batch = random_crops([np.ones(10, np.float32)], 3, 16, rng)
    assert batch.shape == (3, 16) and float(batch[:, 10:].abs().sum()) == 0


@pytest.mark.parametrize("aux", ["none", pytest.param("semantic", marks=pytest.mark.slow),
                                 pytest.param("disentangle", marks=pytest.mark.slow)])
def test_train_a_few_steps_writes_early_mid_late(aux):
    codec = build_codec(tiny_config(aux=aux))
    teacher = build_random_teacher(d_model=16, max_source_seconds=0.1) if aux == "semantic" else None
    seen = []
    cfg = CodecTrainConfig(steps=3, batch_size=2, crop_s=0.1)
    result = train_codec(codec, _waves(), cfg, teacher=teacher, progress=False,
                         on_checkpoint=lambda name, step, model: seen.append((name, step)))
    assert [name for name, _ in seen] == ["early", "mid", "late"]
    assert [step for _, step in seen] == sorted({step for _, step in seen})
    assert result["steps"] == 4 and np.isfinite(list(result["final_terms"].values())).all()
    assert ("semantic" in result["final_terms"]) == (aux == "semantic")
    assert not codec.training


@pytest.mark.slow
def test_training_reduces_the_loss():
    torch.manual_seed(0)
    codec = build_codec(tiny_config(dec="freq"))
    cfg = CodecTrainConfig(steps=20, batch_size=2, crop_s=0.1, lr=3e-3)
    batch = torch.from_numpy(np.stack([w[:1600] for w in _waves()]))
    before, _ = codec_loss(codec.train(), batch, cfg)
    train_codec(codec, _waves(), cfg, progress=False)
    after, _ = codec_loss(codec.train(), batch, cfg)
    assert float(after) < float(before)


def test_semantic_codec_without_teacher_is_refused():
    codec = build_codec(tiny_config(aux="semantic"))
    with pytest.raises(ValueError, match="teacher"):
        codec_loss(codec, torch.randn(2, 160), CodecTrainConfig())


def test_checkpoint_steps_are_distinct_on_tiny_budgets():
    assert CodecTrainConfig(steps=3).checkpoint_steps() == {1: "early", 2: "mid", 3: "late"}
    assert CodecTrainConfig(steps=200).checkpoint_steps() == {20: "early", 100: "mid", 200: "late"}
    with pytest.raises(ValueError, match="steps"):
        CodecTrainConfig(steps=2)


def test_whisper_log_mel_matches_the_feature_extractor():
    from transformers import WhisperFeatureExtractor

    wave = _waves()[0][:3200]
    fe = WhisperFeatureExtractor()
    ref = fe._np_extract_fbank_features(wave[None], "cpu")[0]
    ours = whisper_log_mel(torch.from_numpy(wave)[None])[0].numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_teacher_features_follow_the_codec_frame_count():
    teacher = build_random_teacher(d_model=16, max_source_seconds=0.5)
    feats = teacher(torch.randn(2, 4000) * 0.1, frames=13)
    assert feats.shape == (2, 16, 13)
    with pytest.raises(ValueError, match="max_source_seconds"):
        teacher(torch.randn(1, 16000), frames=5)


def test_keep_positions_shortens_a_whisper_encoder():
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    from sastnet.codecs.semantic import SemanticTeacher, _keep_positions

    config = WhisperConfig(d_model=16, encoder_layers=1, encoder_attention_heads=2,
                           encoder_ffn_dim=32, max_source_positions=100)
    teacher = SemanticTeacher(_keep_positions(WhisperEncoder(config), 0.5))
    assert teacher.input_frames == 50
    assert teacher(torch.randn(1, 8000) * 0.1, frames=7).shape == (1, 16, 7)
