"""Load AudioMAE weights in the official checkpoint layout into a ``MultiDecoderMAE``.

The SASTNet release starts its MAE encoder and every decoder from the AudioSet-pretrained
AudioMAE ViT-B (facebookresearch/AudioMAE, ``mae_vit_base_patch16``). That checkpoint is a
``torch.save`` of ``{"model": state_dict, ...}``; its key names (``models_mae.py``, timm
``Block``) map onto this project's modules as follows:

=====================================  ===========================================
official key                           here (in ``MultiDecoderMAE``)
=====================================  ===========================================
``patch_embed.proj.{weight,bias}``     ``patch_embed.{weight,bias}``
``blocks.i.norm1/norm2.*``             ``blocks.i.norm1/norm2.*``
``blocks.i.attn.qkv.{weight,bias}``    ``blocks.i.attn.in_proj_{weight,bias}`` (same q|k|v order)
``blocks.i.attn.proj.*``               ``blocks.i.attn.out_proj.*``
``blocks.i.mlp.fc1.* / fc2.*``         ``blocks.i.mlp.0.* / mlp.3.*``
``norm.*``                             ``norm.*``
``decoder_embed.*``                    ``decoders.j.embed.*``   (every decoder j)
``mask_token``                         ``decoders.j.mask_token``
``decoder_blocks.i.*``                 ``decoders.j.blocks.i.*`` (block mapping above)
``decoder_norm.* / decoder_pred.*``    ``decoders.j.norm.* / decoders.j.pred.*``
=====================================  ===========================================

Not loaded, by design (listed in the result): ``cls_token`` (no class token here),
``pos_embed`` / ``decoder_pos_embed`` (fixed 2-D sin-cos, recomputed for this image's patch
grid: 16 x 8 for SASTNet's 256 x 128 image, the checkpoint's are for AudioSet's 64 x 8 + cls),
the Swin decoder's extra tensors (``attn.meta_mlp``, relative position tables) and decoder
blocks beyond ``decoder_depth`` (the released ViT-B was pretrained with 16 Swin decoder blocks,
SASTNet's decoders have 8). The decoder feedback attention and the masked-query token are
SASTNet's own and keep their initialisation.

Used for the AudioSet weights (paper profile) and for any self-supervised MAE written in the
same layout (``audiomae_state_dict`` turns one of ours into it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor

from sastnet.models.mae import MultiDecoderMAE

_BLOCK = {  # official block tensor -> ours (timm Block -> sastnet.models.mae.Block)
    "norm1.weight": "norm1.weight", "norm1.bias": "norm1.bias",
    "attn.qkv.weight": "attn.in_proj_weight", "attn.qkv.bias": "attn.in_proj_bias",
    "attn.proj.weight": "attn.out_proj.weight", "attn.proj.bias": "attn.out_proj.bias",
    "norm2.weight": "norm2.weight", "norm2.bias": "norm2.bias",
    "mlp.fc1.weight": "mlp.0.weight", "mlp.fc1.bias": "mlp.0.bias",
    "mlp.fc2.weight": "mlp.3.weight", "mlp.fc2.bias": "mlp.3.bias",
}
_ENCODER = {"patch_embed.proj.weight": "patch_embed.weight",
            "patch_embed.proj.bias": "patch_embed.bias",
            "norm.weight": "norm.weight", "norm.bias": "norm.bias"}
_DECODER = {"decoder_embed.weight": "embed.weight", "decoder_embed.bias": "embed.bias",
            "mask_token": "mask_token", "decoder_norm.weight": "norm.weight",
            "decoder_norm.bias": "norm.bias", "decoder_pred.weight": "pred.weight",
            "decoder_pred.bias": "pred.bias"}
_BLOCK_KEY = re.compile(r"^(blocks|decoder_blocks)\.(\d+)\.(.+)$")


class AudioMAELoadError(ValueError):
    """A state dict that does not fit the MAE it is loaded into."""


@dataclass
class AudioMAELoad:
    """What ``load_audiomae`` did."""

    loaded: list[str] = field(default_factory=list)  # our keys that were written
    unused: list[str] = field(default_factory=list)  # official keys with no place here
    kept: list[str] = field(default_factory=list)  # our keys left at their initialisation


def _official_to_ours(key: str, num_decoders: int) -> list[str]:
    """Our keys (relative to the MAE) that the official ``key`` fills; [] if none."""
    if key in _ENCODER:
        return [_ENCODER[key]]
    if key in _DECODER:
        return [f"decoders.{j}.{_DECODER[key]}" for j in range(num_decoders)]
    m = _BLOCK_KEY.match(key)
    if m and m.group(3) in _BLOCK:
        inner = f"blocks.{m.group(2)}.{_BLOCK[m.group(3)]}"
        if m.group(1) == "blocks":
            return [inner]
        return [f"decoders.{j}.{inner}" for j in range(num_decoders)]
    return []


def unwrap_checkpoint(obj: object) -> Mapping[str, Tensor]:
    """The state dict of an AudioMAE checkpoint (``{"model": ...}``) or the dict itself."""
    if isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        obj = obj["model"]
    if not isinstance(obj, Mapping):
        raise AudioMAELoadError(f"expected a state dict (or {{'model': state_dict}}), got "
                                f"{type(obj).__name__}")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_audiomae(mae: MultiDecoderMAE, state: Mapping[str, Tensor]) -> AudioMAELoad:
    """Copy an official-layout AudioMAE state dict into ``mae`` (encoder; decoder into every decoder).

    Raises:
        AudioMAELoadError: a tensor's shape differs (naming both keys and shapes), or an
            encoder/decoder tensor of ``mae`` has no counterpart in ``state`` (e.g. a
            checkpoint with fewer blocks than ``depth`` / ``decoder_depth``).
    """
    state = unwrap_checkpoint(state)
    ours = mae.state_dict()
    result, updates = AudioMAELoad(), {}
    for key, value in state.items():
        targets = [t for t in _official_to_ours(key, len(mae.decoders)) if t in ours]
        if not targets:
            result.unused.append(key)
            continue
        for target in targets:
            if tuple(ours[target].shape) != tuple(value.shape):
                raise AudioMAELoadError(
                    f"AudioMAE checkpoint key {key!r} has shape {tuple(value.shape)}, but "
                    f"{target!r} of this MAE has {tuple(ours[target].shape)}: the checkpoint is "
                    f"not a ViT-B with the configured sizes (mae.embed_dim/decoder_dim/"
                    f"patch_size)")
            updates[target] = value.detach().to(ours[target].dtype)
    own = ("feedback", "feedback_proj", "query_mask_token")  # SASTNet's, not AudioMAE's
    absent = [k for k in ours if k not in updates and not k.startswith(own)]
    if absent:
        raise AudioMAELoadError(
            f"AudioMAE checkpoint lacks {len(absent)} tensors this MAE needs, e.g. {absent[:3]} "
            f"(is mae.depth / mae.decoder_depth larger than the checkpoint's?)")
    mae.load_state_dict(updates, strict=False)
    result.loaded = sorted(updates)
    result.kept = sorted(k for k in ours if k not in updates)
    return result


def load_audiomae_file(mae: MultiDecoderMAE, path: str) -> AudioMAELoad:
    """``load_audiomae`` from a ``torch.save`` file (the official ``pretrained.pth``)."""
    import argparse

    # the official checkpoint also pickles its argparse.Namespace of training arguments
    with torch.serialization.safe_globals([argparse.Namespace]):
        obj = torch.load(path, map_location="cpu", weights_only=True)
    return load_audiomae(mae, obj)


def audiomae_state_dict(mae: MultiDecoderMAE, decoder: int = 0) -> dict[str, Tensor]:
    """The inverse mapping: ``mae``'s encoder and decoder ``decoder`` in the official layout
    (e.g. to save a self-supervised pretrained MAE for ``load_audiomae``)."""
    ours = mae.state_dict()
    inverse_block = {v: k for k, v in _BLOCK.items()}
    out: dict[str, Tensor] = {}
    for official, here in _ENCODER.items():
        out[official] = ours[here].clone()
    for official, here in _DECODER.items():
        out[official] = ours[f"decoders.{decoder}.{here}"].clone()
    prefix = f"decoders.{decoder}."
    for key, value in ours.items():
        m = re.match(r"^(decoders\.\d+\.)?blocks\.(\d+)\.(.+)$", key)
        if not m or m.group(3) not in inverse_block:
            continue
        if m.group(1) is None:
            out[f"blocks.{m.group(2)}.{inverse_block[m.group(3)]}"] = value.clone()
        elif m.group(1) == prefix:
            out[f"decoder_blocks.{m.group(2)}.{inverse_block[m.group(3)]}"] = value.clone()
    return out
