import numpy as np
import pytest
import torch

from sastnet.codecs import build_codec
from sastnet.codecs.token_lm import (TokenLMConfig, codes_of, generate, load_token_lm,
                                     save_token_lm, train_token_lm)
from tests.codecs.conftest import tiny_config


def _waves(n=4, seconds=0.05, seed=0):
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32) for _ in range(n)]


def _trained_lm(codec, steps=5):
    codec.train()(torch.randn(4, 800) * 0.1)  # seed the codebooks
    codec.eval()
    content, speakers = codes_of(codec, _waves())
    lm = train_token_lm(content, TokenLMConfig(tuple(codec.codebook_sizes), 8, 16), steps=steps,
                        batch_size=4, seq_frames=20, speaker_bank=speakers, progress=False)
    return lm, content


@pytest.mark.parametrize("vq,aux", [("mvq", "none"), ("svq", "disentangle"), ("sq", "none")])
def test_generate_shapes(vq, aux):
    torch.manual_seed(0)
    codec = build_codec(tiny_config(vq=vq, aux=aux))
    lm, _ = _trained_lm(codec)
    waves = generate(codec, lm, num_utts=3, seconds=0.01, seed=1)
    assert len(waves) == 3
    assert all(w.shape == (160,) and w.dtype == torch.float32 for w in waves)
    again = generate(codec, lm, num_utts=3, seconds=0.01, seed=1)
    torch.testing.assert_close(torch.stack(waves), torch.stack(again))  # seeded


@pytest.mark.slow
def test_lm_learns_a_repeating_sequence():
    seq = torch.tensor([[0, 1, 2, 3] * 10])  # (K=1, F=40)
    cfg = TokenLMConfig((4,), 8, 32)
    lm = train_token_lm([seq], cfg, steps=1, batch_size=2, seq_frames=40, progress=False)
    before = float(lm.loss(seq[None]).detach())
    lm = train_token_lm([seq], cfg, steps=60, batch_size=2, seq_frames=40, lr=2e-2,
                        progress=False)
    assert float(lm.loss(seq[None]).detach()) < 0.5 * before


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    codec = build_codec(tiny_config(vq="svq", aux="disentangle"))
    lm, content = _trained_lm(codec)
    path = tmp_path / "lm.pt"
    save_token_lm(lm, path, codec="zoo_x")
    loaded = load_token_lm(path)
    assert loaded.meta == {"codec": "zoo_x"}
    assert torch.equal(loaded.speaker_bank, lm.speaker_bank) and len(lm.speaker_bank) == 4
    codes = content[0][None]
    torch.testing.assert_close(loaded.loss(codes), lm.loss(codes))


def test_generate_refuses_a_mismatched_lm():
    codec = build_codec(tiny_config(vq="mvq"))
    other = build_codec(tiny_config(vq="svq", codebook_size=8))
    lm, _ = _trained_lm(other, steps=1)
    with pytest.raises(ValueError, match="vocabularies"):
        generate(codec, lm, num_utts=1, seconds=0.01, seed=0)


def test_load_missing_token_lm_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing_lm.pt"):
        load_token_lm(tmp_path / "missing_lm.pt")
