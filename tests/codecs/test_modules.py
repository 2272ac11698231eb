import pytest
import torch

from sastnet.codecs.modules import ConvEncoder, FreqDecoder, SpeakerEncoder, TimeDecoder


@pytest.mark.parametrize("strides", [(2, 2, 2), (4, 4, 4, 5), (3, 4, 5), (8, 5, 4, 2)])
def test_encoder_and_time_decoder_shapes(strides):
    enc = ConvEncoder(4, strides, 8)
    hop = enc.hop
    z = enc(torch.randn(2, hop * 7))
    assert z.shape == (2, 8, 7)
    assert TimeDecoder(8, 4, strides)(z).shape == (2, hop * 7)


@pytest.mark.parametrize("hop,n_fft", [(8, 32), (320, 1280), (256, 512)])
def test_freq_decoder_shapes(hop, n_fft):
    dec = FreqDecoder(8, 16, hop, n_fft)
    out = dec(torch.randn(2, 8, 5))
    assert out.shape == (2, 5 * hop) and torch.isfinite(out).all()


def test_speaker_encoder_pools_over_time():
    spk = SpeakerEncoder(8, 6)
    assert spk(torch.randn(2, 8, 11)).shape == (2, 6, 1)
    assert spk(torch.randn(2, 8, 3)).shape == (2, 6, 1)
