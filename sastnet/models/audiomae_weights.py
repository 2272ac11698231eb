"""AudioMAE weights in the official key layout <-> ``MultiDecoderMAE``.

The official AudioMAE (facebookresearch/AudioMAE, ``models_mae.MaskedAutoencoderViT``) saves
``{"model": state_dict}`` with timm ViT names: ``patch_embed.proj``, ``blocks.<i>.attn.qkv`` /
``attn.proj`` / ``mlp.fc1`` / ``mlp.fc2`` / ``norm1`` / ``norm2``, ``norm``, and one decoder
``decoder_embed``, ``mask_token``, ``decoder_blocks.<i>.*``, ``decoder_norm``, ``decoder_pred``,
plus ``cls_token``, ``pos_embed`` and ``decoder_pos_embed``.

``MultiDecoderMAE`` cannot use those names as they are: its blocks use
``nn.MultiheadAttention`` (``in_proj_weight`` holds q, k, v stacked in the same order as timm's
``qkv``; ``out_proj`` is timm's ``proj``), its MLP is an ``nn.Sequential`` (``mlp.0`` / ``mlp.3``),
it has N decoders (one per class) and no class token. One mapping (``_official_name``) covers
both directions:

- ``load_official_mae(mae, state)``: official layout -> the model. The single pretrained decoder
  is copied into every one of the N decoders (SASTNet starts each class decoder from AudioMAE's).
  ``cls_token`` (our encoder has none) and the positional tables (fixed 2-D sin-cos in both,
  recomputed here for the model's own patch grid) are not loaded and are listed as skipped.
- ``official_state_dict(mae)``: the model's encoder and first decoder in the official layout
  (what ``pipelines/train/pretrain_mae.py`` saves), so the tiny pretrained MAE and the real
  AudioSet checkpoint go through the same loader.

The decoder-feedback attention, its projection and the query mask token are SASTNet's own and
have no AudioMAE counterpart: they keep their initialisation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from sastnet.models.mae import MultiDecoderMAE

# Official tensors with no place in MultiDecoderMAE (see the module docstring).
SKIPPED_OFFICIAL = ("cls_token", "pos_embed", "decoder_pos_embed")

# Inside one transformer block: our name -> official (timm) name.
_BLOCK = {
    "norm1.weight": "norm1.weight", "norm1.bias": "norm1.bias",
    "attn.in_proj_weight": "attn.qkv.weight", "attn.in_proj_bias": "attn.qkv.bias",
    "attn.out_proj.weight": "attn.proj.weight", "attn.out_proj.bias": "attn.proj.bias",
    "norm2.weight": "norm2.weight", "norm2.bias": "norm2.bias",
    "mlp.0.weight": "mlp.fc1.weight", "mlp.0.bias": "mlp.fc1.bias",
    "mlp.3.weight": "mlp.fc2.weight", "mlp.3.bias": "mlp.fc2.bias",
}
_TOP = {
    "patch_embed.weight": "patch_embed.proj.weight", "patch_embed.bias": "patch_embed.proj.bias",
    "norm.weight": "norm.weight", "norm.bias": "norm.bias",
}
_DECODER = {
    "embed.weight": "decoder_embed.weight", "embed.bias": "decoder_embed.bias",
    "mask_token": "mask_token",
    "norm.weight": "decoder_norm.weight", "norm.bias": "decoder_norm.bias",
    "pred.weight": "decoder_pred.weight", "pred.bias": "decoder_pred.bias",
}


def _official_name(ours: str) -> str | None:
    """Official AudioMAE name of one of our MAE's state-dict keys (None: no counterpart).

    Every decoder ``decoders.<k>.*`` maps to the one official decoder.
    """
    if ours in _TOP:
        return _TOP[ours]
    if m := re.fullmatch(r"blocks\.(\d+)\.(.+)", ours):
        inner = _BLOCK.get(m.group(2))
        return f"blocks.{m.group(1)}.{inner}" if inner else None
    if m := re.fullmatch(r"decoders\.\d+\.(.+)", ours):
        rest = m.group(1)
        if rest in _DECODER:
            return _DECODER[rest]
        if b := re.fullmatch(r"blocks\.(\d+)\.(.+)", rest):
            inner = _BLOCK.get(b.group(2))
            return f"decoder_blocks.{b.group(1)}.{inner}" if inner else None
    return None


@dataclass
class LoadReport:
    """What ``load_official_mae`` did, for logs and tests."""

    loaded: list[str]  # our keys overwritten
    used: list[str]  # official keys read
    skipped: list[str]  # official keys deliberately not loaded (SKIPPED_OFFICIAL present)
    unused: list[str]  # official keys with no counterpart in the model (e.g. a deeper encoder)
    not_in_checkpoint: list[str]  # our mapped keys absent from the checkpoint (e.g. no decoder)


def unwrap_checkpoint(obj: Mapping) -> Mapping[str, Tensor]:
    """The state dict inside an AudioMAE checkpoint file (``{"model": ...}``) or the dict itself."""
    state = obj.get("model", obj) if isinstance(obj, Mapping) else obj
    if not isinstance(state, Mapping):
        raise ValueError("not an AudioMAE checkpoint: expected a state dict or {'model': state dict}")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_official_mae(mae: MultiDecoderMAE, state: Mapping[str, Tensor],
                      strict_encoder: bool = True) -> LoadReport:
    """Copy official-layout AudioMAE weights into ``mae`` (every decoder gets the one decoder).

    Args:
        mae: the model's MAE (``model.mae``).
        state: official-layout state dict (``unwrap_checkpoint(torch.load(path))``).
        strict_encoder: raise when an encoder tensor (patch embed, blocks, norm) is missing.

    Returns:
        A ``LoadReport``. Raises ``ValueError`` naming the key on a shape mismatch (a checkpoint
        of another size: set the MAE sizes in the model config to the checkpoint's).
    """
    state = unwrap_checkpoint(state)
    target = mae.state_dict()
    loaded, used, missing = [], set(), []
    new: dict[str, Tensor] = {}
    for ours, tensor in target.items():
        name = _official_name(ours)
        if name is None:
            continue
        if name not in state:
            missing.append(ours)
            continue
        src = state[name]
        if tuple(src.shape) != tuple(tensor.shape):
            raise ValueError(f"AudioMAE tensor {name!r} has shape {tuple(src.shape)}, the model's "
                             f"{ours!r} {tuple(tensor.shape)}: the checkpoint is another size; "
                             f"set the model's mae sizes (embed_dim, depth, decoder_dim, ...) to it")
        new[ours] = src.detach().to(tensor.dtype)
        loaded.append(ours)
        used.add(name)
    encoder_missing = [k for k in missing if not k.startswith("decoders.")]
    if strict_encoder and encoder_missing:
        raise KeyError(f"AudioMAE checkpoint lacks {len(encoder_missing)} encoder tensors, e.g. "
                       f"{[_official_name(k) for k in encoder_missing[:3]]}: is it an AudioMAE "
                       f"(MaskedAutoencoderViT) state dict of the same depth?")
    mae.load_state_dict(new, strict=False)
    skipped = [k for k in SKIPPED_OFFICIAL if k in state]
    unused = sorted(k for k in state if k not in used and k not in SKIPPED_OFFICIAL)
    return LoadReport(loaded=loaded, used=sorted(used), skipped=skipped, unused=unused,
                      not_in_checkpoint=missing)


def official_state_dict(mae: MultiDecoderMAE) -> dict[str, Tensor]:
    """``mae``'s encoder and first decoder in the official AudioMAE layout (cloned tensors).

    No ``cls_token`` / positional tables: the loader recomputes the fixed sin-cos positions.
    """
    out: dict[str, Tensor] = {}
    for ours, tensor in mae.state_dict().items():
        name = _official_name(ours)
        if name is None or (ours.startswith("decoders.") and not ours.startswith("decoders.0.")):
            continue
        out[name] = tensor.detach().clone()
    return out


def load_official_mae_file(mae: MultiDecoderMAE, path: str) -> LoadReport:
    """``load_official_mae`` from a file written by ``torch.save`` (official or ours)."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"pretrained MAE weights {path!r} not found; run `dvc repro "
                                f"pretrain_mae` or set model.pretrained_mae to null") from err
    return load_official_mae(mae, obj)
