"""sastnet.whisper: faithful and fast features on a tiny random Whisper (no real weights needed)."""

import numpy as np
import pytest
import torch

from sastnet.whisper import load_whisper_encoder, whisper_features


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    torch.manual_seed(0)
    cfg = WhisperConfig(vocab_size=64, d_model=16, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2,
                        encoder_ffn_dim=32, decoder_ffn_dim=32, max_target_positions=8,
                        pad_token_id=0, bos_token_id=0, eos_token_id=1, decoder_start_token_id=1)
    path = tmp_path_factory.mktemp("tiny_whisper")
    WhisperModel(cfg).save_pretrained(path)
    WhisperFeatureExtractor().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def fe(tiny_dir):
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor.from_pretrained(tiny_dir)


def _waves(seed=0):
    rng = np.random.default_rng(seed)
    return [0.1 * rng.standard_normal(n).astype(np.float32) for n in (16000, 40000, 90000)]


def test_faithful_features_are_first_256_frames_pooled(tiny_dir, fe):
    enc = load_whisper_encoder(str(tiny_dir))
    assert not enc.training and not any(p.requires_grad for p in enc.parameters())
    waves = _waves()
    got = whisper_features(enc, fe, waves, faithful=True)
    assert got.shape == (3, 128, 16) and got.dtype == np.float32
    mel = torch.from_numpy(fe(waves, sampling_rate=16000, return_tensors="np").input_features)
    with torch.no_grad():
        hidden = enc(mel).last_hidden_state[:, :256]
    want = hidden.reshape(3, 128, 2, 16).mean(2).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_fast_encoder_slices_real_positions(tiny_dir, fe):
    full = load_whisper_encoder(str(tiny_dir))
    fast = load_whisper_encoder(str(tiny_dir), max_source_seconds=5.12)
    assert fast.config.max_source_positions == 256
    assert full.config.max_source_positions == 1500  # the full one's config is untouched
    torch.testing.assert_close(fast.embed_positions.weight, full.embed_positions.weight[:256])
    feats = whisper_features(fast, fe, _waves(), faithful=False)
    assert feats.shape == (3, 128, 16)
    # each clip's features do not depend on the other clips of the batch
    alone = whisper_features(fast, fe, _waves()[1:2], faithful=False)
    np.testing.assert_allclose(feats[1:2], alone, rtol=1e-4, atol=1e-5)


def test_variant_must_match_encoder(tiny_dir, fe):
    full = load_whisper_encoder(str(tiny_dir))
    fast = load_whisper_encoder(str(tiny_dir), max_source_seconds=6.0)
    with pytest.raises(ValueError, match="shortened encoder"):
        whisper_features(full, fe, _waves(), faithful=False)
    with pytest.raises(ValueError, match="full encoder"):
        whisper_features(fast, fe, _waves(), faithful=True)


def test_bad_inputs_fail_clearly(tiny_dir, fe):
    with pytest.raises(ValueError, match="too short"):
        load_whisper_encoder(str(tiny_dir), max_source_seconds=2.0)
    enc = load_whisper_encoder(str(tiny_dir), max_source_seconds=5.12)
    with pytest.raises(ValueError, match="wave 1: contains NaN"):
        whisper_features(enc, fe, [np.zeros(100), np.full(100, np.nan)], faithful=False)
    with pytest.raises(ValueError, match="mono"):
        whisper_features(enc, fe, [np.zeros((2, 100))], faithful=False)


def test_missing_model_names_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match="whisper_convert"):
        load_whisper_encoder(str(tmp_path / "data/whisper/none"))
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_whisper_encoder(str(tmp_path))
