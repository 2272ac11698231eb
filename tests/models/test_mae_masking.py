"""2-D random masking and the multi-decoder MAE."""

import dataclasses

import torch

from sastnet.models.config import MAEConfig
from sastnet.models.mae import MultiDecoderMAE, patchify, random_masking_2d

TINY_MAE = MAEConfig(embed_dim=32, depth=1, num_heads=2, decoder_dim=16, decoder_depth=1,
                     decoder_heads=2, feedback_heads=2)


def test_mask_ratio_04_keeps_12_by_6_of_16_by_8():
    g = torch.Generator().manual_seed(0)
    keep_idx, mask = random_masking_2d(5, 16, 8, 0.4, generator=g)
    assert keep_idx.shape == (5, 72)
    assert torch.all(mask.sum(1) == 128 - 72)
    for row in range(5):
        kept = keep_idx[row]
        assert torch.all(mask[row, kept] == 0)
        assert len(set((kept // 8).tolist())) == 12  # 12 time rows
        assert len(set((kept % 8).tolist())) == 6  # 6 frequency columns
        assert torch.all(kept[1:] > kept[:-1])  # sorted, unique


def test_patchify_matches_patch_order():
    image = torch.arange(32 * 48, dtype=torch.float32).reshape(1, 32, 48)
    patches = patchify(image, 16)
    assert patches.shape == (1, 2 * 3, 256)
    assert torch.equal(patches[0, 1], image[0, :16, 16:32].reshape(-1))  # t=0, f=1
    assert torch.equal(patches[0, 3], image[0, 16:32, :16].reshape(-1))  # t=1, f=0


def test_mae_masks_in_training_only():
    torch.manual_seed(0)
    mae = MultiDecoderMAE(TINY_MAE, image_frames=256, image_bins=128, num_decoders=3)
    image = torch.randn(2, 256, 128)
    mae.train()
    out = mae(image)
    assert out.features.shape == (2, 128, 32)  # one token per patch, masked or not
    assert torch.all(out.mask.sum(1) == 56)
    assert out.per_decoder_mse.shape == (2, 3)
    mae.eval()
    with torch.no_grad():
        out = mae(image)
    assert out.features.shape == (2, 128, 32)
    assert torch.all(out.mask == 1)  # nothing hidden; the MSE is scored on every patch


def test_mask_ratio_zero_keeps_everything():
    mae = MultiDecoderMAE(MAEConfig(**{**TINY_MAE.__dict__, "mask_ratio": 0.0}), 32, 32, 2)
    out = mae.train()(torch.randn(1, 32, 32))
    assert out.features.shape == (1, 4, 32)
    assert torch.all(out.mask == 1)  # nothing masked: every patch is scored


def _recon_loss(cfg: MAEConfig, scale: float) -> torch.Tensor:
    """Per-decoder reconstruction loss of a fresh MAE on a random image of std ``scale``."""
    torch.manual_seed(0)
    mae = MultiDecoderMAE(cfg, image_frames=32, image_bins=32, num_decoders=2).train()
    with torch.no_grad():
        return mae(scale * torch.randn(2, 32, 32),
                   generator=torch.Generator().manual_seed(1)).per_decoder_mse


def test_raw_target_rewards_shrinking_the_image_norm_pix_does_not():
    raw = dataclasses.replace(TINY_MAE, norm_pix_loss=False, detach_target=False)
    loss_big = _recon_loss(raw, 1.0)
    loss_small = _recon_loss(raw, 0.1)
    assert loss_small.mean() < 0.5 * loss_big.mean()  # the collapse incentive of a raw target
    normed = dataclasses.replace(TINY_MAE, norm_pix_loss=True, detach_target=True)
    loss_big = _recon_loss(normed, 1.0)
    loss_small = _recon_loss(normed, 0.1)
    assert loss_small.mean() > 0.5 * loss_big.mean()  # every patch has unit variance


def test_detached_target_gets_gradient_only_through_the_encoder_input():
    cfg = dataclasses.replace(TINY_MAE, norm_pix_loss=True, detach_target=True)
    torch.manual_seed(0)
    mae = MultiDecoderMAE(cfg, image_frames=32, image_bins=32, num_decoders=2).train()
    for p in mae.parameters():
        p.requires_grad_(False)
    mae.patch_embed.weight.zero_()  # the encoder ignores its input: no gradient path left
    image = torch.randn(2, 32, 32, requires_grad=True)
    mae(image).per_decoder_mse.sum().backward()
    assert image.grad is None or torch.count_nonzero(image.grad) == 0
    cfg = dataclasses.replace(cfg, detach_target=False)
    mae = MultiDecoderMAE(cfg, image_frames=32, image_bins=32, num_decoders=2).train()
    mae.patch_embed.weight.data.zero_()
    image = torch.randn(2, 32, 32, requires_grad=True)
    mae(image).per_decoder_mse.sum().backward()
    assert torch.count_nonzero(image.grad) > 0  # the target itself is pulled


def test_feedback_residual_adds_the_encoder_tokens_to_the_feedback_output():
    torch.manual_seed(0)
    plain = MultiDecoderMAE(TINY_MAE, image_frames=64, image_bins=32, num_decoders=3).eval()
    residual = MultiDecoderMAE(dataclasses.replace(TINY_MAE, feedback_residual=True),
                               image_frames=64, image_bins=32, num_decoders=3).eval()
    residual.load_state_dict(plain.state_dict())  # same weights, no new parameters
    image = torch.randn(2, 64, 32)
    with torch.no_grad():
        tokens, _, _ = plain.encode(image)  # eval: every patch kept, in patch order
        diff = residual(image).features - plain(image).features
    assert torch.allclose(diff, tokens, atol=1e-5)
