"""Real-codec adapters on tiny randomly initialised models (no weights are downloaded)."""

import json

import pytest
import torch

from pipelines.codecs.real import (
    DacAdapter,
    EncodecAdapter,
    MimiAdapter,
    RealCodecUnavailable,
    SnacAdapter,
    load_real_codec,
    real_codec_entry,
)
from pipelines.params.resynthesize import RealCodecParams


def tiny_encodec():
    from transformers import EncodecConfig, EncodecModel
    cfg = EncodecConfig(sampling_rate=24000, num_filters=4, hidden_size=16, codebook_size=64,
                        codebook_dim=16, upsampling_ratios=[8, 5, 4, 2],
                        target_bandwidths=[1.5, 3.0], num_lstm_layers=1)
    return EncodecModel(cfg)


def tiny_dac():
    from transformers import DacConfig, DacModel
    cfg = DacConfig(encoder_hidden_size=8, downsampling_ratios=[2, 4, 5, 8],
                    decoder_hidden_size=32, n_codebooks=4, codebook_size=64, codebook_dim=4,
                    hidden_size=64, sampling_rate=16000)
    return DacModel(cfg)


def tiny_mimi():
    from transformers import MimiConfig, MimiModel
    cfg = MimiConfig(hidden_size=32, num_filters=4, intermediate_size=64, num_hidden_layers=1,
                     num_attention_heads=2, num_key_value_heads=2, head_dim=16, codebook_size=64,
                     codebook_dim=32, num_quantizers=4, vector_quantization_hidden_dimension=32,
                     upsample_groups=32, sliding_window=50)
    return MimiModel(cfg)


SNAC_CONFIG = dict(sampling_rate=24000, encoder_dim=8, encoder_rates=[2, 4, 5, 6],
                   decoder_dim=32, decoder_rates=[6, 5, 4, 2], attn_window_size=None,
                   codebook_size=64, codebook_dim=4, vq_strides=[4, 2, 1], noise=True,
                   depthwise=True)


def tiny_snac():
    snac = pytest.importorskip("snac")
    return snac.SNAC(**SNAC_CONFIG)


ADAPTERS = {
    "encodec": lambda: EncodecAdapter(tiny_encodec(), 1.5),
    "dac": lambda: DacAdapter(tiny_dac()),
    "mimi": lambda: MimiAdapter(tiny_mimi()),
    "snac": lambda: SnacAdapter(tiny_snac()),
}


@pytest.mark.slow  # builds four models; ~30 s on a busy 2-core machine
@pytest.mark.parametrize("kind", sorted(ADAPTERS))
def test_adapter_interface_16k_in_and_out(kind):
    torch.manual_seed(0)
    codec = ADAPTERS[kind]()
    wave = 0.1 * torch.randn(2, 8000)
    assert codec.sample_rate_hz == 16000
    with torch.inference_mode():
        codes = codec.encode(wave)
        decoded = codec.decode(codes)
    assert decoded.ndim == 2 and decoded.shape[0] == 2
    assert abs(decoded.shape[1] - 8000) <= 2000  # framing: up to one 80 ms frame (Mimi 12.5 Hz)
    out = codec.resynthesize(wave)
    assert out.shape == wave.shape and torch.isfinite(out).all()


def _resynth(codec, wave: torch.Tensor) -> torch.Tensor:
    torch.manual_seed(0)  # SNAC's decoder adds noise: the same draws for both models
    with torch.inference_mode():
        return codec.resynthesize(wave)


@pytest.mark.slow
def test_load_from_local_folder(tmp_path):
    torch.manual_seed(1)
    model = tiny_encodec().eval()
    model.save_pretrained(tmp_path / "enc")
    codec = load_real_codec("encodec", tmp_path / "enc", bandwidth_kbps=3.0)
    assert isinstance(codec, EncodecAdapter) and codec.bandwidth == 3.0
    wave = 0.1 * torch.randn(1, 1600, generator=torch.Generator().manual_seed(2))
    out = _resynth(codec, wave)
    assert out.shape == (1, 1600)
    # the reloaded codec computes what the saved model computes, and another model does not
    torch.testing.assert_close(out, _resynth(EncodecAdapter(model, 3.0), wave))
    assert not torch.allclose(out, _resynth(EncodecAdapter(tiny_encodec().eval(), 3.0), wave))


@pytest.mark.slow
def test_load_snac_from_local_folder(tmp_path):
    torch.manual_seed(1)
    model = tiny_snac().eval()
    (tmp_path / "snac").mkdir()
    (tmp_path / "snac" / "config.json").write_text(json.dumps(SNAC_CONFIG))
    torch.save(model.state_dict(), tmp_path / "snac" / "pytorch_model.bin")
    codec = load_real_codec("snac", tmp_path / "snac")
    wave = 0.1 * torch.randn(1, 1600, generator=torch.Generator().manual_seed(2))
    out = _resynth(codec, wave)
    assert out.shape == (1, 1600)
    torch.testing.assert_close(out, _resynth(SnacAdapter(model), wave))
    assert not torch.allclose(out, _resynth(SnacAdapter(tiny_snac().eval()), wave))


@pytest.mark.parametrize("kind", ["encodec", "dac", "mimi", "snac"])
def test_missing_weights_name_codec_and_place(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(RealCodecUnavailable, match=rf"{kind} codec weights unavailable.*"
                                                   r"no-such/model.*allow_download"):
        load_real_codec(kind, "no-such/model")


def test_bad_bandwidth_and_kind():
    with pytest.raises(ValueError, match="bandwidth 7.0"):
        EncodecAdapter(tiny_encodec(), 7.0)
    with pytest.raises(ValueError, match="allowed: encodec, dac, mimi, snac"):
        load_real_codec("vocos", "x")


def test_entry_labels_need_a_taxonomy_name(tmp_path):
    tiny_dac().save_pretrained(tmp_path / "dac")
    entry = real_codec_entry(RealCodecParams(name="DAC24", kind="dac", source=str(tmp_path / "dac")))
    assert entry.name == "DAC24" and not entry.held_out and entry.generate is None
    with pytest.raises(KeyError, match="unknown codec 'dac_24'"):
        real_codec_entry(RealCodecParams(name="dac_24", kind="dac", source=str(tmp_path / "dac")))
