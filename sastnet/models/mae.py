"""Multi-decoder AudioMAE (paper Sec. III-B, Fig. 1b).

A ViT encoder over 16 x 16 patches of a (T, F) image, with fixed 2-D sin-cos positions. In
training, 2-D random masking keeps a random subset of time rows and of frequency columns
(mask_ratio split equally: 0.4 -> keep 12 of 16 x 6 of 8 = 72 of 128 patches). N decoders
(one per class, bona fide included) reconstruct every patch from the kept tokens. A
"decoder feedback" multi-head attention uses the encoder tokens as queries and the projected
predictions of all decoders as keys/values; its output is the acoustic feature O_a.
No masking at inference. In training, masked patches get a learned query token (ours), so
O_a always has one token per patch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from sastnet.models.config import MAEConfig


def sincos_1d(dim: int, positions: Tensor) -> Tensor:
    """Fixed sinusoidal embedding (len(positions), dim), half sines then half cosines."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
    angles = positions.double()[:, None] * omega[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


def sincos_2d(dim: int, grid_t: int, grid_f: int) -> Tensor:
    """2-D sin-cos positions (grid_t * grid_f, dim), patch index = t * grid_f + f (as MAE)."""
    t = torch.arange(grid_t).repeat_interleave(grid_f)
    f = torch.arange(grid_f).repeat(grid_t)
    return torch.cat([sincos_1d(dim // 2, t), sincos_1d(dim // 2, f)], dim=1)


def patchify(image: Tensor, patch: int) -> Tensor:
    """(B, T, F) -> (B, T/p * F/p, p*p), patches in the same order as the conv patch embed."""
    b, t, f = image.shape
    x = image.reshape(b, t // patch, patch, f // patch, patch)
    return x.permute(0, 1, 3, 2, 4).reshape(b, (t // patch) * (f // patch), patch * patch)


def random_masking_2d(batch: int, grid_t: int, grid_f: int, mask_ratio: float,
                      device: torch.device | None = None,
                      generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Keep random time rows and frequency columns (mask_ratio split equally between them).

    Returns:
        keep_idx: (B, keep_t * keep_f) sorted flat indices of the kept patches.
        mask: (B, grid_t * grid_f) float, 1 = masked (reconstruction target), 0 = kept.
    """
    keep_t = int(grid_t * (1 - mask_ratio / 2))
    keep_f = int(grid_f * (1 - mask_ratio / 2))
    t_idx = torch.rand(batch, grid_t, device=device, generator=generator).argsort(dim=1)
    f_idx = torch.rand(batch, grid_f, device=device, generator=generator).argsort(dim=1)
    t_keep = t_idx[:, :keep_t].sort(dim=1).values
    f_keep = f_idx[:, :keep_f].sort(dim=1).values
    keep_idx = (t_keep[:, :, None] * grid_f + f_keep[:, None, :]).reshape(batch, -1)
    mask = torch.ones(batch, grid_t * grid_f, device=device)
    mask.scatter_(1, keep_idx, 0.0)
    return keep_idx, mask


class Block(nn.Module):
    """Pre-norm transformer block (ViT / MAE)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, dim), nn.Dropout(dropout))

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class Decoder(nn.Module):
    """One AudioMAE decoder: kept tokens + mask tokens -> every patch's pixels."""

    def __init__(self, cfg: MAEConfig, num_patches: int, grid: tuple[int, int]):
        super().__init__()
        self.embed = nn.Linear(cfg.embed_dim, cfg.decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.decoder_dim))
        self.register_buffer("pos", sincos_2d(cfg.decoder_dim, *grid)[None], persistent=False)
        self.blocks = nn.ModuleList(Block(cfg.decoder_dim, cfg.decoder_heads, cfg.mlp_ratio)
                                    for _ in range(cfg.decoder_depth))
        self.norm = nn.LayerNorm(cfg.decoder_dim)
        self.pred = nn.Linear(cfg.decoder_dim, cfg.patch_size ** 2)
        self.num_patches = num_patches
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, tokens: Tensor, keep_idx: Tensor) -> Tensor:
        x = self.embed(tokens)  # (B, K, Dd)
        b, _, d = x.shape
        full = self.mask_token.to(x.dtype).expand(b, self.num_patches, d)  # dtype: autocast
        full = full.scatter(1, keep_idx[:, :, None].expand(-1, -1, d), x) + self.pos
        for block in self.blocks:
            full = block(full)
        return self.pred(self.norm(full))  # (B, L, p*p)


@dataclass
class MAEOutput:
    features: Tensor  # (B, L, D) decoder-feedback output O_a, one token per patch
    per_decoder_mse: Tensor  # (B, N) MSE of each decoder on the masked patches
    mask: Tensor  # (B, L) 1 = masked


class MultiDecoderMAE(nn.Module):
    """AudioMAE encoder + ``num_decoders`` decoders + decoder-feedback attention."""

    def __init__(self, cfg: MAEConfig, image_frames: int, image_bins: int, num_decoders: int):
        super().__init__()
        p = cfg.patch_size
        if image_frames % p or image_bins % p or image_frames < p:
            raise ValueError(f"MAE image {image_frames} x {image_bins} is not a whole number of "
                             f"{p} x {p} patches; change num_samples or image_bins")
        self.cfg = cfg
        self.grid = (image_frames // p, image_bins // p)
        num_patches = self.grid[0] * self.grid[1]
        self.patch_embed = nn.Conv2d(1, cfg.embed_dim, kernel_size=p, stride=p)
        self.register_buffer("pos", sincos_2d(cfg.embed_dim, *self.grid)[None], persistent=False)
        self.blocks = nn.ModuleList(Block(cfg.embed_dim, cfg.num_heads, cfg.mlp_ratio)
                                    for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.embed_dim)
        self.decoders = nn.ModuleList(Decoder(cfg, num_patches, self.grid)
                                      for _ in range(num_decoders))
        # Keys/values: for each patch, the predictions of all decoders side by side.
        self.feedback_proj = nn.Linear(num_decoders * p * p, cfg.embed_dim)
        self.feedback = nn.MultiheadAttention(cfg.embed_dim, cfg.feedback_heads, batch_first=True)
        # Queries for the patches masked in training (ours: keeps O_a at L tokens, see forward).
        self.query_mask_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))
        nn.init.normal_(self.query_mask_token, std=0.02)

    @property
    def num_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    def encode(self, image: Tensor, generator: torch.Generator | None = None
               ) -> tuple[Tensor, Tensor, Tensor]:
        """Patch-embed ``image`` (B, T, F), mask (in training) and run the encoder.

        Returns:
            tokens: (B, K, D) encoder output of the kept patches (K = L without masking).
            keep_idx: (B, K) flat indices of the kept patches.
            mask: (B, L) 1 = masked (reconstruction target); all ones without masking.
        """
        b = image.shape[0]
        x = self.patch_embed(image[:, None]).flatten(2).transpose(1, 2) + self.pos  # (B, L, D)
        if self.training and self.cfg.mask_ratio > 0:
            keep_idx, mask = random_masking_2d(b, *self.grid, self.cfg.mask_ratio,
                                               device=image.device, generator=generator)
            x = torch.gather(x, 1, keep_idx[:, :, None].expand(-1, -1, x.shape[-1]))
        else:
            keep_idx = torch.arange(self.num_patches, device=image.device).expand(b, -1)
            mask = torch.ones(b, self.num_patches, device=image.device)  # score every patch
        for block in self.blocks:
            x = block(x)
        return self.norm(x), keep_idx, mask

    def target(self, image: Tensor) -> Tensor:
        """(B, L, p*p) reconstruction target: the patches, standardised with norm_pix_loss."""
        target = patchify(image.detach() if self.cfg.detach_target else image, self.cfg.patch_size)
        if self.cfg.norm_pix_loss:  # each patch standardised: shrinking the image gains nothing
            mean, var = target.mean(dim=-1, keepdim=True), target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1e-6).sqrt()
        return target

    def forward(self, image: Tensor, generator: torch.Generator | None = None) -> MAEOutput:
        b = image.shape[0]
        tokens, keep_idx, mask = self.encode(image, generator)
        preds = torch.stack([dec(tokens, keep_idx) for dec in self.decoders], dim=1)  # B,N,L,P
        target = self.target(image)
        err = (preds - target[:, None]).pow(2).mean(dim=-1)  # (B, N, L)
        per_decoder = (err * mask[:, None]).sum(-1) / mask.sum(-1).clamp_min(1)[:, None]
        kv = self.feedback_proj(preds.permute(0, 2, 1, 3).flatten(2))  # (B, L, D)
        # Queries: the encoder tokens at their patch positions, a learned mask token + position
        # where a patch was hidden. O_a then has all L tokens in training as in inference, so
        # the fusion/classifier never sees a shorter sequence in training than at test time
        # (with only the 72 kept tokens as queries, train and eval inputs differ in length).
        queries = (self.query_mask_token + self.pos).to(tokens.dtype).expand(b, -1, -1)
        queries = queries.scatter(1, keep_idx[:, :, None].expand(-1, -1, tokens.shape[-1]),
                                  tokens)
        features = self.feedback(queries, kv, kv, need_weights=False)[0]
        if self.cfg.feedback_residual:  # ours: the encoder tokens reach the classifier directly
            features = queries + features
        return MAEOutput(features=features, per_decoder_mse=per_decoder, mask=mask)


def pretrain_loss(mae: MultiDecoderMAE, image: Tensor,
                  generator: torch.Generator | None = None) -> Tensor:
    """Self-supervised AudioMAE loss of ``mae``'s encoder and first decoder on ``image``.

    The pretraining objective (AudioMAE): mean squared error on the masked patches only
    (standardised per patch when ``norm_pix_loss``), no labels, no decoder feedback. Masking
    follows ``mae.cfg.mask_ratio`` and needs ``mae.train()``; in eval mode every patch is kept
    and every patch is scored (a plain autoencoder error, for monitoring).

    Args:
        mae: the model; only ``decoders[0]`` is used (pretraining has no classes).
        image: (B, T, F) input images, T and F whole multiples of the patch size.
        generator: draws the masks (seed it for reproducible pretraining).

    Returns:
        The scalar loss.
    """
    tokens, keep_idx, mask = mae.encode(image, generator)
    pred = mae.decoders[0](tokens, keep_idx)  # (B, L, p*p)
    err = (pred - mae.target(image)).pow(2).mean(dim=-1)  # (B, L)
    return ((err * mask).sum(-1) / mask.sum(-1).clamp_min(1)).mean()
