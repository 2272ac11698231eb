import pytest
import torch

from sastnet.codecs import CodecCodes, build_codec, load_codec, save_codec
from tests.codecs.conftest import FAMILIES, tiny_config


@pytest.mark.parametrize("vq,aux,dec", FAMILIES, ids=lambda v: v)
def test_encode_decode_resynthesize_length_contract(vq, aux, dec):
    torch.manual_seed(0)
    codec = build_codec(tiny_config(vq=vq, aux=aux, dec=dec)).eval()
    wave = torch.randn(2, 203) * 0.1  # not a multiple of the hop (8)
    codes = codec.encode(wave)
    frames = -(-203 // codec.hop)
    k = {"mvq": 2, "svq": 1, "sq": 1}[vq]
    assert codes.content.shape == (2, k, frames) and codes.content.dtype == torch.int64
    assert (codes.speaker is not None) == (aux == "disentangle")
    assert codec.decode(codes).shape == (2, frames * codec.hop)
    out = codec.resynthesize(wave)
    assert out.shape == wave.shape and torch.isfinite(out).all()
    assert codec.family.labels()["vq"] == 1 + ("mvq", "svq", "sq").index(vq)


@pytest.mark.parametrize("dec", ["time", "freq"])
def test_forward_matches_length_and_gives_gradients(dec):
    codec = build_codec(tiny_config(dec=dec)).train()
    wave = torch.randn(2, 160) * 0.1
    out = codec(wave)
    assert out.wave.shape == wave.shape
    (out.wave.pow(2).mean() + out.vq_loss).backward()
    assert codec.encoder.net[0].weight.grad.abs().sum() > 0


def test_bitrate_is_frames_per_second_times_bits():
    codec = build_codec(tiny_config(vq="mvq", codebook_size=16, num_quantizers=2))
    assert codec.frame_rate_hz == 2000
    assert codec.bitrate_kbps == pytest.approx(2000 * 8 / 1000)
    fsq = build_codec(tiny_config(vq="sq", fsq_levels=(4, 4)))
    assert fsq.bits_per_frame == pytest.approx(4.0) and fsq.codebook_sizes == [16]


def test_load_codec_round_trip(tmp_path):
    torch.manual_seed(0)
    codec = build_codec(tiny_config(vq="mvq", aux="disentangle", dec="freq"))
    codec.train()(torch.randn(4, 160) * 0.1)  # seed the EMA codebooks
    codec.eval()
    path = tmp_path / "c.pt"
    save_codec(codec, path, name="zoo_test", step=3)
    loaded = load_codec(path)
    assert not loaded.training and loaded.meta == {"name": "zoo_test", "step": 3}
    assert loaded.config == codec.config
    wave = torch.randn(1, 240) * 0.1
    torch.testing.assert_close(loaded.resynthesize(wave), codec.resynthesize(wave))


def test_load_codec_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_codec(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    torch.save({"weights": 1}, bad)
    with pytest.raises(ValueError, match="bad.pt is not a zoo codec checkpoint"):
        load_codec(bad)


def test_disentangled_decode_needs_speaker_tokens():
    codec = build_codec(tiny_config(aux="disentangle")).eval()
    codes = codec.encode(torch.randn(1, 80))
    with pytest.raises(ValueError, match="speaker"):
        codec.decode(CodecCodes(codes.content))


def test_speaker_stream_is_time_invariant():
    codec = build_codec(tiny_config(aux="disentangle")).eval()
    codes = codec.encode(torch.randn(3, 400))
    assert codes.speaker.shape == (3, 2)  # two global tokens per utterance, whatever the length


def test_bad_wave_shape_is_refused():
    codec = build_codec(tiny_config())
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        codec.encode(torch.randn(80))
