"""AudioMAE weights in the official layout (facebookresearch/AudioMAE models_mae.py, timm Block
names) load into the multi-decoder MAE: every tensor lands where it belongs, the decoder in
every decoder. The official state dict is written here by key name, not by the code under test."""

import argparse

import pytest
import torch

from sastnet.models.audiomae import AudioMAELoadError, load_audiomae, load_audiomae_file
from sastnet.models.config import MAEConfig
from sastnet.models.mae import MultiDecoderMAE

SMALL = MAEConfig(embed_dim=32, depth=2, num_heads=2, decoder_dim=16, decoder_depth=2,
                  decoder_heads=2, feedback_heads=2)


def official_state(d: int, depth: int, dd: int, dec_depth: int, patch: int = 16,
                   grid: int = 512, swin_extra: bool = True, seed: int = 0) -> dict:
    """A state dict with the official AudioMAE key names and shapes, random values."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731

    def block(prefix: str, dim: int) -> dict:
        hid = 4 * dim
        out = {f"{prefix}.norm1.weight": r(dim), f"{prefix}.norm1.bias": r(dim),
               f"{prefix}.attn.qkv.weight": r(3 * dim, dim), f"{prefix}.attn.qkv.bias": r(3 * dim),
               f"{prefix}.attn.proj.weight": r(dim, dim), f"{prefix}.attn.proj.bias": r(dim),
               f"{prefix}.norm2.weight": r(dim), f"{prefix}.norm2.bias": r(dim),
               f"{prefix}.mlp.fc1.weight": r(hid, dim), f"{prefix}.mlp.fc1.bias": r(hid),
               f"{prefix}.mlp.fc2.weight": r(dim, hid), f"{prefix}.mlp.fc2.bias": r(dim)}
        if swin_extra and prefix.startswith("decoder"):
            out[f"{prefix}.attn.meta_mlp.fc1.weight"] = r(8, 2)  # Swin decoder (decoder_mode 1)
        return out

    sd = {"cls_token": r(1, 1, d), "pos_embed": r(1, grid + 1, d),
          "patch_embed.proj.weight": r(d, 1, patch, patch), "patch_embed.proj.bias": r(d),
          "norm.weight": r(d), "norm.bias": r(d),
          "decoder_embed.weight": r(dd, d), "decoder_embed.bias": r(dd), "mask_token": r(1, 1, dd),
          "decoder_pos_embed": r(1, grid + 1, dd), "decoder_norm.weight": r(dd),
          "decoder_norm.bias": r(dd), "decoder_pred.weight": r(patch * patch, dd),
          "decoder_pred.bias": r(patch * patch)}
    for i in range(depth):
        sd.update(block(f"blocks.{i}", d))
    for i in range(dec_depth):
        sd.update(block(f"decoder_blocks.{i}", dd))
    return sd


def test_every_official_tensor_lands_in_encoder_and_every_decoder():
    mae = MultiDecoderMAE(SMALL, 32, 32, num_decoders=3)
    sd = official_state(32, 2, 16, dec_depth=3)  # one decoder block more than used
    result = load_audiomae(mae, {"model": sd, "epoch": 3})
    ours = mae.state_dict()
    pairs = [("patch_embed.proj.weight", "patch_embed.weight"), ("norm.bias", "norm.bias"),
             ("blocks.1.attn.qkv.weight", "blocks.1.attn.in_proj_weight"),
             ("blocks.0.attn.qkv.bias", "blocks.0.attn.in_proj_bias"),
             ("blocks.0.attn.proj.weight", "blocks.0.attn.out_proj.weight"),
             ("blocks.1.mlp.fc1.weight", "blocks.1.mlp.0.weight"),
             ("blocks.1.mlp.fc2.bias", "blocks.1.mlp.3.bias"),
             ("blocks.0.norm2.weight", "blocks.0.norm2.weight")]
    for j in range(3):
        pairs += [("decoder_embed.weight", f"decoders.{j}.embed.weight"),
                  ("mask_token", f"decoders.{j}.mask_token"),
                  ("decoder_blocks.1.attn.qkv.weight", f"decoders.{j}.blocks.1.attn.in_proj_weight"),
                  ("decoder_blocks.0.mlp.fc2.weight", f"decoders.{j}.blocks.0.mlp.3.weight"),
                  ("decoder_norm.weight", f"decoders.{j}.norm.weight"),
                  ("decoder_pred.bias", f"decoders.{j}.pred.bias")]
    for official, here in pairs:
        assert torch.equal(ours[here], sd[official]), (official, here)
    # every encoder/decoder tensor of ours was written; only SASTNet's own parts were kept
    assert all(k.startswith(("feedback", "query_mask_token")) for k in result.kept)
    assert len(result.loaded) == len(ours) - len(result.kept)
    # unused: the class token, the fixed positions, Swin extras, the surplus decoder block
    assert set(result.unused) == {"cls_token", "pos_embed", "decoder_pos_embed",
                                  *[k for k in sd if k.startswith("decoder_blocks.2.")],
                                  *[k for k in sd if "meta_mlp" in k]}
    # every official tensor is either loaded somewhere or listed as unused
    mapped = len(sd) - len(result.unused)
    assert mapped == 4 + 2 * 12 + 7 + 2 * 12  # encoder misc + blocks + decoder misc + blocks


def test_shape_mismatch_names_both_keys():
    mae = MultiDecoderMAE(SMALL, 32, 32, num_decoders=2)
    sd = official_state(48, 2, 16, dec_depth=2)
    with pytest.raises(AudioMAELoadError, match=r"'patch_embed.proj.weight'.*'patch_embed.weight'"):
        load_audiomae(mae, sd)


def test_too_few_blocks_is_an_error():
    mae = MultiDecoderMAE(SMALL, 32, 32, num_decoders=2)
    with pytest.raises(AudioMAELoadError, match="decoder_depth"):
        load_audiomae(mae, official_state(32, 2, 16, dec_depth=1))


def test_official_file_with_training_args_loads(tmp_path):
    mae = MultiDecoderMAE(SMALL, 32, 32, num_decoders=2)
    sd = official_state(32, 2, 16, dec_depth=2)
    path = tmp_path / "pretrained.pth"
    torch.save({"model": sd, "args": argparse.Namespace(model="mae_vit_base_patch16")}, path)
    load_audiomae_file(mae, str(path))
    assert torch.equal(mae.state_dict()["decoders.1.pred.weight"], sd["decoder_pred.weight"])


@pytest.mark.slow  # ~20 s: a ViT-B MAE with four decoders
def test_paper_vit_b_shapes_fit_the_released_checkpoint_layout():
    """ViT-B (768-d, 12 blocks) + 512-d decoders as in AudioMAE's mae_vit_base_patch16, 16 Swin
    decoder blocks in the checkpoint, 8 used; SASTNet's 256 x 128 image, 4 decoders."""
    mae = MultiDecoderMAE(MAEConfig(), 256, 128, num_decoders=4)
    result = load_audiomae(mae, official_state(768, 12, 512, dec_depth=16))
    assert mae.grid == (16, 8)
    assert len([k for k in result.unused if k.startswith("decoder_blocks.")]) == 8 * 12 + 16
