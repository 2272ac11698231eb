"""Quantizers of the codec zoo: single-codebook VQ, residual VQ (multi-codebook) and FSQ.

All take latents ``(B, D, F)`` (channels first, like conv features) and return a
``Quantized(z_q, codes, loss)``: ``z_q`` carries the straight-through gradient to the encoder,
``codes`` are ``(B, K, F)`` integer indices (K codebooks; 1 for VQ and FSQ), ``loss`` is the
commitment loss (codebooks themselves learn by exponential moving averages, as in VQ-VAE-2 /
SoundStream, so they need no gradient). Dead codes (unused for a while) are re-seeded from
current latents so a tiny training budget still ends with a used codebook.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Quantized(NamedTuple):
    z_q: Tensor  # (B, D, F), quantized latents with straight-through gradient
    codes: Tensor  # (B, K, F) int64
    loss: Tensor  # scalar commitment loss
    first: Tensor | None = None  # (B, D, F) first codebook's output where there are several


class VectorQuantizer(nn.Module):
    """One codebook, EMA updates, straight-through estimator, dead-code reset.

    Args:
        dim: latent channels D.
        codebook_size: number of codes.
        decay: EMA decay of the codebook statistics (SoundStream uses 0.99).
        commitment: weight of ``|z - sg(q)|^2``.
        dead_after: a code unused (EMA count below this) is re-seeded from a random latent.
    """

    def __init__(self, dim: int, codebook_size: int, *, decay: float = 0.99,
                 commitment: float = 0.25, dead_after: float = 0.05):
        super().__init__()
        self.dim, self.codebook_size = dim, codebook_size
        self.decay, self.commitment, self.dead_after = decay, commitment, dead_after
        embed = torch.randn(codebook_size, dim) / math.sqrt(dim)
        self.register_buffer("embed", embed)
        self.register_buffer("embed_sum", embed.clone())
        self.register_buffer("cluster_size", torch.ones(codebook_size))
        self.register_buffer("initialised", torch.tensor(False))

    @property
    def bits(self) -> float:
        return math.log2(self.codebook_size)

    def _nearest(self, flat: Tensor) -> Tensor:
        dist = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.embed.t()
                + self.embed.pow(2).sum(1)[None])
        return dist.argmin(1)

    @torch.no_grad()
    def _update(self, flat: Tensor, idx: Tensor) -> None:
        if not bool(self.initialised):  # k-means++-lite: seed the codebook with real latents
            self.embed.copy_(flat[torch.randint(len(flat), (self.codebook_size,), device=flat.device)])
            self.embed_sum.copy_(self.embed)
            self.initialised.fill_(True)
            return
        onehot = F.one_hot(idx, self.codebook_size).type(flat.dtype)
        self.cluster_size.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(onehot.t() @ flat, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + 1e-5) / (n + self.codebook_size * 1e-5) * n
        self.embed.copy_(self.embed_sum / smoothed[:, None])
        dead = self.cluster_size < self.dead_after
        if dead.any():
            fresh = flat[torch.randint(len(flat), (int(dead.sum()),), device=flat.device)]
            self.embed[dead] = fresh
            self.embed_sum[dead] = fresh
            self.cluster_size[dead] = 1.0

    def forward(self, z: Tensor) -> Quantized:
        b, d, f = z.shape
        flat = z.permute(0, 2, 1).reshape(-1, d)
        idx = self._nearest(flat.detach())
        if self.training:
            self._update(flat.detach(), idx)
        q = self.embed[idx].view(b, f, d).permute(0, 2, 1)
        loss = self.commitment * F.mse_loss(z, q.detach())
        z_q = z + (q - z).detach()  # straight-through: forward = q, backward = identity
        return Quantized(z_q, idx.view(b, 1, f), loss)

    def lookup(self, codes: Tensor) -> Tensor:
        """``(B, 1, F)`` or ``(B, F)`` codes -> ``(B, D, F)`` vectors."""
        if codes.dim() == 3:
            codes = codes[:, 0]
        return self.embed[codes].permute(0, 2, 1)


class ResidualVectorQuantizer(nn.Module):
    """K codebooks, each quantizing what the previous ones left (SoundStream / EnCodec RVQ)."""

    def __init__(self, dim: int, codebook_size: int, num_quantizers: int, **vq_kwargs):
        super().__init__()
        self.layers = nn.ModuleList(VectorQuantizer(dim, codebook_size, **vq_kwargs)
                                    for _ in range(num_quantizers))

    @property
    def bits(self) -> float:
        return sum(layer.bits for layer in self.layers)

    @property
    def codebook_sizes(self) -> list[int]:
        return [layer.codebook_size for layer in self.layers]

    def forward(self, z: Tensor) -> Quantized:
        residual, out, codes, loss = z, torch.zeros_like(z), [], z.new_zeros(())
        first = None
        for layer in self.layers:
            q = layer(residual)
            first = q.z_q if first is None else first
            residual = residual - q.z_q.detach()
            out = out + q.z_q
            codes.append(q.codes)
            loss = loss + q.loss
        return Quantized(out, torch.cat(codes, 1), loss, first)

    def lookup(self, codes: Tensor) -> Tensor:
        return sum(layer.lookup(codes[:, k]) for k, layer in enumerate(self.layers))

    def first_level(self, codes: Tensor) -> Tensor:
        """Vectors of the first codebook only (what semantic distillation supervises)."""
        return self.layers[0].lookup(codes[:, 0])


class FiniteScalarQuantizer(nn.Module):
    """FSQ (Mentzer et al. 2023): each channel bounded and rounded to a few levels; no codebook.

    Args:
        dim: latent channels entering (projected down to ``len(levels)`` and back).
        levels: number of levels per scalar channel, e.g. ``(8, 5, 5, 5)`` = 1000 codes.
    """

    def __init__(self, dim: int, levels: tuple[int, ...]):
        super().__init__()
        self.levels = tuple(int(n) for n in levels)
        self.proj_in = nn.Conv1d(dim, len(levels), 1)
        self.proj_out = nn.Conv1d(len(levels), dim, 1)
        self.register_buffer("_levels", torch.tensor(self.levels, dtype=torch.float32))
        basis = torch.cumprod(torch.tensor((1,) + self.levels[:-1]), 0)
        self.register_buffer("_basis", basis)

    @property
    def bits(self) -> float:
        return sum(math.log2(n) for n in self.levels)

    @property
    def codebook_size(self) -> int:
        return math.prod(self.levels)

    def _bound(self, z: Tensor) -> Tensor:
        # tanh into (-L/2, L/2); even level counts get a half-step offset so rounding hits L values
        half = (self._levels - 1) * (1 - 1e-3) / 2
        offset = torch.where(self._levels % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half)
        return (torch.tanh(z + shift[None, :, None]) * half[None, :, None]
                - offset[None, :, None])

    def _half_width(self) -> Tensor:
        return (self._levels // 2)[None, :, None]

    def forward(self, z: Tensor) -> Quantized:
        h = self._bound(self.proj_in(z))
        rounded = h + (torch.round(h) - h).detach()  # straight-through rounding
        half = self._half_width()
        digits = (torch.round(h).detach() + half).long()  # 0..levels-1
        codes = (digits * self._basis[None, :, None]).sum(1, keepdim=True)
        return Quantized(self.proj_out(rounded / half), codes, z.new_zeros(()))

    def lookup(self, codes: Tensor) -> Tensor:
        if codes.dim() == 3:
            codes = codes[:, 0]
        digits = (codes[:, None, :] // self._basis[None, :, None]) % self._levels.long()[None, :, None]
        half = self._half_width()
        return self.proj_out((digits.float() - half) / half)
