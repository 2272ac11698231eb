import numpy as np
import pytest
import torch

from sastnet.codecs import build_codec
from sastnet.codecs.token_lm import (
    TokenLMConfig,
    codes_of,
    continue_prompts,
    load_token_lm,
    plan_features,
    plans_of,
    save_token_lm,
    train_token_lm,
)
from tests.codecs.conftest import tiny_config

BANDS = 4


def _waves(n=4, seconds=0.05, seed=0):
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32) for _ in range(n)]


def _trained_lm(codec, steps=5, bands=BANDS):
    codec.train()(torch.randn(4, 800) * 0.1)  # seed the codebooks
    codec.eval()
    waves = _waves()
    content, _ = codes_of(codec, waves)
    plans = plans_of(codec, waves, content, bands) if bands else None
    lm = train_token_lm(content, TokenLMConfig(tuple(codec.codebook_sizes), 8, 16, plan_bands=bands),
                        steps=steps, batch_size=4, seq_frames=20, progress=False, plans=plans)
    return lm, content, plans


def test_plan_is_frame_aligned_and_level_free():
    wave = torch.from_numpy(_waves(1, 0.1)[0])[None]
    plan = plan_features(wave, hop=8, frames=200, bands=BANDS)
    assert plan.shape == (1, 200, BANDS)
    torch.testing.assert_close(plan_features(3 * wave, 8, 200, BANDS), plan, atol=1e-4, rtol=0)
    assert abs(float(plan.mean())) < 1e-5


@pytest.mark.parametrize("vq,aux", [("mvq", "none"), ("svq", "disentangle"), ("sq", "none")])
def test_continuation_keeps_its_prompt_and_is_seeded(vq, aux):
    torch.manual_seed(0)
    codec = build_codec(tiny_config(vq=vq, aux=aux))
    lm, _, _ = _trained_lm(codec)
    prompts = _waves(2, 0.02, seed=5)  # 320 samples = 40 frames at hop 8
    waves = continue_prompts(codec, lm, prompts, prompt_s=0.005, seeds=[1, 2])
    assert [w.shape for w in waves] == [(320,), (320,)] and waves[0].dtype == torch.float32
    again = continue_prompts(codec, lm, prompts[:1], prompt_s=0.005, seeds=[1])
    torch.testing.assert_close(waves[0], again[0])  # one clip's seed, whatever else is generated


def test_sampled_codes_start_with_the_prompt_tokens():
    torch.manual_seed(0)
    codec = build_codec(tiny_config(vq="mvq"))
    lm, content, plans = _trained_lm(codec)
    prompt = content[0][None, :, :10]
    gen = torch.Generator().manual_seed(0)
    codes = lm.sample(1, 30, gen, prompt=prompt, plan=plans[0][None, :30])
    assert codes.shape == (1, codec.config.num_quantizers, 30)
    assert torch.equal(codes[..., :10], prompt)
    assert not torch.equal(codes[..., 10:], content[0][None, :, 10:30])  # sampled, not copied
    with pytest.raises(ValueError, match="longer"):
        lm.sample(1, 5, gen, prompt=prompt, plan=plans[0][None, :5])


def test_a_planned_lm_refuses_to_run_without_its_plan():
    torch.manual_seed(0)
    codec = build_codec(tiny_config(vq="svq"))
    lm, content, _ = _trained_lm(codec)
    with pytest.raises(ValueError, match="plan"):
        lm.loss(content[0][None])
    with pytest.raises(ValueError, match="needs plans"):
        train_token_lm(content, lm.config, steps=1, progress=False)


@pytest.mark.slow
def test_lm_learns_to_follow_its_plan():
    """Tokens that are a function of the plan: the plan-conditioned LM predicts them, the same
    LM without the plan cannot (loss well below the unconditioned one)."""
    rng = np.random.default_rng(0)
    seqs, plans = [], []
    for _ in range(8):
        tokens = torch.from_numpy(rng.integers(0, 4, 60))
        seqs.append(tokens[None])
        plans.append(torch.nn.functional.one_hot(tokens, 4).float())
    with_plan = train_token_lm(seqs, TokenLMConfig((4,), 8, 32, plan_bands=4), steps=80,
                               batch_size=4, seq_frames=40, lr=2e-2, progress=False, plans=plans)
    without = train_token_lm(seqs, TokenLMConfig((4,), 8, 32), steps=80, batch_size=4,
                             seq_frames=40, lr=2e-2, progress=False)
    codes, plan = torch.stack(seqs), torch.stack(plans)
    with torch.no_grad():
        assert float(with_plan.loss(codes, plan)) < 0.3 * float(without.loss(codes))


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    codec = build_codec(tiny_config(vq="svq", aux="disentangle"))
    lm, content, plans = _trained_lm(codec)
    path = tmp_path / "lm.pt"
    save_token_lm(lm, path, codec="zoo_x")
    loaded = load_token_lm(path)
    assert loaded.meta == {"codec": "zoo_x"} and loaded.config.plan_bands == BANDS
    codes, plan = content[0][None], plans[0][None]
    torch.testing.assert_close(loaded.loss(codes, plan), lm.loss(codes, plan))


def test_generation_refuses_a_mismatched_lm():
    codec = build_codec(tiny_config(vq="mvq"))
    other = build_codec(tiny_config(vq="svq", codebook_size=8))
    lm, _, _ = _trained_lm(other, steps=1)
    with pytest.raises(ValueError, match="vocabularies"):
        continue_prompts(codec, lm, _waves(1), prompt_s=0.01, seeds=[0])


def test_load_missing_token_lm_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing_lm.pt"):
        load_token_lm(tmp_path / "missing_lm.pt")
