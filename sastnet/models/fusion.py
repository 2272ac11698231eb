"""Semantic-acoustic fusion (paper Sec. III-C): three cross-modal transformer encoders.

SA: semantic queries attend to acoustic keys/values -> O_SA.
AS: acoustic queries attend to semantic keys/values -> O_AS.
Fusion: O_AS queries attend to O_SA -> O_fusion (as many tokens as the acoustic input).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sastnet.models.config import FusionConfig
from sastnet.models.mae import sincos_1d


class CrossModalLayer(nn.Module):
    """Pre-norm cross-attention + feed-forward, residual around both (MulT-style)."""

    def __init__(self, dim: int, heads: int, ffn_mult: int, dropout: float):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, ffn_mult * dim), nn.GELU(), nn.Dropout(dropout),
                                nn.Linear(ffn_mult * dim, dim), nn.Dropout(dropout))

    def forward(self, query: Tensor, context: Tensor) -> Tensor:
        kv = self.norm_kv(context)
        query = query + self.drop(self.attn(self.norm_q(query), kv, kv, need_weights=False)[0])
        return query + self.ff(self.norm_ff(query))


class CrossModalEncoder(nn.Module):
    """``num_layers`` cross-modal layers with sinusoidal positions on both streams."""

    def __init__(self, cfg: FusionConfig):
        super().__init__()
        self.layers = nn.ModuleList(CrossModalLayer(cfg.dim, cfg.num_heads, cfg.ffn_mult,
                                                    cfg.dropout) for _ in range(cfg.num_layers))
        self.drop = nn.Dropout(cfg.dropout)
        self.norm = nn.LayerNorm(cfg.dim)
        self.dim = cfg.dim

    def _with_pos(self, x: Tensor) -> Tensor:
        pos = sincos_1d(self.dim, torch.arange(x.shape[1], device=x.device)).to(x.dtype)
        return self.drop(x + pos[None])

    def forward(self, query: Tensor, context: Tensor) -> Tensor:
        query, context = self._with_pos(query), self._with_pos(context)
        for layer in self.layers:
            query = layer(query, context)
        return self.norm(query)


class SemanticAcousticFusion(nn.Module):
    """(acoustic (B, Ka, D), semantic (B, Ks, d_whisper)) -> O_fusion (B, Ka, D)."""

    def __init__(self, cfg: FusionConfig, acoustic_dim: int):
        super().__init__()
        self.acoustic_in = (nn.Identity() if acoustic_dim == cfg.dim
                            else nn.Linear(acoustic_dim, cfg.dim))
        self.semantic_in = (nn.Identity() if cfg.whisper_dim == cfg.dim
                            else nn.Linear(cfg.whisper_dim, cfg.dim))
        self.sa = CrossModalEncoder(cfg)
        self.as_ = CrossModalEncoder(cfg)
        self.fusion = CrossModalEncoder(cfg)
        self.whisper_dim = cfg.whisper_dim

    def forward(self, acoustic: Tensor, semantic: Tensor) -> Tensor:
        if semantic.shape[-1] != self.whisper_dim:
            raise ValueError(f"Whisper features have d={semantic.shape[-1]}, the model expects "
                             f"{self.whisper_dim} (fusion.whisper_dim); use features of the "
                             f"Whisper size the model was configured for")
        acoustic = self.acoustic_in(acoustic)
        semantic = self.semantic_in(semantic.to(acoustic.dtype))
        o_sa = self.sa(semantic, acoustic)
        o_as = self.as_(acoustic, semantic)
        return self.fusion(o_as, o_sa)
